"""Item pipelines: normalise -> validate -> store (upsert with provenance)."""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import DropItem

from crawler.normalise import normalise_profile
from vivier.config import load_settings
from vivier.db import Database
from vivier.profiles import upsert_profile

# Below this, a "name" is markup debris, not a company name.
MIN_NAME_LENGTH = 2


class NormalisePipeline:
    def process_item(self, item: dict[str, Any], spider=None) -> dict[str, Any]:
        profile = normalise_profile(item)
        profile["url"] = item.get("url")
        profile["_raw_siren"] = item.get("siren")
        return profile


class ValidatePipeline:
    def __init__(self, stats):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_item(self, item: dict[str, Any], spider=None) -> dict[str, Any]:
        if len(item.get("name") or "") < MIN_NAME_LENGTH:
            self.stats.inc_value("vivier/items_invalid")
            raise DropItem(f"profile without a name at {item.get('url')}")
        if item.pop("_raw_siren", None) and not item.get("siren"):
            self.stats.inc_value("vivier/invalid_siren")
        return item


class StorePipeline:
    """Upsert each profile in the database; one transaction per item so a crash loses at most one."""

    def __init__(self, database_url: str, crawler):
        self.database = Database(load_settings().with_overrides(database_url=database_url))
        self.crawler = crawler
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler):
        url = crawler.settings.get("VIVIER_DATABASE_URL") or load_settings().database_url
        return cls(url, crawler)

    def open_spider(self, spider=None):
        self.database.migrate()

    def close_spider(self, spider=None):
        self.database.dispose()

    def process_item(self, item: dict[str, Any], spider=None) -> dict[str, Any]:
        source = getattr(self.crawler.spider, "source_name", None) or "crawl"
        url = item.pop("url", None)
        with self.database.session() as session:
            result = upsert_profile(session, item, source, url)
        self.stats.inc_value(f"vivier/items_{result.outcome}")
        item["supplier_id"] = result.supplier_id
        return item
