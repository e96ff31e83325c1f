"""Build the search index from the database: profiles -> documents -> embeddings (cached) -> backend.

`build_index` rebuilds everything; `update_index` re-indexes only the suppliers changed since the live index was
built (after a crawl, a submission, a moderation decision). The live index records a watermark: the time its
data was read, less a margin for transactions that were still open then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select

from embeddings.cache import embed_with_cache
from embeddings.encoder import Encoder
from indexer.backends import make_backend
from indexer.documents import build_document
from vivier.config import Settings
from vivier.db import Database
from vivier.models import SEARCHABLE_STATUSES, Supplier, utcnow

# Mapping/layout version of the search document: bump when documents or analysis change, to force a rebuild.
DOCUMENT_VERSION = 1
# A change committed up to this long after the index read the database, but stamped before, is still picked up
# by the next update (a crawl writes one short transaction per profile). Re-indexing a profile twice is harmless.
WATERMARK_MARGIN = timedelta(minutes=5)
# Supplier columns no search document reads: large JSON lists, left out of the bulk read (build_document gets a
# plain row, not an ORM object, so reading 100k profiles takes seconds, not a minute).
UNINDEXED_COLUMNS = frozenset({"references", "offers"})


@dataclass(frozen=True)
class BuildReport:
    documents: int
    passages: int
    encoded: int
    generation: str | None


@dataclass(frozen=True)
class UpdateReport:
    updated: int
    removed: int
    encoded: int
    generation: str | None
    rebuilt: bool = False


def _profile_rows(session, condition) -> list:
    """Suppliers matching `condition`, by id, as read-only rows with the attributes build_document reads."""
    columns = [c for c in Supplier.__table__.columns if c.key not in UNINDEXED_COLUMNS]
    return session.execute(select(*columns).where(condition).order_by(Supplier.id)).all()


def _meta(encoder: Encoder, dimension: int, read_at: datetime) -> dict:
    return {"model": encoder.model_name, "dimension": dimension, "document_version": DOCUMENT_VERSION,
            "watermark": (read_at - WATERMARK_MARGIN).isoformat()}


def build_index(settings: Settings, encoder: Encoder, progress: bool = False) -> BuildReport:
    database = Database(settings)
    database.migrate()
    read_at = utcnow()
    with database.session() as session:
        documents = [build_document(row) for row in _profile_rows(session, Supplier.status.in_(SEARCHABLE_STATUSES))]
        passages = [p for d in documents for p in d.passages]
        vectors, encoded = embed_with_cache(session, encoder, passages, progress=progress)
    if not passages:
        vectors = np.zeros((0, encoder.dimension), dtype=np.float32)
    generation = make_backend(settings).rebuild(documents, vectors, _meta(encoder, int(vectors.shape[1]), read_at))
    database.dispose()
    return BuildReport(len(documents), len(passages), encoded, generation)


def update_index(settings: Settings, encoder: Encoder, progress: bool = False) -> UpdateReport:
    """Apply to the live index what changed in the database since it was built; a full rebuild when there is no
    usable live index (none, no watermark, another model or document version)."""
    backend = make_backend(settings)
    status = backend.status()
    compatible = (status.get("ready") and status.get("watermark") and status.get("model") == encoder.model_name
                  and status.get("document_version") == DOCUMENT_VERSION)
    if not compatible:
        report = build_index(settings, encoder, progress)
        return UpdateReport(report.documents, 0, report.encoded, report.generation, rebuilt=True)
    since = datetime.fromisoformat(status["watermark"])
    database = Database(settings)
    read_at = utcnow()
    with database.session() as session:
        changed = _profile_rows(session, Supplier.updated_at >= since)
        documents = [build_document(s) for s in changed if s.status in SEARCHABLE_STATUSES]
        removed = [str(s.id) for s in changed if s.status not in SEARCHABLE_STATUSES]
        passages = [p for d in documents for p in d.passages]
        vectors, encoded = embed_with_cache(session, encoder, passages, progress=progress)
    database.dispose()
    if not changed:
        return UpdateReport(0, 0, 0, None)
    if not passages:
        vectors = np.zeros((0, int(status.get("dimension") or encoder.dimension)), dtype=np.float32)
    generation = backend.apply_changes(documents, vectors, removed, _meta(encoder, int(vectors.shape[1]), read_at))
    return UpdateReport(len(documents), len(removed), encoded, generation)
