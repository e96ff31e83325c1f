import pytest

from indexer.fusion import RRF_K, reciprocal_rank_fusion


def test_rrf_scores_known_rankings():
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]]))
    assert fused["a"] == pytest.approx(1 / (RRF_K + 1))
    assert fused["b"] == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 1))
    assert fused["c"] == pytest.approx(1 / (RRF_K + 3))
    assert fused["d"] == pytest.approx(1 / (RRF_K + 2))


def test_rrf_order_agreement_wins_and_ties_break_by_id():
    ranking = [doc for doc, _ in reciprocal_rank_fusion([["x", "a", "b"], ["y", "b", "a"]])]
    assert ranking[:2] == ["a", "b"]  # both lists agree on a and b: they beat each list's single first place
    assert ranking[2:] == ["x", "y"]  # x and y tie (each first in one list): broken by id


def test_rrf_only_scores_returned_documents_and_handles_empty_lists():
    assert reciprocal_rank_fusion([[], []]) == []
    assert [d for d, _ in reciprocal_rank_fusion([["b", "a"], []])] == ["b", "a"]


def test_rrf_k_changes_scores():
    assert dict(reciprocal_rank_fusion([["a"]], k=1))["a"] == pytest.approx(0.5)


def test_weights_scale_each_list_and_must_be_positive():
    fused = dict(reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=10, weights=(1.0, 0.25)))
    assert fused == pytest.approx({"a": 1 / 11, "b": 1 / 12 + 0.25 / 11, "c": 0.25 / 12})
    # a light second list reorders by agreement only: b (2nd and 1st) passes a (1st alone) only when weighted enough
    assert [d for d, _ in reciprocal_rank_fusion([["a", "b"], ["b"]], k=10, weights=(1.0, 0.05))][:2] == ["a", "b"]
    assert [d for d, _ in reciprocal_rank_fusion([["a", "b"], ["b"]], k=10, weights=(1.0, 0.2))][:2] == ["b", "a"]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"], ["b"]], weights=(1.0, 0.0))
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"], ["b"]], weights=(1.0,))
