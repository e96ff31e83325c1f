"""Shortlist (« Ma sélection »): the suppliers a buyer keeps aside, without an account.

The list lives in the URL (`/selection?ids=slug1,slug2`, which is also the share link) and in the browser's
localStorage (search_app/static/shortlist.js); the server stores nothing. Ids are supplier slugs: a merged
supplier's old slug resolves to the supplier it joined, an unknown or hidden one is listed as not found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from search_app.public.suppliers import merged_target
from vivier.models import SEARCHABLE_STATUSES, STATUS_MERGED, Supplier

bp = Blueprint("shortlist", __name__)

# Suppliers in one shortlist: more than anyone compares by hand; bounds the URL (about 8 kB) and the lookup.
MAX_IDS = 200
# Longest id kept: Supplier.slug is a String(120).
MAX_ID_CHARS = 120
# Website addresses shown as links: anything else (javascript:, data:...) is never made clickable.
LINKABLE_SCHEMES = ("http://", "https://")


@dataclass(frozen=True)
class SupplierSummary:
    """What a shortlist, a CSV row and a memo show of a supplier: plain data, detached from the database."""

    id: int
    slug: str
    name: str
    siren: str | None
    website: str | None
    pitch: str
    commune: str | None
    department: str | None
    region: str | None
    categories: tuple[str, ...]
    labels: tuple[str, ...]
    size_band: str | None
    # The public contacts the supplier page shows (« Contact », « Téléphone »).
    contact_email: str | None = None
    contact_phone: str | None = None


def summarise(supplier: Supplier) -> SupplierSummary:
    website = supplier.website if (supplier.website or "").lower().startswith(LINKABLE_SCHEMES) else None
    return SupplierSummary(
        id=supplier.id, slug=supplier.slug, name=supplier.name, siren=supplier.siren, website=website,
        pitch=supplier.pitch or "", commune=supplier.commune, department=supplier.department,
        region=supplier.region, categories=tuple(supplier.categories or ()), labels=tuple(supplier.labels or ()),
        size_band=supplier.size_band, contact_email=supplier.contact_email or None,
        contact_phone=supplier.contact_phone or None,
    )


@dataclass
class Shortlist:
    """A resolved list of ids, in the order asked."""

    suppliers: list[SupplierSummary] = field(default_factory=list)
    # Asked id -> slug of the supplier it now resolves to, when they differ (a merged supplier's old slug).
    aliases: dict[str, str] = field(default_factory=dict)
    # Ids that name no live supplier (unknown, hidden, or merged into one that is gone).
    missing: list[str] = field(default_factory=list)
    # Ids left out beyond MAX_IDS.
    dropped: int = 0

    @property
    def slugs(self) -> list[str]:
        return [s.slug for s in self.suppliers]

    @property
    def ids(self) -> list[str]:
        """The whole list as the URL should carry it: live slugs, then the ids not found (so they can be removed)."""
        return self.slugs + self.missing


def _clean_id(raw: str) -> str:
    return "".join(ch for ch in raw if ch.isprintable()).strip().lower()[:MAX_ID_CHARS]


def parse_ids(args: MultiDict) -> tuple[list[str], int]:
    """`ids=a,b,c` (or repeated `ids=`, as a form sends it) -> distinct ids in order, at most MAX_IDS, and the
    number left out. Never fails: anything odd is just an id that will not be found."""
    parts = (_clean_id(part) for value in args.getlist("ids") for part in value.split(","))
    ids = list(dict.fromkeys(part for part in parts if part))
    return ids[:MAX_IDS], max(0, len(ids) - MAX_IDS)


def resolve_shortlist(session: Session, ids: list[str]) -> Shortlist:
    """Look the ids up: each live supplier once, in the order asked; merged slugs resolve to their survivor."""
    shortlist = Shortlist()
    if not ids:
        return shortlist
    rows = {s.slug: s for s in session.scalars(select(Supplier).where(Supplier.slug.in_(ids)))}
    seen: set[int] = set()
    for slug in ids:
        supplier = rows.get(slug)
        if supplier is not None and supplier.status == STATUS_MERGED:
            supplier = merged_target(session, supplier)
        if supplier is None or supplier.status not in SEARCHABLE_STATUSES:
            shortlist.missing.append(slug)
            continue
        if supplier.slug != slug:
            shortlist.aliases[slug] = supplier.slug
        if supplier.id not in seen:
            seen.add(supplier.id)
            shortlist.suppliers.append(summarise(supplier))
    return shortlist


def load_shortlist(args: MultiDict) -> Shortlist:
    """The shortlist a request's query string names."""
    ids, dropped = parse_ids(args)
    with current_app.extensions["vivier"]["database"].session() as session:
        shortlist = resolve_shortlist(session, ids)
    shortlist.dropped = dropped
    return shortlist


def ids_url(endpoint: str, ids: list[str], _external: bool = False) -> str:
    """`/path?ids=a,b,c` with readable commas (url_for would encode them as %2C)."""
    base = url_for(endpoint, _external=_external)
    return f"{base}?ids={','.join(quote(i, safe='') for i in ids)}" if ids else base


@bp.app_context_processor
def shortlist_globals():
    return {"shortlist_max": MAX_IDS}


@bp.get("/selection")
def page():
    removed = _clean_id(request.args.get("remove", ""))
    if removed:  # a « Retirer » button: show the same list without that id, at its own address
        kept = [i for i in parse_ids(request.args)[0] if i != removed]
        return redirect(ids_url("shortlist.page", kept) if kept else url_for("shortlist.page", ids=""), code=303)
    shortlist = load_shortlist(request.args)
    return render_template(
        "shortlist/page.html", shortlist=shortlist, max_ids=MAX_IDS,
        asked="ids" in request.args,
        share_url=ids_url("shortlist.page", shortlist.slugs, _external=True),
        csv_url=ids_url("exports.selection_csv", shortlist.slugs),
        memo_url=ids_url("exports.selection_memo", shortlist.slugs),
    )
