"""Embedding cache in the database, keyed by (model, content hash): a rebuild re-embeds only changed texts."""

from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from embeddings.encoder import Encoder
from vivier.models import EmbeddingCache

# Hashes per SELECT ... IN (...): below SQLite's default bound-parameter limit with room to spare.
LOOKUP_CHUNK = 500


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def embed_with_cache(session: Session, encoder: Encoder, texts: list[str], progress: bool = False) -> tuple[np.ndarray, int]:
    """Vectors for `texts` in order, and how many had to be encoded (cache misses)."""
    hashes = [content_hash(t) for t in texts]
    unique = sorted(set(hashes))
    found: dict[str, np.ndarray] = {}
    for chunk in _chunks(unique, LOOKUP_CHUNK):
        rows = session.execute(
            select(EmbeddingCache.content_hash, EmbeddingCache.vector, EmbeddingCache.dim)
            .where(EmbeddingCache.model == encoder.model_name, EmbeddingCache.content_hash.in_(chunk))
        )
        for digest, blob, dim in rows:
            found[digest] = np.frombuffer(blob, dtype=np.float32, count=dim)
    missing = [h for h in unique if h not in found]
    if missing:
        text_of = dict(zip(hashes, texts))
        vectors = encoder.encode([text_of[h] for h in missing], progress=progress)
        for digest, vector in zip(missing, vectors):
            found[digest] = vector
            session.add(EmbeddingCache(model=encoder.model_name, content_hash=digest, dim=int(vector.shape[0]),
                                       vector=vector.astype(np.float32).tobytes()))
        session.flush()
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), 0
    return np.vstack([found[h] for h in hashes]).astype(np.float32), len(missing)
