"""Search page: full page without JavaScript, results partial for htmx requests, from the same view."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from werkzeug.datastructures import MultiDict

from indexer.backends.base import FACET_FIELDS, MODES, IndexNotReady
from indexer.service import clean_filters, clean_query

bp = Blueprint("search", __name__)
PER_PAGE = 20


def parse_search_args(args: MultiDict) -> dict:
    """Query-string -> service arguments; anything malformed falls back to a default, never an error."""
    try:
        page = int(args.get("page", "1"))
    except ValueError:
        page = 1
    mode = args.get("mode", "hybrid")
    return {
        "text": args.get("q", ""),
        "filters": {facet: args.getlist(facet) for facet in FACET_FIELDS},
        "page": page,
        "mode": mode if mode in MODES else "hybrid",
    }


def _query_string(text: str, filters: dict, page: int | None = None, mode: str = "hybrid") -> list[tuple[str, str]]:
    pairs = [("q", text)] if text else []
    for facet, values in filters.items():
        pairs.extend((facet, v) for v in values)
    if mode != "hybrid":
        pairs.append(("mode", mode))
    if page and page > 1:
        pairs.append(("page", str(page)))
    return pairs


@bp.get("/")
def index():
    return render_search_page(parse_search_args(request.args))


def render_search_page(args: dict, source_name: str | None = None):
    """Run the search described by `args` (as parse_search_args returns) and render the full page, or the results
    partial for htmx. `source_name` names an uploaded document the query text was read from."""
    service = current_app.extensions["vivier"]["search"]
    text = args["text"]
    max_chars = service.settings.query_max_chars
    truncated = len(text) > max_chars
    partial = bool(request.headers.get("HX-Request"))
    try:
        response = service.search(text, args["filters"], page=args["page"], per_page=PER_PAGE, mode=args["mode"])
    except IndexNotReady:
        template = "search/_unavailable.html" if partial else "search/index.html"
        return render_template(template, unavailable=True, q=text, response=None, filters={}, pages=0,
                               query_string=_query_string, mode=args["mode"], truncated=False,
                               source_name=source_name), 503
    filters = clean_filters(args["filters"])
    pages = max(1, -(-response.total // PER_PAGE))
    context = dict(q=clean_query(text, max_chars), response=response, filters=filters, pages=pages,
                   query_string=_query_string, mode=args["mode"], truncated=truncated, unavailable=False,
                   source_name=source_name)
    return render_template("search/_results.html" if partial else "search/index.html", **context)
