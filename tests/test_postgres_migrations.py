"""The Alembic migrations on both dialects (SQLite, then the PostgreSQL server scripts/test starts): every revision
goes up, down and up again, the head matches the models, and rows stored by older versions are carried over."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from tests.conftest import settings_with_database
from vivier.db import Database, alembic_config
from vivier.models import Base


@pytest.fixture
def database(database_url, tmp_path):
    database = Database(settings_with_database(tmp_path, database_url))
    yield database
    database.dispose()


def tables(database: Database) -> set[str]:
    with database.engine.connect() as connection:
        return set(inspect(connection).get_table_names()) - {"alembic_version"}


def differences(database: Database) -> list:
    with database.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def test_every_revision_goes_up_down_and_up_again_and_the_head_matches_the_models(database, database_url):
    config = alembic_config(database_url)
    revisions = list(reversed(list(ScriptDirectory.from_config(config).walk_revisions())))
    assert [r.revision for r in revisions][:2] == ["0001", "0002"]
    for revision in revisions:
        command.upgrade(config, revision.revision)
        command.downgrade(config, revision.down_revision or "base")
        command.upgrade(config, revision.revision)
    database.migrate()  # at head already: nothing to do
    assert {"suppliers", "source_records", "embedding_cache", "search_days", "jobs"} <= tables(database)
    assert differences(database) == [], "models and migrations differ"
    command.downgrade(config, "base")
    assert tables(database) == set()
    database.migrate()  # again from nothing: the downgrades left no type, index or sequence behind
    assert differences(database) == []


def test_rows_of_the_walking_skeleton_reach_the_head(database, database_url):
    """A profile stored by the first version (guessed themes, no source record, a feed row keyed by its file) gets
    its source record, keeps declared themes only, and is found again by the next crawl, on both dialects."""
    from vivier.profiles import UPDATED, upsert_profile

    config = alembic_config(database_url)
    command.upgrade(config, "0001")
    with database.engine.begin() as connection:
        # No explicit ids: PostgreSQL's sequences must stay in step with the rows for the next inserts.
        for slug, name in (("acme", "Acme"), ("guess", "Devinée")):
            connection.execute(text(
                "INSERT INTO suppliers (slug, name, pitch, description, categories, keywords, labels, \"references\", "
                "offers, interoperability, status, created_at, updated_at, postcode) VALUES (:slug, :name, "
                "'Capteurs', '', '[\"waste\"]', '[]', '[]', '[]', '[]', '{}', 'crawled', '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00', '29000')"), {"slug": slug, "name": name})
        acme = connection.execute(text("SELECT id FROM suppliers WHERE slug = 'acme'")).scalar_one()
        guessed = connection.execute(text("SELECT id FROM suppliers WHERE slug = 'guess'")).scalar_one()
        # Acme's source gave its themes; the other profile's themes were guessed (no provenance for them).
        for supplier_id, fields in ((acme, ("name", "pitch", "categories", "postcode")), (guessed, ("name",))):
            for field in fields:
                connection.execute(text(
                    "INSERT INTO field_provenance (supplier_id, field, source_name, url, first_seen, last_seen) "
                    "VALUES (:id, :field, 'annuaire', :url, '2026-01-01 00:00:00', '2026-02-01 00:00:00')"),
                    {"id": supplier_id, "field": field, "url": f"http://a/{supplier_id}"})
    command.upgrade(config, "0008")
    with database.engine.begin() as connection:
        connection.execute(text("INSERT INTO sources (name, kind, start_url, config, created_at) VALUES "
                                "('flux', 'feed', 'http://f/', '{}', '2026-01-01 00:00:00')"))
        connection.execute(text(
            "INSERT INTO source_records (source_name, record_key, supplier_id, url, name, data, content_hash, "
            "first_seen, last_seen, changed_at, joined_by) VALUES ('flux', 'http://f/rows.csv#r1', :id, "
            "'http://f/rows.csv', 'Acme', '{}', 'x', '2026-01-01 00:00:00', '2026-01-01 00:00:00', "
            "'2026-01-01 00:00:00', 'key')"), {"id": acme})
    database.migrate()
    with database.engine.connect() as connection:
        records = connection.execute(text(
            "SELECT supplier_id, source_name, record_key FROM source_records ORDER BY supplier_id, source_name")).all()
        chosen = connection.execute(text("SELECT count(*) FROM field_provenance WHERE chosen")).scalar()
        categories = dict(connection.execute(text("SELECT slug, categories FROM suppliers")).all())
    assert [tuple(r) for r in records] == [(acme, "annuaire", f"http://a/{acme}"), (acme, "flux", "r1"),
                                           (guessed, "annuaire", f"http://a/{guessed}")]
    assert chosen == 5
    assert [categories["acme"], categories["guess"]] in ([["waste"], []], ['["waste"]', "[]"])
    command.downgrade(config, "0008")  # the feed key is rebuilt from the record's file
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT record_key FROM source_records WHERE source_name = 'flux'")
                                  ).scalar() == "http://f/rows.csv#r1"
    database.migrate()
    with database.session() as session:
        again = upsert_profile(session, {"name": "Acme", "pitch": "Capteurs", "categories": ["waste"],
                                         "postcode": "29000"}, "annuaire", f"http://a/{acme}")
        new = upsert_profile(session, {"name": "Nouvelle", "pitch": "Autre chose", "postcode": "35000"},
                             "annuaire", "http://a/new")
    assert (again.outcome, again.supplier_id) == (UPDATED, acme)
    assert new.supplier_id not in (acme, guessed)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM suppliers")).scalar() == 3
