"""Matching rules (one supplier per real company, no false merges) and field resolution rules across sources."""

from datetime import datetime

import pytest

from vivier import merge
from vivier.merge import Observation, resolve

T0, T1, T2 = datetime(2026, 1, 1), datetime(2026, 3, 1), datetime(2026, 6, 1)
QUIMPER = {"postcode": "29000", "commune": "Quimper", "insee_code": "29232"}


def company(name, **fields):
    return {"name": name, **QUIMPER, **fields}


@pytest.mark.parametrize("a, b", [
    ("Cantine Facile & Cie", "CANTINE FACILE ET CIE"),        # capitals, "&" read as "et"
    ("Cycléa Services", "Cyclea Services SAS"),              # accents, legal form
    ("Groupe Énergéis", "Energeis"),                         # "groupe" is noise
    ("ESAT Ker Avel", "Ker Avel"),                           # structure type is noise
    ("Ma Commune en Poche", "MaCommuneEnPoche"),             # written without spaces
    ("Agora Locale SCIC", "Agora Local"),                    # typo
])
def test_spelling_variants_of_one_company_in_one_town_match(a, b):
    assert merge.names_match(company(a), company(b)), (a, b, merge.name_similarity(a, b))


@pytest.mark.parametrize("a, b", [
    (company("Agora Locale SCIC"), company("Agora Conseil")),                          # a shared word only
    (company("Placio"), {"name": "Placio", "postcode": "56100", "commune": "Lorient"}),  # same name, other town
    (company("Famille & Mairie", siren="912044450"), company("Famille et Mairie", siren="842135972")),
    (company("Horodia", website_domain="horodia.com"), company("Horodia", website_domain="horodia-horlogerie.fr")),
    (company("ABC"), company("ABC SARL")),                                             # too short to mean anything
    (company("Watteo"), {"name": "Watteo"}),                                           # no town: never by name
])
def test_distinct_companies_do_not_match(a, b):
    assert not merge.names_match(a, b)


def test_same_town_by_insee_then_postcode_then_commune_name():
    assert merge.same_town({"insee_code": "29232"}, {"insee_code": "29232", "postcode": "29999"})
    assert not merge.same_town({"insee_code": "29232"}, {"insee_code": "29019"})
    assert merge.same_town({"postcode": "69100", "commune": "Villeurbanne"}, {"postcode": "69100"})
    assert merge.same_town({"commune": "Saint-Malo"}, {"commune": "ST MALO"})
    assert not merge.same_town({"postcode": "35400", "commune": "Saint-Malo"}, {"postcode": "35000",
                                                                                 "commune": "Saint-Malo"})
    assert not merge.same_town({}, {})


def test_shared_hosting_and_bare_addresses_never_identify_a_company():
    assert merge.identifying_domain("acme.fr") == "acme.fr"
    for domain in ("facebook.com", "acme.wixsite.com", "sites.google.com", "127.0.0.1", "localhost", None):
        assert merge.identifying_domain(domain) is None
    assert not merge.conflicting({"website_domain": "acme.wixsite.com"}, {"website_domain": "other.wixsite.com"})
    assert merge.conflicting({"website_domain": "acme.fr"}, {"website_domain": "acme.com"})
    assert merge.conflicting({"siren": "732829320"}, {"siren": "912044450"})


def test_best_name_match_prefers_the_closest_then_the_oldest():
    record = company("Cantine Facile")
    candidates = [company("Cantine Facil", id=7), company("Cantine Facile SAS", id=9), company("Cantine Facile", id=8)]
    assert merge.best_name_match(record, candidates)["id"] == 8
    assert merge.best_name_match(record, [company("Cantine Heureuse", id=1)]) is None


def obs(source, priority, changed_at=T0, **data):
    return Observation(source, priority, data, changed_at, f"http://{source}.example/")


def test_trusted_fields_come_from_the_most_trusted_source_then_the_freshest():
    values, chosen = resolve([
        obs("annuaire", 50, T2, name="Acme", siren="732829320", pitch="Pitch de l'annuaire"),
        obs("registre", 70, T0, name="ACME SAS", siren="732829320"),
        obs("incubateur", 50, T1, pitch="Pitch de l'incubateur"),
    ])
    assert values["name"] == "ACME SAS" and chosen["name"] == {"registre"}
    assert values["pitch"] == "Pitch de l'annuaire" and chosen["pitch"] == {"annuaire"}  # same trust: fresher wins


def test_contacts_come_from_the_source_that_changed_last():
    values, chosen = resolve([obs("registre", 70, T0, contact_email="ancien@acme.fr"),
                              obs("vitrines", 60, T2, contact_email="contact@acme.fr")])
    assert values["contact_email"] == "contact@acme.fr" and chosen["contact_email"] == {"vitrines"}


def test_the_richest_description_wins():
    values, chosen = resolve([obs("annuaire", 50, description="Court."),
                              obs("vitrines", 60, description="Une description bien plus longue et détaillée."),
                              obs("registre", 70, description="Moyenne, un peu.")])
    assert values["description"].startswith("Une description") and chosen["description"] == {"vitrines"}


def test_lists_are_united_most_trusted_first_without_repeats_and_themes_are_capped():
    values, chosen = resolve([
        obs("annuaire", 50, labels=["ess", "french-tech"], keywords=["LoRa", "capteurs"],
            categories=["waste", "iot-networks", "data-platforms"]),
        obs("registre", 70, labels=["esus", "ess"], keywords=["lora"], categories=["illegal-dumping", "waste",
                                                                                  "mobility"]),
    ])
    assert values["labels"] == ["esus", "ess", "french-tech"] and chosen["labels"] == {"annuaire", "registre"}
    assert values["keywords"] == ["lora", "capteurs"]
    assert values["categories"] == ["illegal-dumping", "waste", "mobility", "iot-networks"]


def test_a_submitted_profile_beats_every_crawled_value_it_gives():
    values, chosen = resolve([
        obs("registre", 70, T2, name="ACME SAS", labels=["esus"], description="Une très longue description " * 20,
            contact_email="registre@acme.fr"),
        obs("soumission", merge.SUBMITTED_PRIORITY, T0, name="Acme", labels=["ess"], description="Courte.",
            contact_email="moi@acme.fr"),
    ])
    assert (values["name"], values["labels"], values["description"], values["contact_email"]) == (
        "Acme", ["ess"], "Courte.", "moi@acme.fr")
    assert chosen["labels"] == {"soumission"}


def test_address_fields_come_together_from_one_source_and_coordinates_may_complete_them():
    values, chosen = resolve([
        obs("annuaire", 50, address="1 rue A", postcode="29000", commune="Quimper", department="29"),
        obs("registre", 70, postcode="29000", commune="QUIMPER", department="29"),
        obs("vitrines", 60, postcode="29000", commune="Quimper", latitude=47.99, longitude=-4.1),
        obs("ailleurs", 40, postcode="35000", commune="Rennes", latitude=48.1, longitude=-1.68),
    ])
    assert (values["commune"], values["postcode"]) == ("QUIMPER", "29000")
    assert values["address"] is None  # not mixed in from another source, and a stored one is cleared
    assert (values["latitude"], chosen["latitude"]) == (47.99, {"vitrines"})


def test_themes_guessed_by_older_crawls_are_not_a_sources_value():
    """Themes are guessed at index time now (vivier.themes); a record an older crawl stored with a guess gives
    no categories: a guess is never credited to a source."""
    guessed = obs("vitrines", 60, inferred_categories=["waste"])
    values, chosen = resolve([guessed])
    assert "categories" not in values and "categories" not in chosen
    values, _ = resolve([guessed, obs("annuaire", 50, categories=["iot-networks"])])
    assert values["categories"] == ["iot-networks"]


def test_fields_no_source_gives_are_left_out():
    values, chosen = resolve([obs("annuaire", 50, name="Acme")])
    assert values == {"name": "Acme"} and chosen == {"name": {"annuaire"}}


def test_priority_of_kinds_and_declared_priorities():
    assert merge.priority_of("feed") > merge.priority_of("company-sites") > merge.priority_of("directory")
    assert merge.priority_of("directory", 90) == 90
    assert merge.priority_of("unknown-kind") == merge.DEFAULT_PRIORITY


def test_a_new_place_does_not_keep_the_street_of_the_previous_one():
    """The registry that now places the company gives no street: the street another source gave in another town
    is cleared, not shown beside the new postcode."""
    values, chosen = resolve([
        obs("siae", 60, address="12 rue des Vignes", postcode="87000", commune="Limoges", department="87"),
        obs("ess", 65, postcode="87200", commune="Saint-Junien", department="87"),
    ])
    assert (values["postcode"], values["commune"], values["address"]) == ("87200", "Saint-Junien", None)
    assert chosen["address"] == set() and values["latitude"] is not None  # the commune's centre
