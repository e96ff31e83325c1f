"""The read-only JSON API, /api/v1: search (the page's parameters and facets, cursor pagination), suppliers, public
purchase projects, categories and departments. Errors are RFC 9457 problem documents; every route is rate-limited
per client address and readable cross-origin. spectree validates parameters and bodies against the pydantic models
of search_app.api.models and writes the OpenAPI 3.1 description from them (/api/v1/openapi.json, /api/v1/docs).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, json, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from spectree import Response, SpecTree, Tag
from werkzeug.exceptions import HTTPException

from indexer.backends.base import IndexNotReady, SearchUnavailable
from indexer.service import MAX_PAGE
from search_app.api import models as m
from search_app.extensions import limiter, site_root
from search_app.public.search_counter import count_search

PREFIX = "/api/v1"
bp = Blueprint("api", __name__, url_prefix=PREFIX)

# Requests per client address to the API. Two pages a second on average, more than a harvester needs to walk the
# whole directory in minutes, and far below what the index answers; a deployment may change it (API_RATE_LIMIT).
DEFAULT_API_RATE_LIMIT = "120 per minute"
PROBLEM_MEDIA_TYPE = "application/problem+json"
# Signs cursors so that a client cannot forge one that pages past the service's bounds unnoticed.
CURSOR_SALT = "vivier-api-cursor"
# Headers a cross-origin script may read: the pagination and the rate-limit state.
EXPOSED_HEADERS = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"
# How long a browser may reuse a preflight answer, in seconds.
PREFLIGHT_MAX_AGE = "86400"
ERROR_TITLES = {
    400: "Bad request", 404: "Not found", 405: "Method not allowed", 413: "Request too large",
    429: "Too many requests", 500: "Internal error", 503: "Search unavailable",
}
ERRORS = {f"HTTP_{status}": m.Problem for status in (400, 429, 503)}


class ApiProblem(Exception):
    """An error the API answers as a problem document."""

    def __init__(self, status: int, detail: str = "", **extra: Any):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


def problem_response(status: int, detail: str = "", **extra: Any):
    """An RFC 9457 problem document, readable cross-origin like every API answer."""
    body = {"type": "about:blank", "title": ERROR_TITLES.get(status, "Error"), "status": status, "detail": detail,
            "instance": request.path, **extra}
    response = current_app.response_class(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def error_headers(error: BaseException | None) -> list[tuple[str, str]]:
    """The headers an HTTP error carries besides its body's type, kept by the pages and problem documents that
    replace its body: the Allow of a 405 (RFC 9110 requires it), the Retry-After of a 429 or 503 raised with one."""
    if not isinstance(error, HTTPException):
        return []
    return [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]


def error_problem(error: HTTPException):
    """An HTTP error (404, 405, 413...) as a problem document, with the headers it carries."""
    response = problem_response(error.code or 500, error.description or "")
    response.headers.extend(error_headers(error))
    return response


def _invalid_request(req, resp, req_validation_error, instance, model_adapter=None):
    """spectree's hook: a parameter that does not fit its model is a 400 problem naming the parameter."""
    if req_validation_error is not None:
        errors = req_validation_error.errors(include_url=False, include_context=False, include_input=False)
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
        raise ApiProblem(400, detail)


API_TITLE = "API ouverte de Vivier"
API_VERSION = "1.0"
API_DESCRIPTION = (
    "API publique en lecture seule de Vivier, le moteur de sourcing des acheteurs publics : les fournisseurs de "
    "solutions numériques pour les collectivités (recherche avec les paramètres et facettes de la page de "
    "recherche, fiches), les projets d'achat publics, les thématiques et les départements. Réponses JSON ; "
    "erreurs au format RFC 9457 (application/problem+json) ; pagination par curseur ; lisible depuis tout "
    "site (CORS). Noms des paramètres et des champs en anglais, textes en français. "
    "Read-only public API of Vivier, the sourcing engine of French public buyers.")
TAGS = {
    "search": Tag(name="search", description="Recherche de fournisseurs"),
    "suppliers": Tag(name="suppliers", description="Fiches des fournisseurs"),
    "projects": Tag(name="projects", description="Projets d'achat publics"),
    "reference": Tag(name="reference", description="Listes de référence : thématiques et départements"),
}


def schema_name(model: type) -> str:
    """A schema's name in the description: the model's own name (the API's models are all named apart), stable
    and readable, where spectree's default adds a hash of the module path."""
    return model.__name__


def nested_schema_name(parent: str, child: str) -> str:
    """A model used inside another one (a hit inside a page) keeps its own name: one schema shared by every
    model that holds it."""
    return child


spec = SpecTree("flask", mode="strict", title=API_TITLE, version=API_VERSION, description=API_DESCRIPTION,
                path="apidoc", validation_error_status=400, validation_error_model=m.Problem,
                before=_invalid_request, naming_strategy=schema_name, nested_naming_strategy=nested_schema_name)


def api_rate_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT", DEFAULT_API_RATE_LIMIT)


limiter.limit(api_rate_limit)(bp)


@bp.after_request
def cors(response):
    """Any site may read the API (no cookies involved: it is public and read-only)."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = request.headers.get("Access-Control-Request-Headers", "")
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response


bp.register_error_handler(ApiProblem, lambda e: problem_response(e.status, e.detail, **e.extra))
for _status in ERROR_TITLES:
    bp.register_error_handler(_status, error_problem)
bp.register_error_handler(HTTPException, error_problem)


# -- cursors ------------------------------------------------------------------------------------------------------
def _secret_key() -> str | bytes:
    key = current_app.secret_key
    if not key:  # create_app always sets one (vivier.config validates it)
        raise RuntimeError("the app has no SECRET_KEY")
    return key


def encode_cursor(page: int, per_page: int) -> str:
    return URLSafeSerializer(_secret_key(), salt=CURSOR_SALT).dumps([page, per_page])


def decode_cursor(cursor: str | None, per_page: int) -> int:
    """The page a cursor points to (1 without one); 400 when it is not ours, was made for another page size or
    points past the pages the service answers."""
    if not cursor:
        return 1
    try:
        page, size = URLSafeSerializer(_secret_key(), salt=CURSOR_SALT).loads(cursor)
    except (BadSignature, TypeError, ValueError):
        raise ApiProblem(400, "cursor: not a cursor of this API") from None
    if not isinstance(page, int) or size != per_page or not 1 <= page <= MAX_PAGE:
        raise ApiProblem(400, "cursor: made for another per_page, or out of range")
    return page


def next_link(page: int, per_page: int, total: int, max_page: int | None = None) -> tuple[str | None, str | None]:
    """(cursor, URL) of the page after `page`, or (None, None) on the last reachable one."""
    if page * per_page >= total or (max_page is not None and page >= max_page):
        return None, None
    cursor = encode_cursor(page + 1, per_page)
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"] + [("cursor", cursor)]
    return cursor, site_root() + request.path + "?" + urlencode(pairs)


# -- search -------------------------------------------------------------------------------------------------------
def search_args(query: m.SearchQuery) -> dict:
    """The API parameters as the page's search arguments (search_app.public.search.parse_search_args)."""
    filters = {facet: getattr(query, facet) for facet in ("category", "department", "region", "label", "size",
                                                          "open_source", "interop")}
    return {"text": query.q, "filters": filters, "page": 1, "mode": query.mode, "place": query.near,
            "radius": query.radius, "central": query.central, "exact": query.exact,
            "include_weak": query.include_weak}


def hit_out(hit) -> m.SupplierHit:
    doc = hit.document
    return m.SupplierHit(
        id=int(hit.id), slug=doc.slug, name=doc.name, pitch=doc.pitch, categories=list(doc.categories),
        inferred_categories=list(doc.inferred_categories), strong=hit.strong, labels=list(doc.labels),
        department=doc.department, region=doc.region, commune=doc.commune,
        size=doc.size_band, open_source=doc.open_source, interop=list(doc.interop or ()), score=hit.score,
        distance_km=hit.distance_km,
        url=url_for("suppliers.detail", slug=doc.slug, _external=True),
        api_url=url_for("api.supplier", supplier_id=int(hit.id), _external=True))


@bp.get("/search")
@spec.validate(query=m.SearchQuery, resp=Response(HTTP_200=m.SearchPage, **ERRORS), tags=[TAGS["search"]])
def search():
    """Chercher des fournisseurs.

    Les paramètres et les facettes de la page de recherche ; les correspondances fortes d'abord, puis les voisins
    plus faibles. Pagination par curseur : suivre « next » jusqu'à ce qu'il soit null.
    \f
    Search suppliers: the search page's parameters and facets, with cursor pagination. (The docstring above the
    form feed is the API description's, in French.)"""
    from search_app.labels import facet_label
    from search_app.public.search import run_search

    query: m.SearchQuery = request.context.query
    count_search(search_args(query))  # counted once the answer is a success (search_app.public.search_counter)
    page = decode_cursor(query.cursor, query.per_page)
    try:
        response, place = run_search(current_app.extensions["vivier"]["search"], search_args(query), page=page,
                                     per_page=query.per_page)
    except (IndexNotReady, SearchUnavailable) as error:
        current_app.logger.warning("API search unavailable: %s", error)
        raise ApiProblem(503, "the search index is being built or does not answer; retry later") from None
    if place is not None and place.commune is None:
        raise ApiProblem(400, f"near: unknown commune {place.text!r}", candidates=[c.name for c in place.candidates])
    cursor, link = next_link(page, query.per_page, response.total, MAX_PAGE)
    facets = {facet: [m.FacetValueOut(value=v.value, label=facet_label(facet, v.value), count=v.count,
                                      selected=v.selected) for v in values]
              for facet, values in response.facets.items()}
    return m.SearchPage(
        total=response.total, strong_total=response.strong_total, corrected=response.corrected,
        reachable=min(response.total, MAX_PAGE * query.per_page), per_page=query.per_page,
        hits=[hit_out(h) for h in response.hits], facets=facets, suggestion=response.suggestion,
        near=m.PlaceOut(commune=place.commune.name, radius_km=place.radius_km) if place else None,
        next_cursor=cursor, next=link)


# -- suppliers ----------------------------------------------------------------------------------------------------
def supplier_out(supplier) -> m.Supplier:
    return m.Supplier(
        id=supplier.id, slug=supplier.slug, name=supplier.name, siren=supplier.siren, website=supplier.website,
        pitch=supplier.pitch or "", description=supplier.description or "", categories=supplier.categories or [],
        keywords=supplier.keywords or [], labels=supplier.labels or [], size=supplier.size_band,
        founded_year=supplier.founded_year, address=supplier.address, postcode=supplier.postcode,
        commune=supplier.commune, department=supplier.department, region=supplier.region,
        latitude=supplier.latitude, longitude=supplier.longitude, references=supplier.references or [],
        offers=supplier.offers or [], interoperability=supplier.interoperability or {},
        contact_email=supplier.contact_email, contact_phone=supplier.contact_phone, updated_at=supplier.updated_at,
        url=url_for("suppliers.detail", slug=supplier.slug, _external=True))


@bp.get("/suppliers/<int:supplier_id>")
@spec.validate(resp=Response(HTTP_200=m.Supplier, HTTP_404=m.Problem, HTTP_429=m.Problem),
               tags=[TAGS["suppliers"]],
               path_parameter_descriptions={"supplier_id": "identifiant du fournisseur (champ « id »)"})
def supplier(supplier_id: int):
    """La fiche publique d'un fournisseur.

    Un fournisseur fusionné avec un autre répond par la fiche de celui-ci.
    \f
    A supplier's public profile; a merged one answers its live successor's."""
    from search_app.public.suppliers import merged_target
    from vivier.models import SEARCHABLE_STATUSES, STATUS_MERGED, Supplier

    with current_app.extensions["vivier"]["database"].session() as session:
        found = session.get(Supplier, supplier_id)
        if found is not None and found.status == STATUS_MERGED:
            found = merged_target(session, found)
        if found is None or found.status not in SEARCHABLE_STATUSES:
            raise ApiProblem(404, f"no supplier {supplier_id}")
        return supplier_out(found)


# -- purchase projects --------------------------------------------------------------------------------------------
def project_summary(project, organisation: str | None) -> dict:
    """A project's public fields, its state as it is now (read without writing: vivier.projects.effective_status)."""
    from search_app.identity import now
    from vivier.projects import effective_closed_at, effective_status

    moment = now()
    return dict(slug=project.slug, title=project.title, status=effective_status(project, moment),
                organisation=organisation, categories=project.categories or [],
                departments=project.departments or [], deadline=project.deadline,
                published_at=project.published_at, closed_at=effective_closed_at(project, moment),
                url=url_for("projects.detail", slug=project.slug, _external=True),
                api_url=url_for("api.project", slug=project.slug, _external=True))


def _organisations(session, projects) -> dict[int, str | None]:
    from vivier.models import Buyer

    ids = {p.buyer_id for p in projects}
    return {b.id: b.organisation or None for b in session.scalars(select(Buyer).where(Buyer.id.in_(ids)))}


@bp.get("/projects")
@spec.validate(query=m.ProjectsQuery, resp=Response(HTTP_200=m.ProjectsPage, **ERRORS), tags=[TAGS["projects"]])
def projects():
    """Les projets d'achat publics.

    Publiés, clos et archivés, du plus récent au plus ancien ; pagination par curseur.
    \f
    Published, closed and archived purchase projects, newest first."""
    from search_app.identity import now
    from vivier.projects import list_public_projects

    query: m.ProjectsQuery = request.context.query
    page = decode_cursor(query.cursor, query.per_page)
    with current_app.extensions["vivier"]["database"].session() as session:
        found = list_public_projects(session, query.q, query.category, query.department, query.status, now())
        shown = found[(page - 1) * query.per_page:page * query.per_page]
        organisations = _organisations(session, shown)
        items = [m.ProjectSummary(**project_summary(p, organisations.get(p.buyer_id))) for p in shown]
    cursor, link = next_link(page, query.per_page, len(found), MAX_PAGE)
    return m.ProjectsPage(total=len(found), per_page=query.per_page, projects=items, next_cursor=cursor, next=link)


@bp.get("/projects/<slug>")
@spec.validate(resp=Response(HTTP_200=m.Project, HTTP_404=m.Problem, HTTP_429=m.Problem),
               tags=[TAGS["projects"]],
               path_parameter_descriptions={"slug": "identifiant lisible du projet (champ « slug »)"})
def project(slug: str):
    """Un projet d'achat public.

    Ce que sa page montre à tous ; un brouillon n'existe pas ici.
    \f
    A public project's public parts; a draft does not exist here."""
    from vivier.models import Buyer
    from vivier.projects import PUBLIC_STATUSES, project_by_slug

    with current_app.extensions["vivier"]["database"].session() as session:
        found = project_by_slug(session, slug)
        if found is None or found.status not in PUBLIC_STATUSES:
            raise ApiProblem(404, f"no public project {slug!r}")
        buyer = session.get(Buyer, found.buyer_id)
        return m.Project(
            **project_summary(found, buyer.organisation or None if buyer else None), need=found.need,
            context=found.context, studies=found.studies, social_criteria=found.social_criteria,
            environmental_criteria=found.environmental_criteria, variants_allowed=found.variants_allowed,
            variant_requirements=found.variant_requirements, contract_model=found.contract_model,
            budget_band=found.budget_band if found.show_budget else None,
            milestones=[m.Milestone(date=ms.date, label=ms.label) for ms in found.milestones])


# -- reference lists ----------------------------------------------------------------------------------------------
@bp.get("/categories")
@spec.validate(resp=Response(HTTP_200=m.Terms, HTTP_429=m.Problem), tags=[TAGS["reference"]])
def categories():
    """Les thématiques.

    Identifiant (valeur du paramètre « category ») et libellé français.
    \f
    The categories (facet category), slug and French label."""
    from vivier.taxonomy import CATEGORIES

    return m.Terms(items=[m.Term(slug=t.slug, label=t.label) for t in CATEGORIES])


@bp.get("/departments")
@spec.validate(resp=Response(HTTP_200=m.Departments, HTTP_429=m.Problem), tags=[TAGS["reference"]])
def departments():
    """Les départements.

    Code (valeur du paramètre « department »), nom et région (valeur du paramètre « region »).
    \f
    The departments (facet department), with their region (facet region)."""
    from vivier.geo import DEPARTMENTS

    return m.Departments(items=[m.Department(code=code, name=name, region=region)
                                for code, (name, region) in DEPARTMENTS.items()])


# -- the description ----------------------------------------------------------------------------------------------
# The answers' descriptions in French, the HTTP reason phrase after them (spectree writes the phrase alone).
RESPONSE_DESCRIPTIONS = {
    "200": "Réponse (OK)", "400": "Paramètre invalide (Bad Request)", "404": "Introuvable (Not Found)",
    "429": "Trop de requêtes : attendre le délai de l'en-tête Retry-After (Too Many Requests)",
    "503": "Index de recherche indisponible ou en construction : réessayer plus tard (Service Unavailable)",
}


def openapi_document() -> dict:
    """spectree's description, with the error answers declared as application/problem+json (what they are) and
    described in French."""
    document = json.loads(json.dumps(spec.spec))
    for operation in (op for item in document.get("paths", {}).values() for op in item.values()):
        for status, answer in operation.get("responses", {}).items():
            answer["description"] = RESPONSE_DESCRIPTIONS.get(status, answer.get("description", ""))
            if status.startswith(("4", "5")) and "application/json" in answer.get("content", {}):
                answer["content"] = {PROBLEM_MEDIA_TYPE: answer["content"]["application/json"]}
    return document


@bp.get("/openapi.json")
def openapi():
    return current_app.response_class(json.dumps(openapi_document()), mimetype="application/json")


# A rate limit's words in French ("120 per minute" -> "120 par minute"), for the docs page.
RATE_WORDS = {"per": "par", "second": "seconde", "seconds": "secondes", "hour": "heure", "hours": "heures",
              "day": "jour", "days": "jours", "month": "mois", "year": "an", "years": "ans"}


def french_rate_limit(limit: str) -> str:
    return " ".join(RATE_WORDS.get(word, word) for word in limit.split())


@bp.app_template_filter("api_json")
def api_json(value: Any, indent: int | None = None) -> str:
    """An example value as JSON, accents as they are (the page escapes the text)."""
    return json.dumps(value, ensure_ascii=False, indent=indent)


@bp.get("/docs")
def docs():
    """The description as a page, in French, rendered here (no script, no CDN)."""
    document = openapi_document()
    return render_template("api/docs.html", document=document, schemas=document.get("components", {}).get(
        "schemas", {}), rate_limit=french_rate_limit(api_rate_limit()))
