"""indexer.pipeline: what every engine's retrievals become (fusion, strong matches first, facets, page, hits)."""

from __future__ import annotations

import pytest

from indexer import fusion, pipeline
from indexer.backends.base import FacetValue, SearchRequest
from indexer.documents import SearchDocument
from indexer.fusion import FUSION_WEIGHTS, RRF_K, reciprocal_rank_fusion


def doc(id, categories=(), department=None):
    return SearchDocument(id=id, slug=f"s{id}", name=f"Name {id}", pitch="", description="",
                          categories=tuple(categories), labels=(), keywords=(), department=department, region=None,
                          commune=None, size_band=None, open_source=False, latitude=None, longitude=None,
                          interop=(), passages=(f"Name {id}",))


# An engine of six documents numbered 0-5, whose ids do not sort like their numbers (ties must go by id).
IDS = ["f", "e", "d", "c", "b", "a"]
DOCUMENTS = [doc("f", ["waste"], "29"), doc("e", ["waste", "parking"], "35"), doc("d", ["parking"], "29"),
             doc("c", ["lighting"], "44"), doc("b", ["waste"], "44"), doc("a", [], None)]


def id_of(key: int) -> str:
    return IDS[key]


class Engine:
    """Retrievals per scope, as an engine would return them, and facet counts over their members."""

    def __init__(self, scopes: dict[str | None, pipeline.Retrievals[int]]):
        self.scopes = scopes
        self.strong: set[int] = set()
        self.calls: list[tuple[str, str | None, bool]] = []

    def count_facets(self, facet: str, scope: str | None, strong_only: bool) -> dict[str, int]:
        self.calls.append((facet, scope, strong_only))
        retrievals = self.scopes[scope]
        members = set(retrievals.keyword) | set(retrievals.dense)
        if strong_only:
            members &= self.strong
        counts: dict[str, int] = {}
        for key in members:
            values = DOCUMENTS[key].categories if facet == "category" else (
                (DOCUMENTS[key].department,) if facet == "department" and DOCUMENTS[key].department else ())
            for value in values:
                counts[value] = counts.get(value, 0) + 1
        return counts

    def assemble(self, request: SearchRequest, **kwargs):
        return pipeline.assemble(request, self.scopes[None], id_of=id_of, document=DOCUMENTS.__getitem__,
                                 count_facets=self.count_facets, **kwargs)


def test_hybrid_fusion_sums_weighted_reciprocal_ranks_and_breaks_ties_by_id_not_by_key():
    retrievals = pipeline.Retrievals(keyword=[0, 1, 2], dense=[2, 1, 0])
    fused = pipeline.fuse(retrievals, id_of)
    # 0 and 2 tie at 1/(k+1) + 1/(k+3), above 1's 2/(k+2): the tie goes by id ("d" < "f"), not by key.
    scores = {key: score for key, score in fused}
    assert scores[0] == scores[2] == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 3))
    assert scores[1] == pytest.approx(2 / (RRF_K + 2))
    assert [key for key, _ in fused] == [2, 0, 1]  # "d" before "f" on their tie; 1 ("e") scores least
    assert fused == [(key, score) for key, score in reciprocal_rank_fusion(
        [[0, 1, 2], [2, 1, 0]], weights=(FUSION_WEIGHTS["keyword"], FUSION_WEIGHTS["dense"]), tie_key=id_of)]


@pytest.mark.parametrize("retrievals", [pipeline.Retrievals(keyword=[3, 0, 4]), pipeline.Retrievals(dense=[3, 0, 4])])
def test_a_single_retrieval_keeps_its_order_with_the_scores_fusion_would_give(retrievals):
    single = list(retrievals.keyword or retrievals.dense)
    weight = FUSION_WEIGHTS["keyword" if retrievals.keyword else "dense"]
    assert pipeline.fuse(retrievals, id_of) == reciprocal_rank_fusion([single], weights=(weight,))
    assert [key for key, _ in pipeline.fuse(retrievals, id_of)] == [3, 0, 4]


def test_fusion_reads_the_constants_at_call_time(monkeypatch):
    monkeypatch.setattr(fusion, "RRF_K", 1)
    monkeypatch.setitem(fusion.FUSION_WEIGHTS, "dense", 2.0)
    fused = dict(pipeline.fuse(pipeline.Retrievals(keyword=[0], dense=[1]), id_of))
    assert fused == {0: 1 / 2, 1: 2 / 2}


def test_strong_matches_come_first_each_part_in_its_order():
    ranked = [(0, 0.5), (1, 0.4), (2, 0.3), (3, 0.2)]
    assert pipeline.strong_first(ranked, lambda key: key in {1, 3}) == ([(1, 0.4), (3, 0.2), (0, 0.5), (2, 0.3)], 2)
    assert pipeline.strong_first(ranked, None) == (ranked, 4)


def test_facet_values_by_count_then_value_with_selected_ones_even_without_documents():
    assert pipeline.facet_list({"waste": 2, "parking": 2, "air": 0, "lighting": 1}, ["unknown", "air"]) == [
        FacetValue("parking", 2, False), FacetValue("waste", 2, False), FacetValue("lighting", 1, False),
        FacetValue("air", 0, True), FacetValue("unknown", 0, True)]


def test_active_filters_keep_known_facets_with_values():
    assert pipeline.active_filters({"category": ["waste"], "department": [], "colour": ["red"]}) == {
        "category": ("waste",)}


def test_response_pages_the_fused_results_with_ranks_and_lets_the_engine_describe_its_hits():
    engine = Engine({None: pipeline.Retrievals(keyword=[0, 1, 2, 3], dense=[4, 1])})
    described = []

    def describe(keys, hits):
        described.append(list(keys))
        for hit in hits:
            hit.highlights = {"name": f"<b>{hit.id}</b>"}

    response = engine.assemble(SearchRequest(text="q", page=2, per_page=2), describe=describe, suggestion="q2")
    fused = pipeline.fuse(engine.scopes[None], id_of)
    assert [key for key, _ in fused] == [1, 4, 0, 2, 3]  # 4 ("b") and 0 ("f") tie at 1/(k+1): by id
    assert response.total == 5 and response.strong_total == 5 and response.page == 2 and response.per_page == 2
    assert [h.id for h in response.hits] == ["f", "d"] and described == [[0, 2]]
    zero, two = response.hits
    assert (zero.keyword_rank, zero.dense_rank, zero.score) == (1, None, fused[2][1])
    assert (two.keyword_rank, two.dense_rank, two.score) == (3, None, 1 / (RRF_K + 3))
    assert zero.document is DOCUMENTS[0] and zero.highlights == {"name": "<b>f</b>"} and zero.strong
    first = engine.assemble(SearchRequest(text="q", per_page=2)).hits
    assert [(h.id, h.keyword_rank, h.dense_rank) for h in first] == [("e", 2, 2), ("b", None, 1)]
    assert response.suggestion == "q2"
    # Past the last result: no hits, same total; a page below 1 is the first.
    assert engine.assemble(SearchRequest(text="q", page=9, per_page=2)).hits == []
    assert engine.assemble(SearchRequest(text="q", page=0, per_page=2)).page == 1


def test_a_selected_facet_is_counted_on_its_own_scope_the_others_on_the_results():
    engine = Engine({None: pipeline.Retrievals(keyword=[0, 2]),  # department 29 selected: "f" and "d"
                     "department": pipeline.Retrievals(keyword=[0, 2, 3])})  # without it: "c" (44) too
    response = engine.assemble(SearchRequest(text="q", filters={"department": ["29"]}))
    assert response.facets["department"] == [FacetValue("29", 2, True), FacetValue("44", 1, False)]
    assert response.facets["category"] == [FacetValue("parking", 1, False), FacetValue("waste", 1, False)]
    assert ("department", "department", False) in engine.calls and ("category", None, False) in engine.calls
    assert set(response.facets) == {facet for facet, _, _ in engine.calls}  # every facet listed, counted once


def test_facets_count_the_strong_matches_unless_there_is_none_or_the_weak_ones_are_asked_for():
    engine = Engine({None: pipeline.Retrievals(keyword=[0, 1, 4], dense=[3])})
    engine.strong = {1, 4}
    request = SearchRequest(text="q")
    response = engine.assemble(request, is_strong=engine.strong.__contains__)
    assert [h.id for h in response.hits][:2] == [id_of(1), id_of(4)] and response.strong_total == 2
    assert [h.strong for h in response.hits] == [True, True, False, False]
    assert response.facets["category"] == [FacetValue("waste", 2, False), FacetValue("parking", 1, False)]
    weak_too = engine.assemble(SearchRequest(text="q", include_weak=True), is_strong=engine.strong.__contains__)
    assert weak_too.facets["category"] == [FacetValue("waste", 3, False), FacetValue("lighting", 1, False),
                                           FacetValue("parking", 1, False)]
    none_strong = engine.assemble(request, is_strong=lambda key: False)
    assert none_strong.strong_total == 0 and none_strong.facets["category"] == weak_too.facets["category"]


def test_an_order_given_by_the_engine_is_kept():
    """An empty query: the engine's order (by name), every result strong, no ranks."""
    engine = Engine({None: pipeline.Retrievals()})
    response = engine.assemble(SearchRequest(), ranked=[(5, 0.0), (0, 0.0), (3, 0.0)])
    assert [h.id for h in response.hits] == ["a", "f", "c"] and response.total == response.strong_total == 3
    assert all(h.keyword_rank is None and h.dense_rank is None and h.strong for h in response.hits)
