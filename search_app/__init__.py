"""Vivier's web app: the factory (create_app) that wires the settings, the database, the search service and one
blueprint per audience (public/, companies/, purchasing/, backoffice/, api/), the security headers and the French
error pages. Views only parse, call one rule of the core (vivier) and render; slow work goes to the background
worker (search_app.jobs). `vivier serve` runs it with a worker thread; deploy/gunicorn.conf.py in production."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

from flask import Flask, g, render_template, request

from indexer.backends.base import SearchUnavailable
from vivier.config import Settings, check_production, load_settings

# Bodies above this are refused (413): search is GET; forms to come are small. The document search raises its
# own route's limit to its upload cap (search_app/public/documents.py).
MAX_CONTENT_LENGTH = 1 * 1024 * 1024
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Browser features no page of the site uses: denied to it, and so to anything injected into it.
# Only features browsers know: an unknown one (« bluetooth ») makes Chromium log an error on every page.
PERMISSIONS_POLICY = ("camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), midi=(), "
                      "browsing-topics=()")
# Two years (the HSTS preload list's minimum); sent only when the site's address (VIVIER_BASE_URL) is https.
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"


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
# The 503 page when the database cannot take a request (locked by a long job, full disk).
DATABASE_UNAVAILABLE_PAGE = (
    "Service momentanément indisponible",
    "La base de données est momentanément indisponible (occupée ou saturée) ; réessayez dans quelques instants. "
    "Si vous envoyiez un formulaire, revenez en arrière et envoyez-le de nouveau.")
# Retry-After of that page, seconds: a lock outlasting the web app's wait (vivier.db.WEB_BUSY_TIMEOUT_S) is a
# long job's, seldom over in less.
DATABASE_RETRY_AFTER_S = 10
# flask.g key of the Retry-After an error handler gave its answer (see retry_after_of_503 in create_app).
RETRY_AFTER_KEY = "vivier_retry_after_s"
# What SQLite says when the database cannot take a request now, as opposed to a mistake in SQL ("no such table",
# a syntax error), which it reports as OperationalError too. Other databases' OperationalError (PostgreSQL: refused
# connection, lock timeout, full disk) is always of the first kind.
SQLITE_UNAVAILABLE_MESSAGES = ("database is locked", "database table is locked", "database or disk is full",
                               "disk I/O error", "unable to open database file")


def database_unavailable(error: Exception) -> bool:
    """Whether a SQLAlchemy OperationalError means the database cannot take the request now (answered 503)."""
    original = getattr(error, "orig", None)
    if isinstance(original, sqlite3.Error):
        return any(message in str(original) for message in SQLITE_UNAVAILABLE_MESSAGES)
    return True


def create_app(settings: Settings | None = None, encoder=None, production: bool = False,
               background_reload: bool | None = None) -> Flask:
    """App factory. `encoder` may be shared (tests load the model once); otherwise it loads on first query.
    `production` (search_app.wsgi, under gunicorn) refuses to start without a public base URL and a real secret key
    (vivier.config.check_production), and answers only requests for the base URL's host. `background_reload`
    (default: as `production`; `vivier serve` sets it): a new index generation is loaded by a thread while searches
    go on with the previous one."""
    from embeddings.encoder import Encoder
    from indexer.service import SearchService
    from vivier.db import WEB_BUSY_TIMEOUT_S, Database
    from vivier.models import utcnow

    settings = settings or load_settings()
    if production:
        check_production(settings)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
                      JSON_AS_ASCII=False, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SECURE=bool(settings.base_url and settings.base_url.startswith("https:")))
    if settings.base_url:
        # Every absolute link (url_for(_external=True): e-mails, feeds, sitemap, API) is built on the base URL, never
        # on the Host header a client sends; in production, requests for another host are refused (400).
        base = urlsplit(settings.base_url)
        app.config.update(SERVER_NAME=base.netloc, PREFERRED_URL_SCHEME=base.scheme,
                          APPLICATION_ROOT=base.path or "/")
        if production:
            app.config["TRUSTED_HOSTS"] = [base.hostname]
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The client's address and scheme from the declared proxies' headers, and only from them.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=settings.trusted_proxies)
    from search_app.converters import SegmentConverter

    app.url_map.converters.update(default=SegmentConverter, string=SegmentConverter)  # before any route
    database = Database(settings, busy_timeout=WEB_BUSY_TIMEOUT_S)
    app.extensions["vivier"] = {
        "settings": settings,
        "database": database,
        # A new index generation written by the worker or the command line is loaded off the searches' path.
        "search": SearchService(settings, encoder or Encoder.from_settings(settings),
                                background_reload=background_reload if background_reload is not None else production),
        # Current time for deadlines (search_app.identity.now); tests replace it.
        "clock": utcnow,
    }

    from search_app import api
    from search_app.backoffice import buyers as backoffice_buyers
    from search_app.backoffice import centrals as backoffice_centrals
    from search_app.backoffice import moderation
    from search_app.companies import editing
    from search_app.extensions import csrf, init_extensions
    from search_app.public import (alerts, centrals, documents, exports, opendata, search, shortlist, statistics,
                                   suppliers)
    from search_app.purchasing import buyers, participation, projects

    init_extensions(app)
    # A search by document reads and changes nothing; its form is also reached from the GET search form, whose
    # URL must stay shareable (no token in it).
    csrf.exempt(documents.bp)
    csrf.exempt(api.bp)  # read-only GET API, no session
    # RFC 8058: a mail client unsubscribes with one POST and no form; the signed token in the address is the key.
    csrf.exempt(alerts.unsubscribe_one_click)

    # Public pages: anyone, no account (search_app/public/).
    app.register_blueprint(search.bp)
    app.register_blueprint(suppliers.bp)
    app.register_blueprint(shortlist.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(opendata.bp)  # sitemap.xml, robots.txt, open-data files, /donnees-ouvertes
    app.register_blueprint(statistics.bp)  # public statistics, /statistiques
    app.register_blueprint(centrals.bp)  # purchasing centrals' catalogues, /centrales
    app.register_blueprint(alerts.bp)  # a search's Atom feed and e-mail alerts, /recherche.atom, /recherche/alerte
    # Companies proposing and editing their profiles (search_app/companies/).
    app.register_blueprint(editing.bp)
    # Buyers' purchase projects and suppliers' answers (search_app/purchasing/).
    app.register_blueprint(projects.bp)  # purchase projects, /projets
    app.register_blueprint(participation.bp)  # questions, sealed proposals, sourcing log of purchase projects
    app.register_blueprint(buyers.bp)  # buyers' sign-in links and their projects, /acheteurs
    # Operators' back-office (search_app/backoffice/).
    app.register_blueprint(moderation.bp)  # /moderation
    app.register_blueprint(backoffice_buyers.bp)  # buyers' verification, /moderation/acheteurs
    app.register_blueprint(backoffice_centrals.bp)  # centrals and referencings, /moderation/centrales
    # Programs (search_app/api/).
    app.register_blueprint(api.bp)  # the JSON API, /api/v1

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if (settings.base_url or "").startswith("https:"):
            response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        response.vary.update(("HX-Request", "HX-History-Restore-Request"))  # one Vary header, merged
        return response

    def keep_retry_after(response) -> None:
        """Record the Retry-After an error handler gave its answer, which retry_after_of_503 restores."""
        if "Retry-After" in response.headers:
            g.setdefault(RETRY_AFTER_KEY, response.headers["Retry-After"])

    def error_page(status: int, title: str, message: str, error: BaseException | None = None):
        """The French error page, or a problem document under the API; either keeps the headers the error carries
        (api.error_headers: the Allow of a 405)."""
        if request.path.startswith(api.PREFIX + "/"):  # an unknown API address: a problem document, not a page
            response = api.problem_response(status)
        else:
            response = app.make_response((render_template("errors/error.html", title=title, message=message,
                                                          status=status), status))
        response.headers.extend(api.error_headers(error))
        keep_retry_after(response)
        return response

    for status, (title, message) in ERROR_PAGES.items():
        app.register_error_handler(status, lambda e, status=status, title=title, message=message:
                                   error_page(status, title, message, e))
    from werkzeug.exceptions import SecurityError

    def untrusted_host(error: SecurityError):
        """A request for a host other than the base URL's (production's TRUSTED_HOSTS): a plain answer, since no
        link of this site can be built for that host."""
        return app.response_class("Requête refusée : ce site ne répond pas à cette adresse.\n", status=400,
                                  mimetype="text/plain")

    app.register_error_handler(SecurityError, untrusted_host)
    from flask_wtf.csrf import CSRFError

    app.register_error_handler(CSRFError, lambda e: error_page(
        400, "Formulaire expiré", "Le formulaire a expiré ou ne vient pas de ce site : revenez en arrière, rechargez "
                                  "la page et envoyez-le de nouveau.", e))
    # A search server that does not answer, wherever it is asked: 503, the rest of the site keeps working.
    app.register_error_handler(SearchUnavailable, lambda e: error_page(503, *ERROR_PAGES[503]))
    from sqlalchemy.exc import OperationalError

    def database_error(error: OperationalError):
        """A database locked beyond the app's wait, or full: 503 with Retry-After, never a 500. The failed
        transaction was rolled back (vivier.db.Database.session): nothing half-written is kept."""
        if not database_unavailable(error):
            raise error  # a mistake in SQL: the usual 500
        app.logger.warning("database unavailable on %s %s: %s", request.method, request.path, error.orig)
        if request.path.startswith(api.PREFIX + "/"):
            response = api.problem_response(503, "the database is busy or full; retry later",
                                            title="Database unavailable")
        else:
            title, message = DATABASE_UNAVAILABLE_PAGE
            response = app.make_response((render_template("errors/error.html", title=title, message=message,
                                                          status=503), 503))
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        keep_retry_after(response)
        return response

    app.register_error_handler(OperationalError, database_error)

    def retry_after_of_503(response):
        """A 503's Retry-After is the delay its handler chose (DATABASE_RETRY_AFTER_S), or none. Flask-Limiter gives
        every answer of a rate-limited route a Retry-After, when the route's window resets, and keeps the later of
        its own and the page's: a form refused while the database was locked said "Retry-After: 3600" (the forms'
        default limit is 10 per hour), sending clients away for an hour when the database is back in seconds. Its
        X-RateLimit-* headers stay; a 429's Retry-After is its own."""
        if response.status_code == 503:
            chosen = g.get(RETRY_AFTER_KEY)
            if chosen is None:
                response.headers.pop("Retry-After", None)
            else:
                response.headers["Retry-After"] = chosen
        return response

    # Flask runs the app's after_request functions in the reverse order of their registration, and Flask-Limiter
    # registered its own (which sets the headers) in init_extensions: this one goes first in the list to run last.
    app.after_request_funcs.setdefault(None, []).insert(0, retry_after_of_503)

    @app.template_filter("category_label")
    def category_label(slug: str) -> str:
        from vivier.taxonomy import CATEGORY_LABELS

        return CATEGORY_LABELS.get(slug, slug)

    from search_app import formatting

    formatting.register(app)  # French numbers, sizes, dates and counts (search_app/formatting.py)

    @app.context_processor
    def template_globals():
        from search_app.labels import facet_label
        from vivier import geo, taxonomy

        return {"taxonomy": taxonomy, "geo": geo, "facet_label": facet_label}

    from search_app import logredact

    logredact.install(app)  # once every route is known: private links' tokens and secrets never reach a log
    return app
