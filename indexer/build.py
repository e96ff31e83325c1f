"""Build the search index from the database: profiles -> documents -> embeddings (cached) -> backend.

`build_index` rebuilds everything; `update_index` re-indexes only the suppliers changed since the live index was
built (after a crawl, a submission, a moderation decision). The live index records a watermark: the time its
data was read, less a margin for transactions that were still open then.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any, NamedTuple
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import JSON, Text, cast, select

from embeddings.cache import embed_with_cache
from embeddings.encoder import Encoder
from indexer.backends import make_backend
from indexer.backends.base import RebuildInProgress
from vivier import themes
from indexer.documents import SearchDocument, build_document
from vivier.config import Settings
from vivier.db import Database
from vivier.models import SEARCHABLE_STATUSES, Supplier, Suppression, utcnow
from vivier.opendata import export_after_build

# Mapping/layout version of the search document: bump when documents or analysis change, to force a rebuild.
# Version 2: themes guessed at index time (vivier.themes), never as indexed text.
DOCUMENT_VERSION = 2
# A change committed up to this long after the index read the database, but stamped before, is still picked up
# by the next update (a crawl writes one short transaction per profile). Re-indexing a profile twice is harmless.
WATERMARK_MARGIN = timedelta(minutes=5)
# The supplier columns build_document reads (and the status update_index checks), and only those: build_document
# gets plain rows, not ORM objects, and every other column (JSON lists, dates parsed one by one) would only slow
# the bulk read of a rebuild (100k profiles: 3.3 s with every column but two).
class ProfileRow(NamedTuple):
    id: int
    slug: str
    name: str
    pitch: str
    description: str
    categories: list[Any]
    keywords: list[Any]
    labels: list[Any]
    department: str | None
    region: str | None
    commune: str | None
    size_band: str | None
    latitude: float | None
    longitude: float | None
    interoperability: dict[str, Any]
    status: str


INDEXED_COLUMNS = ProfileRow._fields


class BuildFailed(RuntimeError):
    """Writing the new index failed (a full disk, an unwritable directory, a search server that refused it). The
    backend removed what it had written: the live index is unchanged and keeps serving."""


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


_JSON_COLUMNS = frozenset(name for name in INDEXED_COLUMNS if isinstance(Supplier.__table__.columns[name].type, JSON))
# Distinct JSON texts decoded once: category and label lists repeat across thousands of profiles.
_decode_json = functools.lru_cache(maxsize=4096)(json.loads)


def _profile_rows(session, condition=None) -> list[ProfileRow]:
    """Suppliers matching `condition` (every supplier by default), by id, as plain rows with the columns
    build_document reads. JSON columns are read as text and decoded here: through SQLAlchemy's JSON type, decoding
    took as long as reading the table. Decoded lists and dicts may be shared between rows: never modify them."""
    columns = [cast(Supplier.__table__.columns[name], Text).label(name) if name in _JSON_COLUMNS
               else Supplier.__table__.columns[name] for name in INDEXED_COLUMNS]
    statement = select(*columns).order_by(Supplier.id)
    if condition is not None:
        statement = statement.where(condition)
    positions = [i for i, name in enumerate(INDEXED_COLUMNS) if name in _JSON_COLUMNS]
    rows = []
    for row in session.execute(statement):
        values = list(row)
        for i in positions:
            if values[i] is not None:
                values[i] = _decode_json(values[i])
        rows.append(ProfileRow._make(values))
    return rows


def with_guessed_themes(session, encoder: Encoder, documents: list[SearchDocument],
                        vectors: np.ndarray) -> list[SearchDocument]:
    """`documents` with a theme guessed (vivier.themes) for each one declaring none, from its text and its
    passages' rows of `vectors` (documents' passages in order)."""
    thresholds = themes.guess_thresholds_for(encoder.model_name)
    if thresholds == themes.NO_GUESS or all(d.categories for d in documents):
        return documents
    theme_vectors, _ = embed_with_cache(session, encoder, themes.theme_texts())
    guesser = themes.ThemeGuesser(theme_vectors, thresholds)
    guessed, start = [], 0
    for document in documents:
        count = len(document.passages)
        if not document.categories:
            text = " ".join(x for x in (document.pitch, document.description, " ".join(document.keywords)) if x)
            theme = guesser.guess(text, vectors[start:start + count])
            document = dataclasses.replace(document, inferred_categories=(theme,) if theme else ())
        guessed.append(document)
        start += count
    return guessed


def _meta(encoder: Encoder, dimension: int, read_at: datetime) -> dict:
    return {"model": encoder.model_name, "dimension": dimension, "document_version": DOCUMENT_VERSION,
            "watermark": (read_at - WATERMARK_MARGIN).isoformat()}


def build_index(settings: Settings, encoder: Encoder, progress: bool = False, export: bool = True) -> BuildReport:
    """Rebuild the whole index from the database, then (`export`) regenerate the open-data files."""
    database = Database(settings)
    database.migrate()
    read_at = utcnow()
    with database.session() as session:
        # Every row, filtered here: most suppliers are searchable, and a scan in id order beats the status index
        # plus a sort.
        documents = [build_document(row) for row in _profile_rows(session) if row.status in SEARCHABLE_STATUSES]
        passages = [p for d in documents for p in d.passages]
        vectors, encoded = embed_with_cache(session, encoder, passages, progress=progress)
        if passages:
            documents = with_guessed_themes(session, encoder, documents, vectors)
    if not passages:
        vectors = np.zeros((0, encoder.dimension), dtype=np.float32)
    database.dispose()
    backend = make_backend(settings)
    try:
        generation = backend.rebuild(documents, vectors, _meta(encoder, int(vectors.shape[1]), read_at))
    except RebuildInProgress:
        raise
    except (OSError, RuntimeError, ValueError) as error:  # tantivy and numpy report I/O failures as ValueError
        raise BuildFailed(f"the index build failed, the live index is unchanged: {error}") from error
    if export:  # the open-data files follow what the site shows (vivier.opendata)
        export_after_build(settings)
    return BuildReport(len(documents), len(passages), encoded, generation)


def update_index(settings: Settings, encoder: Encoder, progress: bool = False, export: bool = True) -> UpdateReport:
    """Apply to the live index what changed in the database since it was built; a full rebuild when there is no
    usable live index (none, no watermark, another model or document version)."""
    backend = make_backend(settings)
    status = backend.status()
    compatible = (status.get("ready") and status.get("watermark") and status.get("model") == encoder.model_name
                  and status.get("document_version") == DOCUMENT_VERSION)
    if not compatible:
        report = build_index(settings, encoder, progress, export)
        return UpdateReport(report.documents, 0, report.encoded, report.generation, rebuilt=True)
    since = datetime.fromisoformat(status["watermark"])
    database = Database(settings)
    read_at = utcnow()
    with database.session() as session:
        changed = _profile_rows(session, Supplier.updated_at >= since)
        documents = [build_document(s) for s in changed if s.status in SEARCHABLE_STATUSES]
        removed = [str(s.id) for s in changed if s.status not in SEARCHABLE_STATUSES]
        # Suppliers deleted at their company's request: no row to read any more, their suppression says who.
        removed += [str(i) for i in session.scalars(select(Suppression.supplier_id).where(
            Suppression.created_at >= since, Suppression.supplier_id.is_not(None)))]
        passages = [p for d in documents for p in d.passages]
        vectors, encoded = embed_with_cache(session, encoder, passages, progress=progress)
        if passages:
            documents = with_guessed_themes(session, encoder, documents, vectors)
    database.dispose()
    if not changed and not removed:
        return UpdateReport(0, 0, 0, None)
    if not passages:
        vectors = np.zeros((0, int(status.get("dimension") or encoder.dimension)), dtype=np.float32)
    generation = backend.apply_changes(documents, vectors, removed, _meta(encoder, int(vectors.shape[1]), read_at))
    if export:
        export_after_build(settings)
    return UpdateReport(len(documents), len(removed), encoded, generation)
