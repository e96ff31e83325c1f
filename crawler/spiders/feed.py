"""Spider for open-data feeds: CSV (comma or semicolon, UTF-8 or Windows-1252), JSON (an array, or an array
under a declared key) and JSON Lines. Each row becomes a record through the declared column mapping.

    scrapy crawl feed -a sources_file=fixtures/sources.yaml -a source=registre-esus -a vars=opendata=http://...
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any, AsyncIterator, Iterable, Iterator, Mapping

import scrapy
from scrapy.http import Response

from crawler.spiders.base import SourceSpider

# Separators tried when a CSV does not declare its own: French open data mostly uses ";".
CSV_DELIMITERS = ";,\t|"


def decode(body: bytes, declared: str | None = None) -> str:
    """Text of a feed: the declared encoding, else UTF-8 (with or without BOM), else Windows-1252."""
    if declared:
        return body.decode(declared, errors="replace")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


def feed_format(url: str, content_type: str, declared: str | None) -> str:
    if declared:
        return declared
    path = url.split("?", 1)[0].lower()
    for suffix, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv")):
        if path.endswith(suffix):
            return fmt
    return "json" if "json" in content_type else "csv"


def read_rows(text: str, fmt: str, config: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The feed's rows as mappings, and how many lines could not be read."""
    if fmt == "csv":
        delimiter = config.get("delimiter")
        if not delimiter:
            try:
                delimiter = csv.Sniffer().sniff(text[:4096], delimiters=CSV_DELIMITERS).delimiter
            except csv.Error:
                delimiter = ";"
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        rows, broken = [], 0
        for row in reader:
            if None in row or any(v is None for v in row.values()):  # too many or too few cells
                broken += 1
                continue
            rows.append(row)
        return rows, broken
    if fmt == "jsonl":
        rows, broken = [], 0
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                broken += 1
                continue
            if isinstance(value, dict):
                rows.append(value)
            else:
                broken += 1
        return rows, broken
    data = json.loads(text)
    for key in str(config.get("records") or "").split("."):
        if key:
            data = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, list):
        raise ValueError("the feed holds no list of records" + (f" under {config['records']!r}"
                                                                  if config.get("records") else ""))
    rows = [row for row in data if isinstance(row, dict)]
    return rows, len(data) - len(rows)


def _cell(row: Mapping[str, Any], column: str | list[str]) -> Any:
    if isinstance(column, list):
        parts = [str(row.get(c)).strip() for c in column if row.get(c) not in (None, "")]
        return " ".join(parts) or None
    value = row.get(column)
    return value.strip() if isinstance(value, str) else value


def map_row(row: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """Profile fields of a row: declared columns, then declared constants (merged into list fields)."""
    profile = {name: _cell(row, column) for name, column in config["fields"].items()}
    for name, value in (config.get("constants") or {}).items():
        current = profile.get(name)
        if isinstance(value, list):
            existing = current if isinstance(current, list) else [current] if current else []
            profile[name] = existing + [v for v in value if v not in existing]
        elif current in (None, ""):
            profile[name] = value
    return profile


def row_key(row: Mapping[str, Any], profile: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """Stable identity of a row across downloads: the declared key column(s), else name and postcode."""
    key = config.get("key")
    if key:
        value = _cell(row, key)
        if value not in (None, ""):
            return str(value)
    basis = f"{profile.get('name')}|{profile.get('postcode') or profile.get('commune') or ''}"
    return "row:" + hashlib.sha1(basis.lower().encode("utf-8")).hexdigest()[:16]


class FeedSpider(SourceSpider):
    name = "feed"
    kind = "feed"

    async def start(self) -> AsyncIterator[Any]:
        for url in self.config["urls"]:
            yield scrapy.Request(url, callback=self.parse, errback=self.on_failure)

    def parse(self, response: Response) -> Iterator[dict[str, Any]]:
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1").lower()
        fmt = feed_format(response.url, content_type, self.config.get("format"))
        try:
            rows, broken = read_rows(decode(response.body, self.config.get("encoding")), fmt, self.config)
        except ValueError as error:
            self.count("feeds_invalid")
            self.logger.warning("feed %s could not be read: %s", response.url, error)
            return
        self.count("rows_broken", broken)
        yield from self._records(rows, response.url)

    def _records(self, rows: Iterable[Mapping[str, Any]], url: str) -> Iterator[dict[str, Any]]:
        for row in rows:
            profile = map_row(row, self.config)
            yield {**profile, "url": url, "record_key": f"{url}#{row_key(row, profile, self.config)}"}
