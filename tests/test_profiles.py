"""Upserting harvested profiles: one record per company, provenance kept, empty values never erase."""

from datetime import datetime

import pytest
from sqlalchemy import func, select

from vivier.db import Database
from vivier.models import FieldProvenance, Supplier
from vivier.profiles import NEW, UNCHANGED, UPDATED, upsert_profile
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
