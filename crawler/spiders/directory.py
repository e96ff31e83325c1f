"""Spider for directory sites whose layout is declared in a source file (crawler.sources, crawler.layouts).

Listing pages either link to one detail page per supplier (`listing.links`), or show each supplier in a row
(`listing.item` + `listing.fields`), optionally linking to a detail page for more (`listing.detail_link`).
`listing.next_page` finds further listing pages (one link or several numbered ones).

    scrapy crawl directory -a sources_file=fixtures/sources.yaml -a source=annuaire -a vars=annuaire=http://...
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Iterator, Mapping

import scrapy
from scrapy.http import Response, TextResponse

from crawler.layouts import extract, extract_all, extract_fields, select
from crawler.spiders.base import SourceSpider


def _filled(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v not in (None, "", [], {})}


def parse_detail(response: Response, detail: Mapping[str, Any]) -> dict[str, Any] | None:
    """Raw fields of a detail page per its declared layout, or None when the page is not a profile."""
    if not isinstance(response, TextResponse):
        return None
    scope = select(response.selector, detail["root"]) if "root" in detail else response.selector.css("html")
    if not scope:
        return None
    fields = extract_fields(scope[0], detail["fields"])
    return fields if fields.get("name") else None


class DirectorySpider(SourceSpider):
    name = "directory"
    kind = "directory"

    async def start(self) -> AsyncIterator[Any]:
        for url in self.config["start_urls"]:
            yield scrapy.Request(url, callback=self.parse, errback=self.on_failure)

    def parse(self, response: Response) -> Iterator[Any]:
        """A listing page: its detail pages or rows, then the next listing pages."""
        if not isinstance(response, TextResponse):
            self.count("pages_not_listing")
            return
        listing = self.config["listing"]
        if "item" in listing:
            yield from self._rows(response, listing)
        else:
            for href in extract_all(response.selector, listing["links"]):
                yield response.follow(href, callback=self.parse_detail, errback=self.on_failure)
        for href in extract_all(response.selector, listing["next_page"]) if "next_page" in listing else ():
            yield response.follow(href, callback=self.parse, errback=self.on_failure)

    def _rows(self, response: TextResponse, listing: Mapping[str, Any]) -> Iterator[Any]:
        for row in select(response.selector, listing["item"]):
            fields = _filled(extract_fields(row, listing["fields"]))
            link = extract(row, listing["detail_link"]) if "detail_link" in listing else None
            if link:
                yield response.follow(link, callback=self.parse_detail, errback=self.detail_failed,
                                      cb_kwargs={"listed": fields, "listing_unchanged": "cached" in response.flags})
            elif fields.get("name"):
                key = f"{response.url}#{fields['name']}"
                if self.unchanged(response, key):
                    self.touch(key)
                else:
                    yield {**fields, "url": response.url, "record_key": key}
            else:
                self.count("items_invalid")

    def detail_failed(self, failure) -> Iterator[dict[str, Any]]:
        """A detail page failed: count it, and keep what its listing row said (under the page's address, so the
        record is the same once the page is back)."""
        self.on_failure(failure)
        request = failure.request
        listed = request.cb_kwargs.get("listed") or {}
        if listed.get("name"):
            yield {**listed, "url": request.url, "record_key": request.url}

    def parse_detail(self, response: Response, listed: Mapping[str, Any] | None = None,
                     listing_unchanged: bool = True) -> Iterator[dict[str, Any]]:
        """A detail page, completed by what its listing row said (the page wins where both give a field)."""
        if listing_unchanged and self.unchanged(response, response.url):
            self.touch(response.url)
            return
        item = parse_detail(response, self.config["detail"]) or {}
        merged = {**(listed or {}), **_filled(item)}
        if not merged.get("name"):
            self.count("pages_not_profile")
            return
        yield {**merged, "url": response.url, "record_key": response.url}
