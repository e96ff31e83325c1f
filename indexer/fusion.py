"""Reciprocal rank fusion, shared by every backend."""

from __future__ import annotations

from typing import Hashable, Sequence

# k from Cormack, Clarke & Büttcher (2009): damps the head of each list so that one retriever's first place does
# not outweigh agreement between retrievers. 60 is the value they found robust and the one Elasticsearch uses.
RRF_K = 60


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hashable]], k: int = RRF_K) -> list[tuple[Hashable, float]]:
    """Fuse ranked id lists: score(d) = sum over lists containing d of 1 / (k + rank), ranks 1-based.

    A list contributes only for the documents it returned. Ties are broken by id, ascending.
    """
    scores: dict[Hashable, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
