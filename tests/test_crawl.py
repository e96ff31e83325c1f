"""Whole crawls of the fixture directory served on loopback, with the real Scrapy crawler and SQLite."""

import os
import shutil
import subprocess
import sys

from sqlalchemy import func, select

from fixtures.build_sites import load_profiles
from tests.conftest import REPO, SOURCES_FILE, make_settings, run_cli
from vivier.db import Database
from vivier.models import CrawlRun, FieldProvenance, Supplier


def count_suppliers(data_dir):
    database = Database(make_settings(data_dir))
    with database.session() as s:
        total = s.scalar(select(func.count()).select_from(Supplier))
    database.dispose()
    return total


def test_crawl_stores_every_profile_and_obeys_robots(crawled_data_dir):
    expected = load_profiles()
    database = Database(make_settings(crawled_data_dir))
    with database.session() as s:
        names = set(s.scalars(select(Supplier.name)))
        assert names == {p["name"] for p in expected}
        assert "Brouillon Interdit SARL" not in names  # listed, but under /brouillons/ which robots.txt forbids
        run = s.scalar(select(CrawlRun))
        assert run.status == "finished"
        assert run.stats["new"] == len(expected) and run.stats["robots_forbidden"] >= 1
        invalid = [p for p in expected if p.get("siren_invalid")]
        for p in invalid:
            assert s.scalar(select(Supplier.siren).where(Supplier.name == p["name"])) is None
        valid = next(p for p in expected if p.get("siren") and not p.get("siren_invalid"))
        stored = s.scalar(select(Supplier).where(Supplier.name == valid["name"]))
        assert stored.siren == valid["siren"] and stored.department == valid["department"]
        assert set(stored.categories) == set(valid["categories"])
        sources = set(s.scalars(select(FieldProvenance.source_name).where(FieldProvenance.supplier_id == stored.id)))
        assert sources == {"annuaire"}
    database.dispose()


def test_recrawl_does_not_duplicate_and_asks_only_what_changed(tmp_path, crawled_data_dir):
    # The session's first crawl (a copy of its database and HTTP cache), crawled again.
    data_dir = tmp_path / "data"
    shutil.copytree(crawled_data_dir, data_dir, ignore=shutil.ignore_patterns("crawls", "index", "opendata"))
    first = count_suppliers(data_dir)
    output = run_cli(["crawl", "annuaire", "--loopback-fixture", "--no-index"], data_dir).stdout
    assert count_suppliers(data_dir) == first == len(load_profiles())
    assert "new 0" in output and f"unchanged {first}" in output
    # Every page was asked conditionally and answered 304 Not Modified (robots.txt included).
    assert f"not_modified {len(load_profiles()) + 10}" in output


def test_scrapy_crawl_command_works(tmp_path, fixture_sites):
    env = {**os.environ, "VIVIER_DATA_DIR": str(tmp_path), "SCRAPY_SETTINGS_MODULE": "crawler.settings"}
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "directory", "-a", f"sources_file={SOURCES_FILE}",
         "-a", "source=annuaire", "-a", f"vars=annuaire={fixture_sites.urls['annuaire']}",
         "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16",
         "-s", "VIVIER_ALLOW_PRIVATE_NETWORKS=True", "-s", f"HTTPCACHE_DIR={tmp_path / 'cache'}",
         "-s", "LOG_LEVEL=WARNING"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert count_suppliers(tmp_path) == len(load_profiles())


def test_crawl_of_unknown_source_is_a_usage_error(tmp_path):
    env = {**os.environ, "VIVIER_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "vivier_cli", "crawl", "nowhere"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "unknown source 'nowhere'" in result.stderr, result.stderr
