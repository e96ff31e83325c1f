"""Embedding benchmark: throughput, query latency, relevance and memory of each embedding backend.

    .venv/bin/python -m benchmarks.embeddings [--corpus PATH] [--judgments PATH] [--backends torch,onnx,...]
                                              [--rounds 2] [--models-dir DIR] [--note TEXT] [--no-record]

Each backend of embeddings/encoder.py (torch, onnx, onnx-int8, openvino) runs the configured model
(VIVIER_EMBEDDING_MODEL, all-MiniLM-L6-v2 by default):
1. Export (exported backends): a process exports the model into --models-dir (the configured data directory's
   models/ by default) unless an export is there already, and reports how long it took.
2. Web worker, one fresh process per backend: load (the time to the first vector), then every judged query encoded
   alone on one thread as the web process does, after a warm-up pass, QUERY_ROUNDS times (p50, p95), then the
   peak RSS (VmHWM); then the RSS after encoding the longest passages in full batches (a build's peak).
3. Throughput, one process holding every backend: the passages of every --corpus profile, built as
   indexer/documents.py builds them, encoded in batches on all cores as `vivier index build` does. The backends
   take turns, pass after pass (--rounds passes each), so that work from other processes on the machine falls on
   all of them alike; each keeps its fastest pass. Profiles/s of that pass, and profiles per CPU-second of the
   process (the figure other work on the machine moves least). --corpus takes the `vivier eval` corpus format or
   beta.gouv start-up records (title, mission, body_markdown: /work/shared/data/betagouv_startups.jsonl).
4. Relevance, in the same process: nDCG@10, P@10 and recall@50 of the judged queries in dense and hybrid modes
   through indexer.evaluation.evaluate (the path of `vivier eval`) on --eval-corpus (fixtures/eval by default),
   reusing step 3's passage vectors when the corpora are the same.

Target (issue 9): 3x the torch backend's profiles/s for at most 1 point of nDCG@10 lost, in dense and in hybrid
mode. The table is printed last and appended to benchmarks/RESULTS.md unless --no-record.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import results
from benchmarks.results import machine
from benchmarks.search import percentiles, rss_mb
from embeddings.encoder import BATCH_SIZE, MODELS_DIR_NAME, Encoder, ensure_export, export_directory
from indexer import evaluation
from indexer.documents import SearchDocument, document_from_record
from vivier.config import EMBEDDING_BACKENDS, load_settings

RESULTS_SECTION = "## Embedding backends (`python -m benchmarks.embeddings`)"
CORPUS = REPO / "fixtures" / "eval" / "corpus.jsonl"
JUDGMENTS = REPO / "fixtures" / "eval" / "judgments.jsonl"
NDCG, PRECISION, RECALL = evaluation.METRICS
# The keyword ranking does not use the model: only these modes can move with the backend.
RELEVANCE_MODES = ("dense", "hybrid")
# Timed passes over the judged queries (60 in fixtures/eval) for the latency percentiles.
QUERY_ROUNDS = 3
# Issue 9's target: this many times the torch backend's profiles/s, for at most this much nDCG@10 lost.
TARGET_SPEEDUP = 3.0
TARGET_MAX_NDCG_LOSS = 0.01


class RememberingEncoder(Encoder):
    """An encoder that keeps the vectors it computed: the relevance step reuses the throughput step's passage vectors
    (the vectors a build would have stored) instead of encoding the corpus again."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.memory: dict[str, np.ndarray] = {}

    def remember(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        self.memory.update(zip(texts, vectors))

    def encode(self, texts, threads=None, progress=False, batch_size=BATCH_SIZE):
        if texts and all(text in self.memory for text in texts):
            return np.stack([self.memory[text] for text in texts])
        vectors = super().encode(list(texts), threads=threads, progress=progress, batch_size=batch_size)
        self.remember(texts, vectors)
        return vectors


def load_profiles(path: Path) -> list[SearchDocument]:
    """Search documents of a corpus file: the `vivier eval` format, or beta.gouv start-up records (title -> name,
    mission -> pitch, body_markdown -> description)."""
    with path.open(encoding="utf-8") as lines:
        first = json.loads(next(line for line in lines if line.strip()))
    if "name" in first:
        return evaluation.load_corpus(path)
    documents = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                documents.append(document_from_record({
                    "id": record["id"], "name": record.get("title") or record["id"],
                    "pitch": record.get("mission") or "", "description": record.get("body_markdown") or ""}))
    return documents


# -- measures, each in its own process -------------------------------------------------------------------------------
def web_worker(backend: str, corpus: Path, judgments_path: Path, eval_corpus: Path,
               models_dir: Path) -> dict[str, Any]:
    """Load time, one-thread query latency and memory of one backend in a fresh process."""
    settings = load_settings()
    encoder = Encoder(settings.embedding_model, backend=backend, models_dir=models_dir)
    started = time.perf_counter()
    encoder.encode_query("premier vecteur")
    load_s = time.perf_counter() - started
    queries = [j.query for j in load_judged(judgments_path, eval_corpus)]
    for query in queries:  # warm-up: the one-thread session, the tokenizer's caches
        encoder.encode_query(query)
    wall, cpu = [], []
    for _ in range(QUERY_ROUNDS):
        for query in queries:
            started, cpu_started = time.perf_counter(), time.thread_time()
            encoder.encode_query(query)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - cpu_started) * 1000)
    _, rss_queries = rss_mb()
    passages = [p for d in load_profiles(corpus) for p in d.passages]
    encoder.encode(sorted(passages, key=len, reverse=True)[:4 * BATCH_SIZE])  # full batches, longest padding
    _, rss_batch = rss_mb()
    return {"load_s": round(load_s, 1), "query_ms": percentiles(wall), "query_cpu_ms": percentiles(cpu),
            "rss_queries_mb": rss_queries, "rss_batch_mb": rss_batch}


def throughput_and_relevance(backends: Sequence[str], corpus: Path, judgments_path: Path, eval_corpus: Path,
                             models_dir: Path, rounds: int) -> dict[str, dict[str, Any]]:
    """Interleaved timed passes over the corpus, then the relevance of each backend."""
    settings = load_settings()
    encoders = {b: RememberingEncoder(settings.embedding_model, backend=b, models_dir=models_dir) for b in backends}
    documents = load_profiles(corpus)
    passages = [p for d in documents for p in d.passages]
    for encoder in encoders.values():  # warm-up: the all-cores sessions
        Encoder.encode(encoder, passages[:BATCH_SIZE])
    passes: dict[str, list[tuple[float, float, float]]] = {b: [] for b in backends}
    for _ in range(max(1, rounds)):
        for backend, encoder in encoders.items():
            load = os.getloadavg()[0]
            started, cpu_started = time.perf_counter(), time.process_time()
            vectors = Encoder.encode(encoder, passages)  # Encoder's own encode: no remembered vector is served
            passes[backend].append((time.perf_counter() - started, time.process_time() - cpu_started, load))
            encoder.remember(passages, vectors)
    eval_documents = evaluation.load_corpus(eval_corpus)
    judgments = load_judged(judgments_path, eval_corpus)
    rows = {}
    for backend, encoder in encoders.items():
        best_s, best_cpu_s, load = min(passes[backend])
        report = evaluation.evaluate(eval_documents, judgments, encoder, settings, modes=RELEVANCE_MODES)
        rows[backend] = {
            "backend": backend, "model": encoder.model_name, "profiles": len(documents), "passages": len(passages),
            "encode_s": round(best_s, 2), "encode_cpu_s": round(best_cpu_s, 2),
            "passes_s": [round(s, 1) for s, _, _ in passes[backend]],
            "profiles_per_s": round(len(documents) / best_s, 2), "passages_per_s": round(len(passages) / best_s, 1),
            "profiles_per_cpu_s": round(len(documents) / best_cpu_s, 2), "load": round(load, 1),
            "relevance": report.means(), "queries": len(report.results)}
    return rows


def load_judged(judgments_path: Path, eval_corpus: Path) -> list[evaluation.Judgment]:
    judgments, _ = evaluation.load_judgments(judgments_path, [d.id for d in evaluation.load_corpus(eval_corpus)])
    return judgments


def export(backend: str, models_dir: Path) -> dict[str, Any]:
    """Seconds to export the configured model for `backend`; None when an export was there already."""
    model = load_settings().embedding_model
    artefact = "onnx-int8" if backend == "onnx-int8" else "onnx"
    if export_directory(models_dir, model, artefact).exists():
        return {"export_s": None}
    started = time.perf_counter()
    ensure_export(model, backend, models_dir)
    return {"export_s": round(time.perf_counter() - started, 1)}


def run_child(step: str, value: str, args: argparse.Namespace) -> Any:
    command = [sys.executable, "-m", "benchmarks.embeddings", f"--{step}", value, "--corpus", str(args.corpus),
               "--eval-corpus", str(args.eval_corpus), "--judgments", str(args.judgments),
               "--models-dir", str(args.models_dir), "--rounds", str(args.rounds)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{step} {value} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- report ------------------------------------------------------------------------------------------------------------
def with_comparison(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Speed-ups and nDCG@10 changes against the torch row (when there is one)."""
    reference = next((row for row in rows if row["backend"] == "torch"), None)
    for row in rows:
        if reference is None:
            row.update(speedup=None, cpu_speedup=None, ndcg_change={})
            continue
        row["speedup"] = round(row["profiles_per_s"] / reference["profiles_per_s"], 2)
        row["cpu_speedup"] = round(row["profiles_per_cpu_s"] / reference["profiles_per_cpu_s"], 2)
        row["ndcg_change"] = {mode: row["relevance"][mode][NDCG] - reference["relevance"][mode][NDCG]
                              for mode in RELEVANCE_MODES}
    return rows


def meets_target(row: dict[str, Any]) -> bool:
    return (row["speedup"] is not None and row["speedup"] >= TARGET_SPEEDUP
            and all(change >= -TARGET_MAX_NDCG_LOSS for change in row["ndcg_change"].values()))


def table(rows: list[dict[str, Any]]) -> str:
    def pair(row, metric):
        return " / ".join(f"{row['relevance'][mode][metric]:.3f}" for mode in RELEVANCE_MODES)

    lines = ["| backend | export s | load s | profiles/s (passages/s) | profiles per CPU-s | speed-up wall / CPU "
             "| query ms p50 / p95 | nDCG@10 dense / hybrid | change, points | P@10 dense / hybrid "
             "| R@50 dense / hybrid | RSS MB queries / batches | load |",
             "|---|---:|---:|---:|---:|---:|---|---|---|---|---|---|---:|"]
    for row in rows:
        exported = "–" if row["backend"] == "torch" else "reused" if row["export_s"] is None else row["export_s"]
        speedup = "–" if row["speedup"] is None else f"{row['speedup']:.2f}x / {row['cpu_speedup']:.2f}x"
        change = " / ".join(f"{100 * row['ndcg_change'][mode]:+.1f}" for mode in RELEVANCE_MODES) \
            if row["ndcg_change"] else "–"
        lines.append(
            f"| {row['backend']} | {exported} | {row['load_s']} | {row['profiles_per_s']:.1f} "
            f"({row['passages_per_s']:.0f}) | {row['profiles_per_cpu_s']:.1f} | {speedup} "
            f"| {row['query_ms']['p50']} / {row['query_ms']['p95']} | {pair(row, NDCG)} | {change} "
            f"| {pair(row, PRECISION)} | {pair(row, RECALL)} "
            f"| {row['rss_queries_mb']:,} / {row['rss_batch_mb']:,} | {row['load']} |")
    return "\n".join(lines)


def verdict(rows: list[dict[str, Any]]) -> str:
    if not any(row["backend"] == "torch" for row in rows):
        return "Target not judged: the torch backend was not measured."
    candidates = [row for row in rows if row["backend"] != "torch"]
    lines = []
    for row in candidates:
        worst = min(row["ndcg_change"].values())
        lines.append(f"- {row['backend']}: {row['speedup']:.2f}x profiles/s ({row['cpu_speedup']:.2f}x per "
                     f"CPU-second), nDCG@10 {100 * worst:+.1f} points at worst: "
                     f"target {'met' if meets_target(row) else 'not met'}.")
    winners = [row["backend"] for row in candidates if meets_target(row)]
    head = (f"Target (>= {TARGET_SPEEDUP:g}x torch's profiles/s for <= {100 * TARGET_MAX_NDCG_LOSS:g} point of "
            f"nDCG@10 lost, dense and hybrid): " + (f"met by {', '.join(winners)}." if winners
                                                    else "not met by any backend."))
    return "\n".join([head, "", *lines])


def describe(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    row = rows[0]
    return (f"{row['profiles']} profiles ({row['passages']} passages) of `{display(args.corpus)}`, best of "
            f"{args.rounds} passes; {row['queries']} judged queries of `{display(args.judgments)}` on "
            f"`{display(args.eval_corpus)}`. Model `{load_settings().embedding_model}`.")


def display(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name


def record(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """Append this run under the embedding section of RESULTS.md."""
    results.append(RESULTS_SECTION, "\n\n".join([describe(args, rows), table(rows), verdict(rows)]), args.note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="profiles encoded for the throughput figures")
    parser.add_argument("--judgments", type=Path, default=JUDGMENTS, help="judged queries for the relevance figures")
    parser.add_argument("--eval-corpus", type=Path, default=CORPUS, help="the corpus the judgments are about")
    parser.add_argument("--backends", default=",".join(EMBEDDING_BACKENDS), help="comma-separated")
    parser.add_argument("--rounds", type=int, default=2, help="timed passes over the corpus (the best is kept)")
    parser.add_argument("--models-dir", type=Path, help="where exports are written and reused "
                                                        "(default: <data dir>/models)")
    parser.add_argument("--note", default="", help="a word on this run for RESULTS.md")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    parser.add_argument("--export", choices=EMBEDDING_BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--web-worker", choices=EMBEDDING_BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--throughput", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.models_dir = args.models_dir or load_settings().data_dir / MODELS_DIR_NAME
    if args.export:
        print(json.dumps(export(args.export, args.models_dir)))
        return
    if args.web_worker:
        print(json.dumps(web_worker(args.web_worker, args.corpus, args.judgments, args.eval_corpus,
                                    args.models_dir)))
        return
    if args.throughput:
        print(json.dumps(throughput_and_relevance(args.throughput.split(","), args.corpus, args.judgments,
                                                  args.eval_corpus, args.models_dir, args.rounds)))
        return

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in EMBEDDING_BACKENDS]
    if unknown:
        parser.error(f"unknown backend {', '.join(unknown)}; known: {', '.join(EMBEDDING_BACKENDS)}")
    rows = []
    for backend in backends:
        row = {"backend": backend, "export_s": None}
        if backend != "torch":
            row.update(run_child("export", backend, args))
        row.update(run_child("web-worker", backend, args))
        print(f"{backend}: {json.dumps(row)}", flush=True)
        rows.append(row)
    measured = run_child("throughput", ",".join(backends), args)
    for row in rows:
        row.update(measured[row["backend"]])
        print(f"{row['backend']}: {json.dumps(measured[row['backend']])}", flush=True)
    with_comparison(rows)
    if not args.no_record:
        record(args, rows)
    print()
    print(f"Embedding backends — {machine()}")
    print(describe(args, rows))
    print(table(rows))
    print(verdict(rows))


if __name__ == "__main__":
    main()
