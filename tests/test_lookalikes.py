"""Names like the one a company types (vivier.lookalikes): read again only when the suppliers changed."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.conftest import make_settings
from vivier import lookalikes
from vivier.db import Database
from vivier.models import STATUS_HIDDEN, Supplier
from vivier.profiles import SourceInfo, upsert_profile

SOURCE = SourceInfo("annuaire", "directory")


@pytest.fixture()
def database(tmp_path):
    db = Database(make_settings(tmp_path))
    db.migrate()
    yield db
    db.dispose()


def statements(database):
    seen: list[str] = []
    event.listen(database.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: seen.append(statement))
    return seen


def test_a_keystroke_reads_the_names_only_when_the_suppliers_changed(database):
    with database.session() as s:
        upsert_profile(s, {"name": "Budget Ouvert", "commune": "Besançon"}, SOURCE, url="https://a.example/1")
        upsert_profile(s, {"name": "Borne & Cité", "commune": "Mulhouse"}, SOURCE, url="https://a.example/2")
    seen = statements(database)
    with database.session() as s:
        assert [c.name for c in lookalikes.possible_duplicates(s, "budjet ouvert")] == ["Budget Ouvert"]
        full_reads = sum("suppliers.slug" in q for q in seen)
        assert [c.name for c in lookalikes.possible_duplicates(s, "borne et cite")] == ["Borne & Cité"]
        assert lookalikes.possible_duplicates(s, "bu") == []  # too short: no query at all
    assert full_reads == 1 and sum("suppliers.slug" in q for q in seen) == 1  # the second keystroke: cached

    with database.session() as s:  # a new supplier, then a hidden one: the next keystroke sees both changes
        upsert_profile(s, {"name": "Budget Citoyen", "commune": "Lille"}, SOURCE, url="https://a.example/3")
    with database.session() as s:
        assert {c.name for c in lookalikes.possible_duplicates(s, "budget")} == {"Budget Ouvert", "Budget Citoyen"}
        s.query(Supplier).filter(Supplier.name == "Budget Ouvert").one().status = STATUS_HIDDEN
    with database.session() as s:
        assert [c.name for c in lookalikes.possible_duplicates(s, "budget")] == ["Budget Citoyen"]
