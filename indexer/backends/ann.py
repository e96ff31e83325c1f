"""Approximate dense retrieval for large embedded indexes: an inverted-file (IVF) partition of the passage vectors.

Below ANN_MIN_PASSAGES the embedded backend scores every passage exactly, which is what the contract tests and
small instances use. Above it, scoring every passage would cost each query a pass over the whole matrix (about
400 MB at 100k profiles: 60 ms or more on 2 cores), so the passages are grouped at build time into clusters by
spherical k-means, and a query scores only the passages of the clusters whose centroids are nearest to it. The
documents owning the best of those passages are the candidates, and their similarity is then computed exactly,
over all their passages: the scores shown are exact, only the set of documents found is approximate (recall).

A filter that keeps few passages is searched exactly instead of through the clusters; a broader one probes more
clusters, in proportion to what it removes, so that about as many passages within the filter get scored.

Memory: the clusters are scanned in a copy of the passage vectors grouped by cluster and quantised to int8 (one
scale per vector: a quarter of the float32 matrix, and each cluster one contiguous block); the exact similarities
read the float32 rows of the candidates from the generation's vectors.npy with positional reads, so that file
stays in the page cache rather than in the process.
"""

from __future__ import annotations

import contextlib
import functools
import math
import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from indexer import dense

# Passage count from which a generation gets a cluster index (~20k profiles): below it an exact pass costs under
# ~10 ms, and every test corpus (at most a few hundred profiles) is far below, so the contract runs on exact search.
ANN_MIN_PASSAGES = 60_000
# Average passages per cluster: ~270 clusters at 100k profiles, a query probing PROBES of them scores ~6% of
# the passages.
PASSAGES_PER_CLUSTER = 1_000
# Clusters probed per query row. Measured on benchmarks/search.py's corpus (100k profiles, 22 queries): 16 probes
# find 96% of the exact top-20 documents (95% of the top 50; 8 probes: 90%), for ~5 ms of CPU.
PROBES = 16
# Best passages (of those scored) whose documents become candidates: several times the dense depth, since a
# document often has more than one good passage.
CANDIDATE_PASSAGES = 400
# A filter keeping at most this many passages is searched exactly: scoring them costs less than probing clusters.
EXACT_FILTER_PASSAGES = 10_000
# k-means: sampled passages per cluster to fit the centroids, iterations, seed (reproducible builds).
KMEANS_SAMPLE_PER_CLUSTER = 64
KMEANS_ITERATIONS = 10
KMEANS_SEED = 20240611
# Rows per block when assigning every passage to its centroid: bounds the temporary (rows x clusters) matrix.
ASSIGN_BLOCK = 32_768
FILES = ("ann_centroids.npy", "ann_order.npy", "ann_offsets.npy", "ann_codes.npy", "ann_scales.npy")
# int8 codes span -127..127: symmetric, so that a vector and its opposite quantise alike.
CODE_MAX = 127
# BLAS threads while a query scores vectors. A query's products are small; on 2 shared cores, OpenBLAS's second
# thread mostly waits for a busy core: a 10k-row product took 15 ms with 2 threads and 1.5 ms with 1 (as for torch,
# see VIVIER_QUERY_THREADS).
QUERY_BLAS_THREADS = 1


@functools.lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def query_blas_threads() -> Iterator[None]:
    """numpy's BLAS limited to QUERY_BLAS_THREADS for the block (process-wide while it runs)."""
    with _blas_controller().limit(limits=QUERY_BLAS_THREADS, user_api="blas"):
        yield


def spherical_kmeans(vectors: np.ndarray, clusters: int, seed: int = KMEANS_SEED) -> np.ndarray:
    """Unit-norm centroids of `clusters` groups of (unit-norm) vectors, fitted on a sample by cosine similarity."""
    rng = np.random.default_rng(seed)
    sample_size = min(len(vectors), clusters * KMEANS_SAMPLE_PER_CLUSTER)
    sample = np.ascontiguousarray(vectors[np.sort(rng.choice(len(vectors), sample_size, replace=False))],
                                  dtype=np.float32)
    centroids = sample[rng.choice(sample_size, clusters, replace=False)].copy()
    for _ in range(KMEANS_ITERATIONS):
        assignment = np.argmax(sample @ centroids.T, axis=1)
        # Sum of each cluster's members: sorted into runs and reduced per run (np.add.at took twice as long).
        order = np.argsort(assignment, kind="stable")
        present, starts = np.unique(assignment[order], return_index=True)
        sums = np.zeros_like(centroids)
        sums[present] = np.add.reduceat(sample[order], starts, axis=0)
        norms = np.linalg.norm(sums, axis=1)
        filled = norms > 0  # an empty cluster keeps its centroid
        centroids[filled] = sums[filled] / norms[filled, None]
    return centroids


def build(vectors: np.ndarray) -> dict[str, np.ndarray] | None:
    """The cluster index of a passage matrix, or None when it is small enough to be searched exactly."""
    if len(vectors) < ANN_MIN_PASSAGES:
        return None
    clusters = max(1, round(len(vectors) / PASSAGES_PER_CLUSTER))
    centroids = spherical_kmeans(vectors, clusters)
    assignment = np.empty(len(vectors), dtype=np.int32)
    for start in range(0, len(vectors), ASSIGN_BLOCK):
        block = np.asarray(vectors[start:start + ASSIGN_BLOCK], dtype=np.float32)
        assignment[start:start + len(block)] = np.argmax(block @ centroids.T, axis=1)
    order = np.argsort(assignment, kind="stable").astype(np.int32)
    offsets = np.searchsorted(assignment[order], np.arange(clusters + 1)).astype(np.int64)
    grouped = np.asarray(vectors[order], dtype=np.float32)
    scales = np.abs(grouped).max(axis=1) / CODE_MAX
    scales[scales == 0] = 1.0
    grouped /= scales[:, None]  # in place: the grouped copy is as large as the passage matrix
    codes = np.round(grouped, out=grouped).astype(np.int8)
    return {"ann_centroids.npy": centroids, "ann_order.npy": order, "ann_offsets.npy": offsets,
            "ann_codes.npy": codes, "ann_scales.npy": scales.astype(np.float32)}


def save(target: Path, vectors: np.ndarray) -> None:
    """Write the cluster index of `vectors` into a generation directory (nothing below ANN_MIN_PASSAGES)."""
    built = build(vectors)
    for name, array in (built or {}).items():
        np.save(target / name, array)


def present(target: Path) -> bool:
    return all((target / name).exists() for name in FILES)


def _npy_layout(file) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset of an open .npy file (C order)."""
    version = np.lib.format.read_magic(file)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read_header(file)
    if fortran_order:
        raise ValueError(f"{file.name}: a C-ordered matrix was expected")
    return shape, dtype, file.tell()


def map_rows(path: Path) -> np.ndarray:
    """A read-only view of a saved (.npy) matrix, mapped from the file without read-ahead: a large index seldom
    reads its document-ordered vectors (similar documents, index updates), so they need not be resident."""
    with open(path, "rb") as file:
        shape, dtype, offset = _npy_layout(file)
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    if hasattr(mapped, "madvise"):
        mapped.madvise(mmap.MADV_RANDOM)
    return np.frombuffer(mapped, dtype=dtype, count=int(np.prod(shape)), offset=offset).reshape(shape)


@dataclass(frozen=True)
class PassageIndex:
    centroids: np.ndarray  # (clusters, dim), unit norm
    offsets: np.ndarray  # (clusters + 1,): cluster c holds positions offsets[c] to offsets[c + 1]
    codes: np.ndarray  # (passages, dim) int8: the passage vectors grouped by cluster, quantised
    scales: np.ndarray  # (passages,) float32: a code row times its scale approximates the vector
    position: np.ndarray  # passage row -> its position in `codes`
    position_doc: np.ndarray  # position -> document ord
    passage_starts: np.ndarray  # first passage row of each document
    passage_counts: np.ndarray  # passages of each document
    rows_file: BinaryIO  # the generation's vectors.npy (float32, document order), read with os.pread
    rows_offset: int  # where its data starts
    dim: int

    @property
    def clusters(self) -> int:
        return len(self.centroids)


def load(target: Path, passage_starts: np.ndarray, passages: int) -> PassageIndex | None:
    """The generation's cluster index, or None when it has none (a small index: exact search)."""
    if not present(target):
        return None
    centroids, order, offsets, codes, scales = (np.load(target / name) for name in FILES)
    counts = np.diff(np.append(passage_starts, passages)).astype(np.int64)
    passage_doc = np.repeat(np.arange(len(passage_starts), dtype=np.int32), counts)
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    rows_file = open(target / "vectors.npy", "rb", buffering=0)  # noqa: SIM115 - lives as long as the index
    shape, dtype, offset = _npy_layout(rows_file)
    if dtype != np.float32 or shape[0] != passages:
        raise ValueError(f"{target / 'vectors.npy'} does not hold the {passages} float32 passage vectors")
    return PassageIndex(centroids, offsets, codes, scales, position, passage_doc[order], np.asarray(passage_starts),
                        counts, rows_file, offset, int(shape[1]))


def _read_rows(index: PassageIndex, ranges: list[tuple[int, int]]) -> np.ndarray:
    """Float32 rows [first, first + count) for each (first, count), stacked, read from vectors.npy."""
    width = 4 * index.dim
    fd = index.rows_file.fileno()
    data = bytearray().join(os.pread(fd, count * width, index.rows_offset + first * width) for first, count in ranges)
    return np.frombuffer(data, dtype=np.float32).reshape(-1, index.dim)


def passage_rows(index: PassageIndex, first: int, count: int) -> np.ndarray:
    """Vectors of passage rows first to first + count - 1 (one document's passages)."""
    return _read_rows(index, [(first, count)])


def document_similarities(index: PassageIndex, query: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """Exact similarity of each of `docs` to a (rows, dim) query (indexer.dense's definition)."""
    if len(docs) == 0:
        return np.zeros(0, dtype=np.float32)
    counts = index.passage_counts[docs]
    firsts = np.cumsum(counts) - counts
    rows = _read_rows(index, list(zip(index.passage_starts[docs].tolist(), counts.tolist())))
    return dense.document_similarities(rows @ query.T, firsts, counts)


def candidates(index: PassageIndex, query: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Documents (within `mask`, a boolean array over documents) likely to be the nearest to the query: all of
    them when the mask keeps few passages, else the owners of the best passages of the probed clusters."""
    if mask is not None:
        kept = int(index.passage_counts[mask].sum())
        if kept <= EXACT_FILTER_PASSAGES:
            return np.nonzero(mask)[0]
        probes = min(index.clusters, math.ceil(PROBES * len(index.position) / kept))
    else:
        probes = min(index.clusters, PROBES)
    found = []
    for row in query:
        nearest = np.argpartition(-(index.centroids @ row), probes - 1)[:probes]
        blocks = [(index.offsets[c], index.offsets[c + 1]) for c in nearest]
        positions = np.concatenate([np.arange(first, end) for first, end in blocks])
        if mask is None:  # whole clusters: contiguous blocks
            scores = np.concatenate([index.codes[first:end].astype(np.float32) @ row for first, end in blocks])
        else:  # only the filter's passages of those clusters
            positions = positions[mask[index.position_doc[positions]]]
            scores = index.codes[positions].astype(np.float32) @ row
        scores *= index.scales[positions]  # approximate: the candidates' similarities are then computed exactly
        if len(positions) > CANDIDATE_PASSAGES:
            positions = positions[np.argpartition(-scores, CANDIDATE_PASSAGES - 1)[:CANDIDATE_PASSAGES]]
        found.append(index.position_doc[positions])
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int32)


def fill_similarities(index: PassageIndex, query: np.ndarray, similarities: np.ndarray,
                      mask: np.ndarray | None = None, docs: np.ndarray | None = None) -> None:
    """Write the exact similarity of the candidate documents within `mask` (or of `docs`) into `similarities`,
    where the documents not computed yet hold -inf."""
    query = np.atleast_2d(query).astype(np.float32)
    docs = candidates(index, query, mask) if docs is None else np.asarray(docs, dtype=np.int64)
    docs = docs[np.isneginf(similarities[docs])]
    similarities[docs] = document_similarities(index, query, docs)
