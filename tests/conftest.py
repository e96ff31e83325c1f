"""Shared fixtures: the real embedding model (loaded once), the fixture directory served on loopback, a database
crawled from it by the real Scrapy crawler, and an index built from that database."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vivier.config import load_settings
from vivier_cli.devserver import FixtureSites

REPO = Path(__file__).resolve().parent.parent
FIXTURE_SITES = REPO / "fixtures" / "sites"
SOURCES_FILE = REPO / "fixtures" / "sources.yaml"


# The fixtures' vector seed (embeddings.seeds, written by fixtures/build_vectors.py, checked by
# tests/test_vector_seed.py): the fixture passages' vectors read rather than encoded again by every test.
VECTOR_SEEDS = str(REPO / "fixtures" / "vectors" / "multilingual-e5-small.npz")


# Data directories whose database is not their SQLite file: the `db` fixture's PostgreSQL case registers its test's
# directory here, so that make_settings(tmp_path) and run_cli(..., tmp_path) reach the same database as `db`.
DATABASE_OF_DATA_DIR: dict[Path, str] = {}


def make_settings(data_dir: Path):
    env = {"VIVIER_DATA_DIR": str(data_dir), "VIVIER_VECTOR_SEEDS": VECTOR_SEEDS}
    if Path(data_dir) in DATABASE_OF_DATA_DIR:
        env["DATABASE_URL"] = DATABASE_OF_DATA_DIR[Path(data_dir)]
    return load_settings(env)


def run_cli(args: list[str], data_dir: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python -m vivier_cli ARGS` in a subprocess (Scrapy's reactor cannot restart inside one process)."""
    env = {**os.environ, "VIVIER_DATA_DIR": str(data_dir), "VIVIER_VECTOR_SEEDS": VECTOR_SEEDS}
    env.pop("DATABASE_URL", None)
    if Path(data_dir) in DATABASE_OF_DATA_DIR:
        env["DATABASE_URL"] = DATABASE_OF_DATA_DIR[Path(data_dir)]
    result = subprocess.run([sys.executable, "-m", "vivier_cli", *args], env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"vivier {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def encoder():
    from embeddings.encoder import Encoder
    from vivier.config import DEFAULT_MODEL

    return Encoder(DEFAULT_MODEL, seeds=[Path(VECTOR_SEEDS)])


def source_args(sites: FixtureSites) -> list[str]:
    """`vivier crawl` options that register the fixture sources at the addresses they are served at."""
    args = ["--sources", str(SOURCES_FILE), "--loopback-fixture"]
    for name, url in sites.urls.items():
        args += ["--var", f"{name}={url}"]
    return args


@pytest.fixture(scope="session")
def fixture_sites():
    with FixtureSites(FIXTURE_SITES) as sites:
        yield sites


@pytest.fixture(scope="session")
def crawled_data_dir(tmp_path_factory, fixture_sites) -> Path:
    """A database crawled from the annuaire directory only (the corpus of the search tests)."""
    data_dir = tmp_path_factory.mktemp("crawled")
    run_cli(["crawl", "annuaire", *source_args(fixture_sites), "--no-index"], data_dir)
    return data_dir


@pytest.fixture(scope="session")
def indexed_settings(crawled_data_dir, encoder):
    from indexer.build import build_index

    settings = make_settings(crawled_data_dir)
    build_index(settings, encoder)
    return settings


@pytest.fixture(scope="session")
def search_service(indexed_settings, encoder):
    from indexer.service import SearchService

    return SearchService(indexed_settings, encoder)


@pytest.fixture(scope="session")
def app(indexed_settings, encoder):
    from search_app import create_app

    app = create_app(settings=indexed_settings, encoder=encoder)
    app.config.update(TESTING=True)
    return app


@pytest.fixture()
def client(app):
    return app.test_client()


# -- databases: SQLite, and PostgreSQL when scripts/test started one -----------------------------------------------
# scripts/test starts a throwaway PostgreSQL cluster and exports its URL here; the fixtures below then give each test
# a database of its own on both dialects. Without it the PostgreSQL cases skip (with scripts/test's reason), unless
# VIVIER_TEST_POSTGRES_REQUIRED=1 (CI), where they fail.
POSTGRES_URL_VARIABLE = "VIVIER_TEST_POSTGRES_URL"
DIALECTS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: runs on the PostgreSQL server of VIVIER_TEST_POSTGRES_URL "
                                       "(scripts/test starts one); `-m postgres` selects the PostgreSQL cases")


class PostgresServer:
    """The test server: one database per test, created from a template migrated once (CREATE DATABASE ... TEMPLATE
    copies it in milliseconds, where running the migrations takes a second), dropped after the test."""

    def __init__(self, url: str):
        from sqlalchemy import create_engine, make_url
        from sqlalchemy.pool import NullPool

        self.url = make_url(url)
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._names = (f"vivier_test_{os.getpid()}_{n}" for n in itertools.count())
        self._template: str | None = None

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def _execute(self, sql: str) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(sql)

    def create(self, migrated: bool = True) -> str:
        """The URL of a new database: migrated to the latest revision, or empty."""
        name = next(self._names)
        if migrated and self._template is None:
            from vivier.db import upgrade

            template = f"{name}_template"
            self._execute(f"CREATE DATABASE {template}")
            upgrade(self.url_of(template))  # alembic's engine has no pool: no connection is left on the template
            self._template = template
        self._execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {self._template}" if migrated else ""))
        return self.url_of(name)

    def drop(self, url: str) -> None:
        from sqlalchemy import make_url

        self._execute(f"DROP DATABASE IF EXISTS {make_url(url).database} WITH (FORCE)")

    def close(self) -> None:
        if self._template is not None:
            self._execute(f"DROP DATABASE IF EXISTS {self._template} WITH (FORCE)")
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_server():
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        reason = (f"no PostgreSQL server: {POSTGRES_URL_VARIABLE} is unset (./scripts/test starts one"
                  + (f"; it could not: {os.environ['VIVIER_TEST_POSTGRES_SKIP_REASON']})"
                     if os.environ.get("VIVIER_TEST_POSTGRES_SKIP_REASON") else ")"))
        if os.environ.get("VIVIER_TEST_POSTGRES_REQUIRED") == "1":
            pytest.fail(f"VIVIER_TEST_POSTGRES_REQUIRED=1 but {reason}")
        pytest.skip(reason)
    server = PostgresServer(url)
    yield server
    server.close()


def settings_with_database(data_dir: Path, database_url: str):
    """make_settings with another database than data_dir's SQLite file."""
    return load_settings({"VIVIER_DATA_DIR": str(data_dir), "VIVIER_VECTOR_SEEDS": VECTOR_SEEDS,
                          "DATABASE_URL": database_url})


def _database_url(request, tmp_path: Path, migrated: bool):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vivier.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create(migrated=migrated)
    yield url
    server.drop(url)


@pytest.fixture(params=DIALECTS)
def database_url(request, tmp_path):
    """The URL of an empty database of the test's own, without any table: a SQLite file under tmp_path, then a new
    PostgreSQL database (the migration tests)."""
    yield from _database_url(request, tmp_path, migrated=False)


@pytest.fixture(params=DIALECTS)
def db(request, tmp_path):
    """An empty, migrated database of its own, on each dialect: SQLite under tmp_path, then PostgreSQL. Its settings'
    data directory is tmp_path on both, and make_settings(tmp_path) reaches the same database."""
    from vivier.db import Database

    for url in _database_url(request, tmp_path, migrated=True):
        if request.param == "postgresql":  # a copy of a migrated template
            DATABASE_OF_DATA_DIR[tmp_path] = url
        database = Database(make_settings(tmp_path))
        if request.param == "sqlite":
            database.migrate()
        try:
            yield database
        finally:
            database.dispose()
            DATABASE_OF_DATA_DIR.pop(tmp_path, None)


@pytest.fixture()
def private_settings(indexed_settings, tmp_path):
    """A copy of the indexed fixture directory (database and index) that one test may change: submissions,
    moderation and re-indexing must not leak into the shared session fixtures."""
    data_dir = tmp_path / "data"
    shutil.copytree(indexed_settings.data_dir, data_dir, ignore=shutil.ignore_patterns("httpcache", "crawls"))
    return make_settings(data_dir)


@pytest.fixture()
def private_app(private_settings, encoder):
    """The web app on private_settings, with a rate limit high enough for the tests that do not test it."""
    from search_app import create_app

    app = create_app(settings=private_settings.with_overrides(form_rate_limit="1000 per minute"), encoder=encoder)
    app.config.update(TESTING=True)
    return app


@pytest.fixture(scope="session")
def all_sources_data_dir(tmp_path_factory, fixture_sites) -> Path:
    """A database crawled from every fixture source together (directories, company sites, sitemaps, feeds)."""
    data_dir = tmp_path_factory.mktemp("all-sources")
    run_cli(["crawl", *source_args(fixture_sites), "--no-index"], data_dir)
    return data_dir
