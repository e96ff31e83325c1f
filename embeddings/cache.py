"""Embedding cache in the database, keyed by (model, content hash): a rebuild re-embeds only changed texts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from embeddings import seeds
from embeddings.encoder import Encoder
from vivier.models import EmbeddingCache, utcnow

# Hashes per SELECT ... IN (...): under the bound-parameter limits of SQLite (32,766 since 3.32) and PostgreSQL
# (65,535) with room to spare, and large enough that a 300k-passage rebuild needs only ~150 queries.
LOOKUP_CHUNK = 2000
# A lookup wanting at least this share of a model's cached rows reads them all in one pass (SQLite).
SCAN_MIN_SHARE = 0.5
# Rows per INSERT of new vectors: one executemany per batch instead of one ORM object per row.
INSERT_CHUNK = 1000


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _lookup_rows(session: Session, model: str, chunk: list[str]) -> Iterable[tuple[str, bytes, int]]:
    """(hash, vector bytes, dim) rows for one chunk of hashes. On SQLite the statement goes straight to the driver:
    building and compiling a 2,000-parameter expression 150 times cost more than the lookups themselves (3 s of
    a 100k-profile rebuild's 5)."""
    if session.get_bind().dialect.name == "sqlite":
        table = EmbeddingCache.__tablename__
        sql = (f"SELECT content_hash, vector, dim FROM {table} "
               f"WHERE model = ? AND content_hash IN ({','.join('?' * len(chunk))})")
        driver = session.connection().connection.driver_connection  # the session's own sqlite3 connection
        return driver.execute(sql, (model, *chunk)).fetchall()  # type: ignore[union-attr]
    return session.execute(
        select(EmbeddingCache.content_hash, EmbeddingCache.vector, EmbeddingCache.dim)
        .where(EmbeddingCache.model == model, EmbeddingCache.content_hash.in_(chunk))
    )


def _scan_rows(session: Session, model: str, wanted: int) -> Iterable[tuple[str, bytes, int]] | None:
    """Every cached row of `model`, on SQLite when the lookup wants at least SCAN_MIN_SHARE of them (a rebuild):
    one pass over the table in storage order instead of an index probe per text (100k profiles: 1.1 s against
    1.7 s). None otherwise."""
    if session.get_bind().dialect.name != "sqlite":
        return None
    driver = session.connection().connection.driver_connection
    table = EmbeddingCache.__tablename__
    (stored,) = driver.execute(f"SELECT count(*) FROM {table} WHERE model = ?", (model,)).fetchone()  # type: ignore[union-attr]
    if wanted < SCAN_MIN_SHARE * stored:
        return None
    return driver.execute(f"SELECT content_hash, vector, dim FROM {table} WHERE model = ?", (model,))  # type: ignore[union-attr]


def _insert_or_replace(session: Session) -> Any:
    """The INSERT of new vectors. A row may already hold the key: a vector of another width (unusable, so encoded
    again), or the same text stored meanwhile by another process (a crawl and the web app's re-index, two web
    workers). SQLite and PostgreSQL replace it in the same statement (INSERT ... ON CONFLICT DO UPDATE), where a
    plain INSERT would fail on the primary key and lose the whole batch."""
    dialect = session.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return insert(EmbeddingCache)
    dialect_insert: Any = sqlite.insert if dialect == "sqlite" else postgresql.insert
    statement = dialect_insert(EmbeddingCache)
    return statement.on_conflict_do_update(
        index_elements=[EmbeddingCache.model, EmbeddingCache.content_hash],
        set_={"dim": statement.excluded.dim, "vector": statement.excluded.vector,
              "created_at": statement.excluded.created_at})


def _cached_blobs(session: Session, model: str, digests: list[str]) -> dict[str, bytes]:
    """Stored vectors (raw float32 bytes) of the digests the cache holds for `model`."""
    found: dict[str, bytes] = {}
    scanned = _scan_rows(session, model, len(digests))
    if scanned is not None:
        wanted = set(digests)
        rows: Iterable[tuple[str, bytes, int]] = (row for row in scanned if row[0] in wanted)
    else:
        rows = (row for chunk in _chunks(digests, LOOKUP_CHUNK) for row in _lookup_rows(session, model, chunk))
    for digest, blob, dim in rows:
        if len(blob) == 4 * dim:  # a row of another width is unusable: re-encode the text
            found[digest] = bytes(blob)
    return found


def embed_with_cache(session: Session, encoder: Encoder, texts: list[str],
                     progress: bool = False) -> tuple[np.ndarray, int]:
    """Vectors for `texts` in order (float32, one row per text), and how many had to be encoded (cache misses
    found in no seed file of the encoder, embeddings.seeds).

    Each distinct text is looked up once; the result is built by joining the stored rows' bytes, without a Python
    object per vector, so a rebuild from a warm cache costs a few database round trips and one copy."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), 0
    hashes = [content_hash(t) for t in texts]
    unique = sorted(set(hashes))
    found = _cached_blobs(session, encoder.model_name, unique)
    missing = [h for h in unique if h not in found]
    if missing:
        text_of = dict(zip(hashes, texts))
        seeded = seeds.lookup(encoder.seeds, encoder.model_name, missing)  # shipped vectors (embeddings.seeds)
        to_encode = [h for h in missing if h not in seeded]
        encoded = (encoder.encode([text_of[h] for h in to_encode], progress=progress).astype(np.float32)
                   if to_encode else np.zeros((0, 0), dtype=np.float32))
        found.update(seeded)
        found.update((digest, vector.tobytes()) for digest, vector in zip(to_encode, encoded))
        now = utcnow()
        rows = [{"model": encoder.model_name, "content_hash": digest, "dim": len(found[digest]) // 4,
                 "vector": found[digest], "created_at": now} for digest in missing]
        statement = _insert_or_replace(session)
        for chunk in _chunks(rows, INSERT_CHUNK):
            session.execute(statement, chunk)
        missing = to_encode
    joined = bytearray().join(found[h] for h in hashes)  # a bytearray: the array below is writable
    return np.frombuffer(joined, dtype=np.float32).reshape(len(hashes), -1), len(missing)
