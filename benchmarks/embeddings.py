"""Embedding models: what indexing and querying cost with each, on real French profiles.

    .venv/bin/python -m benchmarks.embeddings --corpus ../shared/data/betagouv_startups.jsonl \\
        --corpus ../shared/data/apigouv_apis.jsonl [--limit 1000] [--models SPEC,...] [--note TEXT] [--no-record]

A model SPEC is a configured model (VIVIER_EMBEDDING_MODEL), optionally @BACKEND for a sentence-transformers model
(torch, onnx, onnx-int8, openvino). Default: the two packaged multilingual models (packaged:multilingual-e5-small,
the default; packaged:use-multilingual-v3) and all-MiniLM-L6-v2 on torch.

Each model is measured in fresh processes:
1. Web worker: time to the first query vector (load), then each of 60 buyer needs encoded alone on one thread as
   the web process does, three rounds after a warm-up (p50, p95), and the process's peak RSS.
2. Indexing: the passages of the first --limit profiles of the --corpus files (real records: beta.gouv.fr start-up
   and api.gouv.fr pages, read as title / mission or tagline / body), cut as `vivier index build` cuts them, encoded
   the way a build encodes them (every core: worker processes for the packaged engines, threads for torch), with
   the wall time, profiles/s and passages/s. From that rate: what 10,000 and 100,000 such profiles cost to index
   from scratch, and what an incremental update of 1% of them costs (only changed profiles are re-embedded; the
   vector cache serves the rest).
The table is printed and appended to benchmarks/RESULTS.md unless --no-record. Relevance per model is
benchmarks/relevance.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import results
from benchmarks.results import machine
from benchmarks.search import percentiles, rss_mb
from embeddings.encoder import Encoder
from indexer import evaluation
from indexer.documents import SearchDocument, document_from_record
from vivier.config import AUTO_BACKEND, DEFAULT_MODEL

RESULTS_SECTION = "## Embedding models (`python -m benchmarks.embeddings`)"
JUDGMENTS = REPO / "fixtures" / "eval" / "judgments.jsonl"
MODELS = (DEFAULT_MODEL, "packaged:use-multilingual-v3", "packaged:all-MiniLM-L6-v2@torch")
QUERY_ROUNDS = 3
SIZES = (10_000, 100_000)
INCREMENTAL_SHARE = 0.01


def parse_spec(spec: str) -> tuple[str, str]:
    model, _, backend = spec.partition("@")
    return model, backend or AUTO_BACKEND


def load_profiles(paths: list[Path], limit: int) -> list[SearchDocument]:
    """Search documents of corpus files: the `vivier eval` format, or the real records of ../shared/data (title ->
    name, mission or tagline -> pitch, body_markdown -> description)."""
    documents: list[SearchDocument] = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            record = json.loads(line)
            if "name" not in record:
                record = {"id": record["id"], "name": record.get("title") or record["id"],
                          "pitch": record.get("mission") or record.get("tagline") or "",
                          "description": record.get("body_markdown") or ""}
            documents.append(document_from_record({k: v for k, v in record.items()
                                                   if k in evaluation.CORPUS_FIELDS}))
            if len(documents) >= limit:
                return documents
    return documents


def web_worker(spec: str) -> dict[str, Any]:
    model, backend = parse_spec(spec)
    encoder = Encoder(model, backend)
    started = time.perf_counter()
    encoder.encode_query("premier vecteur")
    load_s = time.perf_counter() - started
    judgments, _ = evaluation.load_judgments(JUDGMENTS, [d.id for d in evaluation.load_corpus(
        REPO / "fixtures" / "eval" / "corpus.jsonl")])
    queries = [j.query for j in judgments]
    for query in queries:
        encoder.encode_query(query)
    wall = []
    for _ in range(QUERY_ROUNDS):
        for query in queries:
            started = time.perf_counter()
            encoder.encode_query(query)
            wall.append((time.perf_counter() - started) * 1000)
    _, peak = rss_mb()
    return {"model": encoder.model_name, "load_s": round(load_s, 2), "query_ms": percentiles(wall),
            "rss_mb": peak}


def indexing(spec: str, corpus: list[Path], limit: int) -> dict[str, Any]:
    model, backend = parse_spec(spec)
    encoder = Encoder(model, backend)
    documents = load_profiles(corpus, limit)
    passages = [p for d in documents for p in d.passages]
    encoder.encode(passages[:2])  # the model loaded before timing
    started = time.perf_counter()
    encoder.encode(passages, threads=os.cpu_count())
    seconds = time.perf_counter() - started
    return {"profiles": len(documents), "passages": len(passages), "encode_s": round(seconds, 1),
            "profiles_per_s": round(len(documents) / seconds, 2), "passages_per_s": round(len(passages) / seconds, 1),
            "load": round(os.getloadavg()[0], 1)}


def run_child(step: str, spec: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.embeddings", f"--{step}", spec, "--limit", str(args.limit)]
    for path in args.corpus:
        command += ["--corpus", str(path)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{step} {spec} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | load | query ms p50 / p95 (1 thread) | web RSS MB | profiles/s (passages/s), all cores "
             "| 10k from scratch | 100k from scratch | 1% of 100k changed | load avg |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        per_profile = 1 / row["profiles_per_s"]
        lines.append(
            f"| {row['spec']} | {row['load_s']} s | {row['query_ms']['p50']} / {row['query_ms']['p95']} "
            f"| {row['rss_mb']:,} | {row['profiles_per_s']:.1f} ({row['passages_per_s']:.0f}) | "
            + " | ".join(duration(n * per_profile) for n in SIZES)
            + f" | {duration(INCREMENTAL_SHARE * SIZES[-1] * per_profile)} | {row['load']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, action="append", default=[],
                        help="profiles to encode (repeatable; real records or the vivier eval format)")
    parser.add_argument("--limit", type=int, default=1000, help="profiles encoded at most")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated MODEL[@BACKEND]")
    parser.add_argument("--note", default="")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--web-worker", help=argparse.SUPPRESS)
    parser.add_argument("--indexing", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.corpus:
        args.corpus = [REPO / "fixtures" / "eval" / "corpus.jsonl"]
    if args.web_worker:
        print(json.dumps(web_worker(args.web_worker)))
        return
    if args.indexing:
        print(json.dumps(indexing(args.indexing, args.corpus, args.limit)))
        return
    rows = []
    for spec in (s.strip() for s in args.models.split(",") if s.strip()):
        row = {"spec": spec, **run_child("web-worker", spec, args), **run_child("indexing", spec, args)}
        print(f"{spec}: {json.dumps(row)}", flush=True)
        rows.append(row)
    corpus = ", ".join(path.name for path in args.corpus)
    text = (f"{rows[0]['profiles']} real profiles ({corpus}), {rows[0]['passages']} passages.\n\n{table(rows)}")
    if not args.no_record:
        results.append(RESULTS_SECTION, text, args.note)
    print(f"\nEmbedding models — {machine()}\n{text}")


if __name__ == "__main__":
    main()
