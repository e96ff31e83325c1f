"""What the web app and the CLI call to search: caps and cleans the query, embeds it, asks the backend."""

from __future__ import annotations

from typing import Mapping, Sequence

from embeddings.encoder import Encoder
from indexer.backends import make_backend
from indexer.backends.base import FACET_FIELDS, MODES, SearchRequest, SearchResponse
from vivier.config import Settings

MAX_PER_PAGE = 100
# Pages beyond this are not useful to a person and only cost the server.
MAX_PAGE = 50
# Values per facet in a request: more is not a real selection.
MAX_FILTER_VALUES = 30


def clean_query(text: str | None, max_chars: int) -> str:
    """Printable text, single-spaced, cut at `max_chars` on a word boundary when possible."""
    text = "".join(ch if ch.isprintable() else " " for ch in (text or ""))
    text = " ".join(text.split())
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = cut.rsplit(" ", 1)[0] if " " in cut[max_chars // 2:] else cut
    return text


def clean_filters(filters: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    cleaned: dict[str, tuple[str, ...]] = {}
    for facet, values in (filters or {}).items():
        if facet not in FACET_FIELDS:
            continue
        kept = tuple(dict.fromkeys(v.strip()[:80] for v in values if v and v.strip()))[:MAX_FILTER_VALUES]
        if kept:
            cleaned[facet] = kept
    return cleaned


class SearchService:
    def __init__(self, settings: Settings, encoder: Encoder):
        self.settings = settings
        self.encoder = encoder
        self.backend = make_backend(settings)

    def search(self, text: str | None = "", filters: Mapping[str, Sequence[str]] | None = None, page: int = 1,
               per_page: int = 20, mode: str = "hybrid") -> SearchResponse:
        text = clean_query(text, self.settings.query_max_chars)
        mode = mode if mode in MODES else "hybrid"
        vector = None
        if text and mode in ("hybrid", "dense"):
            vector = self.encoder.encode_query(text, threads=self.settings.query_threads)
        request = SearchRequest(text=text, filters=clean_filters(filters), page=min(max(1, page), MAX_PAGE),
                                per_page=min(max(1, per_page), MAX_PER_PAGE), mode=mode, query_vector=vector)
        return self.backend.search(request)
