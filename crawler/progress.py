"""A live progress line per source while `vivier crawl` runs in a terminal (pages, items, outcomes, failures)."""

from __future__ import annotations

import itertools
import sys

from scrapy import signals
from scrapy.exceptions import NotConfigured

PROGRESS_SETTING = "VIVIER_PROGRESS"
_positions = itertools.count()


class ProgressLine:
    def __init__(self, crawler):
        from tqdm import tqdm

        self.stats = crawler.stats
        self.bar = tqdm(desc=crawler.spidercls.name, unit=" pages", position=next(_positions), leave=True,
                        file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
        crawler.signals.connect(self.page, signal=signals.response_received)
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getbool(PROGRESS_SETTING):
            raise NotConfigured
        return cls(crawler)

    def opened(self, spider) -> None:
        self.bar.set_description(getattr(spider, "source_name", spider.name))

    def page(self, response, request, spider) -> None:
        self.bar.update(1)
        get = self.stats.get_value
        self.bar.set_postfix(items=get("item_scraped_count", 0), new=get("vivier/items_new", 0),
                             merged=get("vivier/items_merged", 0), failed=get("vivier/pages_failed", 0),
                             refresh=False)

    def closed(self, spider, reason) -> None:
        self.bar.close()
