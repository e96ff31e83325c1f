"""Reciprocal rank fusion, shared by every backend."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

DocId = TypeVar("DocId", bound=Hashable)

# k damps the head of each list (Cormack, Clarke & Büttcher 2009 found 60 robust for equally good lists). Ours are
# not equally good, and with the weights below a smaller k keeps the first keyword hits ahead while agreement still
# lifts a document: measured on the fixture judgments (benchmarks/RESULTS.md), k 5 to 20 beat 60 on both halves of
# the queries; 10 is the middle of that range.
RRF_K = 10
# Weight of each retrieval's reciprocal ranks, by the backends' names for them. The default embedding model is
# English-first and French needs are its weak side (dense nDCG@10 0.52 against 0.76 for BM25 on the fixture
# judgments): at equal weight its confident mistakes outranked keyword hits and hybrid lost to keyword alone
# (0.698 vs 0.739). With keyword terms scored mostly by their best field (dis_max, tie 0.1, in
# indexer/keyword.py) and dense at 0.5, hybrid reaches 0.774 against 0.763 for keyword alone and 0.518
# for dense; dense at 0.3 or 0.7 did no better and failed more golden queries (tests/test_golden.py). Re-measure
# with `vivier eval` when the model changes.
FUSION_WEIGHTS: dict[str, float] = {"keyword": 1.0, "dense": 1.0}


def reciprocal_rank_fusion(rankings: Sequence[Sequence[DocId]], k: int | None = None,
                           weights: Sequence[float] | None = None,
                           tie_key: Callable[[DocId], Any] | None = None) -> list[tuple[DocId, float]]:
    """Fuse ranked id lists: score(d) = sum over lists containing d of weight / (k + rank), ranks 1-based.

    `k` defaults to RRF_K (read at call time); `weights` holds one positive weight per list, 1 each by default (a
    weight of 0 would tie a list's documents). A list contributes only for the documents it returned. Ties are
    broken by id, ascending: by `tie_key(id)` when the lists hold other keys than document ids (an engine's
    document numbers, whose ties must still go by document id).
    """
    k = RRF_K if k is None else k
    weights = (1.0,) * len(rankings) if weights is None else tuple(weights)
    if len(weights) != len(rankings) or any(w <= 0 for w in weights):
        raise ValueError(f"expected {len(rankings)} positive weights, got {weights}")
    scores: dict[DocId, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank)
    if tie_key is None:
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    by_id = tie_key
    return sorted(scores.items(), key=lambda item: (-item[1], by_id(item[0])))
