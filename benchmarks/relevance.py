"""Relevance tuning: sweep the ranking constants on a judged corpus and print the evidence as Markdown tables.

    .venv/bin/python -m benchmarks.relevance [--corpus FILE] [--judgments FILE] [--data-dir DIR] [--skip-families]

Every run builds a temporary embedded index through indexer/evaluation.py (the path `vivier eval` takes: corpus
-> search documents -> cached passage vectors -> embedded backend) and sends every judged query through
SearchService.search in keyword, dense and hybrid modes. Constants are set in-process where the code reads them,
and restored afterwards:

    RRF k                   indexer.fusion.RRF_K (read at call time)
    fusion weights          indexer.fusion.FUSION_WEIGHTS["dense"] (keyword stays 1)
    BM25 field weights      indexer.backends.embedded.FIELD_WEIGHTS (updated in place)
    fuzzy weight            indexer.backends.embedded.FUZZY_WEIGHT
    dense depth, min sim    DENSE_DEPTH, DENSE_MIN_SIMILARITY (indexer.backends.base and the embedded backend's copies)
    passage size            indexer.documents.PASSAGE_MAX_WORDS and the query chunk size (re-embeds the corpus; the
                            vector cache under --data-dir makes later runs fast)

It prints: the values before tuning and the values in the code; one family at a time around the values in the
code; a joint grid of the constants that moved hybrid nDCG@10; a 2-fold check against over-fitting (queries split
into odd and even lines of the judgments file, the best grid setting of one half scored on the other half).
The chosen values are then set in the code by hand; benchmarks/RESULTS.md records the output.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import results as results_file
from embeddings.encoder import Encoder
from indexer import documents as documents_module
from indexer import evaluation, fusion, service
from indexer.backends import base, embedded
from vivier.config import load_settings

CORPUS = REPO / "fixtures" / "eval" / "corpus.jsonl"
JUDGMENTS = REPO / "fixtures" / "eval" / "judgments.jsonl"
RESULTS_SECTION = "## Relevance sweep (`python -m benchmarks.relevance`)"
NDCG, PRECISION, RECALL = evaluation.METRICS

# The values in the code before the first tuning (2026-11-26), kept to print the before/after comparison.
BEFORE: dict[str, Any] = {
    "rrf_k": 60, "dense_weight": 1.0, "dense_depth": 50, "dense_min_similarity": 0.35, "fuzzy_weight": 0.3,
    "passage_words": 90,
    "field_weights": {"name": 4.0, "pitch": 2.5, "categories_text": 2.0, "keywords": 1.5, "description": 1.0},
}

# Values tried, one family at a time (the other constants at their values in the code).
RRF_KS = (2, 5, 10, 20, 30, 60, 100)
DENSE_WEIGHTS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0)
DENSE_MIN_SIMILARITIES = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
DENSE_DEPTHS = (10, 20, 30, 50, 100)
FUZZY_WEIGHTS = (0.0, 0.1, 0.3, 0.6, 1.0)
PASSAGE_SIZES = (40, 60, 90, 120)
NAME_WEIGHTS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
FIELD_WEIGHT_SETS: dict[str, dict[str, float]] = {
    "before (name 4, pitch 2.5, categories 2, keywords 1.5, description 1)": BEFORE["field_weights"],
    "flat (all 1)": {"name": 1.0, "pitch": 1.0, "categories_text": 1.0, "keywords": 1.0, "description": 1.0},
    "compressed (name 1.5, pitch 1.5, categories 1.25, keywords 1.25, description 1)":
        {"name": 1.5, "pitch": 1.5, "categories_text": 1.25, "keywords": 1.25, "description": 1.0},
    "keywords heavier (before, keywords 2.5)": {**BEFORE["field_weights"], "keywords": 2.5},
    "description lighter (before, description 0.5)": {**BEFORE["field_weights"], "description": 0.5},
}
# The joint grid: the constants that moved hybrid nDCG@10 one at a time, around their best values.
GRID = {"rrf_k": (5, 10, 20, 60), "dense_weight": (0.1, 0.2, 0.3, 0.5, 1.0), "name_weight": (2.0, 3.0, 4.0)}

TABLE_HEAD = ("| setting | keyword nDCG@10 | dense nDCG@10 | hybrid nDCG@10 | keyword P@10 | hybrid P@10 | "
              "keyword R@50 | hybrid R@50 |\n|---|---|---|---|---|---|---|---|")


class MemoEncoder(Encoder):
    """The configured encoder, remembering what it encoded: each query is embedded once for the whole sweep."""

    def __init__(self, model: str):
        super().__init__(model)
        self._memo: dict[tuple[str, ...], Any] = {}

    def encode(self, texts, threads=None, progress=False, batch_size=64):
        key = tuple(texts)
        if key not in self._memo:
            self._memo[key] = super().encode(list(texts), threads=threads, progress=progress, batch_size=batch_size)
        return self._memo[key]


@contextlib.contextmanager
def constants(rrf_k: int | None = None, dense_weight: float | None = None,
              field_weights: Mapping[str, float] | None = None, name_weight: float | None = None,
              fuzzy_weight: float | None = None, dense_depth: int | None = None,
              dense_min_similarity: float | None = None, passage_words: int | None = None) -> Iterator[None]:
    """Set ranking constants where the code reads them; restore the values in the code afterwards."""
    saved_fusion_weights = dict(fusion.FUSION_WEIGHTS)
    saved_field_weights = dict(embedded.FIELD_WEIGHTS)
    saved = {(module, name): getattr(module, name) for module, name in (
        (fusion, "RRF_K"), (embedded, "FUZZY_WEIGHT"), (embedded, "DENSE_DEPTH"), (base, "DENSE_DEPTH"),
        (embedded, "DENSE_MIN_SIMILARITY"), (base, "DENSE_MIN_SIMILARITY"),
        (documents_module, "PASSAGE_MAX_WORDS"), (service, "QUERY_CHUNK_WORDS"))}
    chunk_defaults = service.query_chunks.__defaults__
    try:
        if rrf_k is not None:
            fusion.RRF_K = rrf_k
        if dense_weight is not None:
            fusion.FUSION_WEIGHTS["dense"] = dense_weight
        if field_weights is not None:
            embedded.FIELD_WEIGHTS.update(field_weights)
        if name_weight is not None:
            embedded.FIELD_WEIGHTS["name"] = name_weight
        if fuzzy_weight is not None:
            embedded.FUZZY_WEIGHT = fuzzy_weight
        if dense_depth is not None:
            embedded.DENSE_DEPTH = base.DENSE_DEPTH = dense_depth
        if dense_min_similarity is not None:
            embedded.DENSE_MIN_SIMILARITY = base.DENSE_MIN_SIMILARITY = dense_min_similarity
        if passage_words is not None:
            documents_module.PASSAGE_MAX_WORDS = service.QUERY_CHUNK_WORDS = passage_words
            service.query_chunks.__defaults__ = (passage_words, *chunk_defaults[1:])
        yield
    finally:
        fusion.FUSION_WEIGHTS.clear()
        fusion.FUSION_WEIGHTS.update(saved_fusion_weights)
        embedded.FIELD_WEIGHTS.clear()
        embedded.FIELD_WEIGHTS.update(saved_field_weights)
        for (module, name), value in saved.items():
            setattr(module, name, value)
        service.query_chunks.__defaults__ = chunk_defaults


def means(results: Sequence[evaluation.QueryResult]) -> dict[str, dict[str, float]]:
    return evaluation.EvaluationReport(0, list(results)).means()


def row(label: str, results: Sequence[evaluation.QueryResult]) -> str:
    m = means(results)
    cells = [m[mode][NDCG] for mode in evaluation.EVAL_MODES]
    cells += [m[mode][metric] for metric in (PRECISION, RECALL) for mode in ("keyword", "hybrid")]
    return f"| {label} | " + " | ".join(f"{c:.3f}" for c in cells) + " |"


def describe(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())


class Sweep:
    """The judged queries, and one temporary index per passage size, kept for the whole sweep."""

    def __init__(self, corpus: Path, judgments: Path, data_dir: Path | None):
        self.settings = load_settings()
        self.encoder = MemoEncoder(self.settings.embedding_model)
        self.corpus = corpus
        self.data_dir = data_dir
        documents = evaluation.load_corpus(corpus)
        self.judgments, _ = evaluation.load_judgments(judgments, [d.id for d in documents])
        self._services: dict[int, service.SearchService] = {}
        self._stack = contextlib.ExitStack()

    def _service(self, passage_words: int) -> service.SearchService:
        if passage_words not in self._services:
            with constants(passage_words=passage_words):
                documents = evaluation.load_corpus(self.corpus)
                self._services[passage_words] = self._stack.enter_context(
                    evaluation.temporary_index(documents, self.encoder, self.settings, self.data_dir))
        return self._services[passage_words]

    def run(self, judgments: Sequence[evaluation.Judgment] | None = None,
            **values: Any) -> list[evaluation.QueryResult]:
        search = self._service(values.get("passage_words") or documents_module.PASSAGE_MAX_WORDS)
        with constants(**values):
            return evaluation.run_queries(search, self.judgments if judgments is None else judgments)

    def close(self) -> None:
        self._stack.close()


def family(sweep: Sweep, title: str, name: str, values: Sequence[Any], labels: Sequence[str] | None = None) -> None:
    print(f"\n#### {title}\n\n{TABLE_HEAD}")
    for value, label in zip(values, labels or [str(v) for v in values]):
        print(row(label, sweep.run(**{name: value})), flush=True)


def best_of(sweep: Sweep, grid: list[dict[str, Any]],
            judgments: Sequence[evaluation.Judgment]) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """The grid setting with the best hybrid nDCG@10 on `judgments` (then recall@50, then the first listed)."""
    scored = [(means(sweep.run(judgments, **values)), values) for values in grid]
    best = max(scored, key=lambda s: (round(s[0]["hybrid"][NDCG], 6), round(s[0]["hybrid"][RECALL], 6)))
    return best[1], best[0]


def golden_rows(sweep: Sweep) -> None:
    """The golden queries of tests/test_golden.py (first result in the category, at least N of the top 3) on an
    index of the annuaire's companies, as that test builds it from a crawl: which rows fail before and after."""
    from fixtures.eval.build_corpus import corpus_record
    from fixtures.world import load_world
    from indexer.documents import document_from_record
    from tests.test_golden import GOLDEN

    documents = [document_from_record(corpus_record(c)) for c in load_world() if c["origin"] == "annuaire"]
    print(f"\n#### Golden queries (tests/test_golden.py, {len(GOLDEN)} rows) on the annuaire's {len(documents)} "
          f"companies\n\n| setting | rows failing |\n|---|---|")
    with evaluation.temporary_index(documents, sweep.encoder, sweep.settings, sweep.data_dir) as search:
        for label, values in (("before tuning", BEFORE), ("in the code", {})):
            failing = []
            with constants(**values):
                for query, category, minimum in GOLDEN:
                    top = search.search(query, per_page=3).hits
                    if not (top and category in top[0].document.categories
                            and sum(category in h.document.categories for h in top) >= minimum):
                        failing.append(f"{query!r}: " + ", ".join(h.document.name for h in top))
            print(f"| {label} | {'; '.join(failing) or 'none'} |")


class _Tee(io.StringIO):
    """Standard output that is also kept, to be appended to RESULTS.md at the end."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def write(self, text: str) -> int:
        self.out.write(text)
        return super().write(text)

    def flush(self) -> None:
        self.out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--judgments", type=Path, default=JUDGMENTS)
    parser.add_argument("--data-dir", type=Path, default=None, help="vector cache directory (default: temporary)")
    parser.add_argument("--skip-families", action="store_true", help="only the before/after rows, grid and 2-fold")
    parser.add_argument("--note", default="", help="a word on this run for RESULTS.md")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        in_code = _sweep(args)
    if not args.no_record:
        results_file.append(RESULTS_SECTION, tee.getvalue(), args.note)
    print(f"\nRelevance — {results_file.machine()}\nvalues in the code: "
          + ", ".join(f"{mode} nDCG@10 {scores[NDCG]:.3f}" for mode, scores in in_code.items()))
    return 0


def _sweep(args: argparse.Namespace) -> dict[str, dict[str, float]]:

    started = time.perf_counter()
    sweep = Sweep(args.corpus, args.judgments, args.data_dir)
    try:
        print(f"{len(sweep.judgments)} queries, corpus {args.corpus.name}. In the code: RRF k {fusion.RRF_K}, "
              f"fusion weights {dict(fusion.FUSION_WEIGHTS)}, dense depth {base.DENSE_DEPTH}, dense min similarity "
              f"{base.DENSE_MIN_SIMILARITY}, fuzzy weight {embedded.FUZZY_WEIGHT}, passage words "
              f"{documents_module.PASSAGE_MAX_WORDS}, field weights {dict(embedded.FIELD_WEIGHTS)}.")
        in_code = sweep.run()
        print(f"\n{TABLE_HEAD}\n{row('before tuning', sweep.run(**BEFORE))}\n{row('in the code', in_code)}")
        if not args.skip_families:
            family(sweep, "RRF k", "rrf_k", RRF_KS)
            family(sweep, "Dense weight in the fusion (keyword 1)", "dense_weight", DENSE_WEIGHTS)
            family(sweep, "Dense minimum similarity", "dense_min_similarity", DENSE_MIN_SIMILARITIES)
            family(sweep, "Dense depth", "dense_depth", DENSE_DEPTHS)
            family(sweep, "BM25 name weight (other fields as in the code)", "name_weight", NAME_WEIGHTS)
            family(sweep, "BM25 field weights", "field_weights", list(FIELD_WEIGHT_SETS.values()),
                   list(FIELD_WEIGHT_SETS))
            family(sweep, "Fuzzy weight", "fuzzy_weight", FUZZY_WEIGHTS)
            family(sweep, "Passage size (words)", "passage_words", PASSAGE_SIZES)

        grid = [dict(zip(GRID, combo)) for combo in itertools.product(*GRID.values())]
        print(f"\n#### Joint grid ({len(grid)} settings): hybrid nDCG@10 by RRF k (rows) and dense weight, name "
              f"weight (columns)\n")
        columns = list(itertools.product(GRID["dense_weight"], GRID["name_weight"]))
        print("| k | " + " | ".join(f"dense {d}, name {n}" for d, n in columns) + " |")
        print("|---" * (1 + len(columns)) + "|")
        for k in GRID["rrf_k"]:
            cells = [means(sweep.run(rrf_k=k, dense_weight=d, name_weight=n))["hybrid"][NDCG] for d, n in columns]
            print(f"| {k} | " + " | ".join(f"{c:.3f}" for c in cells) + " |", flush=True)

        halves = {"odd lines": sweep.judgments[0::2], "even lines": sweep.judgments[1::2]}
        print("\n#### 2-fold check: tuned on one half of the queries, scored on the other\n")
        print("| tuned on | best grid setting there | its hybrid nDCG@10 there | other half: keyword | other half: "
              "hybrid before tuning | other half: hybrid, setting tuned on this half | other half: hybrid, values "
              "in the code |\n|---|---|---|---|---|---|---|")
        for (name, tune), check in zip(halves.items(), reversed(halves.values())):
            best, there = best_of(sweep, grid, tune)
            tuned = means(sweep.run(check, **best))
            print(f"| {name} | {describe(best)} | {there['hybrid'][NDCG]:.3f} | {tuned['keyword'][NDCG]:.3f} | "
                  f"{means(sweep.run(check, **BEFORE))['hybrid'][NDCG]:.3f} | {tuned['hybrid'][NDCG]:.3f} | "
                  f"{means(sweep.run(check))['hybrid'][NDCG]:.3f} |", flush=True)
        best, scores = best_of(sweep, grid, sweep.judgments)
        print(f"\nBest grid setting on all queries: {describe(best)} (hybrid nDCG@10 {scores['hybrid'][NDCG]:.3f}, "
              f"keyword {scores['keyword'][NDCG]:.3f}).")
        golden_rows(sweep)
        print(f"\nSweep time: {time.perf_counter() - started:.0f} s")
    finally:
        sweep.close()
    return means(in_code)


if __name__ == "__main__":
    sys.exit(main())
