"""Exported embedding backends of sentence-transformers models: the packaged all-MiniLM-L6-v2 exports offline once
into the models directory, the int8 and OpenVINO engines give vectors close to torch's, and vectors of different
backends never mix in the cache. (The default model runs on its own engine: tests/test_embeddings.py.)"""

from pathlib import Path

import numpy as np
import pytest

from embeddings import encoder as encoder_module
from embeddings.cache import embed_with_cache
from embeddings.encoder import EXPORT_INFO, ONNX_FILE, Encoder, model_identity, resolve_model_path
from tests.conftest import make_settings
from vivier.config import ConfigError, load_settings
from vivier.db import Database

MINILM = "packaged:all-MiniLM-L6-v2"
TEXTS = ["collecte des déchets ménagers", "ramassage des ordures", "budget participatif",
         "capteurs de remplissage des bornes de tri sélectif, tournées de collecte optimisées"]


def package_files() -> dict[str, int]:
    root = Path(resolve_model_path(MINILM))
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    """all-MiniLM-L6-v2 on torch: the reference the exports are compared with."""
    return Encoder(MINILM)


@pytest.fixture(scope="module")
def int8(models_dir) -> Encoder:
    """The int8 encoder, its float32 and int8 exports written on first use (HF_HUB_OFFLINE is set by the encoder)."""
    before = package_files()
    encoder = Encoder(MINILM, backend="onnx-int8", models_dir=models_dir)
    encoder.encode(TEXTS[:1])
    assert package_files() == before  # nothing written next to the packaged model
    return encoder


def test_int8_exports_once_into_the_models_dir_and_reuses_it(int8, models_dir, monkeypatch):
    exports = sorted(p.name for p in models_dir.iterdir())
    assert {name.split("-v1-")[0] for name in exports} == {"all-MiniLM-L6-v2-onnx", "all-MiniLM-L6-v2-onnx-int8"}
    for name in exports:
        assert (models_dir / name / ONNX_FILE).is_file() and (models_dir / name / EXPORT_INFO).is_file()
    float32_file, int8_file = (models_dir / name / ONNX_FILE for name in sorted(exports, key=len))
    assert int8_file.stat().st_size < 0.7 * float32_file.stat().st_size
    written = int8_file.stat().st_mtime_ns

    def no_export(*args):
        raise AssertionError("exported again")

    monkeypatch.setattr(encoder_module, "_write_float32_export", no_export)
    monkeypatch.setattr(encoder_module, "_write_int8_export", no_export)
    again = Encoder(MINILM, backend="onnx-int8", models_dir=models_dir)
    assert np.array_equal(again.encode(TEXTS), int8.encode(TEXTS))
    assert int8_file.stat().st_mtime_ns == written and sorted(p.name for p in models_dir.iterdir()) == exports


def test_int8_vectors_are_normalised_and_close_to_torch(int8, encoder):
    vectors, reference = int8.encode(TEXTS), encoder.encode(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32 and int8.dimension == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = np.sum(vectors * reference, axis=1)
    assert similarity.min() > 0.97, similarity  # measured 0.987 to 0.995
    # Activations are quantised per batch: a query alone is close to, not equal to, the same text in a batch.
    assert int8.encode_query(TEXTS[0]) @ vectors[0] > 0.98


def test_int8_ranks_a_small_real_example_sensibly(int8):
    query = int8.encode_query("ramassage des poubelles et tri des déchets")
    documents = int8.encode(TEXTS[1:])
    assert list(np.argsort(-(documents @ query))) == [0, 2, 1]  # ordures, then bornes de tri, then budget


def test_float32_onnx_gives_torchs_vectors_from_the_same_export(int8, models_dir, encoder):
    onnx = Encoder(MINILM, backend="onnx", models_dir=models_dir)  # reuses the float32 export
    assert np.allclose(onnx.encode(TEXTS), encoder.encode(TEXTS), atol=1e-4)


def test_openvino_runs_the_float32_export(int8, models_dir, encoder):
    pytest.importorskip("openvino")
    openvino = Encoder(MINILM, backend="openvino", models_dir=models_dir)
    similarity = np.sum(openvino.encode(TEXTS) * encoder.encode(TEXTS), axis=1)
    assert similarity.min() > 0.999, similarity  # bfloat16 arithmetic where the CPU has it


def test_backend_is_part_of_the_model_identity_so_cached_vectors_do_not_mix(int8, encoder, tmp_path):
    assert encoder.model_name == MINILM  # torch keeps the identity existing caches and indexes use
    identities = {model_identity(MINILM, b) for b in ("torch", "onnx", "onnx-int8", "openvino")}
    assert len(identities) == 4 and int8.model_name == "packaged:all-MiniLM-L6-v2#onnx-int8-v1"
    database = Database(make_settings(tmp_path))
    database.migrate()
    with database.session() as session:
        torch_vectors, encoded_torch = embed_with_cache(session, encoder, TEXTS)
    with database.session() as session:
        int8_vectors, encoded_int8 = embed_with_cache(session, int8, TEXTS)
    with database.session() as session:
        _, encoded_again = embed_with_cache(session, int8, TEXTS)
    assert (encoded_torch, encoded_int8, encoded_again) == (4, 4, 0)
    assert not np.array_equal(torch_vectors, int8_vectors)
    database.dispose()


def test_a_failed_export_leaves_nothing_behind(models_dir, tmp_path, monkeypatch):
    def broken(source, reference, target):
        (target / ONNX_FILE).write_bytes(b"half a model")
        raise RuntimeError("disk full")

    float32 = next(p for p in models_dir.iterdir() if "-onnx-v1-" in p.name)
    target = tmp_path / "models"
    target.mkdir()
    (target / float32.name).symlink_to(float32)  # the float32 export is there; the int8 step fails
    monkeypatch.setattr(encoder_module, "_write_int8_export", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        Encoder(MINILM, backend="onnx-int8", models_dir=target).encode(TEXTS[:1])
    assert [p.name for p in target.iterdir()] == [float32.name]


def test_backend_comes_from_the_configuration(tmp_path):
    settings = load_settings({"VIVIER_DATA_DIR": str(tmp_path), "VIVIER_EMBEDDING_MODEL": MINILM,
                              "VIVIER_EMBEDDING_BACKEND": "onnx-int8"})
    configured = Encoder.from_settings(settings)
    assert (configured.backend, configured.models_dir) == ("onnx-int8", tmp_path / "models")
    assert not (tmp_path / "models").exists()  # nothing is exported before the first encoding
    auto = load_settings({"VIVIER_DATA_DIR": str(tmp_path), "VIVIER_EMBEDDING_MODEL": MINILM})
    assert Encoder.from_settings(auto).backend == "torch"  # "auto": torch for a sentence-transformers model


def test_the_encoder_follows_the_settings_it_is_given_not_the_environment(tmp_path, monkeypatch):
    """create_app and the command line pass their Settings down: the environment the process happens to have is
    never read again by the encoder (nor by anything under embeddings/ or indexer/)."""
    monkeypatch.setenv("VIVIER_EMBEDDING_MODEL", "packaged:use-multilingual-v3")
    monkeypatch.setenv("VIVIER_EMBEDDING_BACKEND", "openvino")
    monkeypatch.setenv("VIVIER_DATA_DIR", str(tmp_path / "elsewhere"))
    settings = load_settings({"VIVIER_DATA_DIR": str(tmp_path), "VIVIER_EMBEDDING_MODEL": MINILM,
                              "VIVIER_EMBEDDING_BACKEND": "onnx"})
    configured = Encoder.from_settings(settings)
    assert (configured.model, configured.backend, configured.models_dir) == (MINILM, "onnx", tmp_path / "models")
    assert configured.model_name == model_identity(MINILM, "onnx")


def test_torch_thread_count_is_set_under_the_lock_that_serialises_encodings(encoder, monkeypatch):
    """torch's thread count is process-wide: set outside the lock, a concurrent encoding could change it midway."""
    import torch

    encoder.load()
    held = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (held.append(encoder._lock.locked()), real(n))[1])
    encoder.encode(TEXTS[:1], threads=1)
    assert held == [True]


def test_an_unknown_backend_is_a_clear_error():
    with pytest.raises(ConfigError, match="VIVIER_EMBEDDING_BACKEND must be one of auto, torch, onnx, onnx-int8, "
                                          "openvino"):
        load_settings({"VIVIER_EMBEDDING_BACKEND": "onnx-int4"})
    with pytest.raises(ConfigError, match="runs on the engine of its package"):
        load_settings({"VIVIER_EMBEDDING_BACKEND": "onnx"})  # the default model is a packaged one
    with pytest.raises(ValueError, match="unknown embedding backend 'tensorrt'"):
        Encoder(MINILM, backend="tensorrt")


def test_a_missing_extra_is_named_in_the_error():
    from embeddings.encoder import _require

    with pytest.raises(ModuleNotFoundError, match=r'pip install "vivier\[onnx\]"'):
        _require("a_module_vivier_never_installs", "onnx")
    assert _require("numpy", "onnx").__name__ == "numpy"
