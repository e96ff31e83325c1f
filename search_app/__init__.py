"""Vivier web app: anonymous search for public buyers, supplier pages. `flask --app search_app run` works."""

from __future__ import annotations

from flask import Flask, render_template, request

from indexer.backends.base import SearchUnavailable
from vivier.config import Settings, load_settings

# Bodies above this are refused (413): search is GET; forms to come are small. The document search raises its
# own route's limit to its upload cap (search_app/views/documents.py).
MAX_CONTENT_LENGTH = 1 * 1024 * 1024
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def facet_label(facet: str, value: str) -> str:
    """French display text of a facet value."""
    from vivier import geo, taxonomy

    if facet == "category":
        return taxonomy.CATEGORY_LABELS.get(value, value)
    if facet == "label":
        return taxonomy.LABEL_LABELS.get(value, value)
    if facet == "size":
        return taxonomy.SIZE_LABELS.get(value, value)
    if facet == "open_source":
        return "Solution sous licence libre" if value == "oui" else value
    if facet == "department":
        name = geo.department_name(value)
        return f"{value} {name}" if name else value
    return value


# Status -> (title, message) of the error pages, in French like the rest of the interface.
ERROR_PAGES: dict[int, tuple[str, str]] = {
    400: ("Requête invalide", "La requête n'a pas pu être comprise."),
    403: ("Accès refusé", "Vous n'avez pas accès à cette page."),
    404: ("Page introuvable", "Cette page n'existe pas ou plus."),
    405: ("Méthode non autorisée", "Cette action n'est pas permise ici."),
    413: ("Requête trop volumineuse", "Le contenu envoyé dépasse la taille autorisée."),
    429: ("Trop de demandes", "Vous avez envoyé trop de demandes depuis cette adresse ; réessayez plus tard."),
    500: ("Erreur interne", "Une erreur est survenue ; réessayez dans un instant."),
    503: ("Service indisponible", "Le service de recherche est momentanément indisponible ; réessayez dans quelques "
                                  "instants. Les fiches des fournisseurs restent accessibles."),
}


def create_app(settings: Settings | None = None, encoder=None) -> Flask:
    """App factory. `encoder` may be shared (tests load the model once); otherwise it loads on first query."""
    from embeddings.encoder import Encoder
    from indexer.service import SearchService
    from vivier.db import Database
    from vivier.models import utcnow

    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
                      JSON_AS_ASCII=False, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SECURE=bool(settings.base_url and settings.base_url.startswith("https:")))
    database = Database(settings)
    app.extensions["vivier"] = {
        "settings": settings,
        "database": database,
        "search": SearchService(settings, encoder or Encoder(settings.embedding_model)),
        # Current time for deadlines (search_app.identity.now); tests replace it.
        "clock": utcnow,
    }

    from search_app.extensions import csrf, init_extensions
    from search_app.views import documents, exports, profiles, search, shortlist, suppliers
    from search_app.views import moderation
    from search_app.views import participation
    from search_app.views import buyers, moderation_buyers, projects
    from search_app import api
    from search_app.views import opendata

    init_extensions(app)
    # A search by document reads and changes nothing; its form is also reached from the GET search form, whose
    # URL must stay shareable (no token in it).
    csrf.exempt(documents.bp)
    csrf.exempt(api.bp)  # read-only GET API, no session

    app.register_blueprint(search.bp)
    app.register_blueprint(suppliers.bp)
    app.register_blueprint(shortlist.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(profiles.bp)
    app.register_blueprint(moderation.bp)  # the operators' back-office, /moderation
    app.register_blueprint(participation.bp)  # questions, sealed proposals, sourcing log of purchase projects
    app.register_blueprint(buyers.bp)  # buyers' sign-in links and their projects, /acheteurs
    app.register_blueprint(projects.bp)  # purchase projects, /projets
    app.register_blueprint(moderation_buyers.bp)  # buyers' verification, /moderation/acheteurs
    app.register_blueprint(api.bp)  # the JSON API, /api/v1
    app.register_blueprint(opendata.bp)  # sitemap.xml, robots.txt, open-data files, /donnees-ouvertes

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.add("Vary", "HX-Request, HX-History-Restore-Request")
        return response

    def error_page(status: int, title: str, message: str):
        if request.path.startswith(api.PREFIX + "/"):  # an unknown API address: a problem document, not a page
            return api.problem_response(status)
        return render_template("errors/error.html", title=title, message=message, status=status), status

    for status, (title, message) in ERROR_PAGES.items():
        app.register_error_handler(status, lambda e, status=status, title=title, message=message:
                                   error_page(status, title, message))
    from flask_wtf.csrf import CSRFError

    app.register_error_handler(CSRFError, lambda e: error_page(
        400, "Formulaire expiré", "Le formulaire a expiré ou ne vient pas de ce site : revenez en arrière, rechargez "
                                  "la page et envoyez-le de nouveau."))
    # A search server that does not answer, wherever it is asked: 503, the rest of the site keeps working.
    app.register_error_handler(SearchUnavailable, lambda e: error_page(503, *ERROR_PAGES[503]))

    @app.context_processor
    def template_globals():
        from vivier import geo, taxonomy

        return {"taxonomy": taxonomy, "geo": geo, "facet_label": facet_label}

    return app
