"""Spider for sites that list their profile pages in XML sitemaps (robots.txt `Sitemap:` lines, sitemap indexes,
gzipped sitemaps). Each page matching the declared `rules` is read for schema.org Organization data, OpenGraph
and meta tags, with its main text as a fallback description.

    scrapy crawl sitemap -a sources_file=fixtures/sources.yaml -a source=incubateur -a vars=incubateur=http://...
"""

from __future__ import annotations

import re
from typing import Any, AsyncIterator, Iterator

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.utils.gz import gunzip, gzip_magic_number
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from crawler.extract import read_page
from crawler.spiders.base import SourceSpider
from crawler.spiders.company_sites import company_profile


def sitemap_body(response: Response, max_size: int) -> bytes | None:
    """The XML of a sitemap response, gunzipped if needed; None when it is not one or is too large."""
    if gzip_magic_number(response):
        try:
            return gunzip(response.body, max_size=max_size)
        except Exception:  # noqa: BLE001 - corrupt or oversized archives are just bad sitemaps
            return None
    body = response.body.lstrip()
    return body if body.startswith(b"<?xml") or b"<urlset" in body[:500] or b"<sitemapindex" in body[:500] else None


class SitemapSourceSpider(SourceSpider):
    name = "sitemap"
    kind = "sitemap"

    async def start(self) -> AsyncIterator[Any]:
        for url in self.config["sitemap_urls"]:
            yield scrapy.Request(url, callback=self.parse_sitemap, errback=self.on_failure)

    def _matches(self, url: str, key: str) -> bool:
        patterns = self.config.get(key)
        return not patterns or any(re.search(p, url) for p in patterns)

    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        if response.url.endswith("/robots.txt"):
            for url in sitemap_urls_from_robots(response.body, base_url=response.url):
                yield scrapy.Request(url, callback=self.parse_sitemap, errback=self.on_failure)
            return
        body = sitemap_body(response, self.settings.getint("DOWNLOAD_MAXSIZE"))
        sitemap = None
        if body:
            try:
                sitemap = Sitemap(body)
            except Exception:  # noqa: BLE001 - lxml's errors on broken XML
                sitemap = None
        if sitemap is None or sitemap.type not in ("sitemapindex", "urlset"):
            self.count("sitemaps_invalid")
            return
        for entry in sitemap:
            raw = (entry.get("loc") or "").strip()
            if not raw:
                continue
            loc = response.urljoin(raw)  # sitemaps should give absolute addresses; some give paths
            if sitemap.type == "sitemapindex":
                if self._matches(loc, "follow"):
                    yield scrapy.Request(loc, callback=self.parse_sitemap, errback=self.on_failure)
            elif self._matches(loc, "rules"):
                yield scrapy.Request(loc, callback=self.parse_page, errback=self.on_failure)

    def parse_page(self, response: Response) -> Iterator[dict[str, Any]]:
        if not isinstance(response, TextResponse):
            self.count("pages_not_html")
            return
        if self.unchanged(response, response.url):
            self.touch(response.url)
            return
        page = read_page(response.text, response.url)
        self.count("structured_data_broken", page.broken_structured_data)
        if not page.organization and not page.opengraph:
            self.count("pages_not_profile")
            return
        profile = company_profile([page], {"url": response.url}, own_site=False,
                                  description=self.config.get("description", "structured"))
        yield {**profile, "url": response.url, "record_key": response.url}
