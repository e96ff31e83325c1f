"""One search pipeline for every engine: from what an engine retrieved to the SearchResponse.

An engine (indexer.backends) runs the retrievals: the keyword ranking and the dense ranking of the results, each
restricted by the request's filters, distance and ids, and the same retrievals without a selected facet's own
selection (disjunctive facet counts). This module does the rest, identically for every engine and without any
engine's types: reciprocal rank fusion (ties by document id), strong matches first (indexer.strength), the facet
lists, the page, the hits' ranks and the response. What only an engine knows about a hit (its highlights, its best
passage, its similarity, its distance) it adds to the page's hits through `describe`.

Documents are designated by keys of the engine's choosing (the embedded backend's document numbers, Elasticsearch's
ids); `id_of` turns a key into its document id wherever the contract orders by id.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from indexer import fusion
from indexer.backends.base import FACET_FIELDS, FacetValue, Hit, SearchRequest, SearchResponse
from indexer.documents import SearchDocument

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Retrievals(Generic[K]):
    """What one scope's retrievals returned, best first: the keyword ranking and the dense ranking."""
    keyword: Sequence[K] = ()
    dense: Sequence[K] = ()


class FacetCounter(Protocol):
    def __call__(self, facet: str, scope: str | None, strong_only: bool) -> Mapping[str, int]:
        """Documents per value of `facet` among the members of a scope: the results (`scope` None) or the results
        of the request without the selection of the facet named by `scope`; among its strong matches only when
        `strong_only`. Values may be listed with a count of 0."""
        ...


def active_filters(filters: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """The request's facet selections that restrict anything: known facets with at least one value."""
    return {facet: tuple(values) for facet, values in filters.items() if facet in FACET_FIELDS and values}


def fuse(retrievals: Retrievals[K], id_of: Callable[[K], str]) -> list[tuple[K, float]]:
    """Reciprocal rank fusion of the keyword and dense rankings (indexer.fusion: RRF_K and FUSION_WEIGHTS, read at
    call time), ties by document id."""
    keyword, dense = retrievals.keyword, retrievals.dense
    weights = fusion.FUSION_WEIGHTS
    if not (keyword and dense):
        # One list (one mode, or one retrieval found nothing): its fused scores are distinct and in its order, so
        # they are computed directly rather than sorted (a tenth of a keyword query at 100k profiles).
        single, weight = (keyword, weights["keyword"]) if keyword else (dense, weights["dense"])
        return [(key, weight / (fusion.RRF_K + rank)) for rank, key in enumerate(single, start=1)]
    return fusion.reciprocal_rank_fusion([keyword, dense], weights=(weights["keyword"], weights["dense"]),
                                         tie_key=id_of)


def strong_first(ranked: Sequence[tuple[K, float]],
                 is_strong: Callable[[K], bool] | None) -> tuple[list[tuple[K, float]], int]:
    """The strong matches first, then the weaker neighbours, each part in its ranked order; and the number of strong
    matches. `is_strong` None: every result is strong (an empty query, a keyword-only or dense-only search)."""
    if is_strong is None:
        return list(ranked), len(ranked)
    strong = [entry for entry in ranked if is_strong(entry[0])]
    return strong + [entry for entry in ranked if not is_strong(entry[0])], len(strong)


def facet_list(counts: Mapping[str, int], selected: Iterable[str]) -> list[FacetValue]:
    """Values with documents, and the selected ones even without, by count then value."""
    chosen = set(selected)
    values = [FacetValue(value, count, value in chosen) for value, count in counts.items() if count or value in chosen]
    values += [FacetValue(value, 0, True) for value in chosen - set(counts)]
    return sorted(values, key=lambda fv: (-fv.count, fv.value))


def facets(filters: Mapping[str, Sequence[str]], count: FacetCounter,
           strong_only: bool) -> dict[str, list[FacetValue]]:
    """Every facet's values: a selected facet is counted without its own selection (disjunctive facets), the
    others over the results."""
    return {facet: facet_list(count(facet, facet if facet in filters else None, strong_only), filters.get(facet, ()))
            for facet in FACET_FIELDS}


def page_window(request: SearchRequest) -> tuple[int, int, int]:
    """(page number, first result, end of the page) of a request; pages start at 1."""
    page = max(1, request.page)
    start = (page - 1) * request.per_page
    return page, start, start + request.per_page


def page_hits(page: Sequence[tuple[K, float]], retrievals: Retrievals[K], id_of: Callable[[K], str],
              document: Callable[[K], SearchDocument], is_strong: Callable[[K], bool] | None) -> list[Hit]:
    """The hits of a page of ranked results, with their ranks in each retrieval and their strength."""
    keyword_rank = {key: rank for rank, key in enumerate(retrievals.keyword, start=1)}
    dense_rank = {key: rank for rank, key in enumerate(retrievals.dense, start=1)}
    return [Hit(id=id_of(key), score=float(score), document=document(key), keyword_rank=keyword_rank.get(key),
                dense_rank=dense_rank.get(key), strong=is_strong is None or bool(is_strong(key)))
            for key, score in page]


def assemble(request: SearchRequest, retrievals: Retrievals[K], *, id_of: Callable[[K], str],
             document: Callable[[K], SearchDocument], count_facets: FacetCounter,
             ranked: Sequence[tuple[K, float]] | None = None, is_strong: Callable[[K], bool] | None = None,
             describe: Callable[[Sequence[K], list[Hit]], None] | None = None,
             suggestion: str | None = None) -> SearchResponse:
    """The response to `request` from the results' retrievals.

    `ranked` is the results' order when it is not their fusion (an empty query: every document passing the filters,
    by name). `is_strong` tells the strong matches of a hybrid search (None: every result is strong); facets then
    count them only, unless there is none or the request includes the weaker neighbours. `describe` receives the
    page's keys and hits, to add what only the engine knows (highlights, passages, similarities, distances)."""
    ordered = fuse(retrievals, id_of) if ranked is None else ranked
    ordered, strong_total = strong_first(ordered, is_strong)
    strong_only = is_strong is not None and strong_total > 0 and not request.include_weak
    facet_values = facets(active_filters(request.filters), count_facets, strong_only)
    page, start, end = page_window(request)
    window = ordered[start:end]
    hits = page_hits(window, retrievals, id_of, document, is_strong)
    if describe is not None:
        describe([key for key, _ in window], hits)
    return SearchResponse(total=len(ordered), hits=hits, facets=facet_values, page=page, per_page=request.per_page,
                          suggestion=suggestion, strong_total=strong_total)
