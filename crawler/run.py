"""Run a crawl of one source in this process and record it as a CrawlRun."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from vivier.config import Settings
from vivier.db import Database
from vivier.models import CrawlRun, Source, utcnow

SUMMARY_STATS = {
    "pages": "response_received_count",
    "items": "item_scraped_count",
    "new": "vivier/items_new",
    "updated": "vivier/items_updated",
    "unchanged": "vivier/items_unchanged",
    "invalid": "vivier/items_invalid",
    "errors": "log_count/ERROR",
    "robots_forbidden": "robotstxt/forbidden",
}


@dataclass(frozen=True)
class CrawlSummary:
    source: str
    run_id: int
    figures: dict[str, int]


def register_source(database: Database, name: str, start_url: str, kind: str = "directory") -> None:
    with database.session() as session:
        source = session.scalar(select(Source).where(Source.name == name))
        if source is None:
            session.add(Source(name=name, kind=kind, start_url=start_url))
        else:
            source.start_url, source.kind = start_url, kind


def crawl_settings(settings: Settings, loopback_fixture: bool = False) -> Any:
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    from scrapy.utils.project import get_project_settings

    from crawler import settings as crawler_settings

    scrapy_settings = get_project_settings()
    scrapy_settings.set("VIVIER_DATABASE_URL", settings.database_url)
    scrapy_settings.set("LOG_LEVEL", "WARNING")
    if loopback_fixture:
        scrapy_settings.update(crawler_settings.LOOPBACK_FIXTURE_OVERRIDES)
    return scrapy_settings


def run_crawl(settings: Settings, source_name: str, loopback_fixture: bool = False) -> CrawlSummary:
    """Crawl a registered source to the end (blocking). Twisted allows one such call per process."""
    from scrapy.crawler import CrawlerProcess

    database = Database(settings)
    database.migrate()
    with database.session() as session:
        source = session.scalar(select(Source).where(Source.name == source_name))
        if source is None:
            raise LookupError(f"unknown source {source_name!r}")
        run = CrawlRun(source_id=source.id)
        session.add(run)
        session.flush()
        run_id, start_url, kind = run.id, source.start_url, source.kind

    scrapy_settings = crawl_settings(settings, loopback_fixture)
    scrapy_settings.set("LOG_INSTALL_ROOT_HANDLER", False)
    process = CrawlerProcess(scrapy_settings)
    crawler = process.create_crawler(kind)
    status = "failed"
    try:
        process.crawl(crawler, start_url=start_url, source=source_name)
        process.start()
        status = "finished"
    finally:
        # Scrapy leaves its shutdown handlers installed; give SIGINT/SIGTERM back to whoever runs next (the app).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stats = crawler.stats.get_stats() if crawler.stats else {}
        figures = {key: int(stats.get(stat, 0)) for key, stat in SUMMARY_STATS.items()}
        with database.session() as session:
            run = session.get(CrawlRun, run_id)
            run.finished_at, run.status, run.stats = utcnow(), status, figures
        database.dispose()
    return CrawlSummary(source_name, run_id, figures)
