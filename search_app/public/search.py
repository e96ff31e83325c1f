"""Search page: full page without JavaScript, results partial for htmx requests, from the same view."""

from __future__ import annotations

import math
from functools import partial
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from indexer.backends.base import FACET_FIELDS, MODES, IndexNotReady, SearchResponse, SearchUnavailable
from indexer.service import (
    DEFAULT_RADIUS_KM,
    RADII_KM,
    Place,
    SearchService,
    clean_filters,
    clean_query,
    resolve_place,
)
from search_app.extensions import compress, limiter
from search_app.labels import ANY_CENTRAL
from search_app.public.search_counter import count_search
from vivier import search_texts

bp = Blueprint("search", __name__)
PER_PAGE = 20
# The purchasing-central filter's parameter: "toutes" (any central) or central slugs. It is not an index facet: the
# suppliers a central references today are read from the database at query time (vivier.centrals), so that an
# expired referencing stops matching the day after its end without re-indexing.
CENTRAL_PARAM = "centrale"
MAX_CENTRAL_VALUES = 10
EXACT_PARAM = "exacte"
WEAK_PARAM = "proches"
# A long need's digest (vivier.search_texts): its links name it instead of repeating its text.
NEED_PARAM = "besoin"
# Searches with a long need per client address: each embeds up to indexer.service.MAX_QUERY_CHUNKS chunks (about
# 0.6 s of a core with multilingual-e5-small), where a typed query costs 20 ms. Page turns, filters and exports of
# the same need embed nothing again (the query vectors are cached), so a buyer browsing results stays far below.
LONG_QUERY_RATE_LIMIT = "30 per minute"


def parse_search_args(args: MultiDict) -> dict:
    """Query-string -> service arguments; anything malformed falls back to a default, never an error."""
    try:
        page = max(1, int(args.get("page", "1")))
    except ValueError:
        page = 1
    mode = args.get("mode", "hybrid")
    return {
        "text": args.get("q", ""),
        "filters": {facet: args.getlist(facet) for facet in FACET_FIELDS},
        "central": args.getlist(CENTRAL_PARAM),
        "page": page,
        "mode": mode if mode in MODES else "hybrid",
        "place": args.get("commune", ""),
        "radius": args.get("rayon", ""),
        # "exacte=1": search the words as typed, not their correction; "proches=1": count and export the weaker
        # neighbours too, not only the strong matches (indexer.strength).
        "exact": args.get(EXACT_PARAM) == "1",
        "include_weak": args.get(WEAK_PARAM) == "1",
        "need": (args.get(NEED_PARAM) or "")[:search_texts.DIGEST_CHARS],
    }


def is_long_query(args: MultiDict) -> bool:
    """Whether a request searches a long need (its text, or its digest): LONG_QUERY_RATE_LIMIT counts those."""
    return bool(args.get(NEED_PARAM)) or len(args.get("q") or "") > search_texts.LINK_MAX_TEXT_CHARS


def offered_radius(value: str | int | None) -> int:
    """The distance of the commune filter's list (RADII_KM) nearest to a `rayon=` value (the larger of two as
    near); the default when empty. ValueError when it is no number."""
    text = str(value if value is not None else "").strip().replace(",", ".")
    if not text:
        return DEFAULT_RADIUS_KM
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(text)
    return min(RADII_KM, key=lambda radius: (abs(radius - number), -radius))


def with_offered_radius(args: dict) -> dict:
    """`args` with its radius brought to an offered distance (an export or an alert of an edited link searches as
    the page does); a radius that is no number, the default. The JSON API keeps any distance it documents."""
    try:
        radius = offered_radius(args.get("radius"))
    except ValueError:
        radius = DEFAULT_RADIUS_KM
    return {**args, "radius": radius}


BAD_RADIUS = ("Distance invalide", "La distance demandée n'est pas un nombre de kilomètres. Choisissez l'une des "
              "distances proposées : " + ", ".join(map(str, RADII_KM[:-1])) + f" ou {RADII_KM[-1]} km.")


def run_search(service: SearchService, args: dict, page: int | None = None, per_page: int = PER_PAGE,
               ask_homonyms: bool = False) -> tuple[SearchResponse, Place | None]:
    """The search `args` describe (page overridable), with its commune resolved; what every result view calls.
    `ask_homonyms`: a name several communes bear ("Saint-Denis") filters nothing, the page asks which one is meant
    (Place.homonyms), rather than taking the most populous."""
    place = resolve_place(args.get("place"), args.get("radius"), ask_homonyms=ask_homonyms)
    response = service.search(args["text"], args["filters"], page=args["page"] if page is None else page,
                              per_page=per_page, mode=args["mode"], near=place.filter if place else None,
                              only_ids=central_restriction(clean_centrals(args.get("central"))),
                              exact=args.get("exact", False), include_weak=args.get("include_weak", False))
    return response, place


def clean_centrals(values) -> tuple[str, ...]:
    """The central filter's values: "toutes" alone when given, else distinct slugs, bounded."""
    kept = tuple(dict.fromkeys(v.strip()[:120] for v in values or () if v and v.strip()))[:MAX_CENTRAL_VALUES]
    return (ANY_CENTRAL,) if ANY_CENTRAL in kept else kept


def central_restriction(values: tuple[str, ...]) -> frozenset[str] | None:
    """Document ids of the suppliers purchasable today through the chosen centrals (any, for "toutes"); None
    without a central filter."""
    if not values:
        return None
    from search_app.identity import now
    from vivier import centrals

    slugs = () if values == (ANY_CENTRAL,) else values
    with current_app.extensions["vivier"]["database"].session() as session:
        return frozenset(str(i) for i in centrals.active_supplier_ids(session, now().date(), slugs))


def central_context(hits, selected: tuple[str, ...]) -> dict:
    """What the page shows of purchasing centrals: the filter's options (centrals with an active referencing) and
    each hit's badges ("achetable via ... jusqu'au ...")."""
    from search_app.identity import now
    from vivier import centrals

    today = now().date()
    with current_app.extensions["vivier"]["database"].session() as session:
        options = [(c.slug, c.name, count) for c, count in centrals.centrals(session, today) if count]
        badges = centrals.badges(session, [int(h.id) for h in hits if h.id.isdigit()], today)
    return {"central_options": options, "central_selected": selected,
            "central_badges": {str(k): v for k, v in badges.items()}}


def _query_string(text: str, filters: dict, page: int | None = None, mode: str = "hybrid",
                  place: Place | None = None, exact: bool = False,
                  include_weak: bool = False) -> list[tuple[str, str]]:
    """A search's link parameters; a long need is named by its digest (vivier.search_texts), never repeated."""
    if len(text) > search_texts.LINK_MAX_TEXT_CHARS:
        pairs = [(NEED_PARAM, search_texts.digest_of(text))]
    else:
        pairs = [("q", text)] if text else []
    for facet, values in filters.items():
        pairs.extend((CENTRAL_PARAM if facet == "central" else facet, v) for v in values)
    if place is not None:
        pairs.extend((("commune", place.text), ("rayon", str(place.radius_km))))
    if mode != "hybrid":
        pairs.append(("mode", mode))
    if exact:
        pairs.append((EXACT_PARAM, "1"))
    if include_weak:
        pairs.append((WEAK_PARAM, "1"))
    if page and page > 1:
        pairs.append(("page", str(page)))
    return pairs


@bp.get("/")
@compress.compressed()
@limiter.limit(LONG_QUERY_RATE_LIMIT, exempt_when=lambda: not is_long_query(request.args))
def index():
    return render_search_page(parse_search_args(request.args))


class NeedForgotten(Exception):
    """A `besoin=` digest no stored text answers (forgotten after vivier.search_texts.KEEP, or made up)."""


def with_need_text(args: dict) -> dict:
    """`args` with the text its need digest names (NeedForgotten when none does); a long text is stored, so that
    the page's links can name it (an idempotent write: the same text has the same digest)."""
    database = current_app.extensions["vivier"]["database"]
    if args.get("need") and not args.get("text"):
        with database.session() as session:
            text = search_texts.recall(session, args["need"])
        if text is None:
            raise NeedForgotten(args["need"])
        return {**args, "text": text}
    if len(args.get("text") or "") > search_texts.LINK_MAX_TEXT_CHARS:
        text = clean_query(args["text"], current_app.extensions["vivier"]["settings"].query_max_chars)
        with database.session() as session:
            search_texts.remember(session, text)
        return {**args, "text": text}
    return args


NEED_FORGOTTEN = ("Recherche expirée", "Le texte de ce besoin n'est plus conservé (il l'est une journée, sans rien "
                  "d'autre). Collez-le de nouveau dans la zone de recherche, ou envoyez de nouveau le document.")


def render_search_page(args: dict, source_name: str | None = None):
    """Run the search described by `args` (as parse_search_args returns) and render the full page, or the results
    partial for htmx. `source_name` names an uploaded document the query text was read from."""
    service = current_app.extensions["vivier"]["search"]
    max_chars = service.settings.query_max_chars
    truncated = len(args.get("text") or "") > max_chars
    try:
        args = with_need_text(args)
    except NeedForgotten:
        title, message = NEED_FORGOTTEN
        return render_template("errors/error.html", title=title, message=message, status=410), 410
    asked_radius = args.get("radius")
    try:
        radius = offered_radius(asked_radius)
    except ValueError:
        title, message = BAD_RADIUS
        return render_template("errors/error.html", title=title, message=message, status=400), 400
    # A distance the list does not offer (an edited link: rayon=9999) is brought to the nearest offered, and said.
    radius_changed = str(asked_radius or "").strip() not in ("", str(radius))
    args = {**args, "radius": radius}
    count_search(args)  # one search in the day's count once the response is a success (public.search_counter)
    text = args["text"]
    # htmx restoring history after Back asks for the whole page (it replaces the body), not the partial.
    htmx = bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")
    try:
        response, place = run_search(service, args, ask_homonyms=True)
        pages = max(1, -(-response.total // PER_PAGE))
        if response.page > pages:  # past the last page (an edited or old link): the last page
            response, place = run_search(service, args, page=pages, ask_homonyms=True)
    except (IndexNotReady, SearchUnavailable) as error:
        # No index yet, or a search server that does not answer: a clear 503, and every other page keeps working.
        current_app.logger.warning("search unavailable: %s", error)
        template = "search/_unavailable.html" if htmx else "search/index.html"
        return render_template(template, unavailable=True, building=isinstance(error, IndexNotReady), q=text,
                               response=None, filters={}, pages=0,
                               query_string=_query_string, mode=args["mode"], truncated=False,
                               source_name=source_name, place=None, radii=RADII_KM), 503
    filters = clean_filters(args["filters"])
    chosen_centrals = clean_centrals(args.get("central"))
    if chosen_centrals:
        filters["central"] = chosen_centrals  # kept in links and shown as an active filter
    q = clean_query(text, max_chars)
    query_string = partial(_query_string, place=place, exact=args.get("exact", False),
                           include_weak=args.get("include_weak", False))

    def commune_href(commune) -> str:
        """The link that searches the same near `commune` (a suggestion, or one of several homonyms)."""
        chosen = Place(commune.label, place.radius_km if place else radius, commune)
        return "?" + urlencode(query_string(q, filters, None, args["mode"], place=chosen))

    context = dict(q=q, response=response, filters=filters, pages=pages, query_string=query_string,
                   include_weak=args.get("include_weak", False), exact=args.get("exact", False),
                   mode=args["mode"], truncated=truncated, unavailable=False, source_name=source_name, place=place,
                   radii=RADII_KM, with_filter=with_filter, commune_href=commune_href,
                   radius_asked=asked_radius if radius_changed and place else None,
                   department_map=_department_map(response, q, filters, args["mode"], query_string),
                   **central_context(response.hits, chosen_centrals))
    return render_template("search/_results.html" if htmx else "search/index.html", **context)


def with_filter(filters: dict, facet: str, value: str) -> dict:
    """`filters` with `value` selected in `facet` (or unselected when it already was): a facet link's target."""
    values = list(filters.get(facet, ()))
    values = [v for v in values if v != value] if value in values else [*values, value]
    return {**filters, facet: tuple(values)}


def _department_map(response: SearchResponse, q: str, filters: dict, mode: str, query_string) -> str:
    """The results' map of France: department counts (ignoring the department selection), each department with
    suppliers a filter link; the outlines come from the cached sprite (outline_sprite), not with every partial."""
    from search_app.public.maps import linked_department_map, outline_sprite

    counts = {fv.value: fv.count for fv in response.facets.get("department", ())}
    return linked_department_map(
        counts,
        href=lambda code: "?" + urlencode(query_string(q, with_filter(filters, "department", code), None, mode)),
        sprite_url=url_for("search.outline_sprite", v=outline_sprite()[1]),
        selected=set(filters.get("department", ())), title="Fournisseurs trouvés par département")


@bp.get("/carte/departements.svg")
@compress.compressed()
def outline_sprite():
    """The outlines of the departments the results' map draws by reference: asked for with its version, cached for
    a year (a new outline file has a new version, so a new address)."""
    from search_app.public.maps import outline_sprite as sprite

    text, version = sprite()
    response = Response(text, mimetype="image/svg+xml")
    response.set_etag(version)
    response.cache_control.public = True
    if request.args.get("v") == version:
        response.cache_control.max_age = 365 * 24 * 3600
        response.cache_control.immutable = True
    else:
        response.cache_control.max_age = 3600
    return response.make_conditional(request)


@bp.get("/communes")
def commune_options():
    """`<option>`s for the commune field's datalist (htmx), best matches first."""
    from vivier import communes

    text = " ".join(request.args.get("commune", "").split())[:100]
    found = communes.candidates(text, limit=8) if len(text) >= 2 else []
    return render_template("search/_commune_options.html", communes=found)
