"""Purchasing centrals (vivier.centrals): referencings expire with the calendar, catalogues group offers by theme,
the import file is validated and idempotent."""

from datetime import date
from pathlib import Path

import pytest
import yaml

from vivier import centrals
from vivier.centrals import ACTIVE, ENDED, EXPIRED, UPCOMING, CentralError
from vivier.models import STATUS_HIDDEN, Referencing, Supplier

FIXTURE_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "centrals.yaml"


def supplier(session, slug, name=None, **fields) -> Supplier:
    row = Supplier(slug=slug, name=name or slug.title(), **fields)
    session.add(row)
    session.flush()
    return row


def central(session, name="Centrale test", kind="centrale"):
    return centrals.save_central(session, name=name, kind=kind, members="Les communes membres",
                                 departments=["08", "55"], ordering="Commande sous 20 jours")


def reference(session, at, who, theme="waste", start=date(2025, 1, 1), end=date(2028, 12, 31), **extra):
    return centrals.add_referencing(session, at, who, theme=theme, contract_type="accord-cadre",
                                    start_date=start, end_date=end, **extra)


def test_a_referencing_is_active_from_start_to_end_inclusive_and_expires_by_itself(db):
    with db.session() as session:
        at = central(session)
        tri = supplier(session, "tri")
        ref = reference(session, at, tri, start=date(2025, 1, 1), end=date(2025, 12, 31))
        assert centrals.status_of(ref, date(2024, 12, 31)) == UPCOMING
        assert centrals.status_of(ref, date(2025, 1, 1)) == ACTIVE
        assert centrals.status_of(ref, date(2025, 12, 31)) == ACTIVE
        assert centrals.status_of(ref, date(2026, 1, 1)) == EXPIRED
        # Badges and the search filter read the same rule through the database.
        assert [b.central for b in centrals.badges(session, [tri.id], date(2025, 12, 31))[tri.id]] == ["Centrale test"]
        assert centrals.badges(session, [tri.id], date(2026, 1, 1)) == {}
        assert centrals.active_supplier_ids(session, date(2025, 6, 1)) == {tri.id}
        assert centrals.active_supplier_ids(session, date(2026, 1, 1)) == set()
        assert centrals.active_supplier_ids(session, date(2024, 6, 1)) == set()


def test_an_operator_may_end_a_referencing_early_and_it_stays_on_record(db):
    with db.session() as session:
        at = central(session)
        tri = supplier(session, "tri")
        ref = reference(session, at, tri)
        centrals.end_referencing(session, ref)
        assert centrals.status_of(ref, date(2026, 6, 1)) == ENDED
        assert centrals.active_supplier_ids(session, date(2026, 6, 1)) == set()
        assert session.get(Referencing, ref.id) is not None


def test_active_suppliers_per_central(db):
    with db.session() as session:
        north, south = central(session, "Nord"), central(session, "Sud", kind="catalogue")
        a, b, c = supplier(session, "a"), supplier(session, "b"), supplier(session, "c")
        reference(session, north, a)
        reference(session, north, b, theme="air-quality")
        reference(session, south, b)
        reference(session, south, c, end=date(2025, 6, 30))
        today = date(2026, 1, 10)
        assert centrals.active_supplier_ids(session, today) == {a.id, b.id}
        assert centrals.active_supplier_ids(session, today, [north.slug]) == {a.id, b.id}
        assert centrals.active_supplier_ids(session, today, [south.slug]) == {b.id}
        assert [(c.name, n) for c, n in centrals.centrals(session, today)] == [("Nord", 2), ("Sud", 1)]
        assert [(x.central, x.theme) for x in centrals.badges(session, [b.id], today)[b.id]] == [
            ("Nord", "air-quality"), ("Sud", "waste")]


@pytest.mark.parametrize("change, message", [
    ({"theme": "cooking"}, "Thème inconnu"),
    ({"start": date(2026, 1, 1), "end": date(2025, 1, 1)}, "précède"),
    ({"start": date(2025, 1, 1), "end": date(2029, 1, 2)}, "4 ans au plus"),
    ({"eligible_departments": ["999"]}, "Département inconnu"),
])
def test_bad_referencings_are_refused_with_a_reason(db, change, message):
    with db.session() as session:
        at = central(session)
        tri = supplier(session, "tri")
        with pytest.raises(CentralError, match=message):
            reference(session, at, tri, **change)


def test_hidden_suppliers_cannot_be_referenced(db):
    with db.session() as session:
        at = central(session)
        hidden = supplier(session, "gone", status=STATUS_HIDDEN)
        with pytest.raises(CentralError, match="pas publié"):
            reference(session, at, hidden)


def test_a_central_needs_a_known_kind_and_keeps_its_address(db):
    with db.session() as session:
        with pytest.raises(CentralError, match="Type inconnu"):
            centrals.save_central(session, name="X", kind="marché")
        first = central(session, "Centrale d'achat du Nord")
        second = central(session, "Centrale d’achat du Nord")  # same slug once folded
        assert (first.slug, second.slug) == ("centrale-d-achat-du-nord", "centrale-d-achat-du-nord-2")
        centrals.save_central(session, name="Centrale du Nord (renommée)", kind="centrale", central=first)
        assert first.slug == "centrale-d-achat-du-nord"


def test_catalogue_groups_offers_by_theme_and_completes_them_from_the_profile(db):
    with db.session() as session:
        at = central(session, kind="catalogue")
        zen = supplier(session, "zen", "Accueil Zen", interoperability={"standards": ["iCalendar"], "api": None},
                       offers=[{"name": "Guichet", "scope": "Démarches en ligne", "price_band": "90 € HT / mois",
                                "tiers": {"basic": "3 démarches", "medium": "10 démarches"}}])
        ville = supplier(session, "ville", "Appliville", interoperability={"licence": "AGPL-3.0"})
        reference(session, at, ville, theme="e-services", offer={"name": "Essentiel", "equipment": "Aucun"})
        reference(session, at, zen, theme="e-services",
                  offer={"name": "guichet", "tiers": {"complex": "Illimité", "bogus": "x"},
                         "interoperability": {"data_export": "CSV"}})
        reference(session, at, zen, theme="waste", end=date(2025, 6, 30), offer={"name": "Ancien"})
        today = date(2026, 3, 1)
        themes = centrals.catalogue(session, at, today)
        assert [t.theme for t in themes] == ["e-services"]  # the waste referencing has expired
        rows = themes[0].rows
        assert [r.supplier.name for r in rows] == ["Accueil Zen", "Appliville"]
        zen_row = rows[0]
        # The referenced offer's own fields first, the profile's offer of the same name for the rest.
        assert zen_row.offer_name == "guichet"
        assert zen_row.scope == "Démarches en ligne" and zen_row.price_band == "90 € HT / mois"
        assert zen_row.tiers == {"basic": "3 démarches", "medium": "10 démarches", "complex": "Illimité"}
        assert zen_row.interop == ["data_export"]  # the offer's facts replace the profile's
        assert rows[1].interop == ["open_source"] and rows[1].equipment == "Aucun"
        everything = centrals.catalogue(session, at, today, include_inactive=True)
        assert [t.theme for t in everything] == ["e-services", "waste"]


def test_interoperability_facts():
    assert centrals.interop_facts(None) == []
    assert centrals.interop_facts({"standards": ["GeoJSON"], "api": "REST", "data_export": "CSV",
                                   "licence": "MIT"}) == ["open_standards", "documented_api", "data_export",
                                                          "open_source"]
    assert centrals.interop_facts({"standards": [], "api": None, "licence": ""}) == []


def test_the_demo_file_imports_once_and_names_real_fixture_suppliers(db):
    data = yaml.safe_load(FIXTURE_FILE.read_text(encoding="utf-8"))
    sirens = {r["supplier"] for c in data["centrals"] for r in c["referencings"]}
    with db.session() as session:
        for n, siren in enumerate(sorted(sirens)):
            supplier(session, f"s{n}", siren=siren)
        first = centrals.import_file(session, FIXTURE_FILE)
        again = centrals.import_file(session, FIXTURE_FILE)
        total = sum(len(c["referencings"]) for c in data["centrals"])
        assert first == {"centrals": 2, "referencings": total, "unchanged": 0}
        assert again == {"centrals": 2, "referencings": 0, "unchanged": total}
        # On the demo's date the lighting agreement has expired and the others run.
        expired = {s.siren for s in session.query(Supplier).all()} - {
            session.get(Supplier, i).siren for i in centrals.active_supplier_ids(session, date(2026, 11, 26))}
        assert expired == {"403050008"}


def test_an_import_naming_an_unknown_supplier_says_which_entry(db):
    with db.session() as session, pytest.raises(CentralError, match="centrale n° 1, référencement n° 1 .*introuvable"):
        centrals.import_centrals(session, {"centrals": [{"name": "C", "kind": "centrale", "referencings": [
            {"supplier": "000000000", "theme": "waste", "contract_type": "x", "start": "2025-01-01",
             "end": "2026-01-01"}]}]})
