"""Downloader middlewares and DNS resolver: keep the crawler off private networks (SSRF guard), honour robots.txt
Crawl-delay.

Every request is checked before it leaves, including robots.txt and sitemap requests and links found on crawled
pages: its host must be, or resolve only to, public addresses (vivier.netguard). The resolver repeats the check
on the address the connection really uses, so a DNS answer that changes between the two (DNS rebinding) is
refused too. `VIVIER_ALLOW_PRIVATE_NETWORKS = True` switches both off (our loopback fixture sites, an intranet).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import DNSLookupError

from vivier.netguard import UnsafeAddress, check_host, is_public_address, system_resolver

ALLOW_SETTING = "VIVIER_ALLOW_PRIVATE_NETWORKS"
# How long a host's verdict is reused: DNS answers of small company sites rarely change within a crawl.
VERDICT_TTL_S = 300
# A robots.txt asking for more than this between requests is obeyed up to this: one page a minute still lets a
# crawl of a small company site finish within its run.
MAX_CRAWL_DELAY_S = 60.0


class PrivateAddressRefused(IgnoreRequest):
    """The request's host is, or resolves to, a private, loopback or link-local address."""


class PublicAddressesOnly:
    def __init__(self, allow_private: bool, stats, resolver=system_resolver):
        self.allow_private = allow_private
        self.stats = stats
        self.resolver = resolver
        self._verdicts: dict[str, tuple[float, str | None]] = {}

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getbool(ALLOW_SETTING), crawler.stats)

    def _verdict(self, host: str) -> str | None:
        try:
            check_host(host, self.resolver)
        except UnsafeAddress as error:
            return str(error)
        return None

    async def process_request(self, request, spider=None) -> None:
        if self.allow_private or not request.url.startswith(("http://", "https://")):
            return None
        host = urlparse_cached(request).hostname or ""
        cached = self._verdicts.get(host)
        if cached is None or cached[0] < time.monotonic():
            verdict = await asyncio.get_running_loop().run_in_executor(None, self._verdict, host)
            cached = self._verdicts[host] = (time.monotonic() + VERDICT_TTL_S, verdict)
        if cached[1] is not None:
            self.stats.inc_value("vivier/refused_private")
            raise PrivateAddressRefused(cached[1])
        return None


class PublicOnlyResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, refusing names that resolve to a non-public address unless allowed."""

    def __init__(self, reactor, cache_size: int, timeout: float, allow_private: bool = False):
        super().__init__(reactor, cache_size, timeout)
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler, reactor):
        resolver = super().from_crawler(crawler, reactor)
        resolver.allow_private = crawler.settings.getbool(ALLOW_SETTING)
        return resolver

    def getHostByName(self, name: str, timeout: Any = ()):  # noqa: N802 - Twisted's interface
        deferred = super().getHostByName(name, timeout)
        if not self.allow_private:
            deferred.addCallback(self._refuse_private, name)
        return deferred

    @staticmethod
    def _refuse_private(address: str, name: str) -> str:
        if not is_public_address(address):
            raise DNSLookupError(f"{name} resolves to the non-public address {address}")
        return address


class RobotsCrawlDelay:
    """Downloader middleware: honour robots.txt `Crawl-delay`, which Scrapy's robots.txt support does not read.

    When a site's robots.txt comes back, its delay for our user agent becomes that site's minimum delay between
    requests; AutoThrottle may raise the delay above it, never lower it (it is set back after each response).
    """

    def __init__(self, crawler):
        self.crawler = crawler
        self.user_agent = crawler.settings.get("USER_AGENT") or "*"
        self.floors: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request, response, spider=None):
        host = urlparse_cached(request).hostname or ""
        if urlparse_cached(request).path == "/robots.txt" and response.status == 200:
            from protego import Protego

            try:
                delay = Protego.parse(response.text).crawl_delay(self.user_agent)
            except (AttributeError, UnicodeDecodeError, ValueError):
                delay = None
            if delay:
                self.floors[host] = min(float(delay), MAX_CRAWL_DELAY_S)
                self.crawler.stats.set_value(f"vivier/crawl_delay/{host}", self.floors[host])
        floor = self.floors.get(host)
        slot_key = request.meta.get("download_slot")
        slot = self.crawler.engine.downloader.slots.get(slot_key) if slot_key else None
        if floor and slot is not None and slot.delay < floor:
            slot.delay = floor
        return response
