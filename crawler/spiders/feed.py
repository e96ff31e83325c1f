"""Spider for open-data feeds: CSV (comma or semicolon, UTF-8 or Windows-1252), JSON (an array, or an array
under a declared key) and JSON Lines. Each row becomes a record through the declared column mapping.

    scrapy crawl feed -a sources_file=fixtures/sources.yaml -a source=registre-esus -a vars=opendata=http://...
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class BrokenRow:
    """A row of a feed that could not be read: where (1-based line of a CSV or JSON Lines file, index in a JSON
    array) and why."""

    line: int
    reason: str


def _jsonl_lines(text: str) -> Iterator[tuple[int, str]]:
    """The lines of a JSON Lines text with their numbers. Split on "\n" only (JSON Lines' separator; "\r\n" ends
    with it): str.splitlines() also splits on U+2028, U+2029, U+0085 and other characters JSON allows inside
    strings, and cut records in two."""
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line.removesuffix("\r")


def read_rows(text: str, fmt: str, config: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[BrokenRow]]:
    """The feed's rows as mappings, and the rows that could not be read."""
    broken: list[BrokenRow] = []
    if fmt == "csv":
        delimiter = config.get("delimiter")
        if not delimiter:
            try:
                delimiter = csv.Sniffer().sniff(text[:4096], delimiters=CSV_DELIMITERS).delimiter
            except csv.Error:
                delimiter = ";"
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = []
        try:
            for row in reader:
                if None in row:
                    broken.append(BrokenRow(reader.line_num, f"{len(row) - 1 + len(row[None])} cells for "
                                                             f"{len(reader.fieldnames or [])} columns"))
                elif any(v is None for v in row.values()):
                    cells = sum(v is not None for v in row.values())
                    broken.append(BrokenRow(reader.line_num, f"{cells} cells for {len(row)} columns"))
                else:
                    rows.append(row)
        except csv.Error as error:  # a quote left open swallows the rest of the file
            broken.append(BrokenRow(reader.line_num, f"unreadable CSV ({error})"))
        return rows, broken
    if fmt == "jsonl":
        rows = []
        for number, line in _jsonl_lines(text):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as error:
                broken.append(BrokenRow(number, f"invalid JSON ({error})"))
                continue
            if isinstance(value, dict):
                rows.append(value)
            else:
                broken.append(BrokenRow(number, f"a JSON {type(value).__name__}, not an object"))
        return rows, broken
    data = json.loads(text)
    for key in str(config.get("records") or "").split("."):
        if key:
            data = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, list):
        raise ValueError("the feed holds no list of records" + (f" under {config['records']!r}"
                                                                  if config.get("records") else ""))
    rows = []
    for index, row in enumerate(data):
        if isinstance(row, dict):
            rows.append(row)
        else:
            broken.append(BrokenRow(index + 1, f"record {index + 1} is a JSON {type(row).__name__}, not an object"))
    return rows, broken


def _value(row: Mapping[str, Any], column: str) -> Any:
    """A column's value; "a.b" reads key b of the object under key a when the row has no column "a.b" (a JSON
    API's `attributes.name`)."""
    if column in row or "." not in column:
        return row.get(column)
    value: Any = row
    for part in column.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _cell(row: Mapping[str, Any], column: str | list[str]) -> Any:
    if isinstance(column, list):
        parts = [str(_value(row, c)).strip() for c in column if _value(row, c) not in (None, "")]
        return " ".join(parts) or None
    value = _value(row, column)
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
        if self.unchanged(response, url=response.url):  # the same file: its rows' records are seen again
            self.touch(url=response.url)
            return
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1").lower()
        fmt = feed_format(response.url, content_type, self.config.get("format"))
        try:
            rows, broken = read_rows(decode(response.body, self.config.get("encoding")), fmt, self.config)
        except ValueError as error:
            self.count("feeds_invalid")
            self.notice(f"{response.url}: the feed could not be read ({error})")
            return
        where = "record" if fmt == "json" else "line"
        for row in broken:
            self.count("rows_broken")
            self.notice(f"{response.url} {where} {row.line}: {row.reason}")
        yield from self._records(rows, response.url)

    def _records(self, rows: Iterable[Mapping[str, Any]], url: str) -> Iterator[dict[str, Any]]:
        # A row's identity is its source (the store's) and its key, not the file's address: a portal that uploads
        # the file again under a new URL brings the same records back, not second suppliers.
        for row in rows:
            profile = map_row(row, self.config)
            yield {**profile, "url": url, "record_key": row_key(row, profile, self.config)}
