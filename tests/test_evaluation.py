"""Relevance evaluation: metric functions on hand-computed cases, corpus and judgment files, `vivier eval`, and the
shipped fixture judgments (hybrid must beat each retriever alone)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.evaluation import (
    EvaluationError,
    dcg_at_k,
    evaluate,
    load_corpus,
    load_judgments,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from tests.conftest import REPO, make_settings
from vivier_cli.main import main

CORPUS = REPO / "fixtures" / "eval" / "corpus.jsonl"
JUDGMENTS = REPO / "fixtures" / "eval" / "judgments.jsonl"


def write_lines(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n"
                            for line in lines), encoding="utf-8")
    return path


# -- metrics -----------------------------------------------------------------------------------------------------
def test_dcg_uses_graded_gains_and_log_discounts():
    # gains 2^g - 1: a (grade 2) -> 3 at rank 1, b unjudged -> 0, c (grade 1) -> 1 at rank 3 (discount log2(4) = 2)
    assert dcg_at_k(["a", "b", "c"], {"a": 2, "c": 1}, 10) == pytest.approx(3 + 0 + 0.5)
    assert dcg_at_k(["x", "a"], {"a": 3}, 10) == pytest.approx(7 / math.log2(3))
    assert dcg_at_k(["x", "a"], {"a": 3}, 1) == 0.0


def test_ndcg_divides_by_the_ideal_ranking_of_every_judged_grade():
    ideal = 3 + 1 / math.log2(3)
    assert ndcg_at_k(["a", "b", "c"], {"a": 2, "c": 1}, 10) == pytest.approx(3.5 / ideal)
    assert ndcg_at_k(["a", "c"], {"a": 2, "c": 1}, 10) == pytest.approx(1.0)
    # b (grade 3) was never retrieved: it still counts in the ideal ranking
    assert ndcg_at_k(["a"], {"a": 1, "b": 3}, 10) == pytest.approx(1 / (7 + 1 / math.log2(3)))
    # the ideal is cut at k too: one perfect result at k = 1 scores 1 whatever else is judged
    assert ndcg_at_k(["b", "a"], {"a": 1, "b": 3}, 1) == pytest.approx(1.0)


def test_ndcg_is_the_same_whichever_order_equal_grades_come_in():
    grades = {"a": 2, "b": 2, "c": 1}
    assert ndcg_at_k(["a", "b", "c"], grades, 10) == pytest.approx(ndcg_at_k(["b", "a", "c"], grades, 10))
    assert ndcg_at_k(["a", "b", "c"], grades, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["c", "a", "b"], grades, 10) < 1.0


def test_empty_relevant_set_scores_zero_everywhere():
    assert ndcg_at_k(["a", "b"], {}, 10) == 0.0
    assert precision_at_k(["a", "b"], [], 10) == 0.0
    assert recall_at_k(["a", "b"], [], 50) == 0.0
    assert ndcg_at_k([], {"a": 1}, 10) == 0.0


def test_k_larger_than_the_result_list():
    ranking = ["a", "x", "b"]
    assert precision_at_k(ranking, ["a", "b", "c", "d"], 10) == pytest.approx(0.2)  # 2 of 10 slots, not 2 of 3
    assert recall_at_k(ranking, ["a", "b", "c", "d"], 50) == pytest.approx(0.5)
    assert ndcg_at_k(ranking, {"a": 1, "b": 1}, 10) == pytest.approx((1 + 0.5) / (1 + 1 / math.log2(3)))
    assert precision_at_k(ranking, ["a", "b"], 2) == pytest.approx(0.5)


# -- files -------------------------------------------------------------------------------------------------------
def test_corpus_records_become_search_documents(tmp_path):
    path = write_lines(tmp_path / "corpus.jsonl", [
        {"id": "cantine-x", "name": "Cantine X", "pitch": "Réservation des repas", "description": "Un.\n\nDeux.",
         "categories": ["school-services"], "keywords": ["cantine"], "labels": ["esus"], "department": "29",
         "commune": "Brest", "size_band": "1-9", "latitude": 48.39, "longitude": -4.49, "open_source": True},
        "",
        {"id": "b", "name": "B"},
    ])
    first, second = load_corpus(path)
    assert (first.id, first.slug, first.region, first.open_source) == ("cantine-x", "cantine-x", "Bretagne", True)
    assert first.categories == ("school-services",) and first.labels == ("esus",)
    assert first.passages[0].startswith("Cantine X. Réservation des repas. Restauration scolaire")
    assert first.passages[1:] == ("Un. Deux.",)
    assert (second.pitch, second.categories, second.department, second.passages) == ("", (), None, ("B",))


@pytest.mark.parametrize("lines, message", [
    (['{"id": "a", "name": "A"}', '{"id": "b", "name": '], "corpus.jsonl:2: invalid JSON"),
    (['["a"]'], "corpus.jsonl:1: expected a JSON object"),
    ([{"id": "a"}], "corpus.jsonl:1: `name` must be a non-empty string"),
    ([{"id": "", "name": "A"}], "corpus.jsonl:1: `id` must be a non-empty string"),
    ([{"id": "a", "name": "A"}, {"id": "a", "name": "B"}], "corpus.jsonl:2: duplicate id 'a' (first on line 1)"),
    ([{"id": "a", "name": "A", "descripton": "typo"}], "corpus.jsonl:1: unknown field(s) descripton"),
    ([{"id": "a", "name": "A", "categories": ["cantine"]}], "corpus.jsonl:1: unknown categories 'cantine'"),
    ([{"id": "a", "name": "A", "keywords": "cantine"}], "corpus.jsonl:1: `keywords` must be a list of strings"),
    ([{"id": "a", "name": "A", "size_band": "10"}], "corpus.jsonl:1: unknown size_band '10'"),
    ([{"id": "a", "name": "A", "latitude": "48.3"}], "corpus.jsonl:1: `latitude` must be a number"),
    ([{"id": "a", "name": "A", "open_source": "yes"}], "corpus.jsonl:1: `open_source` must be true or false"),
    (["", "   "], "corpus.jsonl: empty corpus file"),
])
def test_corpus_errors_name_the_file_and_line(tmp_path, lines, message):
    path = write_lines(tmp_path / "corpus.jsonl", lines)
    with pytest.raises(EvaluationError) as error:
        load_corpus(path)
    assert str(error.value).startswith(f"{tmp_path}/{message}")


def test_missing_file_is_an_evaluation_error(tmp_path):
    with pytest.raises(EvaluationError, match="no such corpus file"):
        load_corpus(tmp_path / "absent.jsonl")


def test_judgments_default_grade_and_notes(tmp_path):
    path = write_lines(tmp_path / "judgments.jsonl", [
        {"query": "cantine", "relevant": ["a", "b"], "grades": {"a": 2}, "note": "very short"},
        {"query": "arrosage", "relevant": ["c"]},
    ])
    judgments, warnings = load_judgments(path, ["a", "b", "c"])
    assert warnings == []
    assert [(j.query, dict(j.grades), j.note, j.line) for j in judgments] == [
        ("cantine", {"a": 2, "b": 1}, "very short", 1), ("arrosage", {"c": 1}, "", 2)]


@pytest.mark.parametrize("record, message", [
    ({"relevant": ["a"]}, "`query` must be a non-empty string"),
    ({"query": "q", "relevant": "a"}, "`relevant` must be a list of ids (empty: no profile answers the need)"),
    ({"query": "q", "relevant": [""]}, "`relevant` must be a list of ids (empty: no profile answers the need)"),
    ({"query": "q", "relevant": ["a", "a"]}, "id(s) listed twice in `relevant`: a"),
    ({"query": "q", "relevant": ["a"], "grades": {"a": 0}}, "grade of 'a' must be one of 1, 2, 3, got 0"),
    ({"query": "q", "relevant": ["a"], "grades": {"a": "2"}}, "grade of 'a' must be one of 1, 2, 3, got '2'"),
    ({"query": "q", "relevant": ["a"], "grades": {"b": 2}}, "`grades` names 'b', which is not in `relevant`"),
    ({"query": "q", "relevant": ["a"], "why": "x"}, "unknown field(s) why; allowed: query, relevant, grades, note"),
    ({"query": "q", "relevant": ["a", "zz"]}, "id(s) not in the corpus: zz (--ignore-unknown drops them)"),
])
def test_judgment_errors_name_the_file_and_line(tmp_path, record, message):
    path = write_lines(tmp_path / "judgments.jsonl", [{"query": "ok", "relevant": ["a"]}, record])
    with pytest.raises(EvaluationError) as error:
        load_judgments(path, ["a", "b"])
    assert str(error.value) == f"{path}:2: {message}"


def test_unknown_ids_can_be_dropped_with_a_warning(tmp_path):
    path = write_lines(tmp_path / "judgments.jsonl", [
        {"query": "one", "relevant": ["a", "zz"], "grades": {"zz": 2}},
        {"query": "two", "relevant": ["yy"]},
    ])
    judgments, warnings = load_judgments(path, ["a"], ignore_unknown=True)
    assert [(j.query, dict(j.grades)) for j in judgments] == [("one", {"a": 1})]
    assert warnings == [f"{path}:1: id(s) not in the corpus: zz; dropped",
                        f"{path}:2: id(s) not in the corpus: yy; query skipped, none of its ids is known"]


def test_judgments_with_no_usable_query_are_an_error(tmp_path):
    path = write_lines(tmp_path / "judgments.jsonl", [{"query": "two", "relevant": ["yy"]}])
    with pytest.raises(EvaluationError, match="no query left to evaluate"):
        load_judgments(path, ["a"], ignore_unknown=True)
    with pytest.raises(EvaluationError, match="empty judgments file"):
        load_judgments(write_lines(tmp_path / "empty.jsonl", [""]), ["a"])


# -- the shipped fixture files -------------------------------------------------------------------------------------
def test_shipped_corpus_is_up_to_date_with_the_fixture_world():
    result = subprocess.run([sys.executable, "-m", "fixtures.eval.build_corpus", "--check"], check=False, cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_build_corpus_check_fails_on_a_stale_file(tmp_path):
    stale = tmp_path / "corpus.jsonl"
    stale.write_text(CORPUS.read_text(encoding="utf-8").replace("Cantine Facile", "Cantine Rapide"), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "fixtures.eval.build_corpus", "--check", "--output", str(stale)],
                            check=False, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1 and "out of date" in result.stderr


def test_jsonl_lines_are_split_on_newlines_only(tmp_path):
    """U+2028, U+2029 and U+0085 inside a JSON string are text: str.splitlines() would cut the record there."""
    path = tmp_path / "corpus.jsonl"
    records = [{"id": "a", "name": "Ligne\u2028séparée\u2029et\u0085suite"}, {"id": "b", "name": "B"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    assert [d.name for d in load_corpus(path)] == ["Ligne\u2028séparée\u2029et\u0085suite", "B"]


def test_a_need_nobody_answers_is_a_judgment_with_no_relevant_id(tmp_path):
    path = write_lines(tmp_path / "judgments.jsonl", [{"query": "déneigement", "relevant": [], "note": "none"}])
    judgments, _ = load_judgments(path, ["a"])
    assert judgments[0].grades == {}


def test_shipped_judgments_are_complete_and_varied():
    documents = load_corpus(CORPUS)
    judgments, warnings = load_judgments(JUDGMENTS, [d.id for d in documents])
    assert len(documents) == 420 and warnings == []
    answerable = [j for j in judgments if j.grades]
    assert len(answerable) >= 40 and len(judgments) - len(answerable) >= 15  # needs no fixture company answers
    assert all(j.note for j in judgments) and all(2 in j.grades.values() for j in answerable)
    lengths = sorted(len(j.query.split()) for j in judgments)
    assert lengths[0] == 1 and lengths[-1] >= 60  # one-word queries and pasted specifications


def test_hybrid_beats_each_retriever_and_says_nothing_when_nothing_answers(encoder, tmp_path):
    """The fixture judgments with the default model: hybrid above each retriever and above 0.75 nDCG@10; at least
    80% of the needs no fixture company answers come out with no strong match, and no answerable need does."""
    documents = load_corpus(CORPUS)
    judgments, _ = load_judgments(JUDGMENTS, [d.id for d in documents])
    report = evaluate(documents, judgments, encoder, make_settings(tmp_path / "data"), cache_dir=tmp_path / "cache")
    means = report.means()
    assert len(report.results) == len(judgments)
    assert means["hybrid"]["ndcg@10"] > max(means["keyword"]["ndcg@10"], means["dense"]["ndcg@10"]), means
    assert means["hybrid"]["ndcg@10"] >= 0.75, means
    answers = report.answers()["hybrid"]
    assert answers["nothing_right"] >= 0.8 and answers["nothing_wrong"] == 0, answers


# -- vivier eval -----------------------------------------------------------------------------------------------------
def run_eval(args: list[str]):
    """`vivier eval ARGS` in this process (it needs no Scrapy reactor), with its exit code, stdout and stderr."""
    return CliRunner().invoke(main, ["eval", *args], catch_exceptions=False)


def test_vivier_eval_prints_the_three_modes_side_by_side(tmp_path):
    corpus = write_lines(tmp_path / "corpus.jsonl", [
        {"id": "cantine", "name": "Cantine Facile", "pitch": "Réservation des repas de la cantine en ligne",
         "categories": ["school-services"]},
        {"id": "arrosage", "name": "Arroséo", "pitch": "Programmateurs d'arrosage automatique des espaces verts",
         "categories": ["green-spaces"]},
        {"id": "lora", "name": "Longue Portée", "pitch": "Réseau LoRaWAN privé pour les communes",
         "categories": ["iot-networks"]},
    ])
    judgments = write_lines(tmp_path / "judgments.jsonl", [
        {"query": "cantine", "relevant": ["cantine"], "grades": {"cantine": 2}, "note": "short"},
        {"query": "arrosage des espaces verts", "relevant": ["arrosage"]},
    ])
    cache = tmp_path / "cache"
    result = run_eval([str(corpus), str(judgments), "--data-dir", str(cache)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "2 queries, 3 profiles"
    assert lines[1].split() == ["mode", "ndcg@10", "p@10", "recall@50"]
    assert [line.split()[0] for line in lines[2:5]] == ["keyword", "dense", "hybrid"]
    assert lines[2].split()[1:] == ["1.000", "0.100", "1.000"]  # each query finds its one relevant profile first
    assert (cache / "eval-cache.db").exists()

    result = run_eval([str(corpus), str(judgments), "--json", "--per-query", "--data-dir", str(cache)])
    report = json.loads(result.stdout)
    assert (report["corpus"], report["queries"]) == (3, 2)
    assert report["metrics"]["keyword"] == {"ndcg@10": 1.0, "p@10": 0.1, "recall@50": 1.0}
    assert [q["query"] for q in report["per_query"]] == ["cantine", "arrosage des espaces verts"]
    assert report["per_query"][0]["top"]["keyword"][0] == "cantine"

    result = run_eval([str(corpus), str(judgments), "--per-query", "--data-dir", str(cache)])
    assert "line  query" in result.stdout and "arrosage des espaces verts" in result.stdout


def test_vivier_eval_reports_bad_files_without_a_traceback(tmp_path):
    corpus = write_lines(tmp_path / "corpus.jsonl", [{"id": "a", "name": "A"}])
    judgments = write_lines(tmp_path / "judgments.jsonl", [{"query": "q", "relevant": ["a", "ghost"]}])
    result = run_eval([str(corpus), str(judgments)])
    assert result.exit_code == 1
    assert f"Error: {judgments}:1: id(s) not in the corpus: ghost (--ignore-unknown drops them)" in result.stderr

    result = run_eval([str(corpus), str(tmp_path / "absent.jsonl")])
    assert result.exit_code == 1 and "no such judgments file" in result.stderr
