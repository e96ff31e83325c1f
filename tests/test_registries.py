"""The registries of sources/registries.yaml crawled together, by the real crawler, from files written in each
publisher's layout (fixtures/registries/: Windows-1252 and ";" from Excel, pandas CSV, paginated JSON APIs, nested
JSON:API attributes) served on loopback: every row becomes a supplier, identifiers and places are read right, the
registry's status becomes Vivier's label, and one company listed by several registries is one supplier."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import REPO, make_settings, run_cli
from vivier.db import Database
from vivier_cli.devserver import StaticSite
from vivier.models import STATUS_MERGED, CrawlRun, Source, Supplier

REGISTRIES = REPO / "sources" / "registries.yaml"
FILES = REPO / "fixtures" / "registries"
# {variable} of the source file -> the fixture file in that registry's layout.
VARIABLES = {"esus": "esus.csv", "ess": "ess-france.csv", "siae": "siaes.json", "ea-esat": "structures-inclusion.csv",
             "rge": "rge.json", "startups": "startups.json"}
# Rows of each file, and the records they make (rows sharing a key are one record: a company's establishments in
# the ESS list, a company's qualifications in the RGE list).
ROWS = {"registre-esus": 6, "registre-ess": 6, "inclusion-siae": 7, "ea-esat": 6, "rge": 7, "startups-beta-gouv": 5}
RECORDS = {"registre-esus": 6, "registre-ess": 5, "inclusion-siae": 7, "ea-esat": 6, "rge": 6,
           "startups-beta-gouv": 5}
# One association is in the ESUS, ESS and SIAE lists; one adapted company in the SIAE API and data·inclusion.
SUPPLIERS = sum(RECORDS.values()) - 2 - 1

TERREAU = "534403829"      # ACI, ESUS approval, ESS list
PHARE = "681842431"        # EA in les emplois de l'inclusion and in data·inclusion


def argv(site_url: str) -> list[str]:
    return [f"--var={name}={site_url}/{file}" for name, file in VARIABLES.items()]


@pytest.fixture(scope="module")
def crawled(tmp_path_factory) -> dict:
    """One crawl of every registry; the stored suppliers (plain dicts, with their sources and record keys) and each
    source's run figures."""
    data_dir = tmp_path_factory.mktemp("registries")
    with StaticSite(FILES) as site:
        run_cli(["crawl", "--sources", str(REGISTRIES), *argv(site.url), "--loopback-fixture", "--no-index"],
                data_dir)
    database = Database(make_settings(data_dir))
    suppliers, by_record = [], {}
    with database.session() as s:
        for supplier in s.scalars(select(Supplier).where(Supplier.status != STATUS_MERGED).order_by(Supplier.id)):
            row = {column: getattr(supplier, column) for column in (
                "name", "siren", "website", "pitch", "description", "address", "postcode", "commune", "insee_code",
                "department", "latitude", "longitude", "labels", "keywords", "contact_email", "contact_phone")}
            row["sources"] = {r.source_name for r in supplier.records}
            suppliers.append(row)
            for record in supplier.records:
                by_record[(record.source_name, record.record_key)] = row
        runs = {name: run.stats for name, run in s.execute(select(Source.name, CrawlRun).join(CrawlRun))}
    database.dispose()
    return {"suppliers": suppliers, "record": by_record, "runs": runs}


def record(crawled: dict, source: str, key: str) -> dict:
    return crawled["record"][(source, key)]


def test_sources_check_accepts_the_registry_file(tmp_path):
    output = run_cli(["sources", "check", str(REGISTRIES), *argv("https://donnees.example")], tmp_path).stdout
    assert f"{REGISTRIES}: valid" in output
    assert {line.split(":", 1)[0] for line in output.splitlines()[:-1]} == set(ROWS)
    assert "registre-esus: feed, https://donnees.example/esus.csv" in output


def test_every_row_of_every_registry_is_stored_and_nothing_is_lost(crawled):
    runs = crawled["runs"]
    assert set(runs) == set(ROWS)
    for name, stats in runs.items():
        assert stats["items"] == ROWS[name], name
        assert (stats["failed"], stats["invalid"], stats["errors"], stats["robots_forbidden"]) == (0, 0, 0, 0), name
        assert stats["notices"] == [], name  # no unreadable row in any layout
    keys = crawled["record"]
    assert {name: sum(source == name for source, _ in keys) for name in ROWS} == RECORDS
    assert len(crawled["suppliers"]) == SUPPLIERS == 32


def test_esus_list_saved_from_excel_windows_1252_semicolons_siret_and_quoted_delimiter(crawled):
    fabrique = record(crawled, "registre-esus", "910524404")
    assert fabrique["name"] == "LA FABRIQUE À VÉLOS ; ATELIER PARTAGÉ"  # a ";" inside a quoted cell
    assert fabrique["labels"] == ["esus"] and fabrique["siren"] == "910524404"
    recyclerie = record(crawled, "registre-esus", "42305321408265")  # a SIRET typed where the SIREN goes
    assert recyclerie["name"] == "RECYCLERIE ÉCHANGES & SAVOIRS" and recyclerie["siren"] == "423053214"
    assert record(crawled, "registre-esus", "736718511")["name"] == "ÉCO-LOGIS SOLIDAIRE"  # cp1252 accents
    esus = [s for s in crawled["suppliers"] if "registre-esus" in s["sources"]]
    assert len(esus) == 6 and all("esus" in s["labels"] for s in esus)


def test_ess_list_places_each_company_and_keeps_a_row_whose_siren_lost_its_leading_zero(crawled):
    cafe = record(crawled, "registre-ess", "643178502")
    assert cafe["name"] == "CAFÉ ASSOCIATIF L'ÉTINCELLE, LIEU DE VIE"  # a "," inside a quoted cell
    assert (cafe["siren"], cafe["postcode"], cafe["commune"], cafe["department"]) == (
        "643178502", "72000", "LE MANS", "72")
    assert cafe["labels"] == ["ess"]
    # "052398567" published as 52398567: stored, placed and labelled, without a SIREN (normalise_siren wants 9 digits).
    scop = record(crawled, "registre-ess", "52398567")
    assert (scop["name"], scop["siren"], scop["postcode"], scop["labels"]) == (
        "SCOP AU FIL DE L'EAU", None, "35000", ["ess"])


def test_siae_api_types_become_labels_and_sirets_sirens(crawled):
    siae = {s["name"]: s for s in crawled["suppliers"] if "inclusion-siae" in s["sources"]}
    relais = siae["Le Relais des Saveurs"]
    assert (relais["siren"], relais["website"], relais["labels"]) == (
        "427698139", "https://relais-saveurs.example/", ["siae"])
    assert relais["address"] == "8 quai des Chartrons Bâtiment B"  # both address lines
    assert (relais["postcode"], relais["commune"], relais["contact_email"], relais["contact_phone"]) == (
        "33000", "Bordeaux", "bonjour@relais-saveurs.example", "05 56 98 76 54")
    etti = siae["Intérim Solidaire Garonne"]
    assert (etti["labels"], etti["website"], etti["siren"]) == (["siae"], None, "822799797")  # no website given
    assert siae["CIS Lyon"]["labels"] == ["siae"]  # EITI
    assert siae["Les Ateliers du Phare"]["labels"] == ["ea-esat"]  # EA
    # A GEIQ is not an SIAE; "AI" is deliberately not a label name (vivier/normalise.py LABEL_SYNONYMS).
    assert siae["GEIQ Bâtiment Estuaire"]["labels"] == [] and siae["Coup de Main Services"]["labels"] == []


def test_data_inclusion_networks_become_labels_with_the_structures_place(crawled):
    esat = record(crawled, "ea-esat", "finess--290031862")
    assert (esat["name"], esat["siren"], esat["labels"]) == ("ESAT DES GENÊTS", "865298202", ["ea-esat"])
    assert (esat["postcode"], esat["commune"], esat["insee_code"], esat["latitude"], esat["longitude"]) == (
        "29600", "Morlaix", "29151", 48.5774, -3.8271)
    assert esat["description"].startswith("L’Établissement et Service d’Accompagnement par le Travail (ESAT)")
    # FINESS lists some ESAT without a SIRET: kept, keyed by data·inclusion's id.
    moulin = record(crawled, "ea-esat", "finess--790008413")
    assert (moulin["name"], moulin["siren"], moulin["labels"]) == ("ESAT LE MOULIN DE LA SÈVE", None, ["ea-esat"])
    assert record(crawled, "ea-esat", "emplois-de-linclusion--8b42d1f7-6c0e-4a95-b3d8-e51f7a26c094")[
        "labels"] == ["ea-esat"]  # EATT
    estran = record(crawled, "ea-esat", "dora--f3a8c2e1-0b7d-4e69-9a14-6d5c2b8e7f30")  # "['ea', 'esat']", quoted
    assert (estran["labels"], estran["website"]) == (["ea-esat"], "https://www.ateliers-estran.example/")
    # The file holds every structure of the insertion offer: what is not EA/ESAT comes in without a label.
    ccas = record(crawled, "ea-esat", "dora--1c6e9b3a-47f2-4d08-8e51-b9a0c3d7e2f4")
    assert (ccas["name"], ccas["labels"]) == ("CCAS de Kervalan", [])


def test_rge_qualifications_of_one_company_make_one_labelled_supplier(crawled):
    bocage = record(crawled, "rge", "96102847908653")  # two qualification rows
    assert [s["name"] for s in crawled["suppliers"]].count("ISOLATION DU BOCAGE") == 1
    assert (bocage["siren"], bocage["labels"], bocage["postcode"], bocage["commune"]) == (
        "961028479", ["rge"], "61100", "FLERS")
    assert bocage["website"] == "https://www.isolation-bocage.example/"  # published without its scheme
    assert bocage["keywords"] == ["Isolation des combles perdus"]  # the last row's domain
    solaire = record(crawled, "rge", "45123988303373")
    assert (solaire["website"], solaire["contact_email"], solaire["latitude"]) == (
        None, "devis@solaire-horizon.example", 42.6887)
    dupre = record(crawled, "rge", "31190292802388")
    assert (dupre["name"], dupre["commune"], dupre["keywords"]) == (
        "CHAUFFAGE DUPRÉ & FILS", "SAINT-ÉTIENNE", ["Pompe à chaleur : chauffage"])
    assert all(s["labels"] == ["rge"] for s in crawled["suppliers"] if s["sources"] == {"rge"})


def test_incubator_startups_read_from_nested_attributes_without_label(crawled):
    signal = record(crawled, "startups-beta-gouv", "signaleau")
    assert (signal["name"], signal["pitch"], signal["website"], signal["contact_email"]) == (
        "Signal'Eau", "Signaler une fuite sur le réseau d'eau potable en deux clics", "https://signaleau.example/",
        "contact@signaleau.example")
    cantine = record(crawled, "startups-beta-gouv", "cantine-futee")  # no "link" in the record
    assert (cantine["website"], cantine["contact_email"]) == (None, "equipe@cantine-futee.example")
    assert record(crawled, "startups-beta-gouv", "parcours-aidant")["contact_email"] is None  # "contact": ""
    startups = [s for s in crawled["suppliers"] if s["sources"] == {"startups-beta-gouv"}]
    assert len(startups) == 5 and all(s["labels"] == [] and s["siren"] is None for s in startups)


def test_a_company_in_three_registries_is_one_supplier_with_the_three_labels(crawled):
    (terreau,) = [s for s in crawled["suppliers"] if s["siren"] == TERREAU]
    assert terreau["sources"] == {"registre-esus", "registre-ess", "inclusion-siae"}
    assert set(terreau["labels"]) == {"esus", "ess", "siae"}
    # The place comes from the registry that gives an address (the SIAE API), not from the ESS list's last
    # establishment (87200 Saint-Junien), which ranks below it.
    assert (terreau["address"], terreau["postcode"], terreau["commune"]) == ("12 rue des Vignes", "87000", "Limoges")
    # Which registry named the company first depends on the order the crawls stored their rows in: the first
    # identifies it, the others joined by SIREN only fill what it left empty (vivier.merge IDENTITY_FIELDS).
    assert terreau["name"] in {"ASSOCIATION TERREAU SOLIDAIRE", "Terreau Solidaire"}
    assert terreau["contact_email"] == "contact@terreau-solidaire.example"
    (phare,) = [s for s in crawled["suppliers"] if s["siren"] == PHARE]
    assert phare["sources"] == {"inclusion-siae", "ea-esat"} and phare["labels"] == ["ea-esat"]
    assert (phare["name"], phare["postcode"]) == ("Les Ateliers du Phare", "29200")


def test_fixture_files_keep_their_publishers_encodings():
    """The copies are in the publishers' encodings: an Excel CSV export in Windows-1252, the rest UTF-8."""
    esus = (FILES / "esus.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        esus.decode("utf-8")
    assert esus.decode("cp1252").startswith(";SIREN;") and b"\r\n" in esus
    for name in set(VARIABLES.values()) - {"esus.csv"}:
        (FILES / name).read_bytes().decode("utf-8")
    assert (FILES / "ess-france.csv").read_text(encoding="utf-8").startswith(
        "SIREN,Nom ou raison sociale de l'entreprise,")
