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
