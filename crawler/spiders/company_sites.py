"""Spider for company websites from a seed list: the home page, then a few "about" and "solutions" pages of the
same site, read for schema.org Organization data (JSON-LD, microdata), OpenGraph and meta tags, falling back to
the pages' main text. One record per site, keyed by its seed URL.

    scrapy crawl company-sites -a sources_file=fixtures/sources.yaml -a source=vitrines -a vars=vitrines=http://...
"""

from __future__ import annotations

import re
from typing import Any, AsyncIterator, Iterator
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.http import Response, TextResponse

from crawler.extract import PageData, read_page, title_name
from crawler.spiders.base import SourceSpider

# Words of main text kept for a description built from several pages.
MAX_DESCRIPTION_WORDS = 600


def _in_site(url: str, seed_url: str) -> bool:
    """Same host, and under the seed's path (a site may live in a sub-folder of a shared host)."""
    target, seed = urlsplit(url), urlsplit(seed_url)
    prefix = seed.path if seed.path.endswith("/") else seed.path.rsplit("/", 1)[0] + "/"
    return target.netloc == seed.netloc and target.path.startswith(prefix)


def follow_links(response: TextResponse, seed_url: str, patterns: list[str], limit: int) -> list[str]:
    """Links of the site whose address or text matches a pattern, in page order, at most `limit`."""
    compiled = [re.compile(p, re.IGNORECASE) for p in patterns]
    found: list[str] = []
    for link in response.css("a[href]"):
        href = (link.attrib.get("href") or "").strip()
        if not href or href.startswith(("#", "mailto:", "tel:", "javascript:")):
            continue
        url = urljoin(response.url, href).split("#", 1)[0]
        text = " ".join(link.css("::text").getall())
        if url == response.url or url in found or not _in_site(url, seed_url):
            continue
        if any(p.search(href) or p.search(text) for p in compiled):
            found.append(url)
        if len(found) >= limit:
            break
    return found


def _cut(text: str, words: int) -> str:
    parts = text.split(" ")
    return " ".join(parts[:words]) if len(parts) > words else text


def company_profile(pages: list[PageData], seed: dict[str, str], own_site: bool = True,
                    description: str = "structured") -> dict[str, Any]:
    """One raw profile from a site's pages: structured data first (home page first), then OpenGraph and meta
    tags, then the pages' main text. `own_site`: the pages are the company's own website (not a page about it
    on someone else's site), so the site's address is the company's. `description` (crawler.sources
    DESCRIPTION_SOURCES): "structured" keeps a schema.org description and reads the main text only without one;
    "text" takes the main text, the structured description becoming the pitch; "longest" the one that says more."""
    home = pages[0]
    profile: dict[str, Any] = {}
    for page in pages:
        for key, value in page.organization.items():
            profile.setdefault(key, value)
    og = home.opengraph
    profile.setdefault("name", og.get("og:site_name") or title_name(home.title) or home.heading or seed.get("name"))
    others = [p.main_text for p in pages[1:] if p.main_text]
    texts = others or ([home.main_text] if home.main_text else [])
    main_text = _cut("\n\n".join(dict.fromkeys(texts)), MAX_DESCRIPTION_WORDS) if texts else ""
    structured = profile.get("description")
    if main_text and structured and (description == "text" or (
            description == "longest" and len(main_text.split()) > len(str(structured).split()))):
        profile["description"] = main_text
        profile.setdefault("pitch", structured)
    if not profile.get("pitch"):
        pitch = og.get("og:description") or home.meta_description
        if pitch and pitch != profile.get("description"):
            profile["pitch"] = pitch
    if not profile.get("description") and main_text:
        profile["description"] = main_text
    if own_site:
        profile.setdefault("website", og.get("og:url") or home.canonical or seed["url"])
    if not (profile.get("postcode") or profile.get("commune")):
        address = next((p.address_text for p in pages if p.address_text), None)
        if address:
            profile["address_text"] = address
    return profile


class CompanySitesSpider(SourceSpider):
    name = "company-sites"
    kind = "company-sites"

    async def start(self) -> AsyncIterator[Any]:
        for seed in self.config["seeds"]:
            yield scrapy.Request(seed["url"], callback=self.parse_home, errback=self.on_failure,
                                 cb_kwargs={"seed": seed})

    def parse_home(self, response: Response, seed: dict[str, str]) -> Iterator[Any]:
        if not isinstance(response, TextResponse):
            self.count("pages_not_html")
            return
        page = read_page(response.text, response.url)
        self.count("structured_data_broken", page.broken_structured_data)
        links = follow_links(response, seed["url"], self.config["follow"], self.config["max_pages"] - 1)
        yield from self._next({"seed": seed, "pages": [page], "pending": links})

    def _next(self, state: dict[str, Any]) -> Iterator[Any]:
        """Fetch the site's next page, or emit the site's record when none is left."""
        if state["pending"]:
            url = state["pending"].pop(0)
            yield scrapy.Request(url, callback=self.parse_more, errback=self.more_failed, cb_kwargs={"state": state},
                                 dont_filter=True)
            return
        profile = company_profile(state["pages"], state["seed"],
                                  description=self.config.get("description", "structured"))
        if not profile.get("name"):
            self.count("pages_not_profile")
            return
        yield {**profile, "url": state["seed"]["url"], "record_key": state["seed"]["url"]}

    def parse_more(self, response: Response, state: dict[str, Any]) -> Iterator[Any]:
        if isinstance(response, TextResponse):
            page = read_page(response.text, response.url)
            self.count("structured_data_broken", page.broken_structured_data)
            state["pages"].append(page)
        yield from self._next(state)

    def more_failed(self, failure) -> Iterator[Any]:
        """A secondary page failed: count it, and build the record from the pages that worked."""
        self.on_failure(failure)
        yield from self._next(failure.request.cb_kwargs["state"])
