"""Supplier page: the stored profile (source of truth) with provenance, and similar suppliers from the index."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from indexer.backends.base import IndexNotReady, SearchUnavailable
from search_app.extensions import external_url
from search_app.identity import now
from search_app.public.jsonld import organization, script_json
from vivier.centrals import badges
from vivier.models import SEARCHABLE_STATUSES, STATUS_MERGED, Supplier

bp = Blueprint("suppliers", __name__)
SIMILAR_COUNT = 5
# A merged supplier points to the one it joined; a chain is followed this far at most.
MAX_REDIRECT_CHAIN = 5
# French names of the profile fields, for the provenance table.
FIELD_LABELS = {
    "name": "Nom", "siren": "SIREN", "website": "Site internet", "pitch": "Accroche", "description": "Présentation",
    "categories": "Thématiques", "keywords": "Mots-clés", "address": "Adresse", "postcode": "Code postal",
    "commune": "Commune", "insee_code": "Code INSEE", "department": "Département", "latitude": "Latitude",
    "longitude": "Longitude", "size_band": "Effectif", "founded_year": "Création", "labels": "Labels",
    "references": "Références", "offers": "Offres", "interoperability": "Interopérabilité",
    "contact_email": "Courriel", "contact_phone": "Téléphone",
}

# French names of the sources a field came from, on the provenance tables (public page and back-office). A source
# not named here is shown by its configured name (sources/*.yaml), which its operator chose.
SOURCE_LABELS = {
    "submitted": "déclaré par l'entreprise",
    "registre-esus": "liste nationale des agréments ESUS",
    "registre-ess": "liste des entreprises de l'économie sociale et solidaire",
    "inclusion-siae": "structures de l'insertion par l'activité économique (emplois de l'inclusion)",
    "ea-esat": "entreprises adaptées et ESAT",
    "rge": "entreprises reconnues garantes de l'environnement (RGE)",
    "startups-beta-gouv": "startups d'État (beta.gouv.fr)",
}


@bp.app_template_filter("source_label")
def source_label(source_name: str) -> str:
    """« déclaré par l'entreprise » for the company's own submission, a registry's French name, else the name."""
    return SOURCE_LABELS.get(source_name, source_name)


def merged_target(session, supplier: Supplier) -> Supplier | None:
    """The live supplier a merged one was folded into, following a short chain."""
    for _ in range(MAX_REDIRECT_CHAIN):
        if supplier is None or supplier.status != STATUS_MERGED or supplier.merged_into_id is None:
            break
        supplier = session.get(Supplier, supplier.merged_into_id)
    return supplier if supplier is not None and supplier.status in SEARCHABLE_STATUSES else None


@bp.get("/fournisseurs/<slug>")
def detail(slug: str):
    ext = current_app.extensions["vivier"]
    with ext["database"].session() as session:
        supplier = session.scalar(
            select(Supplier).options(selectinload(Supplier.provenance)).where(Supplier.slug == slug[:120])
        )
        if supplier is not None and supplier.status == STATUS_MERGED:
            target = merged_target(session, supplier)
            if target is not None:  # the company's profile lives on under another address
                return redirect(url_for("suppliers.detail", slug=target.slug), code=301)
        if supplier is None or supplier.status not in SEARCHABLE_STATUSES:
            abort(404)
        # Active referencings at purchasing centrals: buyers may order these without a tender of their own.
        purchasable = badges(session, [supplier.id], now().date()).get(supplier.id, [])
        session.expunge(supplier)
    try:
        similar = ext["search"].backend.similar(str(supplier.id), SIMILAR_COUNT)
    except (IndexNotReady, SearchUnavailable):  # the page itself comes from the database
        similar = []
    guessed = guessed_themes(supplier.id)
    provenance: dict[str, list] = {}
    for record in supplier.provenance:
        provenance.setdefault(record.field, []).append(record)
    # In the profile's order (name first, contacts last), as the page reads; a field without a label goes last.
    rank = {field: index for index, field in enumerate(FIELD_LABELS)}
    provenance_rows = sorted(provenance.items(), key=lambda pair: (rank.get(pair[0], len(rank)), pair[0]))
    position = None
    if supplier.latitude is not None and supplier.longitude is not None:
        from search_app.public.maps import point_map

        position = point_map(supplier.latitude, supplier.longitude, f"{supplier.name}, {supplier.commune or ''}")
    jsonld = script_json(organization(supplier, external_url("suppliers.detail", slug=supplier.slug)))
    return render_template("suppliers/detail.html", supplier=supplier, similar=similar, provenance=provenance_rows,
                           field_labels=FIELD_LABELS, position=position, jsonld=jsonld, purchasable=purchasable,
                           guessed=guessed)


def guessed_themes(supplier_id: int) -> tuple[str, ...]:
    """The theme the index guessed for a profile that declares none (vivier.themes); none when the index does not
    answer (the page itself comes from the database)."""
    try:
        document = current_app.extensions["vivier"]["search"].backend.get(str(supplier_id))
    except (IndexNotReady, SearchUnavailable):
        return ()
    return document.inferred_categories if document is not None else ()
