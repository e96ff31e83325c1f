"""The search contract every backend implements, with the same observable semantics.

Semantics (checked by tests/test_backend_contract.py for every backend):
- Filters: values within one facet are OR-ed, facets are AND-ed; they restrict keyword and dense retrievals alike.
- Result set: documents passing the filters that the keyword retrieval matched or the dense retrieval returned
  (top DENSE_DEPTH above the model's dense floor, indexer.strength). An empty query returns every document passing
  the filters, by name.
- Ranking: reciprocal rank fusion of the keyword and dense rankings, weighted per retrieval (indexer.fusion:
  RRF_K, FUSION_WEIGHTS), ties broken by id; the strong matches (indexer.strength: coverage of the query's terms,
  similarity) first, then the weaker neighbours. `strong_total` counts the strong matches.
- Coverage: per document, the share of the query terms' idf mass it holds in its weighted fields (known at least
  for the documents the keyword retrieval returned; 0 for the others).
- Facet counts: over the strong matches of the result set (over all of it when there is none, or when the request
  asks for the weaker neighbours too), each facet ignoring its own selection (disjunctive facets).
- Distance filter (`near`): keeps documents with coordinates within the radius of a point, in both retrievals and
  in every facet count; it is not a facet. Hits then carry their distance in km.
- Query vectors: one row (short query) or several (a long need embedded by chunks). A document's similarity to a
  multi-row query is the mean over rows of its best passage's similarity to that row.
- Suggestion: when a query word is found nowhere in the index, the response proposes the query with each such word
  replaced by the closest indexed word (edit distance, then document frequency), or None; never for a long need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from indexer.documents import SearchDocument
from indexer.strength import UNMEASURED, ModelThresholds
from indexer.suggest import QueryRewrite

# Facet name (as in URLs and the API) -> document attribute.
FACET_FIELDS: dict[str, str] = {
    "category": "categories",
    "region": "region",
    "department": "department",
    "label": "labels",
    "size": "size_band",
    "open_source": "open_source",
    # Open standards, documented API, data export (vivier.centrals.INTEROP_FACTS; the licence is open_source).
    "interop": "interop",
}
# The single value of the open-source facet ("solution sous licence libre"); other documents have none.
OPEN_SOURCE_VALUE = "oui"


def facet_values(document: SearchDocument, facet: str) -> tuple[str, ...]:
    """The values a document holds for a facet (both backends index exactly these)."""
    if facet == "category":  # declared and guessed themes (vivier.themes) alike
        return document.all_categories
    value = getattr(document, FACET_FIELDS[facet])
    if isinstance(value, bool):
        return (OPEN_SOURCE_VALUE,) if value else ()
    if value is None:
        return ()
    return tuple(value) if isinstance(value, tuple) else (value,)
MODES = ("hybrid", "keyword", "dense")

# Keyword hits taken into fusion and facets. Deeper than any page a person reads; bounds the cost of a query.
KEYWORD_DEPTH = 500
# Dense neighbours taken into fusion. Semantic recall beyond this depth is mostly noise on short queries.
DENSE_DEPTH = 50
# Query terms kept after analysis: a pasted paragraph keeps its first 48 distinct terms.
MAX_QUERY_TERMS = 48


@dataclass(frozen=True)
class GeoFilter:
    """Documents whose coordinates lie within `radius_km` of (latitude, longitude), great-circle distance."""
    latitude: float
    longitude: float
    radius_km: float


@dataclass(frozen=True)
class SearchRequest:
    text: str = ""
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    page: int = 1
    per_page: int = 20
    mode: str = "hybrid"
    # (dim,) or (chunks, dim), rows L2-normalised.
    query_vector: np.ndarray | None = None
    near: GeoFilter | None = None
    # Only these document ids may be returned or counted (None: no restriction). Set from the database at query
    # time, for restrictions that change with the calendar rather than with the profiles, e.g. the suppliers a
    # purchasing central references today (vivier.centrals): nothing to re-index when a referencing expires.
    only_ids: frozenset[str] | None = None
    # The query model's thresholds (indexer.strength): the dense retrieval's floor and what makes a strong match.
    thresholds: ModelThresholds = UNMEASURED
    # Count facets over the weaker neighbours too, not only over the strong matches.
    include_weak: bool = False


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int
    selected: bool


@dataclass
class Hit:
    id: str
    score: float
    document: SearchDocument
    keyword_rank: int | None = None
    dense_rank: int | None = None
    dense_similarity: float | None = None
    highlights: dict[str, str] = field(default_factory=dict)
    matched_fields: list[str] = field(default_factory=list)
    semantic_passage: str | None = None
    distance_km: float | None = None
    # Share of the query's terms (weighted by rarity) the document holds, 0 to 1; None without a keyword retrieval.
    coverage: float | None = None
    # A strong match (indexer.strength), or only a neighbour; every result of an empty query is strong.
    strong: bool = True


@dataclass
class SearchResponse:
    total: int
    hits: list[Hit]
    facets: dict[str, list[FacetValue]]
    page: int
    per_page: int
    suggestion: str | None = None
    # The query searched instead of the one typed, when its unknown words were corrected (indexer.service).
    corrected: str | None = None
    # Strong matches among the `total` results (they come first); the others are weaker neighbours.
    strong_total: int = 0


class IndexNotReady(RuntimeError):
    """No index has been built yet."""


class SearchUnavailable(RuntimeError):
    """The search service cannot answer now (a remote backend refused, timed out or is overloaded after retries).
    Pages that search answer HTTP 503; the rest of the site keeps working."""


class RebuildInProgress(RuntimeError):
    """Another process is rebuilding this index."""


class NothingToRollBack(RuntimeError):
    """No complete previous index is kept behind the live one."""


def check_vectors(documents: Sequence[SearchDocument], passage_vectors: np.ndarray) -> None:
    """What every backend's rebuild and apply_changes require: one vector row per passage, in document order, and
    at least one passage per document (ValueError otherwise, before anything is written)."""
    expected = sum(len(d.passages) for d in documents)
    if passage_vectors.shape[0] != expected:
        raise ValueError(f"{passage_vectors.shape[0]} passage vectors for {expected} passages")
    if any(not d.passages for d in documents):
        raise ValueError("every document needs at least one passage")


class SearchBackend(Protocol):
    """What indexer.backends.make_backend returns. Engines run the retrievals; indexer.pipeline fuses them and
    assembles the response, the same way for every engine."""

    def rebuild(self, documents: Sequence[SearchDocument], passage_vectors: np.ndarray,
                meta: Mapping[str, Any]) -> str:
        """Replace the whole index atomically; `passage_vectors` has one row per passage, documents in order.
        Returns the name of the index made live (a generation, an Elasticsearch index)."""

    def apply_changes(self, documents: Sequence[SearchDocument], passage_vectors: np.ndarray,
                      deleted_ids: Sequence[str], meta: Mapping[str, Any]) -> str:
        """Add or replace `documents` (vectors as for rebuild) and remove `deleted_ids` in the live index, as one
        atomic step; every other document stays as it is. `meta` updates the index's description. Returns the name
        of the live index written."""

    def search(self, request: SearchRequest) -> SearchResponse:
        """The response to a request, with the semantics above (IndexNotReady before any build, SearchUnavailable
        when the engine cannot answer now)."""

    def rewrite_query(self, text: str) -> QueryRewrite:
        """A typed query with its omitted accents restored and its unknown words corrected from the index's
        vocabulary (indexer.suggest.rewrite_query); a long need as it is."""

    def similar(self, doc_id: str, limit: int = 5) -> list[SearchDocument]: ...

    def get(self, doc_id: str) -> SearchDocument | None: ...

    def status(self) -> dict[str, Any]:
        """backend, ready, the live index's name and the meta given to rebuild (model, dimension, watermark...)."""

    def rollback(self) -> str:
        """Make the previous complete index live again; returns its name. NothingToRollBack when none is kept."""

    def refresh(self) -> None:
        """Serve the live index as it is now from the next search on (the worker, after it applied changes).
        Engines that hold nothing in memory have nothing to do."""
