"""Exports without an account: a search's results or a shortlist, as a CSV file for a spreadsheet and as a
printable sourcing memo (« note de sourcing ») that records the query, the filters and the date.

The core is pure (rows, cells, file names, dates in words); the views only gather the suppliers and respond.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask import Blueprint, Response, current_app, render_template, request, url_for
from sqlalchemy import select

from indexer.backends.base import IndexNotReady, SearchUnavailable
from indexer.service import MAX_PER_PAGE, Place, clean_filters, clean_query
from search_app.labels import facet_label
from search_app.public.search import (NEED_FORGOTTEN, NeedForgotten, _query_string, parse_search_args, run_search,
                                     with_need_text, with_offered_radius)
from search_app.public.shortlist import MAX_IDS, Shortlist, SupplierSummary, ids_url, load_shortlist, summarise
from vivier.models import SEARCHABLE_STATUSES, Supplier
from vivier.taxonomy import CATEGORY_LABELS, LABEL_LABELS, SIZE_LABELS
from vivier.text import fold, slugify

bp = Blueprint("exports", __name__)

# Rows exported from a search: the most one call to the search service returns. Beyond that a list is no longer a
# sourcing shortlist, and the cap bounds the cost of one export.
MAX_EXPORT_ROWS = MAX_PER_PAGE
# French spreadsheets use the comma as decimal separator and expect ';' between fields.
CSV_DELIMITER = ";"
# UTF-8 with a byte-order mark: without it, Excel opens UTF-8 files as Windows-1252 and garbles accents.
CSV_ENCODING = "utf-8-sig"
# A cell starting with one of these is read as a formula by spreadsheets (CSV injection): it gets a leading "'".
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_HEADER = ("Rang", "Nom", "SIREN", "Site web", "Courriel", "Téléphone", "Commune", "Département", "Région",
              "Thématiques", "Labels", "Effectif", "Accroche", "Lien Vivier")
# Several values in one cell (themes, labels): no label of the taxonomy contains this separator.
VALUE_SEPARATOR = ", "
# Longest query-and-filters part of an export's file name.
FILENAME_MAX_CHARS = 60
# app.config key of a callable returning today's date; tests freeze it, otherwise the date in Paris.
CLOCK_CONFIG = "VIVIER_CLOCK"
# The date on a memo is the buyer's calendar day, not the server's (which may run in UTC).
TIMEZONE = ZoneInfo("Europe/Paris")
# Facet titles as the search page shows them.
FACET_TITLES = {"category": "Thématique", "department": "Département", "label": "Labels et engagements",
                "size": "Effectif"}
MODE_LABELS = {"hybrid": "mots et sens", "keyword": "mots-clés seulement", "dense": "sens seulement"}


@dataclass(frozen=True)
class ExportRow:
    rank: int
    supplier: SupplierSummary
    link: str  # absolute address of the supplier's page on this Vivier


# --- pure core ---------------------------------------------------------------------------------------------------

def neutralise(cell: str) -> str:
    """A cell a spreadsheet will show as text, never evaluate."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def csv_cells(row: ExportRow) -> list[str]:
    s = row.supplier
    cells = [
        str(row.rank), s.name, s.siren or "", s.website or "", s.contact_email or "", s.contact_phone or "",
        s.commune or "",
        facet_label("department", s.department) if s.department else "", s.region or "",
        VALUE_SEPARATOR.join(CATEGORY_LABELS.get(c, c) for c in s.categories),
        VALUE_SEPARATOR.join(LABEL_LABELS.get(label, label) for label in s.labels),
        SIZE_LABELS.get(s.size_band, s.size_band) if s.size_band else "", s.pitch, row.link,
    ]
    return [neutralise(cell) for cell in cells]


def render_csv(rows: Iterable[ExportRow]) -> bytes:
    """Header then one line per supplier; nothing else (no metadata block: spreadsheets would read it as data)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_cells(row) for row in rows)
    return out.getvalue().encode(CSV_ENCODING)


def filters_in_words(filters: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """[("Thématique", "Collecte des déchets, Éclairage public"), ...] in the search page's facet order."""
    return [(FACET_TITLES[facet], VALUE_SEPARATOR.join(facet_label(facet, v) for v in filters[facet]))
            for facet in FACET_TITLES if filters.get(facet)]


def place_in_words(place: Place | None) -> list[tuple[str, str]]:
    """The distance filter as the memo states it, including a commune that was not recognised (no filter then)."""
    if place is None:
        return []
    if place.commune is None:
        return [("Commune", f"« {place.text} » non reconnue : pas de filtre de distance")]
    return [("Distance", f"à {place.radius_km} km au plus de {place.commune.name} ({place.commune.department})")]


def date_in_words(day: date) -> str:
    """« 26 novembre 2026 », from CLDR data: independent of the server's locale."""
    return format_date(day, format="long", locale="fr_FR")


def export_filename(kind: str, day: date, extension: str, text: str = "",
                    filters: Mapping[str, Sequence[str]] | None = None) -> str:
    """`vivier-recherche-collecte-dechets-waste-2026-11-26.csv`: ASCII only, safe in a Content-Disposition."""
    words = " ".join([text, *(v for values in (filters or {}).values() for v in values)])
    about = slugify(words, FILENAME_MAX_CHARS) if re.search(r"[a-z0-9]", fold(words)) else ""
    return "-".join(part for part in ("vivier", kind, about, day.isoformat()) if part) + "." + extension


# --- edges -------------------------------------------------------------------------------------------------------

def today() -> date:
    clock = current_app.config.get(CLOCK_CONFIG)
    return clock() if clock else datetime.now(TIMEZONE).date()


def supplier_link(slug: str) -> str:
    return url_for("suppliers.detail", slug=slug, _external=True)


def ranked_search_ids(args: dict) -> tuple[int, list[str], Place | None]:
    """Total matches, the ids of the first MAX_EXPORT_ROWS in ranked order (the search page's search, in one call)
    and the commune the search was restricted around. Like the page's facets, an export holds the strong matches
    unless the search asks for the weaker neighbours too ("proches=1") or there is no strong match."""
    service = current_app.extensions["vivier"]["search"]
    response, place = run_search(service, with_offered_radius(args), page=1, per_page=MAX_EXPORT_ROWS,
                                 ask_homonyms=True)  # as the page
    if response.strong_total and not args.get("include_weak"):  # the strong matches only (indexer.strength)
        return response.strong_total, [hit.id for hit in response.hits if hit.strong], place
    return response.total, [hit.id for hit in response.hits], place


def search_rows(ids: list[str]) -> list[ExportRow]:
    """The stored profiles (the source of truth) of the ranked ids; one no longer live is left out."""
    keys = [int(i) for i in ids if i.isdigit()]
    with current_app.extensions["vivier"]["database"].session() as session:
        found = {str(s.id): summarise(s) for s in session.scalars(
            select(Supplier).where(Supplier.id.in_(keys), Supplier.status.in_(SEARCHABLE_STATUSES)))}
    return [ExportRow(rank, found[i], supplier_link(found[i].slug))
            for rank, i in enumerate(ids, 1) if i in found]


class ExportUnavailable(Exception):
    """An export that cannot be made; answered with a French error page and its status."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@bp.errorhandler(ExportUnavailable)
def export_unavailable(error: ExportUnavailable):
    return render_template("errors/error.html", title=error.title, message=error.message,
                           status=error.status), error.status


def search_export() -> dict:
    """Everything an export of the request's search needs: the same parsing as the search page."""
    args = parse_search_args(request.args)
    try:
        args = with_need_text(args)
    except NeedForgotten:
        raise ExportUnavailable(410, *NEED_FORGOTTEN) from None
    try:
        total, ids, place = ranked_search_ids(args)
    except (IndexNotReady, SearchUnavailable) as error:
        building = " (index en cours de construction)" if isinstance(error, IndexNotReady) else ""
        raise ExportUnavailable(503, "Service indisponible",
                                f"Le service de recherche est momentanément indisponible{building}. "
                                "Réessayez dans quelques instants.") from None
    text = clean_query(args["text"], current_app.extensions["vivier"]["settings"].query_max_chars)
    filters = clean_filters(args["filters"])
    query = urlencode(_query_string(text, filters, None, args["mode"], place=place, exact=args["exact"],
                                    include_weak=args["include_weak"]))
    return {"text": text, "filters": filters, "place": place, "mode": args["mode"], "total": total,
            "rows": search_rows(ids), "query": f"?{query}" if query else ""}


def selection_export() -> tuple[Shortlist, list[ExportRow]]:
    shortlist = load_shortlist(request.args)
    if not shortlist.suppliers:
        raise ExportUnavailable(400, "Sélection vide",
                                "Aucun fournisseur de cette sélection n'a été trouvé : il n'y a rien à exporter. "
                                "Ajoutez des fournisseurs depuis la recherche.")
    return shortlist, [ExportRow(rank, s, supplier_link(s.slug)) for rank, s in enumerate(shortlist.suppliers, 1)]


def csv_response(body: bytes, filename: str) -> Response:
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/recherche.csv")
def results_csv():
    export = search_export()
    about = " ".join([export["text"], export["place"].text if export["place"] else ""])
    name = export_filename("recherche", today(), "csv", about, export["filters"])
    return csv_response(render_csv(export["rows"]), name)


@bp.get("/recherche/note")
def results_memo():
    export = search_export()
    day = today()
    return render_template(
        "exports/memo.html", kind="recherche", day=day, day_text=date_in_words(day), query=export["text"],
        filter_words=filters_in_words(export["filters"]) + place_in_words(export["place"]),
        mode_text=MODE_LABELS[export["mode"]],
        total=export["total"], rows=export["rows"], capped=export["total"] > MAX_EXPORT_ROWS,
        max_rows=MAX_EXPORT_ROWS, missing=[],
        source_url=url_for("search.index", _external=True) + export["query"],
        csv_url=url_for("exports.results_csv") + export["query"],
    )


@bp.get("/selection.csv")
def selection_csv():
    _, rows = selection_export()
    return csv_response(render_csv(rows), export_filename("selection", today(), "csv"))


@bp.get("/selection/note")
def selection_memo():
    shortlist, rows = selection_export()
    day = today()
    return render_template(
        "exports/memo.html", kind="selection", day=day, day_text=date_in_words(day), query="", filter_words=[],
        mode_text=None, total=len(rows), rows=rows, capped=bool(shortlist.dropped), max_rows=MAX_IDS,
        missing=shortlist.missing, source_url=ids_url("shortlist.page", shortlist.slugs, _external=True),
        csv_url=ids_url("exports.selection_csv", shortlist.slugs),
    )
