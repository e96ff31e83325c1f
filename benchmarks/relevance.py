"""Relevance on the fixtures and on real French text, side by side, next to a plain BM25 computed in the same run.

    .venv/bin/python -m benchmarks.relevance [--real NAME=CORPUS,JUDGMENTS ...] [--models M1,M2]
                                             [--cache-dir DIR] [--per-query] [--sweep] [--note TEXT] [--no-record]

Real corpora are converted to the `vivier eval` format by ../shared/eval/to_corpus.py, outside the project (their
text is never committed), e.g.:

    python3 ../shared/eval/to_corpus.py ../shared/data/apigouv_apis.jsonl /tmp/apigouv_corpus.jsonl
    .venv/bin/python -m benchmarks.relevance \
        --real api.gouv.fr=/tmp/apigouv_corpus.jsonl,../shared/eval/apigouv_judgments.jsonl

For each judged set (fixtures/eval always, then each --real one) it prints nDCG@10, P@10 and recall@50 of:
- the plain BM25 of benchmarks/bm25_baseline.py (bm25s, Snowball French, French stop words, folded; same text);
- Vivier's keyword, dense and hybrid searches for each model of --models (packaged multilingual-e5-small, the
  default; packaged USE multilingual; all-MiniLM-L6-v2 on torch), each through indexer.evaluation (the path of
  `vivier eval`: query rewriting, embedding, the embedded backend);
- the honesty of the hybrid answers (indexer.strength): no-answer needs answered "nothing", answerable needs
  answered "nothing" wrongly, relevant profiles of the first 10 shown only as weaker neighbours.
--per-query adds, for each real set, the plain BM25, Vivier keyword and hybrid nDCG@10 of every query (default
model). --sweep adds a grid of the fusion constants (RRF k, dense weight, keyword tie breaker) on every set.
Vectors are cached per model and set under --cache-dir, so a second run encodes nothing. The output is appended to
benchmarks/RESULTS.md unless --no-record.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np

from benchmarks import results as results_file
from benchmarks.bm25_baseline import PlainBM25
from embeddings.encoder import Encoder
from indexer import evaluation, fusion
from indexer.backends import embedded
from vivier.config import DEFAULT_MODEL, load_settings

FIXTURES = ("fixtures", REPO / "fixtures" / "eval" / "corpus.jsonl", REPO / "fixtures" / "eval" / "judgments.jsonl")
MODELS = (DEFAULT_MODEL, "packaged:use-multilingual-v3", "packaged:all-MiniLM-L6-v2")
RESULTS_SECTION = "## Relevance on fixtures and real text (`python -m benchmarks.relevance`)"
NDCG, PRECISION, RECALL = evaluation.METRICS
# --sweep: the constants tried, around the values in the code.
SWEEP = {"rrf_k": (5, 10, 30, 60), "dense_weight": (0.5, 1.0, 1.5), "tie_breaker": (0.1, 0.5, 1.0)}


class MemoEncoder(Encoder):
    """An encoder remembering what it encoded: each query is embedded once for a whole run."""

    def __init__(self, model: str, seeds: Sequence[Path] = ()):
        super().__init__(model, seeds=seeds)
        self._memo: dict[tuple[str, ...], Any] = {}

    def encode(self, texts, threads=None, progress=False, batch_size=64, role="passage"):
        key = (role, *texts)
        if key not in self._memo:
            self._memo[key] = super().encode(list(texts), threads=threads, progress=progress, batch_size=batch_size,
                                             role=role)
        return self._memo[key]


@contextlib.contextmanager
def constants(rrf_k: int | None = None, dense_weight: float | None = None,
              tie_breaker: float | None = None) -> Iterator[None]:
    """Set fusion constants where the code reads them; restore the values in the code afterwards."""
    saved = (fusion.RRF_K, dict(fusion.FUSION_WEIGHTS), embedded.KEYWORD_TIE_BREAKER)
    try:
        if rrf_k is not None:
            fusion.RRF_K = rrf_k
        if dense_weight is not None:
            fusion.FUSION_WEIGHTS["dense"] = dense_weight
        if tie_breaker is not None:
            embedded.KEYWORD_TIE_BREAKER = tie_breaker
        yield
    finally:
        fusion.RRF_K, weights, embedded.KEYWORD_TIE_BREAKER = saved
        fusion.FUSION_WEIGHTS.clear()
        fusion.FUSION_WEIGHTS.update(weights)


def baseline(documents, judgments) -> tuple[dict[str, float], dict[str, float]]:
    """Mean metrics of the plain BM25 over the answerable judgments, and its nDCG@10 per query."""
    bm25 = PlainBM25(documents)
    per_query = {}
    rows = []
    for judgment in judgments:
        if not judgment.grades:
            continue
        metrics = evaluation.query_metrics(bm25.search(judgment.query, evaluation.EVAL_DEPTH), judgment.grades)
        rows.append(metrics)
        per_query[judgment.query] = metrics[NDCG]
    return {m: float(np.mean([r[m] for r in rows])) for m in evaluation.METRICS}, per_query


def model_label(model: str) -> str:
    return model.removeprefix("packaged:")


def run_set(name: str, corpus: Path, judgments_path: Path, models: Sequence[str], cache_dir: Path,
            per_query: bool, sweep: bool, say) -> None:
    documents = evaluation.load_corpus(corpus)
    judgments, warnings = evaluation.load_judgments(judgments_path, [d.id for d in documents], ignore_unknown=True)
    answerable = sum(1 for j in judgments if j.grades)
    say(f"\n### {name}: {len(documents)} profiles, {answerable} judged needs"
        f"{f', {len(judgments) - answerable} needs nobody answers' if answerable < len(judgments) else ''}\n")
    for warning in warnings:
        say(f"- warning: {warning}")
    plain, plain_per_query = baseline(documents, judgments)
    say("| ranker | nDCG@10 | P@10 | R@50 | nothing said rightly | nothing said wrongly | relevant demoted |")
    say("|---|---|---|---|---|---|---|")
    say(f"| plain BM25 (bm25s) | {plain[NDCG]:.3f} | {plain[PRECISION]:.3f} | {plain[RECALL]:.3f} | | | |")
    settings = load_settings()
    seeds = tuple(sorted((REPO / "fixtures" / "vectors").glob("*.npz")))
    reports = {}
    for model in models:
        encoder = MemoEncoder(model, seeds=seeds)
        started = time.perf_counter()
        report = evaluation.evaluate(documents, judgments, encoder, settings.with_overrides(embedding_model=model),
                                     cache_dir=cache_dir / f"{model_label(model)}-{name}")
        reports[model] = (encoder, report)
        means, answers = report.means(), report.answers()
        for mode in evaluation.EVAL_MODES:
            cells = [f"{means[mode][m]:.3f}" for m in evaluation.METRICS]
            honesty = ["", "", ""]
            if mode == "hybrid":
                right = answers[mode]["nothing_right"]
                honesty = ["n/a" if not report.no_answer else f"{round(right * len(report.no_answer))}/"
                           f"{len(report.no_answer)}", f"{int(answers[mode]['nothing_wrong'])}",
                           f"{answers[mode]['demoted']:.0%}"]
            say(f"| {model_label(model)} {mode} | " + " | ".join(cells + honesty) + " |")
        say(f"<!-- {model_label(model)}: {time.perf_counter() - started:.0f} s -->")
    default = reports.get(models[0])
    if per_query and default is not None and name != FIXTURES[0]:
        say(f"\nPer query, nDCG@10 ({model_label(models[0])}):\n\n| need | plain BM25 | keyword | hybrid |\n"
            "|---|---|---|---|")
        for result in default[1].answerable:
            say(f"| {result.judgment.query[:70]} | {plain_per_query[result.judgment.query]:.3f} | "
                f"{result.metrics['keyword'][NDCG]:.3f} | {result.metrics['hybrid'][NDCG]:.3f} |")
    if sweep and default is not None:
        encoder = default[0]
        say(f"\nFusion constants ({model_label(models[0])}), hybrid nDCG@10 (keyword nDCG@10):\n")
        say("| RRF k | dense weight | tie breaker | hybrid | keyword |\n|---|---|---|---|---|")
        with evaluation.temporary_index(documents, encoder, settings.with_overrides(embedding_model=models[0]),
                                        cache_dir / f"{model_label(models[0])}-{name}") as service:
            for k, weight, tie in itertools.product(*SWEEP.values()):
                with constants(k, weight, tie):
                    means = evaluation.EvaluationReport(len(documents), evaluation.run_queries(
                        service, judgments, ("keyword", "hybrid")), ("keyword", "hybrid")).means()
                say(f"| {k} | {weight} | {tie} | {means['hybrid'][NDCG]:.3f} | {means['keyword'][NDCG]:.3f} |")


def parse_real(values: Sequence[str]) -> list[tuple[str, Path, Path]]:
    sets = []
    for value in values:
        name, _, paths = value.partition("=")
        corpus, _, judgments = paths.partition(",")
        if not (name and corpus and judgments):
            raise SystemExit(f"--real wants NAME=CORPUS,JUDGMENTS, got {value!r}")
        sets.append((name, Path(corpus), Path(judgments)))
    return sets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", action="append", default=[], help="NAME=CORPUS,JUDGMENTS (repeatable)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated; the first one gets the "
                                                                     "per-query table and the sweep")
    parser.add_argument("--cache-dir", type=Path, default=Path("data") / "bench-relevance")
    parser.add_argument("--per-query", action="store_true")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--note", default="")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    buffer = io.StringIO()

    def say(text: str) -> None:
        print(text, flush=True)
        buffer.write(text + "\n")

    say(f"Values in the code: RRF k {fusion.RRF_K}, fusion weights {dict(fusion.FUSION_WEIGHTS)}, keyword tie "
        f"breaker {embedded.KEYWORD_TIE_BREAKER}, field weights {dict(embedded.FIELD_WEIGHTS)}.")
    for name, corpus, judgments in [FIXTURES, *parse_real(args.real)]:
        run_set(name, corpus, judgments, models, args.cache_dir, args.per_query, args.sweep, say)
    if not args.no_record:
        results_file.append(RESULTS_SECTION, buffer.getvalue(), args.note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
