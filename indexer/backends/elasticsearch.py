"""Elasticsearch backend: the SearchBackend contract (indexer.backends.base) on Elasticsearch 8.15+ and 9.x.

Layout on the cluster (prefix `vivier` by default):
    vivier-profiles                        alias read by every search and written by incremental updates
    vivier-profiles-v{MAPPING}-{time}      one complete index per rebuild; the newest `keep` previous ones stay
                                           (for `vivier index rollback`), older ones are deleted
    vivier-rebuild-lock                    one document while a rebuild, an update or a rollback runs

Decisions, and why:
- Analysis. The French analyzer is rebuilt in the mapping with the very chain of vivier.analysis: words split at
  every non-alphanumeric character (so "l'eau" gives "l" and "eau": elided articles are dropped as stop words, for
  both apostrophes), long tokens dropped, lowercase, the elisions and extra stop words, Snowball's French stop
  words, the Snowball French stemmer, then ASCII folding. Index terms are then exactly the Python analyzer's, so
  queries are built from `vivier.analysis.query_terms` as term queries, like the embedded backend's, and the two
  backends match the same documents. (Lucene's light_french stemmer would also fold doubled letters:
  "remplisage" would find "remplissage" and never be corrected, unlike with the embedded backend.)
- Passages. Each document holds its passages' vectors as nested `chunks` (nested kNN scores a document by its best
  passage; filters on the document are pre-filters), left out of the stored _source, plus a copy of all of them as
  one base64 float32 string (`vectors`, stored, not indexed). Dense candidates come back with that string and
  their similarity is recomputed exactly in numpy: quantised vectors (int8_hnsw by default) only have to bring the
  right candidates, so the kNN search asks for more neighbours than needed and a slightly lower threshold
  (KNN_OVERSAMPLING), then ranking, threshold and depth are applied to exact cosines. A multi-row query vector runs
  one kNN search per row; a document's similarity is the mean over rows of its best passage, computed for every
  candidate found by any row. The best passage (semantic_passage) is computed the same way. A hit's
  dense_similarity is known when it is a dense candidate (the embedded backend knows it for every hit; pages show
  it only next to a semantic passage).
- Result set and facets. For a text query the result set is the keyword top KEYWORD_DEPTH plus the dense top
  DENSE_DEPTH (the contract's), which Elasticsearch aggregations cannot express (they would count every keyword
  match, and cannot add a dense top list recomputed in Python). Since both lists are fetched anyway for the
  fusion, facets are counted in Python on them; a selected facet is counted on its own pair of retrievals run
  without its selection. Fusion, strong matches first, facet lists, paging and hits are indexer.pipeline's, the
  embedded backend's too; this backend supplies the retrievals and what its hits carry. For an empty query the
  result set is every document passing the filters, of any size, so facets are disjunctive aggregations (one
  filter aggregation per facet, the hits filtered by post_filter).
- One round trip. Every retrieval of a search (keyword, kNN per row, per selected facet, the suggestion's look-ups)
  goes in one _msearch. Only a long need (more than MAX_QUERY_TERMS distinct terms) costs one request before it,
  for the document frequencies that pick its rarest terms.
- Suggestions use term suggesters (on the indexed words, accent-folded and as written) and filter aggregations
  that tell which query words or stems are indexed, then the shared rule of indexer.suggest.
- Lifecycle. A rebuild takes a lock (a document created with op_type create; a lock older than LOCK_STALE_AFTER
  was left by a dead process and is taken over), creates a new index without replicas or refresh, streams the
  documents with retries on 429 (a document that still fails fails the rebuild, it is never dropped), restores
  the settings, refreshes, checks the document count, marks the index complete in its _meta, swaps the alias in
  one atomic _aliases call, and deletes what is older than the `keep` previous indices. Any failure before the
  swap deletes the new index; the live one keeps serving. `_meta` records the model, dimension, mapping version,
  document version and watermark; a rebuild always makes a new index, and apply_changes refuses a model,
  dimension or mapping version other than the live index's (ValueError, like the embedded backend).
- apply_changes writes to the index behind the alias (resolved under the lock, so no rebuild can swap it
  meanwhile) with refresh=wait_for, then updates its _meta. Elasticsearch has no multi-document transaction: if
  some documents fail, the error names them and the watermark is not advanced, so the next update redoes them.
- Failures. Connection refused, timeouts (retried by the transport), 429 and 502-504 (retried here with
  exponential backoff, which the transport does not do) become SearchUnavailable; 401/403 (credentials,
  privileges, licence) become ElasticsearchRefused, a SearchUnavailable that says what an operator must fix; a
  missing alias is IndexNotReady.
"""

from __future__ import annotations

import base64
import contextlib
import html
import logging
import os
import re
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from elastic_transport import TransportError
from elasticsearch import ApiError, BadRequestError, ConflictError, Elasticsearch, NotFoundError
from elasticsearch.helpers import streaming_bulk

from indexer import dense, pipeline, strength, suggest
from vivier.analysis import (ANALYZER_NAME, ELISIONS, EXTRA_STOP_WORDS, MAX_TOKEN_LENGTH, analyze, bm25_idf,
                              query_terms)
from indexer.backends.base import (DENSE_DEPTH, FACET_FIELDS, KEYWORD_DEPTH, MAX_QUERY_TERMS, GeoFilter, Hit,
                                   IndexNotReady, NothingToRollBack, facet_values, RebuildInProgress, SearchRequest,
                                   SearchResponse, SearchUnavailable, check_vectors)
from indexer.documents import SearchDocument
from indexer.keyword import FIELD_WEIGHTS, FUZZY_WEIGHT, KEYWORD_TIE_BREAKER, SNIPPET_CHARS, fuzzy_words
from indexer.pipeline import facet_list
from vivier.config import ES_VECTOR_INDEX_TYPES, Settings
from vivier.geo import haversine_km

logger = logging.getLogger(__name__)

# Version of the mapping and of the document layout below: bump it when either changes. Index names carry it, and
# an index of another version is not ready for this code (status() says so; `vivier index build` makes a new one).
MAPPING_VERSION = 2  # 2: the interoperability facet
# One primary shard: BM25 statistics and kNN neighbours are then computed over the whole corpus, so rankings are
# exact and reproducible; 100k supplier profiles are far below the size where a shard needs splitting.
NUMBER_OF_SHARDS = 1
# While loading: no replica to copy to and no refresh to run (Elastic's advice for bulk loads).
LOADING_SETTINGS: dict[str, Any] = {"number_of_replicas": 0, "refresh_interval": "-1"}
# After loading: the overrides are removed (null), so the cluster's defaults apply.
LOADED_SETTINGS: dict[str, Any] = {"number_of_replicas": None, "refresh_interval": None}

ALL_TEXT = "all_text"  # catch-all of the weighted fields, analysed: stems' document frequencies
VOCABULARY = "vocabulary"  # indexed words as written, for the suggester's display forms
# Indexed words without accents: the keys suggestions are looked up by, and the words typo tolerance compares
# query words with (the embedded backend's FUZZY_FIELD).
FOLDED_VOCABULARY = "vocabulary.folded"
VECTOR_FIELD = "chunks.vector"
# Text fields copied into the catch-all and vocabulary fields: the keyword fields (indexer.keyword).
TEXT_FIELDS = tuple(FIELD_WEIGHTS)
# _source parts a search response never needs: the nested vectors (not stored anyway) and the float32 copy.
HEAVY_SOURCE = ["vectors", "chunks"]
# Name of a query term's clause in matched_queries: "term:" + the analysed term.
TERM_PREFIX = "term:"

ANALYSIS: dict[str, Any] = {
    "tokenizer": {
        # tantivy's simple tokenizer (vivier.analysis): runs of letters and digits.
        "vivier_words": {"type": "pattern", "pattern": "[^\\p{L}\\p{N}]+"},
        # indexer.suggest's words: runs of letters.
        "vivier_letters": {"type": "pattern", "pattern": "[^\\p{L}]+"},
    },
    "filter": {
        # tantivy keeps tokens shorter than MAX_TOKEN_LENGTH.
        "vivier_long": {"type": "length", "max": MAX_TOKEN_LENGTH - 1},
        "vivier_extra_stop": {"type": "stop", "stopwords": list(ELISIONS + EXTRA_STOP_WORDS)},
        "vivier_french_stop": {"type": "stop", "stopwords": "_french_"},
        # "french" is Snowball's French stemmer, the one vivier.analysis uses (see the module docstring).
        "vivier_french_stemmer": {"type": "stemmer", "language": "french"},
        "vivier_short": {"type": "length", "min": suggest.MIN_WORD_LENGTH},
    },
    "analyzer": {
        ANALYZER_NAME: {"type": "custom", "tokenizer": "vivier_words",
                        "filter": ["vivier_long", "lowercase", "vivier_extra_stop", "vivier_french_stop",
                                   "vivier_french_stemmer", "asciifolding"]},
        "vivier_written_words": {"type": "custom", "tokenizer": "vivier_letters",
                                 "filter": ["lowercase", "vivier_short"]},
        "vivier_folded_words": {"type": "custom", "tokenizer": "vivier_letters",
                                "filter": ["lowercase", "asciifolding", "vivier_short"]},
    },
}

# Quantised vector index types -> (neighbours asked per neighbour kept, similarity margin under the threshold).
# Quantisation moves a cosine by about a hundredth with int8, a few with int4 and up to a tenth with bbq (estimates
# from the quantisation steps, not measured here); the exact recomputation then drops what is below the threshold.
# Elastic's own rescoring oversamples bbq threefold.
KNN_OVERSAMPLING: dict[str, tuple[int, float]] = {"int8": (2, 0.02), "int4": (2, 0.05), "bbq": (3, 0.15)}
# HNSW candidates examined per neighbour asked (Elasticsearch's default is 1.5): more keeps recall near the
# threshold, where quantised scores are least reliable. Capped by Elasticsearch at 10,000.
NUM_CANDIDATES_PER_NEIGHBOUR = 3
MAX_NUM_CANDIDATES = 10_000
# Values per facet aggregation: the taxonomy's themes, ~100 departments, 18 regions, a few labels and sizes.
FACET_VALUES_LIMIT = 500
# Elasticsearch's default index.max_result_window: an empty query pages no deeper.
MAX_RESULT_WINDOW = 10_000
# Term suggester: candidates per word, at most the long-word edit distance of indexer.suggest, no fixed prefix
# (a typo in the first letter is corrected too); the candidates are then chosen by indexer.suggest's rule.
TERM_SUGGESTER: dict[str, Any] = {"suggest_mode": "missing", "max_edits": suggest.MAX_EDITS_LONG, "prefix_length": 0,
                                  "min_word_length": suggest.MIN_WORD_LENGTH, "size": suggest.CANDIDATES,
                                  "sort": "score", "string_distance": "damerau_levenshtein"}

# Requests answered with these statuses are retried with exponential backoff: the cluster is overloaded (429) or a
# proxy in front of it is (502-504). The transport's own retries do not wait, which would only add load.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
REQUEST_ATTEMPTS = 3
DEFAULT_BACKOFF_SECONDS = 0.5
# Immediate retries of the transport on connection errors and timeouts (another node may answer, a blip may pass).
TRANSPORT_RETRIES = 2
# Bulk loading: 200 documents of a few passages are about 5 MB, well under http.max_content_length (100 MB), and
# a rejected chunk costs little to resend; a document rejected with 429 is resent up to BULK_RETRIES times.
BULK_CHUNK_DOCUMENTS = 200
BULK_CHUNK_BYTES = 10 * 1024 * 1024
BULK_RETRIES = 5
BULK_MAX_BACKOFF_SECONDS = 60.0
# Failure reasons quoted in a failed load's error message.
QUOTED_FAILURES = 3
# A lock older than this was left by a process that died: loading 100k profiles takes minutes, not hours.
LOCK_STALE_AFTER = timedelta(hours=2)
LOCK_ID = "rebuild"
# Meta keys an index computes itself (not carried over from the request's meta by an update).
DERIVED_META = ("mapping_version", "dimension", "documents", "passages", "vector_index", "built_at", "complete")
# The main scope's label in a search plan (the other scopes are facet names: a facet counted without its selection).
RESULTS = "results"


class ElasticsearchRefused(SearchUnavailable):
    """Elasticsearch refused the request (401/403): credentials, privileges or licence. Retrying does not help: an
    operator has to fix the configuration. Search pages still answer 503."""


class IndexLoadError(RuntimeError):
    """Documents could not be loaded (rejected after retries, or a document count that does not match)."""


# -- documents ----------------------------------------------------------------------------------------------------
def encode_vectors(vectors: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(vectors, dtype="<f4").tobytes()).decode("ascii")


def decode_vectors(encoded: str, dimension: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(encoded), dtype="<f4").reshape(-1, dimension)


def document_source(document: SearchDocument, vectors: np.ndarray) -> dict[str, Any]:
    """The indexed form of a document: its own fields (read back by `document_from_source`), the fields searches
    use, its passage vectors nested for kNN and once more as exact float32."""
    source = document.to_dict()
    source.update({
        "categories_text": document.category_text,
        "name_sort": document.name.casefold(),  # the embedded backend's order for empty queries
        "facets": {facet: list(facet_values(document, facet)) for facet in FACET_FIELDS},
        "chunks": [{"vector": [float(x) for x in row]} for row in np.asarray(vectors, dtype=np.float32)],
        "vectors": encode_vectors(vectors),
    })
    if document.latitude is not None and document.longitude is not None:
        source["location"] = {"lat": document.latitude, "lon": document.longitude}
    return source


_DOCUMENT_FIELDS = tuple(SearchDocument.__dataclass_fields__)


def document_from_source(source: Mapping[str, Any]) -> SearchDocument:
    return SearchDocument.from_dict({name: source.get(name) for name in _DOCUMENT_FIELDS})


def source_vectors(source: Mapping[str, Any], dimension: int) -> np.ndarray:
    return decode_vectors(source["vectors"], dimension)


# -- index definition ---------------------------------------------------------------------------------------------
def index_settings() -> dict[str, Any]:
    """Settings of a new index, while it is being loaded."""
    return {"number_of_shards": NUMBER_OF_SHARDS, **LOADING_SETTINGS, "analysis": ANALYSIS}


def mapping(dimension: int, vector_index_type: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Fields not listed (slug, categories, commune, passages...) are kept in _source only (dynamic: false)."""
    text = {"type": "text", "analyzer": ANALYZER_NAME, "index_options": "freqs",
            "copy_to": [ALL_TEXT, VOCABULARY]}
    lookup = {"type": "text", "index_options": "docs", "norms": False}
    return {
        "dynamic": False,
        "_meta": dict(meta),
        "_source": {"excludes": ["chunks"]},
        "properties": {
            "id": {"type": "keyword"},
            **{name: dict(text) for name in TEXT_FIELDS},
            ALL_TEXT: {**lookup, "analyzer": ANALYZER_NAME},
            VOCABULARY: {**lookup, "analyzer": "vivier_written_words",
                         "fields": {"folded": {**lookup, "analyzer": "vivier_folded_words"}}},
            "facets": {"properties": {facet: {"type": "keyword"} for facet in FACET_FIELDS}},
            "location": {"type": "geo_point"},
            "name_sort": {"type": "keyword"},
            "chunks": {"type": "nested", "properties": {"vector": {
                "type": "dense_vector", "dims": dimension, "index": True, "similarity": "cosine",
                "index_options": {"type": vector_index_type}}}},
        },
    }


def bulk_actions(index: str, documents: Sequence[SearchDocument], passage_vectors: np.ndarray,
                 deleted_ids: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """streaming_bulk actions: index every document (its vectors are the next rows), then delete `deleted_ids`."""
    row = 0
    for document in documents:
        count = len(document.passages)
        yield {"_op_type": "index", "_index": index, "_id": document.id,
               "_source": document_source(document, passage_vectors[row:row + count])}
        row += count
    for doc_id in deleted_ids:
        yield {"_op_type": "delete", "_index": index, "_id": doc_id}


def alias_actions(alias: str, new_index: str, old_indices: Sequence[str]) -> list[dict[str, Any]]:
    """One _aliases call: searches see the old index or the new one, never none or both."""
    return ([{"remove": {"index": old, "alias": alias}} for old in old_indices]
            + [{"add": {"index": new_index, "alias": alias}}])


# -- search bodies ------------------------------------------------------------------------------------------------
def filter_clauses(filters: Mapping[str, Sequence[str]], near: GeoFilter | None,
                   only_ids: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Values within a facet are OR-ed (terms), facets AND-ed (a filter each), the distance filter and the id
    restriction besides."""
    clauses: list[dict[str, Any]] = [{"terms": {f"facets.{facet}": list(values)}}
                                     for facet, values in filters.items() if values]
    if only_ids is not None:
        clauses.append({"ids": {"values": sorted(only_ids)}})
    if near is not None:
        clauses.append({"geo_distance": {"distance": f"{near.radius_km}km",
                                         "location": {"lat": near.latitude, "lon": near.longitude}}})
    return clauses


def keyword_query(terms: Sequence[str], clauses: Sequence[dict[str, Any]],
                  fuzzy: Sequence[str] = ()) -> dict[str, Any]:
    """The embedded backend's query: per term, its best field (dis_max with tie breaker), plus a small constant for
    each typed word found within edit distance 1 (`fuzzy`, indexer.keyword.fuzzy_words). Field clauses are named so that
    hits say which fields matched, and each term's clause so that they say which terms (a document's coverage,
    indexer.strength)."""
    should: list[dict[str, Any]] = []
    for term in terms:
        should.append({"dis_max": {"tie_breaker": KEYWORD_TIE_BREAKER, "_name": f"{TERM_PREFIX}{term}", "queries": [
            {"term": {name: {"value": term, "boost": weight, "_name": name}}}
            for name, weight in FIELD_WEIGHTS.items()]}})
    for word in fuzzy:
        # constant_score: a near miss adds FUZZY_WEIGHT whatever the word's rarity, as tantivy's fuzzy query.
        should.append({"fuzzy": {FOLDED_VOCABULARY: {"value": word, "fuzziness": 1, "transpositions": True,
                                                     "boost": FUZZY_WEIGHT, "rewrite": "constant_score"}}})
    query: dict[str, Any] = {"should": should, "minimum_should_match": 1}
    if clauses:
        query["filter"] = list(clauses)
    return {"bool": query}


def highlight_section() -> dict[str, Any]:
    return {"encoder": "html", "pre_tags": ["<b>"], "post_tags": ["</b>"],
            "fields": {name: {"fragment_size": chars, "number_of_fragments": 1}
                       for name, chars in SNIPPET_CHARS.items()}}


def keyword_body(terms: Sequence[str], clauses: Sequence[dict[str, Any]], facet: str | None = None,
                 fuzzy: Sequence[str] = ()) -> dict[str, Any]:
    """The keyword top KEYWORD_DEPTH, ties by id. For the results: whole documents and highlights; for a facet
    counted without its selection (`facet`): that facet's values only."""
    body: dict[str, Any] = {"query": keyword_query(terms, clauses, fuzzy), "size": KEYWORD_DEPTH,
                            "sort": [{"_score": "desc"}, {"id": "asc"}], "track_total_hits": False}
    if facet is None:
        body["_source"] = {"excludes": HEAVY_SOURCE}
        body["highlight"] = highlight_section()
    else:
        body["_source"] = {"includes": [f"facets.{facet}"]}
    return body


def knn_budget(vector_index_type: str, depth: int) -> tuple[int, float]:
    """(neighbours to ask, similarity margin) so that quantised search returns the exact top `depth`."""
    oversample, margin = next((v for k, v in KNN_OVERSAMPLING.items() if vector_index_type.startswith(k)), (1, 0.0))
    return depth * oversample, margin


def knn_section(vector: np.ndarray, k: int, clauses: Sequence[dict[str, Any]],
                similarity: float | None) -> dict[str, Any]:
    section: dict[str, Any] = {"field": VECTOR_FIELD, "query_vector": [float(x) for x in vector], "k": k,
                               "num_candidates": min(MAX_NUM_CANDIDATES, k * NUM_CANDIDATES_PER_NEIGHBOUR)}
    if similarity is not None:
        section["similarity"] = similarity  # the raw cosine, not the (1 + cos) / 2 score
    if clauses:
        section["filter"] = list(clauses)
    return section


def knn_body(vector: np.ndarray, clauses: Sequence[dict[str, Any]], vector_index_type: str,
             facet: str | None = None, floor: float = -1.0) -> dict[str, Any]:
    """Dense candidates for one query row above the model's `floor`, with their exact vectors (and whole documents
    for the results). No floor below -1 (every cosine passes)."""
    k, margin = knn_budget(vector_index_type, DENSE_DEPTH)
    source = {"excludes": ["chunks"]} if facet is None else {"includes": ["vectors", f"facets.{facet}"]}
    similarity = round(floor - margin, 6) if floor > -1.0 else None
    return {"knn": knn_section(vector, k, clauses, similarity), "size": k,
            "track_total_hits": False, "_source": source}


def browse_body(filters: Mapping[str, Sequence[str]], near: GeoFilter | None, start: int,
                size: int, only_ids: frozenset[str] | None = None) -> dict[str, Any]:
    """An empty query: every document passing the filters, by name then id, with disjunctive facet aggregations
    (the hits are filtered by post_filter, each facet's counts by the other facets' filters)."""
    geo = filter_clauses({}, near, only_ids)
    body: dict[str, Any] = {
        "query": {"bool": {"filter": geo}} if geo else {"match_all": {}},
        "sort": [{"name_sort": "asc"}, {"id": "asc"}],
        "from": min(start, MAX_RESULT_WINDOW), "size": max(0, min(size, MAX_RESULT_WINDOW - start)),
        "track_total_hits": True,
        "_source": {"excludes": HEAVY_SOURCE},
        "aggs": {},
    }
    selected = filter_clauses(filters, None)
    if selected:
        body["post_filter"] = {"bool": {"filter": selected}}
    for facet in FACET_FIELDS:
        others = filter_clauses({f: v for f, v in filters.items() if f != facet}, None)
        body["aggs"][facet] = {
            "filter": {"bool": {"filter": others}} if others else {"match_all": {}},
            "aggs": {"values": {"terms": {"field": f"facets.{facet}", "size": FACET_VALUES_LIMIT}}}}
    return body


def suggestion_words(text: str) -> list[str]:
    """Query words a suggestion may correct: distinct, long enough, not stop words; none for a long need."""
    if len(text.split()) > suggest.MAX_QUERY_WORDS:
        return []
    words: dict[str, None] = {}
    for word in re.findall(r"[^\W\d_]+", text):
        if len(suggest.fold(word)) >= suggest.MIN_WORD_LENGTH and analyze(word):
            words.setdefault(word, None)
    return list(words)


def suggestion_body(words: Sequence[str]) -> dict[str, Any]:
    """For each word: is its accent-free form indexed (key{i}), are its stems indexed (stem{i}), and the closest
    indexed words, accent-free (folded{i}) and as written (written{i})."""
    checks: dict[str, Any] = {}
    suggesters: dict[str, Any] = {}
    for i, word in enumerate(words):
        checks[f"key{i}"] = {"term": {FOLDED_VOCABULARY: suggest.fold(word)}}
        checks[f"stem{i}"] = {"terms": {ALL_TEXT: analyze(word)}}
        suggesters[f"folded{i}"] = {"text": word, "term": {**TERM_SUGGESTER, "field": FOLDED_VOCABULARY}}
        suggesters[f"written{i}"] = {"text": word, "term": {**TERM_SUGGESTER, "field": VOCABULARY}}
    return {"size": 0, "track_total_hits": False, "query": {"match_all": {}},
            "aggs": {"known": {"filters": {"filters": checks}}}, "suggest": suggesters}


def term_frequency_body(terms: Sequence[str]) -> dict[str, Any]:
    """Document frequency of each analysed term (a filter aggregation counts a term query without visiting
    documents), and the number of documents."""
    return {"size": 0, "track_total_hits": True, "query": {"match_all": {}},
            "aggs": {"frequencies": {"filters": {"filters": {t: {"term": {ALL_TEXT: t}} for t in terms}}}}}


def similar_body(doc_id: str, vector: np.ndarray, limit: int, vector_index_type: str) -> dict[str, Any]:
    k, _ = knn_budget(vector_index_type, limit)
    return {"knn": knn_section(vector, k, [{"bool": {"must_not": [{"ids": {"values": [doc_id]}}]}}], None),
            "size": k, "track_total_hits": False, "_source": {"excludes": ["chunks"]}}


@dataclass(frozen=True)
class PlannedSearch:
    scope: str  # RESULTS, a facet counted without its selection, or "suggestion"
    kind: str  # "keyword", "dense" or "suggestion"
    body: dict[str, Any]


def search_plan(request: SearchRequest, terms: Sequence[str], vector_index_type: str,
                with_frequencies: bool = False) -> list[PlannedSearch]:
    """Every search a text query needs, sent together in one _msearch; `with_frequencies` adds the terms'
    document frequencies (the weights of a document's coverage, indexer.strength)."""
    filters = pipeline.active_filters(request.filters)
    use_keyword = request.mode in ("hybrid", "keyword") and bool(terms)
    use_dense = request.mode in ("hybrid", "dense") and request.query_vector is not None
    rows = np.atleast_2d(request.query_vector) if use_dense and request.query_vector is not None else np.zeros((0, 0))
    plan: list[PlannedSearch] = []
    scopes: dict[str, Mapping[str, Sequence[str]]] = {RESULTS: filters}
    scopes.update({facet: {f: v for f, v in filters.items() if f != facet} for facet in filters})
    fuzzy = fuzzy_words(request.text) if use_keyword else []
    for scope, active in scopes.items():
        clauses = filter_clauses(active, request.near, request.only_ids)
        facet = None if scope == RESULTS else scope
        if use_keyword:
            plan.append(PlannedSearch(scope, "keyword", keyword_body(terms, clauses, facet, fuzzy)))
        for row in rows:
            plan.append(PlannedSearch(scope, "dense", knn_body(row, clauses, vector_index_type, facet,
                                                               request.thresholds.dense_floor)))
    if with_frequencies and use_keyword:
        plan.append(PlannedSearch("frequencies", "frequencies", term_frequency_body(terms)))
    words = suggestion_words(request.text)
    if words:
        plan.append(PlannedSearch("suggestion", "suggestion", suggestion_body(words)))
    return plan


def frequencies_from_response(terms: Sequence[str], response: Mapping[str, Any]) -> tuple[int, dict[str, int]]:
    """(documents in the index, each term's document frequency) from a term_frequency_body search."""
    buckets = response.get("aggregations", {}).get("frequencies", {}).get("buckets", {})
    total = response.get("hits", {}).get("total", {})
    return (int(total.get("value", 0)) if isinstance(total, Mapping) else int(total or 0),
            {t: int(buckets.get(t, {}).get("doc_count", 0)) for t in terms})


def coverage_of(matched: Iterable[str], weights: Mapping[str, float]) -> float:
    """The share of the query terms' idf mass (`weights`) whose clauses a hit matched (its matched_queries)."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    found = {name.removeprefix(TERM_PREFIX) for name in matched if name.startswith(TERM_PREFIX)}
    return min(1.0, sum(w for t, w in weights.items() if t in found) / total)


def msearch_lines(bodies: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """_msearch lines: an empty header (the index is in the URL), then the body, per search."""
    lines: list[dict[str, Any]] = []
    for body in bodies:
        lines.extend(({}, body))
    return lines


# -- reading responses --------------------------------------------------------------------------------------------
def document_similarities(vectors: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, float]:
    """Per document: mean over query rows of its best passage's cosine (vectors are normalised), as the embedded
    backend computes it (float32)."""
    query = np.atleast_2d(rows).astype(np.float32)
    return {doc_id: float(dense.document_similarities(matrix @ query.T, np.zeros(1, np.int64),
                                                      np.array([len(matrix)]))[0])
            for doc_id, matrix in vectors.items()}


def dense_ranking(similarities: Mapping[str, float], floor: float = -1.0) -> list[str]:
    """The dense top DENSE_DEPTH at or above the model's `floor`, ties by id."""
    eligible = [(s, d) for d, s in similarities.items() if s >= floor]
    return [d for _, d in sorted(eligible, key=lambda item: (-item[0], item[1]))[:DENSE_DEPTH]]


def best_passage(document: SearchDocument, matrix: np.ndarray, rows: np.ndarray) -> str:
    scores = matrix @ np.atleast_2d(rows).astype(np.float32).T
    return document.passages[int(np.argmax(scores.mean(axis=1)))]


def clean_highlight(fragment: str) -> str:
    """Elasticsearch's HTML-encoded fragment re-escaped the way the embedded backend's snippets are (& < > " '), with
    only our <b> tags left as markup."""
    parts = re.split(r"(</?b>)", fragment)
    return "".join(part if part in ("<b>", "</b>") else html.escape(html.unescape(part)) for part in parts)


def vocabulary_from_response(words: Sequence[str],
                             response: Mapping[str, Any]) -> tuple[suggest.Vocabulary, Callable[[str], bool]]:
    """What the suggestion search found, in indexer.suggest's terms: the vocabulary around the query's words (each
    known word's key with its most written form, each candidate correction as it is most often written) and which
    words the index finds by their stems."""
    buckets = response.get("aggregations", {}).get("known", {}).get("buckets", {})
    suggestions = response.get("suggest", {})

    def count(name: str) -> int:
        return int(buckets.get(name, {}).get("doc_count", 0))

    def options(name: str) -> list[dict[str, Any]]:
        return [option for entry in suggestions.get(name, []) for option in entry.get("options", [])]

    known: dict[str, tuple[str, int]] = {}
    stems_found: set[str] = set()
    for i, word in enumerate(words):
        key = suggest.fold(word)
        written = sorted(options(f"written{i}"), key=lambda o: (-int(o.get("freq", 0)), o["text"]))
        if count(f"key{i}"):
            # Indexed as typed ("missing" suggesters then propose nothing), or under another written form: the
            # accented one ("données" for "donnees").
            display = next((o["text"] for o in written if suggest.fold(o["text"]) == key), word.lower())
            known[key] = (display, count(f"key{i}"))
        if count(f"stem{i}"):
            stems_found.add(word)
        for option in options(f"folded{i}"):
            candidate = option["text"]
            if len(candidate) < suggest.MIN_WORD_LENGTH:
                continue
            display = next((o["text"] for o in written if suggest.fold(o["text"]) == candidate), candidate)
            known.setdefault(candidate, (display, int(option.get("freq", 0))))
    return suggest.Vocabulary(known), lambda word: word in stems_found or not analyze(word)


def suggestion_from_response(text: str, words: Sequence[str], response: Mapping[str, Any]) -> str | None:
    """indexer.suggest's rule on what the suggestion search found: a word is left alone when its accent-free form
    or one of its stems is indexed; otherwise it is replaced by the closest candidate (edit distance, then
    document frequency), shown as it is most often written."""
    return suggest.suggest_query(text, *vocabulary_from_response(words, response))


@dataclass
class _Retrieved:
    """What one scope's retrievals returned."""
    keyword: list[str] = field(default_factory=list)  # ids by keyword rank
    dense: list[str] = field(default_factory=list)  # ids by exact dense rank
    similarities: dict[str, float] = field(default_factory=dict)  # every dense candidate's exact similarity
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)  # keyword hits' highlight and matched_queries

    def members(self) -> set[str]:
        return set(self.keyword) | set(self.dense)

    def facet_counts(self, facet: str, only: set[str] | None = None) -> dict[str, int]:
        """Documents per value of `facet` among the members (and in `only`, when given)."""
        counts: dict[str, int] = {}
        members = self.members()
        for doc_id in members if only is None else members & only:
            for value in self.sources[doc_id].get("facets", {}).get(facet, []):
                counts[value] = counts.get(value, 0) + 1
        return counts


def _error_of(body: Any) -> Any:
    """The `error` part of an error answer (an object, or a plain string for some APIs)."""
    return body.get("error") if isinstance(body, Mapping) else body


def _error_reason(error: Mapping[str, Any] | str | None) -> str:
    if isinstance(error, Mapping):
        causes = error.get("root_cause") or [error]
        return f"{causes[0].get('type', '')}: {causes[0].get('reason', '')}"
    return str(error or "")


# -- the backend --------------------------------------------------------------------------------------------------
class ElasticsearchBackend:
    def __init__(self, url: str | None = None, *, client: Elasticsearch | None = None, prefix: str = "vivier",
                 vector_index_type: str = "int8_hnsw", keep: int = 2, timeout: float = 10.0,
                 backoff: float = DEFAULT_BACKOFF_SECONDS, clock: Callable[[], datetime] | None = None):
        if vector_index_type not in ES_VECTOR_INDEX_TYPES:
            raise ValueError(f"vector index type must be one of {', '.join(ES_VECTOR_INDEX_TYPES)}, "
                             f"got {vector_index_type!r}")
        if client is None and not url:
            raise ValueError("an Elasticsearch URL or client is needed")
        # No connection is made here: the client connects on its first request.
        self.client = client or Elasticsearch(url, request_timeout=timeout, max_retries=TRANSPORT_RETRIES,
                                              retry_on_timeout=True, retry_on_status=())
        self.url = _without_credentials(url) if url else "the configured Elasticsearch"
        self.prefix = prefix
        self.alias = f"{prefix}-profiles"
        self.lock_index = f"{prefix}-rebuild-lock"
        self.vector_index_type = vector_index_type
        self.keep = keep
        self.backoff = backoff
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._index_name = re.compile(rf"^{re.escape(self.alias)}-v(\d+)-(\d+)$")

    @classmethod
    def from_settings(cls, settings: Settings) -> "ElasticsearchBackend":
        return cls(settings.elasticsearch_url, prefix=settings.elasticsearch_prefix,
                   vector_index_type=settings.elasticsearch_vector_index, keep=settings.elasticsearch_keep,
                   timeout=settings.elasticsearch_timeout)

    # -- requests -------------------------------------------------------------------------------------------------
    def _request(self, operation: Callable[..., Any], expected: tuple[type[ApiError], ...] = (),
                 **kwargs: Any) -> Any:
        """One client call, retried with exponential backoff while the cluster answers RETRY_STATUSES; failures
        translated into the contract's exceptions, except the `expected` ones, raised as they are."""
        for attempt in range(REQUEST_ATTEMPTS):
            try:
                return operation(**kwargs)
            except expected:
                raise
            except ApiError as error:
                if error.status_code in RETRY_STATUSES and attempt + 1 < REQUEST_ATTEMPTS:
                    time.sleep(self.backoff * 2 ** attempt)
                    continue
                raise self._translate(error.status_code, error.body) from error
            except TransportError as error:
                raise SearchUnavailable(f"Elasticsearch at {self.url} did not answer: {error}") from error
        raise AssertionError("unreachable")  # pragma: no cover

    def _translate(self, status: int, body: Any) -> Exception:
        """The contract's exception for an error answer; other errors (a bad request is a bug) as they are."""
        reason = _error_reason(_error_of(body))
        if status == 404 and "index_not_found" in reason:
            return IndexNotReady(f"no search index behind {self.alias}: run `vivier index build` ({reason})")
        if status in (401, 403):
            hint = ("the feature needs a licence this cluster does not have (Vivier only uses free features: check "
                    "the cluster's licence state)" if "licen" in reason.lower()
                    else "check the credentials in ELASTICSEARCH_URL and the user's index privileges on "
                         f"{self.prefix}-*")
            return ElasticsearchRefused(f"Elasticsearch refused the request ({status}, {reason}): {hint}")
        if status in RETRY_STATUSES or status >= 500:
            return SearchUnavailable(f"Elasticsearch at {self.url} is unavailable ({status}, {reason})")
        return RuntimeError(f"Elasticsearch rejected a request ({status}, {reason})")

    def _msearch(self, bodies: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run searches in one round trip; an overloaded search (429 in one response) retries them all."""
        lines = msearch_lines(bodies)
        for attempt in range(REQUEST_ATTEMPTS):
            responses = self._request(self.client.msearch, index=self.alias, searches=lines)["responses"]
            failed = [r for r in responses if "error" in r]
            if not failed:
                self._check_version(responses)
                return responses
            status = int(failed[0].get("status", 500))
            if status in RETRY_STATUSES and attempt + 1 < REQUEST_ATTEMPTS:
                time.sleep(self.backoff * 2 ** attempt)
                continue
            raise self._translate(status, failed[0])
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_version(self, responses: Sequence[Mapping[str, Any]]) -> None:
        for response in responses:
            for hit in response.get("hits", {}).get("hits", [])[:1]:
                match = self._index_name.match(hit.get("_index", ""))
                if match and int(match.group(1)) != MAPPING_VERSION:
                    raise IndexNotReady(f"{hit['_index']} has mapping version {match.group(1)}, this version reads "
                                        f"{MAPPING_VERSION}: run `vivier index build`")

    # -- building -------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Held while an index is built, updated or rolled back: a document only one process can create."""
        try:
            self._request(self.client.indices.create, expected=(BadRequestError,), index=self.lock_index,
                          settings={"number_of_shards": 1, "auto_expand_replicas": "0-1"},
                          mappings={"properties": {"owner": {"type": "keyword"}, "acquired_at": {"type": "date"}}})
        except BadRequestError as error:
            if "resource_already_exists" not in _error_reason(_error_of(error.body)):
                raise self._translate(error.status_code, error.body) from error
        held = self._acquire_lock()
        try:
            yield
        finally:
            try:
                self.client.delete(index=self.lock_index, id=LOCK_ID, if_seq_no=held["_seq_no"],
                                   if_primary_term=held["_primary_term"])
            except (ApiError, TransportError) as error:  # taken over as stale, or the cluster went away
                logger.warning("could not release the rebuild lock %s/%s: %s", self.lock_index, LOCK_ID, error)

    def _acquire_lock(self, take_over: bool = True) -> Mapping[str, Any]:
        now = self.clock()
        owner = f"{socket.gethostname()}:{os.getpid()}"
        try:
            return self._request(self.client.create, expected=(ConflictError,), index=self.lock_index, id=LOCK_ID,
                                 document={"owner": owner, "acquired_at": now.isoformat()})
        except ConflictError:
            pass
        held = self._request(self.client.get, index=self.lock_index, id=LOCK_ID)
        acquired = datetime.fromisoformat(held["_source"]["acquired_at"])
        if not take_over or now - acquired < LOCK_STALE_AFTER:
            raise RebuildInProgress(f"{held['_source'].get('owner')} has been rebuilding {self.alias} since "
                                    f"{acquired.isoformat()}")
        logger.warning("taking over the rebuild lock of %s, held since %s", held["_source"].get("owner"), acquired)
        try:
            self._request(self.client.delete, expected=(ConflictError, NotFoundError), index=self.lock_index,
                          id=LOCK_ID, if_seq_no=held["_seq_no"], if_primary_term=held["_primary_term"])
        except (ConflictError, NotFoundError):
            raise RebuildInProgress(f"another process took over the stale lock of {self.alias}") from None
        return self._acquire_lock(take_over=False)

    def _new_index_name(self) -> str:
        return f"{self.alias}-v{MAPPING_VERSION}-{self.clock().strftime('%Y%m%d%H%M%S%f')}"

    def rebuild(self, documents: Sequence[SearchDocument], passage_vectors: np.ndarray,
                meta: Mapping[str, Any]) -> str:
        """Load every document into a new index and make it live; returns its name."""
        check_vectors(documents, passage_vectors)
        dimension = int(passage_vectors.shape[1]) if passage_vectors.ndim == 2 else 0
        if dimension < 1:
            raise ValueError("passage vectors need a dimension")
        with self._exclusive():
            index = self._new_index_name()
            full_meta = {**meta, "mapping_version": MAPPING_VERSION, "dimension": dimension,
                         "documents": len(documents), "passages": int(passage_vectors.shape[0]),
                         "vector_index": self.vector_index_type, "built_at": self.clock().isoformat()}
            self._request(self.client.indices.create, index=index, settings=index_settings(),
                          mappings=mapping(dimension, self.vector_index_type, full_meta))
            try:
                self._load(index, bulk_actions(index, documents, passage_vectors), len(documents))
                self._request(self.client.indices.put_settings, index=index, settings={"index": LOADED_SETTINGS})
                self._request(self.client.indices.refresh, index=index)
                count = self._request(self.client.count, index=index)["count"]
                if count != len(documents):
                    raise IndexLoadError(f"{index} holds {count} documents after loading {len(documents)}")
                self._request(self.client.indices.put_mapping, index=index, meta={**full_meta, "complete": True})
                self._swap_alias(index)
            except BaseException:
                self._delete_unless_live(index)
                raise
            self._collect_garbage(index)
            return index

    def _load(self, index: str, actions: Iterable[dict[str, Any]], total: int, **bulk_options: Any) -> None:
        """Stream the actions; a document rejected with 429 is resent with backoff, one that still fails fails the
        load (deleting a document that is not there is not a failure)."""
        failures: list[dict[str, Any]] = []
        try:
            for ok, item in streaming_bulk(self.client, actions, chunk_size=BULK_CHUNK_DOCUMENTS,
                                           max_chunk_bytes=BULK_CHUNK_BYTES, raise_on_error=False,
                                           max_retries=BULK_RETRIES, initial_backoff=self.backoff,
                                           max_backoff=BULK_MAX_BACKOFF_SECONDS, yield_ok=False, **bulk_options):
                operation, info = next(iter(item.items()))
                if not ok and not (operation == "delete" and info.get("status") == 404):
                    failures.append(info)
        except ApiError as error:
            raise self._translate(error.status_code, error.body) from error
        except TransportError as error:
            raise SearchUnavailable(f"Elasticsearch at {self.url} did not answer: {error}") from error
        if failures:
            reasons = "; ".join(f"{f.get('_id')}: {_error_reason(f.get('error'))}"
                                for f in failures[:QUOTED_FAILURES])
            raise IndexLoadError(f"{len(failures)} of {total} documents could not be written to {index} "
                                 f"({reasons})")

    def _live_indices(self) -> list[str]:
        try:
            return sorted(self._request(self.client.indices.get_alias, expected=(NotFoundError,), name=self.alias))
        except NotFoundError:
            return []

    def _swap_alias(self, index: str) -> None:
        old = [name for name in self._live_indices() if name != index]
        self._request(self.client.indices.update_aliases, actions=alias_actions(self.alias, index, old))

    def _delete_unless_live(self, index: str) -> None:
        """Cleanup after a failed load: the partial index goes, unless the alias swap did happen after all (its
        answer lost in a timeout)."""
        try:
            if index in self._live_indices():
                return
            self._request(self.client.indices.delete, index=index)
        except RuntimeError as error:
            logger.error("could not delete the partial index %s: %s", index, error)

    def _versioned_indices(self) -> dict[str, dict[str, Any]]:
        """Every index of this alias (any mapping version) -> its _meta."""
        found = self._request(self.client.indices.get_mapping, index=f"{self.alias}-v*").body
        return {name: body.get("mappings", {}).get("_meta", {}) for name, body in found.items()
                if self._index_name.match(name)}

    def _timestamp(self, index: str) -> str:
        """The creation time in an index name, sortable as text; empty for an index named otherwise."""
        match = self._index_name.match(index)
        return match.group(2) if match else ""

    def _collect_garbage(self, live: str) -> None:
        """Keep the `keep` newest complete indices behind the live one; delete older ones and unfinished loads."""
        try:
            indices = self._versioned_indices()
            others = sorted((n for n in indices if n != live), key=self._timestamp, reverse=True)
            kept = [n for n in others if indices[n].get("complete")][: self.keep]
            doomed = [n for n in others if n not in kept]
            if doomed:
                self._request(self.client.indices.delete, index=",".join(doomed))
        except RuntimeError as error:
            logger.warning("old indices of %s were not deleted (next rebuild will): %s", self.alias, error)

    def rollback(self) -> str:
        """Point the alias back at the newest complete index older than the live one; returns its name."""
        with self._exclusive():
            live = self._live_indices()
            if not live:
                raise IndexNotReady(f"no search index behind {self.alias}: nothing to roll back")
            current = max(live, key=self._timestamp)
            indices = self._versioned_indices()
            previous = sorted((n for n, m in indices.items()
                               if n not in live and m.get("complete") and m.get("mapping_version") == MAPPING_VERSION
                               and self._timestamp(n) < self._timestamp(current)), key=self._timestamp)
            if not previous:
                raise NothingToRollBack(f"no complete index older than {current} is kept: nothing to roll back to")
            self._request(self.client.indices.update_aliases, actions=alias_actions(self.alias, previous[-1], live))
            return previous[-1]

    def _live(self) -> tuple[str, dict[str, Any]]:
        """The index behind the alias and its _meta."""
        found = self._request(self.client.indices.get, index=self.alias).body
        index = max(found, key=self._timestamp)
        return index, found[index].get("mappings", {}).get("_meta", {})

    def apply_changes(self, documents: Sequence[SearchDocument], passage_vectors: np.ndarray,
                      deleted_ids: Sequence[str], meta: Mapping[str, Any]) -> str:
        """Index `documents` and delete `deleted_ids` in the live index, then record `meta` in its _meta."""
        check_vectors(documents, passage_vectors)
        with self._exclusive():
            index, live_meta = self._live()
            if live_meta.get("mapping_version") != MAPPING_VERSION:
                raise ValueError(f"{index} has mapping version {live_meta.get('mapping_version')}, this version "
                                 f"writes {MAPPING_VERSION}: rebuild the index")
            if passage_vectors.size and passage_vectors.shape[1] != live_meta.get("dimension"):
                raise ValueError("the new vectors do not have the live index's dimension: rebuild the index")
            if meta.get("model") and live_meta.get("model") and meta["model"] != live_meta["model"]:
                raise ValueError(f"the live index was embedded with {live_meta['model']}, not {meta['model']}: "
                                 "rebuild the index")
            self._load(index, bulk_actions(index, documents, passage_vectors, deleted_ids),
                       len(documents) + len(deleted_ids), refresh="wait_for")
            count = self._request(self.client.count, index=index)["count"]
            kept = {k: v for k, v in live_meta.items() if k not in DERIVED_META}
            # The passage count is not known without a query after an update: it is left out.
            derived = {k: live_meta[k] for k in DERIVED_META if k in live_meta and k != "passages"}
            self._request(self.client.indices.put_mapping, index=index,
                          meta={**kept, **meta, **derived, "documents": count})
            return index

    # -- searching ------------------------------------------------------------------------------------------------
    def _keyword_terms(self, text: str) -> tuple[list[str], tuple[int, dict[str, int]] | None]:
        """Analysed query terms, and their document frequencies when they had to be read. A long need keeps the
        MAX_QUERY_TERMS rarest terms the index knows (one request for their document frequencies), as the
        embedded backend does."""
        terms = query_terms(text, 10_000)
        if len(terms) <= MAX_QUERY_TERMS:
            return terms, None
        total, frequencies = frequencies_from_response(terms, self._msearch([term_frequency_body(terms)])[0])
        known = [t for t in terms if frequencies[t] > 0]
        rarest = set(sorted(known, key=lambda t: (frequencies[t], t))[:MAX_QUERY_TERMS])
        kept = [t for t in known if t in rarest]
        return kept, (total, {t: frequencies[t] for t in kept})

    def rewrite_query(self, text: str) -> suggest.QueryRewrite:
        """Omitted accents restored and unknown words corrected (indexer.suggest.rewrite_query), from one
        suggestion search; a long need as it is, without a request."""
        words = suggestion_words(text)
        if not words:
            return suggest.QueryRewrite(text)
        response = self._msearch([suggestion_body(words)])[0]
        return suggest.rewrite_query(text, *vocabulary_from_response(words, response))

    def search(self, request: SearchRequest) -> SearchResponse:
        filters = pipeline.active_filters(request.filters)
        if not request.text.strip():
            return self._browse(request, filters)
        terms, frequencies = (self._keyword_terms(request.text) if request.mode in ("hybrid", "keyword")
                              else ([], None))
        hybrid = request.mode == "hybrid"
        plan = search_plan(request, terms, self.vector_index_type, with_frequencies=hybrid and frequencies is None)
        responses = self._msearch([p.body for p in plan]) if plan else []
        rows = np.atleast_2d(request.query_vector) if request.query_vector is not None else None
        scopes: dict[str, _Retrieved] = {RESULTS: _Retrieved()}
        scopes.update({facet: _Retrieved() for facet in filters})
        suggestion = None
        for planned, response in zip(plan, responses):
            hits = response.get("hits", {}).get("hits", [])
            if planned.kind == "suggestion":
                suggestion = suggestion_from_response(request.text, suggestion_words(request.text), response)
            elif planned.kind == "frequencies":
                frequencies = frequencies_from_response(terms, response)
            elif planned.kind == "keyword":
                self._read_keyword(scopes[planned.scope], hits)
            elif rows is not None:  # a dense search is planned only with a query vector
                self._read_dense(scopes[planned.scope], hits, rows.shape[1])
        for retrieved in scopes.values():
            if retrieved.vectors and rows is not None:
                retrieved.similarities = document_similarities(retrieved.vectors, rows)
                retrieved.dense = dense_ranking(retrieved.similarities, request.thresholds.dense_floor)
        strong = self._strong(request, scopes, terms, frequencies, rows) if hybrid else None
        return self._respond(request, scopes, rows, suggestion, strong)

    def _strong(self, request: SearchRequest, scopes: Mapping[str, _Retrieved], terms: Sequence[str],
                frequencies: tuple[int, dict[str, int]] | None, rows: np.ndarray | None) -> set[str]:
        """The strong matches among every scope's members (indexer.strength): coverage from the terms each keyword
        hit matched, similarity from the dense candidates' vectors, read for the keyword hits whose strength
        depends on it (one multi-get)."""
        total, df = frequencies or (0, {})
        weights = {t: bm25_idf(max(total, 1), df.get(t, 0)) for t in terms}
        coverage: dict[str, float] = {}
        similarities: dict[str, float] = {}
        for retrieved in scopes.values():
            for doc_id, extras in retrieved.extras.items():
                coverage[doc_id] = coverage_of(extras["matched"], weights)
            similarities.update(retrieved.similarities)
        members = set().union(*(r.members() for r in scopes.values()))
        wanted = sorted(d for d in members if d not in similarities
                        and strength.COVERAGE_WITH_MEANING <= coverage.get(d, 0.0) < strength.COVERAGE_ALONE)
        if wanted and rows is not None:
            similarities.update(document_similarities(self._vectors(wanted, rows.shape[1]), rows))
        ids = sorted(members)
        mask = strength.strong_mask(
            np.array([coverage.get(d, 0.0) for d in ids], dtype=np.float32) if terms else None,
            np.array([similarities.get(d, -np.inf) for d in ids], dtype=np.float32) if rows is not None else None,
            request.thresholds)
        return {d for d, is_strong in zip(ids, mask) if is_strong}

    def _vectors(self, ids: Sequence[str], dimension: int) -> dict[str, np.ndarray]:
        response = self._request(self.client.mget, index=self.alias, ids=list(ids), source_includes=["vectors"])
        return {doc["_id"]: source_vectors(doc["_source"], dimension) for doc in response.get("docs", [])
                if doc.get("found") and "vectors" in doc.get("_source", {})}

    @staticmethod
    def _read_keyword(retrieved: _Retrieved, hits: Sequence[Mapping[str, Any]]) -> None:
        for hit in hits:
            retrieved.keyword.append(hit["_id"])
            retrieved.sources.setdefault(hit["_id"], hit.get("_source", {}))
            retrieved.extras[hit["_id"]] = {"highlight": hit.get("highlight", {}),
                                            "matched": list(hit.get("matched_queries", []))}

    @staticmethod
    def _read_dense(retrieved: _Retrieved, hits: Sequence[Mapping[str, Any]], dimension: int) -> None:
        for hit in hits:
            source = hit.get("_source", {})
            retrieved.sources.setdefault(hit["_id"], source)
            retrieved.vectors.setdefault(hit["_id"], source_vectors(source, dimension))

    def _respond(self, request: SearchRequest, scopes: Mapping[str, _Retrieved], rows: np.ndarray | None,
                 suggestion: str | None, strong: set[str] | None = None) -> SearchResponse:
        """The response from the retrievals (indexer.pipeline): fused ranking, the strong matches first (`strong`;
        None: every result is), facets over them (indexer.strength), the page's hits."""
        main = scopes[RESULTS]

        def count_facets(facet: str, scope: str | None, strong_only: bool) -> dict[str, int]:
            return scopes.get(scope or RESULTS, main).facet_counts(facet, strong if strong_only else None)

        def describe(ids: Sequence[str], hits: list[Hit]) -> None:
            for doc_id, hit in zip(ids, hits):
                hit.dense_similarity = main.similarities.get(doc_id)
                hit.distance_km = _distance_km(hit.document, request.near)
                if hit.dense_rank is not None and rows is not None:
                    hit.semantic_passage = best_passage(hit.document, main.vectors[doc_id], rows)
                extras = main.extras.get(doc_id)
                if extras:
                    hit.highlights = {name: clean_highlight(fragments[0])
                                      for name, fragments in extras["highlight"].items() if fragments}
                    hit.matched_fields = [name for name in TEXT_FIELDS if name in extras["matched"]]

        return pipeline.assemble(
            request, pipeline.Retrievals(main.keyword, main.dense), id_of=lambda doc_id: doc_id,
            document=lambda doc_id: document_from_source(main.sources[doc_id]), count_facets=count_facets,
            is_strong=None if strong is None else strong.__contains__, describe=describe, suggestion=suggestion)

    def _browse(self, request: SearchRequest, filters: Mapping[str, Sequence[str]]) -> SearchResponse:
        """An empty query: the filtered documents by name, facets from aggregations."""
        page, start, _ = pipeline.page_window(request)
        body = browse_body(filters, request.near, start, request.per_page, request.only_ids)
        response = self._msearch([body])[0]
        hits = []
        for hit in response["hits"]["hits"]:
            document = document_from_source(hit["_source"])
            hits.append(Hit(id=hit["_id"], score=0.0, document=document,
                            distance_km=_distance_km(document, request.near)))
        facets = {}
        for facet in FACET_FIELDS:
            buckets = response["aggregations"][facet]["values"]["buckets"]
            facets[facet] = facet_list({b["key"]: int(b["doc_count"]) for b in buckets}, filters.get(facet, ()))
        total = int(response["hits"]["total"]["value"])
        return SearchResponse(total=total, hits=hits, facets=facets, page=page, per_page=request.per_page,
                              strong_total=total)

    # -- other reads ----------------------------------------------------------------------------------------------
    def _source(self, doc_id: str, excludes: Sequence[str]) -> dict[str, Any] | None:
        try:
            found = self._request(self.client.get, expected=(NotFoundError,), index=self.alias, id=doc_id,
                                  source_excludes=list(excludes)).body
        except NotFoundError as error:  # an unknown id, or no index at all
            if isinstance(error.body, Mapping) and error.body.get("found") is False:
                return None
            raise self._translate(error.status_code, error.body) from error
        return found["_source"] if found.get("found") else None

    def get(self, doc_id: str) -> SearchDocument | None:
        source = self._source(doc_id, HEAVY_SOURCE)
        return None if source is None else document_from_source(source)

    def similar(self, doc_id: str, limit: int = 5) -> list[SearchDocument]:
        """Nearest documents by their best passage's similarity with this document's headline."""
        source = self._source(doc_id, ["chunks"])
        if source is None:
            return []
        dimension = len(base64.b64decode(source["vectors"])) // 4 // len(source["passages"])
        vector = source_vectors(source, dimension)[0]
        hits = self._msearch([similar_body(doc_id, vector, limit, self.vector_index_type)])[0]["hits"]["hits"]
        sources = {hit["_id"]: hit["_source"] for hit in hits if hit["_id"] != doc_id}
        similarities = document_similarities({d: source_vectors(s, dimension) for d, s in sources.items()}, vector)
        order = sorted(similarities, key=lambda d: (-similarities[d], d))[:limit]
        return [document_from_source(sources[d]) for d in order]

    def refresh(self) -> None:
        """Nothing held in memory: every search reads the alias's live index."""

    def status(self) -> dict[str, Any]:
        """The live index and its _meta (model, dimension, document version, watermark...); ready is False when
        there is none, or when it was built for another mapping version or never completed."""
        try:
            index, meta = self._live()
        except IndexNotReady:
            return {"backend": "elasticsearch", "ready": False, "alias": self.alias}
        documents = self._request(self.client.count, index=index)["count"]
        ready = meta.get("mapping_version") == MAPPING_VERSION and bool(meta.get("complete"))
        return {"backend": "elasticsearch", "ready": ready, "alias": self.alias, "index": index, **meta,
                "documents": documents}


def _without_credentials(url: str) -> str:
    """The URL as messages and logs may show it: no user name or password."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    return urlunsplit(parts._replace(netloc=f"{netloc}:{parts.port}" if parts.port else netloc))


def _distance_km(document: SearchDocument, near: GeoFilter | None) -> float | None:
    if near is None or document.latitude is None or document.longitude is None:
        return None
    return round(float(haversine_km(near.latitude, near.longitude, document.latitude, document.longitude)), 1)
