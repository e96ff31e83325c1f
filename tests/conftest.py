"""Shared fixtures: the real embedding model (loaded once), the fixture directory served on loopback, a database
crawled from it by the real Scrapy crawler, and an index built from that database."""

from __future__ import annotations

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


def make_settings(data_dir: Path):
    return load_settings({"VIVIER_DATA_DIR": str(data_dir), "VIVIER_VECTOR_SEEDS": VECTOR_SEEDS})


def run_cli(args: list[str], data_dir: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python -m vivier_cli ARGS` in a subprocess (Scrapy's reactor cannot restart inside one process)."""
    env = {**os.environ, "VIVIER_DATA_DIR": str(data_dir), "VIVIER_VECTOR_SEEDS": VECTOR_SEEDS}
    env.pop("DATABASE_URL", None)
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


@pytest.fixture
def db(tmp_path):
    """An empty, migrated database of its own (SQLite under tmp_path)."""
    from vivier.db import Database

    database = Database(make_settings(tmp_path))
    database.migrate()
    yield database
    database.dispose()


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
