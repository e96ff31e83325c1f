"""The Alembic migrations create exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from vivier.db import Database
from vivier.models import Base
from tests.conftest import make_settings


def test_upgrade_creates_tables_and_matches_models(tmp_path):
    database = Database(make_settings(tmp_path))
    database.migrate()
    database.migrate()  # idempotent
    with database.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        assert {"suppliers", "field_provenance", "sources", "crawl_runs", "embedding_cache"} <= tables
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    database.dispose()


def test_profiles_stored_before_source_records_get_their_records(tmp_path):
    """Upgrading a database from the walking skeleton keeps every profile and gives it one record per source, so
    that the next crawl finds the same supplier again instead of creating a duplicate."""
    from alembic import command
    from sqlalchemy import text

    from vivier.db import alembic_config
    from vivier.profiles import UPDATED, upsert_profile

    settings = make_settings(tmp_path)
    command.upgrade(alembic_config(settings.database_url), "0001")
    database = Database(settings)
    with database.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO suppliers (id, slug, name, pitch, description, categories, keywords, labels, \"references\", "
            "offers, interoperability, status, created_at, updated_at, postcode) VALUES (1, 'acme', 'Acme', "
            "'Capteurs', '', '[\"waste\"]', '[]', '[]', '[]', '[]', '{}', 'crawled', '2026-01-01 00:00:00', "
            "'2026-01-01 00:00:00', '29000')"))
        for field in ("name", "pitch", "categories", "postcode"):
            connection.execute(text(
                "INSERT INTO field_provenance (supplier_id, field, source_name, url, first_seen, last_seen) VALUES "
                "(1, :field, 'annuaire', 'http://a/acme', '2026-01-01 00:00:00', '2026-02-01 00:00:00')"),
                {"field": field})
    database.migrate()
    with database.engine.connect() as connection:
        (key, name, data), = connection.execute(text("SELECT record_key, name, data FROM source_records")).all()
        chosen = connection.execute(text("SELECT count(*) FROM field_provenance WHERE chosen")).scalar()
    assert key == "http://a/acme" and name == "Acme" and chosen == 4
    assert '"categories": ["waste"]' in data and '"postcode": "29000"' in data
    with database.session() as session:
        again = upsert_profile(session, {"name": "Acme", "pitch": "Capteurs", "categories": ["waste"],
                                         "postcode": "29000"}, "annuaire", "http://a/acme")
    # The same record is found again and refreshed (its hash was not computed by this version): no duplicate.
    assert (again.outcome, again.supplier_id) == (UPDATED, 1)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM suppliers")).scalar() == 1
    database.dispose()
