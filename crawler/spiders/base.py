"""What every source spider shares: its declared configuration, and counting pages that fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import scrapy
from scrapy import signals
from scrapy.exceptions import (CannotResolveHostError, DownloadCancelledError, DownloadConnectionRefusedError,
                               DownloadFailedError, DownloadTimeoutError, IgnoreRequest, ResponseDataLossError)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import DNSLookupError, TCPTimedOutError, TimeoutError as TwistedTimeoutError

from crawler.middlewares import PrivateAddressRefused

# Failed pages kept as examples in the run's report; the count is always exact.
MAX_FAILURE_SAMPLES = 20
# What the operator must know of a run beyond failed pages (every feed row that could not be read, every merge that
# dropped another name...), listed in the run's report (`vivier sources report NAME`) up to this many.
MAX_NOTICES = 10_000


def failure_reason(failure) -> str:
    """A short, stable reason for a failed request, for counting and reports."""
    if failure.check(HttpError):
        return f"http {failure.value.response.status}"
    if failure.check(PrivateAddressRefused):
        return "refused: private address"
    message = str(failure.value)
    if failure.check(CannotResolveHostError, DNSLookupError):
        return "refused: private address" if "non-public address" in message else "dns lookup failed"
    if failure.check(DownloadTimeoutError, TwistedTimeoutError, TCPTimedOutError):
        return "timeout"
    if failure.check(DownloadConnectionRefusedError):
        return "connection refused"
    if failure.check(DownloadFailedError, ResponseDataLossError):
        return "connection lost"
    if failure.check(DownloadCancelledError) and "max size" in message:
        return "too large"
    return failure.type.__name__ if failure.type else "error"


def record_notice(stats, text: str) -> None:
    """Add one line to the run's notices (the spider's, or a pipeline's through the crawler's stats)."""
    stats.inc_value("vivier/notices_count")
    notices = stats.get_value("vivier/notices") or []
    if len(notices) < MAX_NOTICES:
        notices.append(text)
        stats.set_value("vivier/notices", notices)


class SourceSpider(scrapy.Spider):
    """A spider for one declared source (crawler.sources).

    The configuration comes, in this order, from: `config` (a dict or JSON, as crawler.run passes it);
    `sources_file` and `source` (`scrapy crawl KIND -a sources_file=PATH -a source=NAME [-a vars=a=URL,b=URL]`);
    the database, for a source registered by `vivier crawl` (`scrapy crawl KIND -a source=NAME`).
    """

    kind = ""

    def __init__(self, source: str | None = None, config: dict | str | None = None, sources_file: str | None = None,
                 vars: str | None = None, *args, **kwargs):  # noqa: A002 - Scrapy passes -a names as given
        super().__init__(*args, **kwargs)
        if not source:
            raise ValueError(f"{self.name} spider needs a source name (-a source=NAME)")
        self.source_name = source
        self.unchanged_keys, self.unchanged_urls = [], []
        parsed: dict[str, Any] | None = json.loads(config) if isinstance(config, str) else config
        if parsed is None and sources_file:
            parsed = self._from_file(Path(sources_file), source, vars)
        self._config = parsed

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._spider_error, signal=signals.spider_error)
        crawler.signals.connect(spider._item_error, signal=signals.item_error)
        return spider

    def _spider_error(self, failure, response, spider=None) -> None:
        """A page that breaks its parser: counted and reported, the crawl goes on (Scrapy logs the traceback)."""
        self._sample("vivier/errors", f"{response.url}: parse error ({failure.type.__name__})")

    def _item_error(self, item, response, spider=None, failure=None) -> None:
        reason = failure.type.__name__ if failure is not None and failure.type else "error"
        self._sample("vivier/errors", f"{response.url if response else '?'}: storing failed ({reason})")

    def _sample(self, stat: str, sample: str) -> None:
        stats = self.crawler.stats
        stats.inc_value(stat)
        samples = stats.get_value("vivier/failure_samples") or []
        if len(samples) < MAX_FAILURE_SAMPLES:
            samples.append(sample)
            stats.set_value("vivier/failure_samples", samples)

    def _from_file(self, path: Path, source: str, variables: str | None) -> dict[str, Any]:
        from crawler.sources import parse_source_file

        pairs = dict(pair.split("=", 1) for pair in (variables or "").split(",") if "=" in pair)
        specs = parse_source_file(path, pairs, names=[source])
        if not specs or specs[0].kind != self.kind:
            raise ValueError(f"{path} declares no {self.kind} source named {source!r}")
        return specs[0].config

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = self._from_database()
        return self._config

    def _database(self):
        from crawler.addons import vivier_settings
        from vivier.db import Database

        return Database(vivier_settings(self.crawler))

    def _from_database(self) -> dict[str, Any]:
        from sqlalchemy import select

        from vivier.models import Source

        database = self._database()
        try:
            with database.session() as session:
                source = session.scalar(select(Source).where(Source.name == self.source_name))
                if source is None or source.kind != self.kind:
                    raise ValueError(f"no {self.kind} source named {self.source_name!r} is registered")
                return dict(source.config)
        finally:
            database.dispose()

    # -- unchanged pages ------------------------------------------------------------------------------------------
    # A re-crawl asks each server whether a page changed (crawler.httpcache); one that did not answers 304 and the
    # HTTP cache hands the spider its stored copy, flagged "cached". When the last run of this source read pages
    # the same way (crawler.run sets VIVIER_SKIP_UNCHANGED) and the record that page gave is stored, the page is
    # not read again and gives no item: its record is noted, and marked seen with the others when the crawl ends
    # (crawler.pipelines.StorePipeline, in bulk). Scrapy's handling of an item costs more than the page did.
    _known: tuple[set[str], set[str]] | None = None
    unchanged_keys: list[str]
    unchanged_urls: list[str]

    def _known_records(self) -> tuple[set[str], set[str]]:
        if self._known is None:
            from vivier.profiles import known_record_keys, known_record_urls

            database = self._database()
            try:
                with database.session() as session:
                    self._known = (known_record_keys(session, self.source_name),
                                   known_record_urls(session, self.source_name))
            finally:
                database.dispose()
        return self._known

    def unchanged(self, response, record_key: str | None = None, url: str | None = None) -> bool:
        """Whether `response` is a page unchanged since the last crawl whose record (by key, or by the address it was
        read at) is stored: it needs no reading again."""
        if "cached" not in response.flags or not self.crawler.settings.getbool("VIVIER_SKIP_UNCHANGED"):
            return False
        keys, urls = self._known_records()
        return (record_key is not None and record_key in keys) or (url is not None and url in urls)

    def touch(self, record_key: str | None = None, url: str | None = None) -> None:
        """Note the record of an unchanged page (by key, or all those read at `url`) as seen again."""
        self.count("pages_unchanged")
        if record_key is not None:
            self.unchanged_keys.append(record_key)
        else:
            self.unchanged_urls.append(str(url))

    def on_failure(self, failure) -> None:
        """Errback of every request: count the page as failed, keep an example, go on with the crawl."""
        if failure.check(IgnoreRequest) and not failure.check(PrivateAddressRefused, HttpError):
            return  # robots.txt forbids it: counted by Scrapy as robotstxt/forbidden, not a failure
        reason = failure_reason(failure)
        request = getattr(failure, "request", None)
        self.crawler.stats.inc_value(f"vivier/pages_failed/{reason}")
        self._sample("vivier/pages_failed", f"{request.url if request else '?'}: {reason}")

    def notice(self, text: str) -> None:
        """Something the run's report lists one by one (crawler.run): kept in the stats, logged at WARNING."""
        record_notice(self.crawler.stats, text)
        self.logger.warning("%s", text)

    def count(self, key: str, amount: int = 1) -> None:
        self.crawler.stats.inc_value(f"vivier/{key}", amount)
