"""Upserting harvested profiles: one record per company, provenance kept, empty values never erase."""

from datetime import datetime

import pytest
from sqlalchemy import func, select

from vivier.db import Database
from vivier.models import FieldProvenance, Source, Supplier
from vivier.profiles import MERGED, NEW, UNCHANGED, UPDATED, SourceInfo, upsert_profile
from tests.conftest import make_settings

T0, T1 = datetime(2026, 1, 1), datetime(2026, 2, 1)


@pytest.fixture()
def database(tmp_path):
    db = Database(make_settings(tmp_path))
    db.migrate()
    yield db
    db.dispose()


def profile(**changes):
    base = {"name": "Acme Territoires", "siren": "732829320", "website": "https://www.acme.fr/",
            "pitch": "Capteurs pour bornes de tri", "categories": ["waste"], "department": "29", "region": "Bretagne"}
    return {**base, **changes}


def test_new_then_unchanged_then_updated_with_provenance(database):
    with database.session() as s:
        first = upsert_profile(s, profile(), "annuaire", "http://a/1", now=T0)
    with database.session() as s:
        again = upsert_profile(s, profile(), "annuaire", "http://a/1", now=T1)
    with database.session() as s:
        changed = upsert_profile(s, profile(pitch="Capteurs de remplissage"), "annuaire", "http://a/1", now=T1)
    assert (first.outcome, again.outcome, changed.outcome) == (NEW, UNCHANGED, UPDATED)
    assert first.supplier_id == again.supplier_id == changed.supplier_id
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Supplier)) == 1
        record = s.scalar(select(FieldProvenance).where(FieldProvenance.field == "pitch"))
        assert (record.source_name, record.url, record.first_seen, record.last_seen) == (
            "annuaire", "http://a/1", T0, T1)
        supplier = s.get(Supplier, first.supplier_id)
        assert supplier.pitch == "Capteurs de remplissage"
        assert supplier.website_domain == "acme.fr" and supplier.slug == "acme-territoires"


def test_empty_values_do_not_erase_stored_ones(database):
    with database.session() as s:
        result = upsert_profile(s, profile(), "annuaire", "http://a/1")
    with database.session() as s:
        upsert_profile(s, profile(pitch="", categories=[], website=None), "annuaire", "http://a/1")
    with database.session() as s:
        supplier = s.get(Supplier, result.supplier_id)
        assert supplier.pitch == "Capteurs pour bornes de tri"
        assert supplier.categories == ["waste"] and supplier.website == "https://www.acme.fr/"


def test_matching_by_siren_then_domain_then_page(database):
    with database.session() as s:
        a = upsert_profile(s, profile(), "annuaire", "http://a/1")
        by_siren = upsert_profile(s, profile(name="ACME", website=None), "autre", "http://b/9")
        by_domain = upsert_profile(s, profile(name="Acme SAS", siren=None, website="http://acme.fr/contact"),
                                   "autre", "http://b/10")
        other = upsert_profile(s, profile(name="Autre", siren=None, website="https://autre.fr"), "annuaire",
                               "http://a/2")
        same_page = upsert_profile(s, profile(name="Autre", siren=None, website=None, pitch="x"), "annuaire",
                                   "http://a/2")
    assert a.supplier_id == by_siren.supplier_id == by_domain.supplier_id
    assert other.supplier_id != a.supplier_id and same_page.supplier_id == other.supplier_id


def test_slugs_stay_unique(database):
    with database.session() as s:
        one = upsert_profile(s, profile(siren=None, website="https://one.fr"), "x", "http://x/1")
        two = upsert_profile(s, profile(siren=None, website="https://two.fr"), "x", "http://x/2")
        assert s.get(Supplier, one.supplier_id).slug == "acme-territoires"
        assert s.get(Supplier, two.supplier_id).slug == "acme-territoires-2"


def provenance_of(session, supplier_id):
    rows = session.scalars(select(FieldProvenance).where(FieldProvenance.supplier_id == supplier_id))
    return {(p.field, p.source_name): p.chosen for p in rows}


def test_a_company_seen_by_several_sources_is_one_supplier_with_each_fields_source(database):
    directory = SourceInfo("annuaire", "directory")
    site = SourceInfo("vitrines", "company-sites")
    registry = SourceInfo("registre", "feed")
    with database.session() as s:
        first = upsert_profile(s, {"name": "Acme Territoires", "website": "https://www.acme.fr/", "pitch": "Annuaire",
                                   "postcode": "29000", "commune": "Quimper", "department": "29"},
                               directory, "http://annuaire/acme")
        by_domain = upsert_profile(s, {"name": "Acme", "website": "https://acme.fr/", "pitch": "Le site",
                                       "description": "Nous faisons des capteurs."}, site, "http://acme.fr/")
        by_name = upsert_profile(s, {"name": "ACME TERRITOIRES SAS", "siren": "732829320", "postcode": "29000",
                                     "commune": "QUIMPER", "department": "29", "labels": ["esus"]},
                                 registry, "http://data/esus.csv", record_key="732829320")
    assert (first.outcome, by_domain.outcome, by_name.outcome) == (NEW, MERGED, MERGED)
    assert first.supplier_id == by_domain.supplier_id == by_name.supplier_id
    with database.session() as s:
        supplier = s.get(Supplier, first.supplier_id)
        # The registry, matched by name and town only, gives the SIREN but may not rename the company (it could be
        # anyone's listing): the name is the site's, the most trusted of the records that identify it.
        assert (supplier.name, supplier.siren, supplier.pitch) == ("Acme", "732829320", "Le site")
        assert supplier.labels == ["esus"] and supplier.description == "Nous faisons des capteurs."
        chosen = provenance_of(s, supplier.id)
        assert chosen[("name", "vitrines")] and not chosen[("name", "annuaire")] and not chosen[("name", "registre")]
        assert chosen[("pitch", "vitrines")] and not chosen[("pitch", "annuaire")]
        assert len(supplier.records) == 3


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_records_tied_by_name_alone_give_the_same_profile_whatever_order_a_crawl_reads_them(tmp_path, order):
    """Two directories crawled at once list the same association, one with its website; which page the crawl reads
    first must not decide the profile's name (nor the passages indexed from it)."""
    database = Database(make_settings(tmp_path))
    database.migrate()
    town = {"postcode": "67000", "commune": "Strasbourg", "department": "67"}
    listings = [(SourceInfo("annuaire", "directory"), {"name": "Les Bidouilleurs du Rhin",
                                                       "website": "https://bidouilleurs.example/", **town}),
                (SourceInfo("reseau-ess", "directory"), {"name": "Les Bidouilleurs du Rhin SCOP",
                                                         "pitch": "Fablab associatif", **town})]
    with database.session() as s:
        ids = {upsert_profile(s, listings[i][1], listings[i][0], f"http://{listings[i][0].name}/b").supplier_id
               for i in order}
    with database.session() as s:
        supplier = s.get(Supplier, ids.pop())
        joined = {r.source_name: r.joined_by for r in supplier.records}
        shown = (supplier.name, supplier.website, supplier.pitch)
    database.dispose()
    assert not ids
    assert shown == ("Les Bidouilleurs du Rhin", "https://bidouilleurs.example/", "Fablab associatif")
    assert joined == {"annuaire": "new", "reseau-ess": "name"}


def test_same_name_in_another_town_or_with_another_siren_is_another_company(database):
    with database.session() as s:
        a = upsert_profile(s, {"name": "Placio", "siren": "732829320", "postcode": "37000", "commune": "Tours",
                               "department": "37"}, "annuaire", "http://a/placio")
        other_town = upsert_profile(s, {"name": "Placio", "postcode": "56100", "commune": "Lorient",
                                        "department": "56"}, "vitrines", "http://placio-lorient.fr/")
        other_siren = upsert_profile(s, {"name": "PLACIO", "siren": "912044450", "postcode": "37000",
                                         "commune": "Tours", "department": "37"}, "registre", "http://r/1")
    assert len({a.supplier_id, other_town.supplier_id, other_siren.supplier_id}) == 3
    assert other_town.outcome == other_siren.outcome == NEW


def test_a_record_joining_two_suppliers_merges_the_younger_into_the_older(database):
    with database.session() as s:
        by_siren = upsert_profile(s, {"name": "Kapteo", "siren": "732829320"}, "registre", "http://r/1")
        by_domain = upsert_profile(s, {"name": "Kaptéo IoT", "website": "https://kapteo.fr"}, "vitrines",
                                   "https://kapteo.fr/")
        assert by_siren.supplier_id != by_domain.supplier_id
        link = upsert_profile(s, {"name": "Kapteo", "siren": "732829320", "website": "https://www.kapteo.fr/"},
                              "annuaire", "http://a/kapteo")
    assert link.supplier_id == by_siren.supplier_id and link.absorbed == (by_domain.supplier_id,)
    with database.session() as s:
        gone = s.get(Supplier, by_domain.supplier_id)
        kept = s.get(Supplier, by_siren.supplier_id)
        assert (gone.status, gone.merged_into_id) == ("merged", kept.id)
        assert {r.source_name for r in kept.records} == {"registre", "vitrines", "annuaire"}
        assert kept.website_domain == "kapteo.fr" and kept.siren == "732829320"
    with database.session() as s:  # the absorbed supplier's record comes back to the company it joined
        again = upsert_profile(s, {"name": "Kaptéo IoT", "website": "https://kapteo.fr"}, "vitrines",
                               "https://kapteo.fr/")
    assert (again.outcome, again.supplier_id) == (UNCHANGED, kept.id)


def test_the_companys_own_submission_beats_crawled_values(database):
    with database.session() as s:
        s.add_all([Source(name="soumissions", kind="submitted", start_url=""),
                   Source(name="registre", kind="feed", start_url="")])
    with database.session() as s:
        crawled = upsert_profile(s, {"name": "ACME", "siren": "732829320", "pitch": "Ancien pitch"}, "registre",
                                 "http://r/1")
        submitted = upsert_profile(s, {"name": "Acme", "siren": "732829320", "pitch": "Notre pitch"},
                                   SourceInfo("soumissions", "submitted"), None, record_key="form:1")
        upsert_profile(s, {"name": "ACME", "siren": "732829320", "pitch": "Pitch plus récent"}, "registre",
                       "http://r/1")
    assert submitted.supplier_id == crawled.supplier_id
    with database.session() as s:
        supplier = s.get(Supplier, crawled.supplier_id)
        # Joined by SIREN alone, a submission may not rename the profile: an operator's approval makes it the
        # company's own (vivier.submissions.approve, tests/test_submissions.py).
        assert (supplier.name, supplier.pitch) == ("ACME", "Notre pitch")


def test_guessed_themes_are_not_stored_as_the_profiles_categories(database):
    with database.session() as s:
        first = upsert_profile(s, {"name": "Acme", "website": "https://acme.fr", "inferred_categories": ["waste"]},
                               "vitrines", "https://acme.fr/")
        assert s.get(Supplier, first.supplier_id).categories == []  # the index guesses (vivier.themes)
        assert ("categories", "vitrines") not in provenance_of(s, first.supplier_id)
        upsert_profile(s, {"name": "Acme", "website": "https://acme.fr", "categories": ["iot-networks"]},
                       "annuaire", "http://a/acme")
        assert s.get(Supplier, first.supplier_id).categories == ["iot-networks"]
        assert provenance_of(s, first.supplier_id)[("categories", "annuaire")]
