"""Run crawls of declared sources in this process, record each as a CrawlRun, resume interrupted ones.

A crawl that stops midway (Ctrl+C, a page or time limit, a crash) leaves its Scrapy job directory
(data/crawls/SOURCE/): the next crawl of that source resumes from it instead of starting over. A crawl that ends
normally removes it, so the next one starts afresh (and the HTTP cache makes unchanged pages cost a 304; a page
unchanged since the last run that read pages the same way is not read again, its record only marked seen).

A crawl killed outright (SIGKILL, out of memory, power cut) cannot be resumed: Scrapy saves its queue of pending
requests only when it stops, while it records each queued request as seen at once, so its job directory would make
the next crawl skip the pages that were queued but never fetched. The next crawl starts over instead (what was
stored stays; pages fetched already cost a conditional request), and the killed run, left "running", is recorded as
interrupted.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from sqlalchemy import select

from crawler.addons import SETTING as VIVIER_SETTINGS
from crawler.sources import SourceSpec
from vivier.config import Settings
from vivier.db import Database
from vivier.models import CrawlRun, Source, utcnow

# Summary figure -> Scrapy stat (summed when a figure has several).
SUMMARY_STATS: dict[str, tuple[str, ...]] = {
    "pages": ("response_received_count",),
    "items": ("item_scraped_count",),
    "new": ("vivier/items_new",),
    "merged": ("vivier/items_merged",),
    "updated": ("vivier/items_updated",),
    "unchanged": ("vivier/items_unchanged",),
    "invalid": ("vivier/items_invalid", "vivier/rows_broken"),
    "not_profile": ("vivier/pages_not_profile", "vivier/pages_not_html", "vivier/pages_not_listing",
                    "vivier/sitemaps_invalid", "vivier/feeds_invalid"),
    "failed": ("vivier/pages_failed",),
    "not_modified": ("httpcache/revalidate",),
    "robots_forbidden": ("robotstxt/forbidden",),
    "refused_private": ("vivier/refused_private",),
    "errors": ("vivier/errors",),
    # Records or suppliers of another name merged by website or SIREN (listed in the run's notices).
    "merged_other_names": ("vivier/merges_of_other_names",),
}
RUN_FINISHED, RUN_INTERRUPTED, RUN_FAILED, RUN_RUNNING = "finished", "interrupted", "failed", "running"

logger = logging.getLogger(__name__)


class CrawlInProgress(RuntimeError):
    """Another process is crawling this source."""


@contextlib.contextmanager
def _source_locks(settings: Settings, names: list[str]):
    """Hold one lock file per source for the whole run: two processes never crawl (or resume) one source."""
    folder = settings.data_dir / "crawls"
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        for name in names:
            handle = stack.enter_context(open(folder / f"{name}.lock", "w"))
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CrawlInProgress(f"a crawl of {name!r} is already running") from None
            stack.callback(fcntl.flock, handle, fcntl.LOCK_UN)
        yield


@dataclass(frozen=True)
class CrawlSummary:
    source: str
    run_id: int
    status: str
    figures: dict[str, int]
    failures: list[str] = field(default_factory=list)
    resumed: bool = False
    # Every unreadable feed row, every merge that dropped another name... (crawler.spiders.base.record_notice).
    notices: list[str] = field(default_factory=list)
    notices_count: int = 0


@dataclass(frozen=True)
class _Plan:
    """One source's crawl in this run."""

    name: str
    kind: str
    config: dict[str, Any]
    run_id: int
    directory: Path
    resume: bool
    # Pages unchanged since the last run are not read again (crawler.spiders.base.SourceSpider.unchanged).
    skip_unchanged: bool = False
    reading: str = ""


# What decides how a page becomes a record: the crawler's code and the code it normalises with. A run records the
# digest of these and of its source's declaration; unchanged pages are skipped only when the last finished run had
# the same, so a new version of Vivier or an edited source file reads every page once again.
READING_CODE = ("crawler", "vivier/taxonomy.py", "vivier/identifiers.py", "vivier/text.py", "vivier/geo.py",
                "vivier/communes.py")


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for entry in READING_CODE:
        path = root / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            if file.is_file():
                digest.update(file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def reading_digest(kind: str, config: Mapping[str, Any]) -> str:
    """How this source's pages are read: the crawler's code and the source's declaration."""
    declared = json.dumps({"kind": kind, "config": config}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256((_code_digest() + declared).encode()).hexdigest()[:32]


def sync_sources(database: Database, specs: Iterable[SourceSpec]) -> None:
    """Register declared sources, or update them to their declaration (records and runs are kept)."""
    with database.session() as session:
        for spec in specs:
            source = session.scalar(select(Source).where(Source.name == spec.name))
            if source is None:
                source = Source(name=spec.name)
                session.add(source)
            source.kind, source.config, source.priority = spec.kind, spec.config, spec.priority
            source.start_url = spec.start_url


def crawl_settings(settings: Settings, loopback_fixture: bool = False, progress: bool = False) -> Any:
    from scrapy.settings import Settings as ScrapySettings

    from crawler import settings as crawler_settings

    # The project's settings module, given directly: nothing is read from (or written to) the environment.
    scrapy_settings = ScrapySettings()
    scrapy_settings.setmodule(crawler_settings, priority="project")
    # The one configuration of the crawl, handed down to spiders and pipelines (crawler.addons).
    scrapy_settings.set(VIVIER_SETTINGS, settings)
    scrapy_settings.set("VIVIER_ALLOW_PRIVATE_NETWORKS", settings.allow_private_networks)
    scrapy_settings.set("HTTPCACHE_DIR", str(settings.data_dir / "httpcache"))
    scrapy_settings.set("VIVIER_PROGRESS", progress)
    scrapy_settings.set("LOG_LEVEL", "WARNING")
    scrapy_settings.set("LOG_INSTALL_ROOT_HANDLER", False)
    if loopback_fixture:
        scrapy_settings.update(crawler_settings.LOOPBACK_FIXTURE_OVERRIDES)
    return scrapy_settings


def job_dir(settings: Settings, source_name: str) -> Path:
    return settings.data_dir / "crawls" / source_name


def job_saved(directory: Path) -> bool:
    """Whether a stopped crawl's job directory can be resumed: Scrapy writes the description of its pending queue
    (requests.queue/active.json) when it stops, never before."""
    return (directory / "requests.queue" / "active.json").is_file()


def _figures(stats: Mapping[str, Any]) -> dict[str, int]:
    return {key: sum(int(stats.get(stat, 0) or 0) for stat in names) for key, names in SUMMARY_STATS.items()}


def run_crawls(settings: Settings, source_names: Iterable[str], loopback_fixture: bool = False,
               progress: bool = False, restart: bool = False,
               overrides: Mapping[str, Any] | None = None, full: bool = False) -> list[CrawlSummary]:
    """Crawl registered sources together to the end (blocking). Twisted allows one such call per process.
    `full` reads every page again, even those unchanged since the last run."""
    names = list(dict.fromkeys(source_names))
    with _source_locks(settings, names):
        return _run_locked(settings, names, loopback_fixture, progress, restart, overrides, full)


def _run_locked(settings: Settings, names: list[str], loopback_fixture: bool, progress: bool, restart: bool,
                overrides: Mapping[str, Any] | None, full: bool = False) -> list[CrawlSummary]:
    from scrapy.crawler import CrawlerProcess

    database = Database(settings)
    database.migrate()
    plans = []
    with database.session() as session:
        for name in names:
            source = session.scalar(select(Source).where(Source.name == name))
            if source is None:
                known = ", ".join(session.scalars(select(Source.name).order_by(Source.name))) or "none"
                raise LookupError(f"unknown source {name!r} (registered: {known})")
            last = session.scalar(select(CrawlRun).where(CrawlRun.source_id == source.id)
                                  .order_by(CrawlRun.id.desc()).limit(1))
            directory = job_dir(settings, name)
            if last is not None and last.status == RUN_RUNNING:
                # This process holds the source's lock: the process of a run still marked running has ended without
                # recording its end.
                last.status, last.stats = RUN_INTERRUPTED, {**(last.stats or {}), "finish_reason": "killed"}
            resume = not restart and last is not None and last.status == RUN_INTERRUPTED and directory.exists()
            if resume and not job_saved(directory):
                logger.warning("crawl of %s: the interrupted run was killed without saving its queue; starting over",
                               name)
                resume = False
            if not resume:
                shutil.rmtree(directory, ignore_errors=True)
            reading = reading_digest(source.kind, dict(source.config))
            finished = session.scalar(select(CrawlRun).where(CrawlRun.source_id == source.id,
                                                             CrawlRun.status == RUN_FINISHED)
                                      .order_by(CrawlRun.id.desc()).limit(1))
            skip = not full and finished is not None and (finished.stats or {}).get("reading") == reading
            run = CrawlRun(source_id=source.id, status=RUN_RUNNING, stats={"reading": reading})
            session.add(run)
            session.flush()
            plans.append(_Plan(name, source.kind, dict(source.config), run.id, directory, resume, skip, reading))

    base = crawl_settings(settings, loopback_fixture, progress)
    process = CrawlerProcess(base)
    crawlers = []
    for plan in plans:
        crawler = process.create_crawler(plan.kind)
        crawler.settings.update(dict(plan.config.get("settings") or {}), priority="spider")
        crawler.settings.update(dict(overrides or {}), priority="cmdline")
        crawler.settings.set("JOBDIR", str(plan.directory), priority="cmdline")
        crawler.settings.set("VIVIER_SKIP_UNCHANGED", plan.skip_unchanged, priority="cmdline")
        process.crawl(crawler, source=plan.name, config=plan.config)
        crawlers.append(crawler)
    try:
        process.start()
    finally:
        # Scrapy leaves its shutdown handlers installed; give SIGINT/SIGTERM back to whoever runs next (the app).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        summaries = []
        with database.session() as session:
            for crawler, plan in zip(crawlers, plans, strict=True):
                stats = crawler.stats.get_stats() if crawler.stats else {}
                reason = stats.get("finish_reason")
                status = RUN_FINISHED if reason == "finished" else RUN_INTERRUPTED if reason else RUN_FAILED
                if status == RUN_FINISHED:
                    shutil.rmtree(plan.directory, ignore_errors=True)
                figures = _figures(stats)
                failures = list(stats.get("vivier/failure_samples") or [])
                notices = list(stats.get("vivier/notices") or [])
                notices_count = int(stats.get("vivier/notices_count") or 0)
                run = session.get_one(CrawlRun, plan.run_id)
                run.finished_at, run.status = utcnow(), status
                run.stats = {**figures, "finish_reason": reason, "resumed": plan.resume, "reading": plan.reading,
                             "skipped_unchanged": plan.skip_unchanged,
                             "failure_samples": failures, "notices": notices, "notices_count": notices_count,
                             "seconds": round(float(stats.get("elapsed_time_seconds") or 0), 3)}
                summaries.append(CrawlSummary(plan.name, plan.run_id, status, figures, failures, plan.resume,
                                              notices, notices_count))
        database.dispose()
    return summaries
