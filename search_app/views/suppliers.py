"""Supplier page: the stored profile (source of truth) with provenance, and similar suppliers from the index."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from indexer.backends.base import IndexNotReady
from vivier.models import SEARCHABLE_STATUSES, Supplier

bp = Blueprint("suppliers", __name__)
SIMILAR_COUNT = 5


@bp.get("/fournisseurs/<slug>")
def detail(slug: str):
    ext = current_app.extensions["vivier"]
    with ext["database"].session() as session:
        supplier = session.scalar(
            select(Supplier).options(selectinload(Supplier.provenance))
            .where(Supplier.slug == slug[:120], Supplier.status.in_(SEARCHABLE_STATUSES))
        )
        if supplier is None:
            abort(404)
        session.expunge(supplier)
    try:
        similar = ext["search"].backend.similar(str(supplier.id), SIMILAR_COUNT)
    except IndexNotReady:
        similar = []
    provenance: dict[str, list] = {}
    for record in supplier.provenance:
        provenance.setdefault(record.field, []).append(record)
    return render_template("suppliers/detail.html", supplier=supplier, similar=similar, provenance=provenance)
