"""A document's dense similarity to a query, from its passages' similarities: the one definition every backend
uses (the embedded exact and clustered paths, Elasticsearch's rescoring of its kNN candidates)."""

from __future__ import annotations

import numpy as np

# Share of the best passage in a document's similarity; the rest is the mean over its passages. The best passage
# alone favours long documents, one of whose many passages happens to be near the query; the mean alone favours
# short ones. Measured on three judged sets in French (benchmarks/RESULTS.md, "Dense similarity of a document"):
# half and half beat the best passage alone with both packaged multilingual models, on real text and on fixtures.
BEST_PASSAGE_SHARE = 0.5


def document_similarities(passage_scores: np.ndarray, firsts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(documents,) similarities from (passages, rows) cosine scores, documents' passages contiguous from
    `firsts` (`counts` each, at least 1). A multi-row query (a long need embedded by chunks) averages its rows."""
    scores = np.asarray(passage_scores, dtype=np.float32)
    if scores.ndim == 1:
        scores = scores[:, None]
    if len(firsts) == 0:
        return np.zeros(0, dtype=np.float32)
    best = np.maximum.reduceat(scores, firsts, axis=0)
    mean = np.add.reduceat(scores, firsts, axis=0) / np.asarray(counts, dtype=np.float32)[:, None]
    return (BEST_PASSAGE_SHARE * best + (1 - BEST_PASSAGE_SHARE) * mean).mean(axis=1).astype(np.float32)
