"""What the Elasticsearch backend asks of a cluster, byte for byte: the mapping and settings, and the bodies of its
searches, bulk loads and alias swaps, compared with reviewed files under tests/golden/elasticsearch/. A change to
any of them fails here until the golden file is regenerated (VIVIER_UPDATE_GOLDEN=1) and the diff reviewed. The
pure functions that read responses are tested below them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from vivier.analysis import query_terms
from indexer.backends.base import DENSE_DEPTH, GeoFilter, SearchRequest
from indexer.keyword import fuzzy_words
from indexer.backends.elasticsearch import (RESULTS, alias_actions, browse_body, bulk_actions, clean_highlight,
                                            decode_vectors, dense_ranking, document_from_source,
                                            document_similarities, document_source, facet_list, filter_clauses,
                                            index_settings, keyword_body, knn_body, knn_budget, mapping,
                                            msearch_lines, search_plan, similar_body, suggestion_body,
                                            suggestion_from_response, suggestion_words, term_frequency_body)
from indexer.documents import SearchDocument

GOLDEN = Path(__file__).parent / "golden" / "elasticsearch"
FLOOR = 0.8  # a model's dense floor (indexer.strength)
UPDATE = os.environ.get("VIVIER_UPDATE_GOLDEN") == "1"

DOC = SearchDocument(id="42", slug="tri-connect", name="Tri Connect", pitch="Capteurs de remplissage",
                     description="Optimisation des tournées.", categories=("waste", "iot-networks"),
                     labels=("french-tech",), keywords=("LoRa",), department="29", region="Bretagne",
                     commune="Quimper", size_band="10-49", open_source=True, latitude=47.996, longitude=-4.102,
                     passages=("Tri Connect. Capteurs de remplissage", "Optimisation des tournées."),
                     interop=("open_standards", "documented_api"))
# Dyadic fractions: exact in float32 and in JSON.
VECTORS = np.array([[0.5, 0.5, 0.5, 0.5], [1.0, 0.0, 0.0, 0.0]], dtype=np.float32)
QUERY_ROWS = np.array([[0.5, -0.5, 0.5, 0.5], [0.0, 0.0, 1.0, 0.0]], dtype=np.float32)
NEAR = GeoFilter(latitude=48.1173, longitude=-1.6778, radius_km=120)
FILTERS = {"category": ["waste", "parking"], "label": ["ess"]}
META = {"model": "all-MiniLM-L6-v2", "dimension": 4, "document_version": 1, "watermark": "2026-03-01T09:00:00"}


def assert_golden(name: str, value) -> None:
    path = GOLDEN / f"{name}.json"
    actual = json.loads(json.dumps(value))
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n")
    assert path.exists(), f"no golden file {path}: run with VIVIER_UPDATE_GOLDEN=1 and review it"
    assert actual == json.loads(path.read_text()), f"{name} changed: regenerate with VIVIER_UPDATE_GOLDEN=1 and review"


# -- golden bodies --------------------------------------------------------------------------------------------------
def test_index_settings_and_analysis():
    assert_golden("settings", index_settings())


def test_mapping():
    assert_golden("mapping", mapping(4, "int8_hnsw", META))


def test_keyword_search_for_the_results_and_for_a_facet():
    text = "Captuers de remplissage pour le tri"
    terms, fuzzy = query_terms(text, 48), fuzzy_words(text)
    assert fuzzy == ["captuers", "remplissage"]  # stop words and short words have no near misses
    clauses = filter_clauses(FILTERS, NEAR)
    assert_golden("keyword_results", keyword_body(terms, clauses, fuzzy=fuzzy))
    assert_golden("keyword_facet", keyword_body(terms, filter_clauses({"label": ["ess"]}, NEAR), "category", fuzzy))


def test_knn_search_for_the_results_and_for_a_facet():
    assert_golden("knn_results", knn_body(QUERY_ROWS[0], filter_clauses(FILTERS, NEAR), "int8_hnsw"))
    assert_golden("knn_facet_bbq", knn_body(QUERY_ROWS[1], [], "bbq_hnsw", "label"))


def test_empty_query_with_disjunctive_aggregations():
    assert_golden("browse", browse_body(FILTERS, NEAR, 20, 10))
    assert_golden("browse_unfiltered", browse_body({}, None, 0, 20))


def test_an_id_restriction_filters_every_search_of_the_plan_and_the_browse():
    """Suppliers a purchasing central references today: an `ids` filter beside the facets, in the keyword and kNN
    searches of the results and of each facet, and in the browse query (so aggregations count only them)."""
    request = SearchRequest(text="capteurs", filters={"category": ["waste"]}, query_vector=QUERY_ROWS[:1],
                            only_ids=frozenset({"7", "12", "3"}))
    plan = search_plan(request, query_terms(request.text, 48), "int8_hnsw")
    assert_golden("msearch_only_ids", {"searches": [[p.scope, p.kind] for p in plan],
                                       "lines": msearch_lines(p.body for p in plan)})
    assert_golden("browse_only_ids", browse_body({}, None, 0, 20, frozenset({"3", "12"})))


def test_suggestion_and_term_frequency_and_similar_bodies():
    assert_golden("suggestion", suggestion_body(suggestion_words("Captuers de remplisage éclairrage")))
    assert_golden("term_frequencies", term_frequency_body(["capteur", "remplissag", "tri"]))
    assert_golden("similar", similar_body("42", VECTORS[0], 5, "int8_hnsw"))


def test_msearch_lines_of_a_hybrid_search():
    request = SearchRequest(text="capteurs de remplissage", filters={**FILTERS, "unknown-facet": ["x"]},
                            query_vector=QUERY_ROWS, near=NEAR)
    plan = search_plan(request, query_terms(request.text, 48), "int8_hnsw")
    assert_golden("msearch_hybrid", {"searches": [[p.scope, p.kind] for p in plan],
                                     "lines": msearch_lines(p.body for p in plan)})


def test_bulk_and_alias_actions():
    assert_golden("bulk_actions", list(bulk_actions("vivier-profiles-v1-20260301093000000000", [DOC], VECTORS,
                                                    ["7"])))
    assert_golden("alias_actions", alias_actions("vivier-profiles", "vivier-profiles-v1-2", ["vivier-profiles-v1-1"]))


# -- plans ----------------------------------------------------------------------------------------------------------
def plan_shape(request: SearchRequest, terms=("capteur",)) -> list[tuple[str, str]]:
    return [(p.scope, p.kind) for p in search_plan(request, list(terms), "int8_hnsw")]


def test_a_plan_holds_what_the_mode_needs_and_one_knn_search_per_row():
    rows = QUERY_ROWS
    assert plan_shape(SearchRequest(text="capteur", mode="keyword", query_vector=rows)) == [
        (RESULTS, "keyword"), ("suggestion", "suggestion")]
    assert plan_shape(SearchRequest(text="capteur", mode="dense", query_vector=rows)) == [
        (RESULTS, "dense"), (RESULTS, "dense"), ("suggestion", "suggestion")]
    assert plan_shape(SearchRequest(text="capteur", query_vector=rows[0], filters={"size": ["1-9"]})) == [
        (RESULTS, "keyword"), (RESULTS, "dense"), ("size", "keyword"), ("size", "dense"),
        ("suggestion", "suggestion")]
    # Only stop words: no keyword search, nothing to suggest.
    assert plan_shape(SearchRequest(text="de la", mode="keyword"), terms=()) == []


def test_words_a_suggestion_may_correct():
    assert suggestion_words("Captuers de l'éclairrage, captuers ou 4G") == ["Captuers", "éclairrage", "captuers"]
    assert suggestion_words(" ".join(["mot"] * 13)) == []  # a long need: no suggestion


def test_quantised_vector_types_ask_for_more_neighbours_under_a_lower_threshold():
    assert knn_budget("hnsw", 50) == (50, 0.0) and knn_budget("flat", 50) == (50, 0.0)
    assert knn_budget("int8_hnsw", 50) == (100, 0.02) and knn_budget("bbq_flat", 50) == (150, 0.15)
    body = knn_body(QUERY_ROWS[0], [], "int4_hnsw", floor=FLOOR)
    assert body["knn"]["similarity"] == pytest.approx(FLOOR - 0.05) and body["size"] == 2 * DENSE_DEPTH
    assert "similarity" not in knn_body(QUERY_ROWS[0], [], "int4_hnsw")["knn"]  # a model with no floor


# -- documents ------------------------------------------------------------------------------------------------------
def test_a_document_round_trips_through_its_source_with_exact_vectors():
    source = document_source(DOC, VECTORS)
    assert document_from_source(source) == DOC
    assert np.array_equal(decode_vectors(source["vectors"], 4), VECTORS)
    assert source["facets"] == {"category": ["waste", "iot-networks"], "region": ["Bretagne"], "department": ["29"],
                                "label": ["french-tech"], "size": ["10-49"], "open_source": ["oui"],
                                "interop": ["open_standards", "documented_api"]}
    closed = document_source(SearchDocument(**{**DOC.__dict__, "open_source": False, "latitude": None}), VECTORS)
    assert closed["facets"]["open_source"] == [] and "location" not in closed


# -- reading responses ----------------------------------------------------------------------------------------------
def test_similarity_is_the_mean_over_rows_of_half_best_half_mean_passage():
    vectors = {"a": VECTORS, "b": np.array([[0.0, 0.0, 1.0, 0.0]], dtype=np.float32)}
    similarities = document_similarities(vectors, QUERY_ROWS)
    # a: row 1 -> best 0.5, mean 0.5; row 2 -> best 0.5, mean 0.25, so 0.375. b (one passage): row 1 0.5, row 2 1.
    assert similarities == pytest.approx({"a": (0.5 + 0.375) / 2, "b": 0.75})
    assert document_similarities(vectors, QUERY_ROWS[1]) == pytest.approx({"a": 0.375, "b": 1.0})


def test_dense_ranking_applies_threshold_depth_and_ties_by_id():
    similarities = {f"d{i:03d}": 0.9 for i in range(DENSE_DEPTH + 5)}
    similarities.update({"low": FLOOR - 0.001, "top": 0.95, "edge": FLOOR})
    ranking = dense_ranking(similarities, FLOOR)
    assert ranking[:3] == ["top", "d000", "d001"] and len(ranking) == DENSE_DEPTH
    assert dense_ranking({"edge": FLOOR, "low": 0.1}, FLOOR) == ["edge"]
    assert dense_ranking({"edge": FLOOR, "low": 0.1}) == ["edge", "low"]  # no floor


def test_highlights_are_re_escaped_with_only_bold_tags_as_markup():
    fragment = "<b>Sécurité</b> &lt;script&gt;alert(&quot;1&quot;)&lt;&#x2F;script&gt; l&#x27;école &amp; <i>"
    assert clean_highlight(fragment) == (
        "<b>Sécurité</b> &lt;script&gt;alert(&quot;1&quot;)&lt;/script&gt; l&#x27;école &amp; &lt;i&gt;")


def test_selected_values_show_even_without_documents():
    values = facet_list({"waste": 2, "parking": 2, "air": 0}, ["unknown", "parking"])
    assert [(v.value, v.count, v.selected) for v in values] == [
        ("parking", 2, True), ("waste", 2, False), ("unknown", 0, True)]


def suggestion_response(known=(), stems=(), folded=None, written=None):
    buckets = {**{f"key{i}": {"doc_count": 3} for i in known}, **{f"stem{i}": {"doc_count": 2} for i in stems}}

    def entries(options):
        return {name: [{"text": "?", "offset": 0, "length": 1, "options": [
            {"text": text, "score": 0.8, "freq": freq} for text, freq in found]}] for name, found in options.items()}

    return {"aggregations": {"known": {"buckets": buckets}},
            "suggest": {**entries(folded or {}), **entries(written or {})}}


def test_suggestion_replaces_unknown_words_by_the_closest_then_most_frequent_candidate():
    text = "Captuers de eclairrage"
    words = suggestion_words(text)
    response = suggestion_response(
        folded={"folded0": [("capteurs", 1), ("captures", 9)], "folded1": [("eclairage", 4), ("eclairages", 1)]},
        written={"written1": [("éclairage", 4), ("eclairage", 1)]})
    # "capteurs" and "captures" are both one edit away (a swap); the more frequent wins; the written form shows.
    assert suggestion_from_response(text, words, response) == "Captures de éclairage"


def test_no_suggestion_for_indexed_words_stems_or_words_nothing_is_close_to():
    words = ["Eclairage", "cantines", "zzqxw"]
    text = " ".join(words)
    far = {"folded2": [("zigzag", 5)]}  # more edits than a five-letter word allows
    assert suggestion_from_response(text, words, suggestion_response(known=[0], stems=[1], folded=far)) is None
    # Without the checks, the same candidates would be used.
    assert suggestion_from_response("cantinnes", ["cantinnes"], suggestion_response(
        folded={"folded0": [("cantine", 5)]})) == "cantine"
