"""Item pipelines: normalise -> categorise -> validate -> store (match, merge and upsert with provenance)."""

from __future__ import annotations

import functools
from typing import Any

from scrapy.exceptions import DropItem

from vivier.normalise import normalise_profile, unmapped_categories
from crawler.addons import vivier_settings
from crawler.spiders.base import record_notice
from vivier.config import Settings
from vivier.db import Database
from vivier.profiles import SourceInfo, source_priorities, touch_records, upsert_profile
from vivier.submissions import is_suppressed
from vivier.text import fold

# Below this, a "name" is markup debris, not a company name.
MIN_NAME_LENGTH = 2
# Page furniture that a site without structured data may leave where its name should be.
NOT_A_NAME = frozenset({"accueil", "home", "bienvenue", "page d'accueil", "404", "page introuvable", "not found",
                        "erreur", "error", "index", "untitled", "sans titre"})


class NormalisePipeline:
    def process_item(self, item: dict[str, Any], spider=None) -> dict[str, Any]:
        profile = normalise_profile(item)
        profile["url"] = item.get("url")
        profile["record_key"] = item.get("record_key")
        profile["_unmapped_categories"] = unmapped_categories(item.get("categories"))
        profile["_raw_siren"] = item.get("siren")
        return profile


@functools.lru_cache(maxsize=2)
def theme_matcher(model: str):
    """One matcher (one loaded model) per process, shared by the crawls running together."""
    from crawler.categorise import ThemeMatcher
    from embeddings.encoder import Encoder

    return ThemeMatcher(Encoder(model))


class CategorisePipeline:
    """Themes for the category names exact names could not map, by meaning (crawler.categorise). Profiles without
    any category get a theme guessed at index time (vivier.themes), not here. The model loads on first need
    only."""

    def __init__(self, model: str, stats):
        self.model = model
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(vivier_settings(crawler).embedding_model, crawler.stats)

    @property
    def matcher(self):
        return theme_matcher(self.model)

    def process_item(self, item: dict[str, Any], spider=None) -> dict[str, Any]:
        unmapped = item.pop("_unmapped_categories", [])
        if item["categories"] or not unmapped:
            return item
        mapped = [slug for slug in (self.matcher.best(name) for name in unmapped) if slug]
        if mapped:
            item["categories"] = list(dict.fromkeys(mapped))
            self.stats.inc_value("vivier/categories_mapped_by_meaning")
        return item


class ValidatePipeline:
    def __init__(self, stats):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_item(self, item: dict[str, Any], spider=None) -> dict[str, Any]:
        name = item.get("name") or ""
        if len(name) < MIN_NAME_LENGTH or fold(name) in NOT_A_NAME:
            self.stats.inc_value("vivier/items_invalid")
            raise DropItem(f"profile without a usable name at {item.get('url')}: {name!r}")
        if item.pop("_raw_siren", None) and not item.get("siren"):
            self.stats.inc_value("vivier/invalid_siren")
        return item


class StorePipeline:
    """Upsert each record; one transaction per item so that a crash loses at most one. The records of the pages the
    spider found unchanged (crawler.spiders.base) are marked seen when the crawl ends, in one transaction (a crawl
    killed outright loses those marks: the next one makes them)."""

    def __init__(self, settings: Settings, crawler):
        self.database = Database(settings)
        self.crawler = crawler
        self.stats = crawler.stats
        self._source: SourceInfo | None = None
        self._priorities: dict[str, int] | None = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(vivier_settings(crawler), crawler)

    def open_spider(self, spider=None):
        self.database.migrate()
        from sqlalchemy import select

        from vivier.models import Suppression

        # Removals are rare: without any, no record needs the check (read once per crawl).
        with self.database.session() as session:
            self._suppressions = session.scalar(select(Suppression.id).limit(1)) is not None

    def close_spider(self, spider=None):
        spider = self.crawler.spider
        keys, urls = getattr(spider, "unchanged_keys", []), getattr(spider, "unchanged_urls", [])
        if keys or urls:
            with self.database.session() as session:
                found = touch_records(session, self.source().name, keys, urls)
            self.stats.inc_value("vivier/items_unchanged", found)
        self.database.dispose()

    def source(self) -> SourceInfo:
        if self._source is None:
            from sqlalchemy import select

            from vivier.models import Source

            spider = self.crawler.spider
            name = getattr(spider, "source_name", None) or "crawl"
            with self.database.session() as session:
                row = session.scalar(select(Source).where(Source.name == name))
                kind, priority = (row.kind, row.priority) if row else (getattr(spider, "kind", "directory"), None)
            self._source = SourceInfo(name, kind, priority)
        return self._source

    def priorities(self) -> dict[str, int]:
        """Trust of each source, read once per crawl (sources do not change while it runs)."""
        if self._priorities is None:
            with self.database.session() as session:
                self._priorities = source_priorities(session)
        return self._priorities

    def process_item(self, item: dict[str, Any], spider=None) -> dict[str, Any]:
        url = item.pop("url", None)
        key = item.pop("record_key", None)
        with self.database.session() as session:
            # A company removed at its request (vivier.submissions) is not brought back by a crawl.
            if getattr(self, "_suppressions", True) and is_suppressed(session, item):
                self.stats.inc_value("vivier/items_suppressed")
                raise DropItem(f"suppressed at the company's request: {item.get('name')!r}")
            result = upsert_profile(session, item, self.source(), url, record_key=key, priorities=self.priorities())
        self.stats.inc_value(f"vivier/items_{result.outcome}")
        if result.absorbed:
            self.stats.inc_value("vivier/suppliers_absorbed", len(result.absorbed))
        for note in result.merge_notes:  # another name that no longer shows: the operator is told
            self.stats.inc_value("vivier/merges_of_other_names")
            record_notice(self.stats, note)
        item["supplier_id"] = result.supplier_id
        return item
