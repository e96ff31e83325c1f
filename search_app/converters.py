"""The converter of the app's `<name>` URL segments (slugs, tokens, file names, feed names)."""

from __future__ import annotations

from werkzeug.routing import UnicodeConverter


class SegmentConverter(UnicodeConverter):
    """Werkzeug's default converter without control characters: no slug, token or file name of the site holds one,
    so an address with one is a 404 before any view reads it; PostgreSQL would refuse its NUL in the query (a 500),
    and a log line would carry the others."""

    def __init__(self, map, minlength: int = 1, maxlength: int | None = None, length: int | None = None) -> None:
        super().__init__(map, minlength, maxlength, length)
        self.regex = self.regex.replace("[^/]", "[^/\\x00-\\x1f\\x7f]", 1)
