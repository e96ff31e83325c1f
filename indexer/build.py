"""Build the search index from the database: profiles -> documents -> embeddings (cached) -> backend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from embeddings.cache import embed_with_cache
from embeddings.encoder import Encoder
from indexer.backends import make_backend
from indexer.documents import build_document
from vivier.config import Settings
from vivier.db import Database
from vivier.models import SEARCHABLE_STATUSES, Supplier

# Mapping/layout version of the search document: bump when documents or analysis change, to force a rebuild.
DOCUMENT_VERSION = 1


@dataclass(frozen=True)
class BuildReport:
    documents: int
    passages: int
    encoded: int
    generation: str | None


def build_index(settings: Settings, encoder: Encoder, progress: bool = False) -> BuildReport:
    database = Database(settings)
    database.migrate()
    with database.session() as session:
        suppliers = session.scalars(
            select(Supplier).where(Supplier.status.in_(SEARCHABLE_STATUSES)).order_by(Supplier.id)
        ).all()
        documents = [build_document(s) for s in suppliers]
        passages = [p for d in documents for p in d.passages]
        vectors, encoded = embed_with_cache(session, encoder, passages, progress=progress)
    if not passages:
        vectors = np.zeros((0, encoder.dimension), dtype=np.float32)
    backend = make_backend(settings)
    generation = backend.rebuild(documents, vectors, {
        "model": encoder.model_name, "dimension": int(vectors.shape[1]), "document_version": DOCUMENT_VERSION,
    })
    database.dispose()
    return BuildReport(len(documents), len(passages), encoded, generation)
