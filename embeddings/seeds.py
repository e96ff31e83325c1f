"""Vector seed files: passage vectors computed once, shipped, and read instead of encoding the same texts again.

A seed file (NumPy .npz) holds the model identity it was computed with, the SHA-256 of each text
(embeddings.cache.content_hash) and the float32 vectors, in the same order. The embedding cache reads a text's
vector from a seed of the encoder's model identity before encoding it (embeddings.cache.embed_with_cache), and keeps
it like an encoded one. A seed of another model identity is never read: its vectors would not match.

The fixtures' seed (fixtures/vectors/, written by `python -m fixtures.build_vectors`) is what lets a fresh clone
index the demo's 420 fixture companies in seconds with multilingual-e5-small, whose numpy engine encodes about 15
passages a second on two cores; a test checks that it holds every passage the fixture crawls produce, and that its
vectors are the model's.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> tuple[str, dict[str, int], np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        model = str(data["model"])
        digests = [str(d) for d in data["digests"]]
        vectors = np.ascontiguousarray(data["vectors"], dtype=np.float32)
    return model, {d: i for i, d in enumerate(digests)}, vectors


def read(path: Path) -> tuple[str, dict[str, int], np.ndarray]:
    """(model identity, digest -> row, vectors) of a seed file, read once per version of the file."""
    return _load(str(path), Path(path).stat().st_mtime_ns)


def lookup(paths: Iterable[Path], model: str, digests: Iterable[str]) -> dict[str, bytes]:
    """The raw float32 bytes of every wanted digest found in a seed file of `model`; missing or unreadable files
    and files of other models are skipped."""
    wanted = list(digests)
    found: dict[str, bytes] = {}
    for path in paths:
        try:
            seed_model, rows, vectors = read(Path(path))
        except (OSError, ValueError, KeyError):
            continue
        if seed_model != model:
            continue
        for digest in wanted:
            row = rows.get(digest)
            if row is not None and digest not in found:
                found[digest] = vectors[row].tobytes()
    return found


def write(path: Path, model: str, vectors: Mapping[str, np.ndarray]) -> None:
    """Write a seed file of `model` holding `vectors` (digest -> vector), digests sorted; atomically."""
    digests = sorted(vectors)
    matrix = (np.vstack([vectors[d] for d in digests]).astype(np.float32) if digests
              else np.zeros((0, 0), dtype=np.float32))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".npz", dir=path.parent)
    os.close(handle)
    try:
        np.savez_compressed(temporary, model=np.array(model), digests=np.array(digests), vectors=matrix)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the file from a web process of another user
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
