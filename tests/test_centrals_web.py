"""Purchasing centrals on the web and the command line (issue 10), on a private copy of the crawled fixture
database: the public catalogues and their comparison tables, the supplier page's "Achetable sans mise en
concurrence" block, the operators' back-office, and `vivier centrals import|list`. Time moves with the app clock:
nothing runs for a referencing to expire."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime

import lxml.html
import pytest
from sqlalchemy import func, select

from tests.conftest import REPO, run_cli
from tests.test_buyers import csrf_token, database, operator_client, post, set_clock
from vivier import centrals
from vivier.models import PurchasingCentral, Referencing, Supplier

TODAY = datetime(2026, 3, 2, 9, 0)
AFTER_FIRST_END = datetime(2026, 7, 1, 9, 0)  # the day after the Bip Collecte referencing ends
CENTRAL = "Centrale numérique du Nord-Est"


def supplier(session, slug: str) -> Supplier:
    return session.scalar(select(Supplier).where(Supplier.slug == slug))


@pytest.fixture()
def world(private_app):
    """One central referencing two waste offers (one ending on 30 June 2026) and an expired data platform."""
    set_clock(private_app, TODAY)
    with database(private_app).session() as s:
        central = centrals.save_central(s, name=CENTRAL, kind="centrale", members="Les communes membres.",
                                        departments=["08", "55"], ordering="Mise en service sous 20 jours.")
        centrals.add_referencing(s, central, supplier(s, "bip-collecte"), theme="waste", lot="Lot 1 : collecte",
                                 contract_type="accord-cadre multi-attributaires", start_date=date(2025, 1, 1),
                                 end_date=date(2026, 6, 30),
                                 offer={"name": "Application collecte", "equipment": "Capteurs de remplissage"})
        centrals.add_referencing(s, central, supplier(s, "gravatrack"), theme="waste", lot="Lot 1 : collecte",
                                 contract_type="accord-cadre multi-attributaires", start_date=date(2025, 1, 1),
                                 end_date=date(2028, 12, 31), conditions="Interopérabilité exigée.",
                                 eligible_departments=["55"],
                                 offer={"name": "Suivi des bennes", "price_band": "200 € HT par mois",
                                        "tiers": {"basic": "Une benne", "medium": "Dix bennes",
                                                  "complex": "Toute la déchetterie"},
                                        "interoperability": {"standards": ["GeoJSON"], "api": "REST",
                                                             "data_export": "CSV", "licence": "MIT"}})
        centrals.add_referencing(s, central, supplier(s, "clairdonnee"), theme="data-platforms",
                                 contract_type="accord-cadre", start_date=date(2021, 1, 1), end_date=date(2024, 12, 31))
        return central.slug


def page(client, path: str):
    response = client.get(path)
    assert response.status_code == 200, path
    return lxml.html.fromstring(response.get_data(as_text=True))


def text(node) -> str:
    return " ".join(node.text_content().split())


def comparison(tree, caption_part: str) -> tuple[list[str], dict[str, list[str]]]:
    """The headers and the rows (by supplier) of the catalogue table whose caption contains `caption_part`."""
    [table] = [t for t in tree.xpath("//table") if caption_part in text(t.xpath("caption")[0])]
    headers = [text(th) for th in table.xpath("thead/tr/th[@scope='col']")]
    rows = {text(tr.xpath("th[@scope='row']")[0]): [text(td) for td in tr.xpath("td")]
            for tr in table.xpath("tbody/tr")}
    return headers, rows


# -- public pages -------------------------------------------------------------------------------------------------
def test_list_of_centrals(private_app, world):
    client = private_app.test_client()
    tree = page(client, "/centrales")
    [item] = tree.xpath("//li[@class='central-item']")
    content = text(item)
    assert CENTRAL in content and "Centrale d'achat" in content
    assert "08 Ardennes, 55 Meuse" in content and "Les communes membres." in content
    assert "Mise en service sous 20 jours." in content and "2 offres référencées en cours" in content
    assert item.xpath(".//h2/a/@href") == [f"/centrales/{world}"]
    assert "/centrales" in page(client, "/").xpath("//nav[@class='site-nav']//a/@href")


def test_catalogue_compares_the_active_offers_side_by_side_and_drops_them_after_their_end(private_app, world):
    client = private_app.test_client()
    tree = page(client, f"/centrales/{world}")
    assert "Mise en service sous 20 jours." in text(tree.xpath("//dl[@class='central-facts']")[0])
    headers, rows = comparison(tree, "Collecte des déchets")
    assert headers == ["Fournisseur", "Offre", "Lot", "Type de contrat", "Périmètre", "Fourchette de prix", "Matériel",
                       "Basique", "Intermédiaire", "Complexe", "Interopérabilité", "Référencé jusqu'au", "Conditions"]
    assert list(rows) == ["Bip Collecte", "Gravatrack"]  # by name
    # The referenced offer, completed from the supplier's own offer of the same name (scope, price band).
    assert rows["Bip Collecte"] == [
        "Application collecte", "Lot 1 : collecte", "accord-cadre multi-attributaires",
        "Calendriers par adresse, notifications, guide du tri", "moins de 5 000 € HT par an",
        "Capteurs de remplissage", "—", "—", "—",
        "✓ Standards ouverts : oui — API documentée : non — Export des données : non — Licence libre : non",
        "30 juin 2026", "—"]
    assert rows["Gravatrack"][4:] == [
        "200 € HT par mois", "Non précisé", "Une benne", "Dix bennes", "Toute la déchetterie",
        "✓ Standards ouverts : oui ✓ API documentée : oui ✓ Export des données : oui ✓ Licence libre : oui",
        "31 décembre 2028", "Interopérabilité exigée. Réservé à : départements 55"]
    links = tree.xpath("//table//th[@scope='row']/a/@href")
    assert links == ["/fournisseurs/bip-collecte", "/fournisseurs/gravatrack"]
    # The expired referencing is not in the catalogue at all.
    assert "Clairdonnée" not in text(tree) and "Plateformes de données" not in text(tree)

    set_clock(private_app, AFTER_FIRST_END)
    _, rows = comparison(page(client, f"/centrales/{world}"), "Collecte des déchets")
    assert list(rows) == ["Gravatrack"]
    assert "1 offre référencée en cours" in text(page(client, "/centrales"))


def test_unknown_central_is_a_french_404(private_app, world):
    response = private_app.test_client().get("/centrales/centrale-inconnue")
    assert response.status_code == 404 and "Page introuvable" in response.get_data(as_text=True)


def test_supplier_page_says_where_to_buy_without_a_tender_while_the_referencing_runs(private_app, world):
    client = private_app.test_client()
    block = page(client, "/fournisseurs/bip-collecte").xpath("//section[@class='purchasable']")
    assert len(block) == 1
    assert text(block[0]) == (f"Achetable sans mise en concurrence Achetable via {CENTRAL} (Lot 1 : collecte) "
                              "jusqu'au 30 juin 2026")
    assert block[0].xpath(".//a/@href") == [f"/centrales/{world}"]
    assert not page(client, "/fournisseurs/clairdonnee").xpath("//section[@class='purchasable']")  # expired
    set_clock(private_app, AFTER_FIRST_END)
    assert not page(client, "/fournisseurs/bip-collecte").xpath("//section[@class='purchasable']")
    assert page(client, "/fournisseurs/gravatrack").xpath("//section[@class='purchasable']")


# -- back-office --------------------------------------------------------------------------------------------------
def test_back_office_needs_an_operator(private_app, world):
    client = private_app.test_client()
    for path in ("/moderation/centrales/", "/moderation/centrales/nouvelle",
                 f"/moderation/centrales/{world}/referencements/nouveau"):
        response = client.get(path)
        assert response.status_code == 302 and "/moderation/connexion" in response.headers["Location"], path
    token = csrf_token(client, "/moderation/connexion")
    with database(private_app).session() as s:
        ref_id = s.scalar(select(Referencing.id).limit(1))
    response = client.post(f"/moderation/centrales/referencements/{ref_id}/terminer", data={"csrf_token": token})
    assert response.status_code == 302 and "/moderation/connexion" in response.headers["Location"]
    with database(private_app).session() as s:
        assert s.scalar(select(func.count()).select_from(Referencing).where(Referencing.ended_at.isnot(None))) == 0


def referencing_count(app) -> int:
    with database(app).session() as s:
        return s.scalar(select(func.count()).select_from(Referencing))


def test_operator_creates_a_central_references_an_offer_and_ends_it(private_app, world):
    set_clock(private_app, TODAY)
    operator = operator_client(private_app)
    listing = operator.get("/moderation/centrales/")
    assert listing.status_code == 200 and listing.headers["X-Robots-Tag"] == "noindex, nofollow"
    html = listing.get_data(as_text=True)
    assert "Échu" in html and "Clairdonnée" in html  # expired ones are listed with their status
    new = "/moderation/centrales/nouvelle"

    bad = post(operator, new, {"name": "", "kind": "centrale", "departments": "999"}, page=new)
    assert bad.status_code == 400 and "Indiquez le nom de la centrale." in bad.get_data(as_text=True)
    bad = post(operator, new, {"name": "Pack Val", "kind": "catalogue", "departments": "91, 999"}, page=new)
    assert bad.status_code == 400 and "Département inconnu : 999." in bad.get_data(as_text=True)
    created = post(operator, new, {"name": "Pack Val", "kind": "catalogue", "departments": "91",
                                   "ordering": "Commande en ligne."}, page=new)
    assert created.status_code == 303
    with database(private_app).session() as s:
        central = s.scalar(select(PurchasingCentral).where(PurchasingCentral.name == "Pack Val"))
        assert (central.kind, central.departments, central.ordering) == ("catalogue", ["91"], "Commande en ligne.")
        slug = central.slug

    form = f"/moderation/centrales/{slug}/referencements/nouveau"
    fields = {"supplier": "970722971", "theme": "e-services", "lot": "Pack guichet",
              "contract_type": "catalogue de services", "start_date": "2026-01-01", "end_date": "2029-12-31",
              "offer_name": "Portail usagers", "equipment": "Aucun", "complex": "Sur mesure", "data_export": "CSV"}
    before = referencing_count(private_app)
    # End before start: the service's French reason, next to the form, and nothing stored.
    bad = post(operator, form, {**fields, "end_date": "2025-12-31"}, page=form)
    assert bad.status_code == 400 and "La date de fin précède la date de début." in bad.get_data(as_text=True)
    bad = post(operator, form, {**fields, "supplier": "Collecte"}, page=form)
    assert bad.status_code == 400 and "Plusieurs fournisseurs correspondent" in bad.get_data(as_text=True)
    bad = post(operator, form, {**fields, "start_date": "pas une date"}, page=form)
    assert bad.status_code == 400 and "Indiquez la date de début (jour, mois, année)." in bad.get_data(as_text=True)
    assert referencing_count(private_app) == before

    added = post(operator, form, fields, page=form)  # the supplier named by its SIREN
    assert added.status_code == 303
    assert referencing_count(private_app) == before + 1
    tree = page(operator, f"/centrales/{slug}")
    _, rows = comparison(tree, "E-guichet")
    # Profile tiers fill those the operator left empty; the typed data export replaces the profile's facts.
    assert rows["Démarches Claires"][:3] == ["Portail usagers", "Pack guichet", "catalogue de services"]
    assert rows["Démarches Claires"][6:10] == [
        "Jusqu'à 10 démarches paramétrées, un service utilisateur", "Démarches illimitées, multi-services, paiement "
        "PayFiP", "Sur mesure", "— Standards ouverts : non — API documentée : non ✓ Export des données : oui — "
        "Licence libre : non"]
    assert "Pack guichet" in text(page(operator, "/fournisseurs/demarches-claires")
                                  .xpath("//section[@class='purchasable']")[0])

    with database(private_app).session() as s:
        ref_id = s.scalar(select(Referencing.id).where(Referencing.lot == "Pack guichet"))
    ended = post(operator, f"/moderation/centrales/referencements/{ref_id}/terminer", page="/moderation/centrales/")
    assert ended.status_code == 303
    assert "Cette centrale ne référence aucune offre en cours." in text(page(operator, f"/centrales/{slug}"))
    assert not page(operator, "/fournisseurs/demarches-claires").xpath("//section[@class='purchasable']")
    assert "Terminé par anticipation" in operator.get("/moderation/centrales/").get_data(as_text=True)
    with database(private_app).session() as s:
        assert s.get(Referencing, ref_id).ended_at == TODAY  # kept on record, ended by the app clock


# -- command line -------------------------------------------------------------------------------------------------
IMPORT_FILE = """\
centrals:
  - name: Centrale de test
    kind: accord-cadre
    departments: ["29"]
    referencings:
      - {supplier: bip-collecte, theme: waste, contract_type: accord-cadre, start: 2025-01-01, end: 2028-12-31}
      - {supplier: "615191202", theme: air-quality, contract_type: accord-cadre, start: 2025-01-01, end: 2028-12-31}
      - {supplier: "418415253", theme: school-services, contract_type: catalogue, start: 2021-01-01,
         end: 2024-12-31}
"""


def test_cli_import_is_idempotent_and_a_refused_file_writes_nothing(private_settings, tmp_path):
    data_dir = private_settings.data_dir
    path = tmp_path / "centrals.yaml"
    path.write_text(IMPORT_FILE, encoding="utf-8")
    first = run_cli(["centrals", "import", str(path)], data_dir)
    assert first.stdout.strip() == "1 centrals, 3 referencings added, 0 already recorded"
    again = run_cli(["centrals", "import", str(path)], data_dir)
    assert again.stdout.strip() == "1 centrals, 0 referencings added, 3 already recorded"
    listed = run_cli(["centrals", "list", "--on", "2026-03-02"], data_dir)
    assert listed.stdout.strip() == ("centrale-de-test  Centrale de test  (accord-cadre)  active 2  expired 1  "
                                     "upcoming 0  ended 0")

    # The demo file names suppliers of every fixture source; this database has the annuaire's only.
    env = {**os.environ, "VIVIER_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    refused = subprocess.run([sys.executable, "-m", "vivier_cli", "centrals", "import", str(REPO / "fixtures" /
                                                                                       "centrals.yaml")],
                             env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2, refused.stderr
    assert "centrale n° 1, référencement n° 1 : fournisseur introuvable '490686615'" in refused.stderr
    listed = run_cli(["centrals", "list", "--on", "2026-03-02"], data_dir)
    assert "Haute-Meuse" not in listed.stdout and len(listed.stdout.strip().splitlines()) == 1


def test_the_demo_import_skips_suppliers_its_crawl_missed_and_keeps_the_others(private_app):
    """`vivier demo` imports fixtures/centrals.yaml this way: a supplier missing from the crawl is a warning."""
    skipped: list[str] = []
    with database(private_app).session() as s:
        counts = centrals.import_file(s, REPO / "fixtures" / "centrals.yaml", skipped=skipped)
        kept = sorted(r.supplier.slug for r in s.scalars(select(Referencing)))
    assert counts == {"centrals": 2, "referencings": 2, "unchanged": 0}
    assert kept == ["aeroclasse", "badgeo-ecoles"]  # the two the annuaire lists
    assert len(skipped) == 6 and "fournisseur introuvable '490686615'" in skipped[0]
