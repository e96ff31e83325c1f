"""The cluster index (indexer/backends/ann.py) that large embedded indexes search instead of every passage.

Test corpora are far below ANN_MIN_PASSAGES, so the contract suite runs on exact search; here the thresholds are
lowered so that a small synthetic corpus gets a cluster index, and its answers are compared with exact search.
"""

from __future__ import annotations

import numpy as np
import pytest

from indexer.backends import ann
from indexer.backends.base import SearchRequest
from indexer.documents import SearchDocument

DIM = 32
TOPICS = 40


def clustered_corpus(documents: int = 3000, seed: int = 7):
    """Unit vectors around TOPICS directions, 1 to 3 passages per document; the (documents,) topic of each."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((TOPICS, DIM)).astype(np.float32)
    topics = rng.integers(0, TOPICS, documents)
    counts = rng.integers(1, 4, documents)
    rows = np.repeat(topics, counts)
    vectors = centres[rows] + 0.6 * rng.standard_normal((len(rows), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return vectors.astype(np.float32), starts, topics


def exact_similarities(vectors, starts, query):
    """Every document's similarity by indexer.dense's definition (half best passage, half mean), written out."""
    counts = np.diff(np.append(starts, len(vectors)))
    scores = vectors @ query
    best = np.maximum.reduceat(scores, starts)
    return 0.5 * best + 0.5 * np.add.reduceat(scores, starts) / counts


@pytest.fixture
def small_thresholds(monkeypatch):
    monkeypatch.setattr(ann, "ANN_MIN_PASSAGES", 500)
    monkeypatch.setattr(ann, "PASSAGES_PER_CLUSTER", 100)
    monkeypatch.setattr(ann, "EXACT_FILTER_PASSAGES", 300)
    monkeypatch.setattr(ann, "CANDIDATE_PASSAGES", 100)


@pytest.fixture
def indexed(tmp_path, small_thresholds):
    vectors, starts, topics = clustered_corpus()
    np.save(tmp_path / "vectors.npy", vectors)  # as in an index generation: exact similarities are read from it
    ann.save(tmp_path, vectors)
    return vectors, starts, topics, ann.load(tmp_path, starts, len(vectors))


def test_no_cluster_index_below_the_threshold(tmp_path):
    vectors, starts, _ = clustered_corpus(200)
    assert ann.build(vectors) is None
    ann.save(tmp_path, vectors)
    assert ann.load(tmp_path, starts, len(vectors)) is None and not list(tmp_path.iterdir())


def test_clusters_partition_the_passages(indexed):
    vectors, _, _, index = indexed
    assert index.clusters == round(len(vectors) / ann.PASSAGES_PER_CLUSTER)
    assert sorted(index.position.tolist()) == list(range(len(vectors)))
    decoded = index.codes[index.position] * index.scales[index.position, None]  # the passages, grouped by cluster
    assert np.abs(decoded - vectors).max() <= index.scales.max() / 2 + 1e-6
    assert index.offsets[0] == 0 and index.offsets[-1] == len(vectors) and np.all(np.diff(index.offsets) >= 0)
    grouped = vectors[np.argsort(index.position)]
    nearest = np.argmax(grouped @ index.centroids.T, axis=1)  # each block holds its centroid's passages
    assert np.array_equal(nearest, np.repeat(np.arange(index.clusters), np.diff(index.offsets)))
    assert np.allclose(np.linalg.norm(index.centroids, axis=1), 1.0, atol=1e-5)


def test_candidates_get_exact_similarities_and_the_best_documents_are_found(indexed):
    vectors, starts, _, index = indexed
    rng = np.random.default_rng(3)
    recalls = []
    for _ in range(20):
        query = vectors[rng.integers(len(vectors))] + 0.1 * rng.standard_normal(DIM).astype(np.float32)
        query /= np.linalg.norm(query)
        exact = exact_similarities(vectors, starts, query)
        found = np.full(len(starts), -np.inf, dtype=np.float32)
        ann.fill_similarities(index, query, found)
        computed = np.isfinite(found)
        assert computed.sum() <= ann.CANDIDATE_PASSAGES
        assert np.allclose(found[computed], exact[computed], atol=1e-5)  # exact for every document found
        top = set(np.argsort(-exact)[:10].tolist())
        recalls.append(len(top & set(np.argsort(-found)[:10].tolist())) / 10)
    assert np.mean(recalls) >= 0.9


def test_a_narrow_filter_is_searched_exactly_and_named_documents_are_computed(indexed):
    vectors, starts, topics, index = indexed
    query = vectors[0]
    mask = topics == topics[5]
    assert int(index.passage_counts[mask].sum()) <= ann.EXACT_FILTER_PASSAGES
    found = np.full(len(starts), -np.inf, dtype=np.float32)
    ann.fill_similarities(index, query, found, mask)
    exact = exact_similarities(vectors, starts, query)
    assert np.array_equal(np.isfinite(found), mask)
    assert np.allclose(found[mask], exact[mask], atol=1e-5)
    ann.fill_similarities(index, query, found, docs=np.array([1, 2, 3]))
    assert np.allclose(found[[1, 2, 3]], exact[[1, 2, 3]], atol=1e-5)


def test_a_broad_filter_keeps_its_candidates_inside_it(indexed):
    vectors, starts, topics, index = indexed
    mask = topics < TOPICS // 2
    found = np.full(len(starts), -np.inf, dtype=np.float32)
    ann.fill_similarities(index, vectors[10], found, mask)
    assert np.isfinite(found).any() and not np.isfinite(found[~mask]).any()


def test_embedded_backend_searches_a_large_index_through_its_clusters(tmp_path, small_thresholds):
    from indexer.backends.embedded import EmbeddedBackend

    vectors, starts, topics = clustered_corpus(1500)
    counts = np.diff(np.append(starts, len(vectors)))
    documents = [SearchDocument(id=str(i), slug=f"s{i}", name=f"Fournisseur {i}", pitch="", description="",
                                categories=("waste",) if topics[i] % 2 else ("parking",), labels=(), keywords=(),
                                department="29" if topics[i] % 3 else "35", region=None, commune=None,
                                size_band=None, open_source=False,
                                passages=tuple(f"passage {i}.{k}" for k in range(counts[i])))
                 for i in range(len(starts))]
    backend = EmbeddedBackend(tmp_path / "embedded")
    backend.rebuild(documents, vectors, {"model": "test"})
    assert backend._current().ann_index is not None
    query = vectors[starts[42]]
    exact = exact_similarities(vectors, starts, query)
    cases = [({}, lambda d: True),
             ({"department": ["35"]}, lambda d: d.department == "35"),
             ({"category": ["parking"], "department": ["29"]}, lambda d: d.categories == ("parking",)
              and d.department == "29")]
    for filters, passes in cases:
        response = backend.search(SearchRequest(text="fournisseur", mode="dense", query_vector=query,
                                                filters=filters, per_page=10))
        assert response.hits and all(passes(hit.document) for hit in response.hits)
        for hit in response.hits:
            assert hit.dense_similarity == pytest.approx(float(exact[int(hit.id)]), abs=1e-5)
    assert backend.search(SearchRequest(text="fournisseur", mode="dense", query_vector=query)).hits[0].id == "42"
