"""HTTP cache policy for re-crawls: keep every page with its validators, and ask the server each time whether it
changed (If-Modified-Since / If-None-Match). An unchanged page costs a 304 and no transfer; a changed page is
always seen, whatever freshness lifetime the server advertised; a server error falls back to the cached copy."""

from __future__ import annotations

from scrapy.extensions.httpcache import RFC2616Policy


class RevalidatingPolicy(RFC2616Policy):
    def is_cached_response_fresh(self, cachedresponse, request) -> bool:
        """Never fresh: a sourcing crawl must see today's profile. Make the request conditional instead."""
        if b"Last-Modified" in cachedresponse.headers:
            request.headers[b"If-Modified-Since"] = cachedresponse.headers[b"Last-Modified"]
        if b"ETag" in cachedresponse.headers:
            request.headers[b"If-None-Match"] = cachedresponse.headers[b"ETag"]
        return False
