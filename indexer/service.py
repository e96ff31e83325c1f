"""What the web app and the CLI call to search: caps and cleans the query, embeds it, asks the backend."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from embeddings.encoder import Encoder
from indexer.backends import make_backend
from indexer.backends.base import FACET_FIELDS, MODES, GeoFilter, SearchRequest, SearchResponse
from indexer.documents import PASSAGE_MAX_WORDS, split_passages
from indexer.strength import thresholds_for
from vivier.config import Settings

if TYPE_CHECKING:
    from vivier.communes import Commune

# Results one call returns at most: a page shows 20, an export reads its 500 rows in one call (one query
# embedding, one retrieval) rather than page by page.
MAX_PER_PAGE = 500
# Pages beyond this are not useful to a person and only cost the server.
MAX_PAGE = 50
# Values per facet in a request: more is not a real selection.
MAX_FILTER_VALUES = 30
# A query longer than one passage is a pasted need: it is embedded by chunks of the indexed passages' size (the
# model reads about 256 word pieces and would silently drop the rest), each chunk searched, similarities averaged.
QUERY_CHUNK_WORDS = PASSAGE_MAX_WORDS
# Chunks embedded per query, spread evenly over a longer text: bounds a query's cost. multilingual-e5-small takes
# about 150 ms of one core for a 90-word chunk: a pasted 30,000-character specification cost 1.8 s with 12 chunks,
# and four such queries made everybody's search wait seconds. Four chunks (0.6 s) sample a specification's parts;
# the fixtures' pasted needs scored the same with 3, 4 or 12 (benchmarks/RESULTS.md, issue 18).
MAX_QUERY_CHUNKS = 4
# Query vectors kept per process: a page turn, a facet toggle or an export of the same search embeds nothing.
QUERY_VECTOR_CACHE = 256
# Radii offered for the distance filter, km; any value in (0, MAX_RADIUS_KM] is accepted.
RADII_KM = (10, 25, 50, 100, 200)
DEFAULT_RADIUS_KM = 50
MAX_RADIUS_KM = 1000
# Characters of a commune entry read ("Saint-Rémy-en-Bouzemont-Saint-Genest-et-Isson" has 45).
MAX_PLACE_CHARS = 100


@dataclass
class Place:
    """A buyer's "near this commune" entry, resolved against the bundled communes table."""
    text: str
    radius_km: int
    commune: Commune | None = None
    candidates: list = field(default_factory=list)
    # Communes sharing the name entered when it does not say which one is meant (resolve_place's ask_homonyms).
    homonyms: list = field(default_factory=list)

    @property
    def filter(self) -> GeoFilter | None:
        if self.commune is None:
            return None
        return GeoFilter(self.commune.latitude, self.commune.longitude, float(self.radius_km))


def resolve_place(text: str | None, radius: str | int | None, ask_homonyms: bool = False) -> Place | None:
    """None when no commune was asked for; else a Place whose `commune` is None when the entry matched nothing
    (then `candidates` lists the nearest spellings) or, with `ask_homonyms`, when it names several communes
    ("Saint-Denis": then `homonyms` lists them, most populous first); without it, the most populous is taken."""
    from vivier import communes

    text = " ".join((text or "").split())[:MAX_PLACE_CHARS]
    if not text:
        return None
    try:
        radius_km = int(radius) if radius not in (None, "") else DEFAULT_RADIUS_KM
    except (TypeError, ValueError):
        radius_km = DEFAULT_RADIUS_KM
    radius_km = min(max(1, radius_km), MAX_RADIUS_KM)
    if ask_homonyms and (homonyms := communes.homonyms(text)):
        return Place(text, radius_km, None, [], homonyms)
    commune = communes.find(text)
    return Place(text, radius_km, commune, [] if commune else communes.candidates(text, limit=5))


def query_chunks(text: str, chunk_words: int = QUERY_CHUNK_WORDS, max_chunks: int = MAX_QUERY_CHUNKS) -> list[str]:
    """The query itself when short; else its paragraphs packed into chunks, at most `max_chunks`, evenly spread."""
    if len(text.split()) <= chunk_words:
        return [text]
    chunks = split_passages(text, chunk_words)
    if len(chunks) > max_chunks:
        picks = np.linspace(0, len(chunks) - 1, max_chunks).round().astype(int)
        chunks = [chunks[i] for i in dict.fromkeys(picks.tolist())]
    return chunks


def clean_query(text: str | None, max_chars: int) -> str:
    """Printable text, single-spaced within paragraphs (blank lines kept between them, for chunking), cut at
    `max_chars` on a word boundary when possible."""
    paragraphs = (text or "").replace("\r\n", "\n").split("\n\n")
    paragraphs = [" ".join("".join(ch if ch.isprintable() else " " for ch in p).split()) for p in paragraphs]
    text = "\n\n".join(p for p in paragraphs if p)
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
    def __init__(self, settings: Settings, encoder: Encoder, background_reload: bool = False):
        self.settings = settings
        self.encoder = encoder
        self.backend = make_backend(settings, background_reload=background_reload)
        self.thresholds = thresholds_for(encoder.model_name)
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def embed_query(self, text: str) -> np.ndarray:
        """One vector for a short query; one row per chunk for a long need. Remembered (QUERY_VECTOR_CACHE): the
        same text asked again (another page, a facet, an export) is not embedded again."""
        with self._cache_lock:
            cached = self._vectors.get(text)
            if cached is not None:
                self._vectors.move_to_end(text)
                return cached
        chunks = query_chunks(text)
        if len(chunks) == 1:
            vector = self.encoder.encode_query(text, threads=self.settings.query_threads)
        else:
            vector = self.encoder.encode(chunks, threads=self.settings.query_threads, role="query")
        vector.setflags(write=False)
        with self._cache_lock:
            self._vectors[text] = vector
            while len(self._vectors) > QUERY_VECTOR_CACHE:
                self._vectors.popitem(last=False)
        return vector

    def search(self, text: str | None = "", filters: Mapping[str, Sequence[str]] | None = None, page: int = 1,
               per_page: int = 20, mode: str = "hybrid", near: GeoFilter | None = None,
               only_ids: Collection[str] | None = None, exact: bool = False,
               include_weak: bool = False) -> SearchResponse:
        """One search. `only_ids` restricts results and facet counts to these document ids (None: no restriction).

        A typed query is searched with the accents people omit restored and its unknown words corrected from the
        index's vocabulary ("colecte dechets" is searched as "collecte déchets"); the response's `corrected` then
        says what was searched. `exact` searches the words as typed (accents still restored), and the response
        only suggests the correction. Facet counts cover the strong matches (indexer.strength) unless
        `include_weak`."""
        typed = clean_query(text, self.settings.query_max_chars)
        text = typed
        corrected = None
        if text:
            rewrite = self.backend.rewrite_query(text)
            text = rewrite.restored if exact else rewrite.searched
            corrected = None if exact else rewrite.corrected
        mode = mode if mode in MODES else "hybrid"
        vector = None
        if text and mode in ("hybrid", "dense"):
            vector = self.embed_query(text)
        request = SearchRequest(text=text, filters=clean_filters(filters), page=min(max(1, page), MAX_PAGE),
                                per_page=min(max(1, per_page), MAX_PER_PAGE), mode=mode, query_vector=vector,
                                near=near, only_ids=None if only_ids is None else frozenset(only_ids),
                                thresholds=self.thresholds, include_weak=include_weak)
        response = self.backend.search(request)
        if corrected is not None:
            response.corrected = corrected
            response.suggestion = None
        return response
