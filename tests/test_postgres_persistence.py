"""The database code with dialect-specific paths, on SQLite and on the PostgreSQL server scripts/test starts: the
embedding cache (raw sqlite3 fast paths, portable queries elsewhere), the search-count upsert (INSERT ... ON CONFLICT
of each dialect), and the persistence of profiles, records, merges and jobs.

Tests of other modules that build their own SQLite database are run again here on the `db` fixture of both dialects
(tests.conftest: make_settings(tmp_path) reaches the `db` database), so that their assertions hold on PostgreSQL too.
"""

from __future__ import annotations

import threading
from datetime import date

import numpy as np
import pytest
from sqlalchemy import func, select

from embeddings import cache
from embeddings.cache import embed_with_cache
from tests import test_embeddings, test_jobs, test_profiles
from tests.conftest import make_settings
from vivier.models import EmbeddingCache, SearchDay


class CountingEncoder:
    """A stand-in for embeddings.encoder.Encoder: deterministic vectors of one text, the texts it was asked for."""

    def __init__(self, model_name: str = "test-model", dimension: int = 8):
        self.model_name = model_name
        self.dimension = dimension
        self.seeds: tuple = ()
        self.encoded: list[str] = []

    def encode(self, texts, progress=False):
        self.encoded += texts
        rng = [np.random.default_rng(abs(hash(text)) % (1 << 32)) for text in texts]
        return np.array([r.standard_normal(self.dimension) for r in rng], dtype=np.float32)


# -- the embedding cache ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("wanted", [3, 40])  # a lookup by index probes, then a lookup of most rows (a scan on SQLite)
def test_the_cache_stores_and_returns_exact_vectors_across_lookup_and_insert_chunks(db, monkeypatch, wanted):
    monkeypatch.setattr(cache, "LOOKUP_CHUNK", 7)
    monkeypatch.setattr(cache, "INSERT_CHUNK", 5)
    encoder = CountingEncoder()
    texts = [f"passage {i} éclairé" for i in range(40)]
    with db.session() as session:
        stored, encoded = embed_with_cache(session, encoder, texts + texts[:3])  # duplicates encoded once
    assert encoded == 40 and len(encoder.encoded) == 40 and stored.shape == (43, 8)
    assert np.array_equal(stored[40:], stored[:3])
    asked = texts[::-1][:wanted]
    with db.session() as session:
        vectors, encoded = embed_with_cache(session, encoder, asked)
    assert encoded == 0 and len(encoder.encoded) == 40
    assert np.array_equal(vectors, stored[:40][::-1][:wanted]) and vectors.dtype == np.float32
    assert vectors.flags.writeable
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(EmbeddingCache)) == 40
        blob = session.scalars(select(EmbeddingCache.vector).limit(1)).one()
    assert isinstance(blob, bytes | memoryview) and len(blob) == 4 * 8


def test_an_unusable_row_is_encoded_again_and_replaced(db):
    """A stored vector whose bytes do not match its width (a truncated write) is encoded again, and the new vector
    replaces it in the same INSERT."""
    from vivier.models import utcnow

    encoder = CountingEncoder()
    with db.session() as session:
        session.add(EmbeddingCache(model=encoder.model_name, content_hash=cache.content_hash("a"), dim=8,
                                   vector=b"\0" * 16, created_at=utcnow()))
    with db.session() as session:
        vectors, encoded = embed_with_cache(session, encoder, ["a", "c"])
    assert encoded == 2 and vectors.shape == (2, 8)
    with db.session() as session:  # replaced: nothing to encode now
        again, encoded = embed_with_cache(session, encoder, ["a", "c"])
        sizes = [len(blob) for blob in session.scalars(select(EmbeddingCache.vector))]
    assert encoded == 0 and np.array_equal(again, vectors) and sizes == [32, 32]


def test_a_text_stored_meanwhile_by_another_writer_does_not_fail_the_batch(db, monkeypatch):
    """Two processes embedding the same new text: the second one's INSERT meets the first one's row."""
    encoder = CountingEncoder()
    real_lookup = cache._cached_blobs
    monkeypatch.setattr(cache, "_cached_blobs", lambda *args: {})  # this writer saw nothing cached
    with db.session() as session:
        embed_with_cache(session, encoder, ["x", "y"])
    with db.session() as session:
        vectors, encoded = embed_with_cache(session, encoder, ["x", "y", "z"])
    assert encoded == 3 and vectors.shape == (3, 8)
    monkeypatch.setattr(cache, "_cached_blobs", real_lookup)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(EmbeddingCache)) == 3


@pytest.mark.parametrize("name", ["test_cache_reuses_vectors_by_model_and_content_hash",
                                  "test_cache_serves_a_warm_rebuild_in_text_order_without_encoding"])
def test_the_embedding_cache_tests_hold_on_both_dialects(db, tmp_path, encoder, name):
    assert make_settings(tmp_path).database_url == db.settings.database_url
    getattr(test_embeddings, name)(tmp_path, encoder)


@pytest.mark.parametrize("wanted", [2, 10])
def test_the_cache_scan_and_index_lookups_hold_on_both_dialects(db, tmp_path, encoder, monkeypatch, wanted):
    if db.engine.dialect.name != "sqlite":  # no scan path: the lookup by index must serve both sizes
        monkeypatch.setattr(cache, "SCAN_MIN_SHARE", float("inf"))
    test_embeddings.test_cache_lookup_by_scan_or_by_index_gives_the_same_vectors(tmp_path, encoder, monkeypatch,
                                                                                  wanted)


# -- searches per day: INSERT ... ON CONFLICT DO UPDATE of each dialect ----------------------------------------
def test_search_counts_add_up_from_concurrent_writers(db):
    from vivier.statistics import record_searches

    day, other = date(2026, 3, 15), date(2026, 3, 16)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            barrier.wait()
            for _ in range(5):
                with db.session() as session:
                    record_searches(session, day, 2)
                    record_searches(session, other, 1)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.session() as session:
        totals = dict(session.execute(select(SearchDay.day, SearchDay.searches)).all())
    assert totals == {day: 40, other: 20}


def test_the_search_counter_writes_its_days_in_one_transaction(db):
    from search_app.public.search_counter import SearchCounter

    counter = SearchCounter(db, interval_s=3600, threshold=1000)
    counter.add(date(2026, 1, 1), 3)
    counter.add(date(2026, 1, 2))
    assert counter.flush() == 4
    counter.add(date(2026, 1, 1), 2)
    assert counter.flush() == 2 and counter.pending() == {}
    with db.session() as session:
        totals = dict(session.execute(select(SearchDay.day, SearchDay.searches)).all())
    assert totals == {date(2026, 1, 1): 5, date(2026, 1, 2): 1}


# -- profiles, records, merges, jobs ---------------------------------------------------------------------------
PROFILE_TESTS = [name for name in dir(test_profiles) if name.startswith("test_")
                 and list(getattr(test_profiles, name).__code__.co_varnames[:1]) == ["database"]]


@pytest.mark.parametrize("name", PROFILE_TESTS)
def test_the_profile_tests_hold_on_both_dialects(db, name):
    assert getattr(test_profiles, name).__code__.co_argcount == 1
    getattr(test_profiles, name)(db)


@pytest.mark.parametrize("name", ["test_a_job_is_taken_by_one_worker_only",
                                  "test_a_job_left_by_a_dead_worker_is_taken_again_later",
                                  "test_the_worker_runs_due_jobs_and_forgets_old_finished_ones"])
def test_the_job_tests_hold_on_both_dialects(db, tmp_path, name):
    assert make_settings(tmp_path).database_url == db.settings.database_url
    getattr(test_jobs, name)(tmp_path)
