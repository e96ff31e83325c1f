"""Flask extensions shared by the views: CSRF protection, per-address rate limits, operator sessions; and the
helpers the company and moderation pages share (absolute links for e-mails, re-indexing at once).

Every POST form carries a CSRF token (Flask-WTF), except the search by document, which changes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from flask import Flask, current_app, request, url_for
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
compress = Compress()
limiter = Limiter(key_func=get_remote_address, headers_enabled=True)
login_manager = LoginManager()
login_manager.login_view = "moderation.login"
login_manager.login_message = "Connectez-vous pour accéder à la modération."
login_manager.session_protection = "strong"


@dataclass
class OperatorUser(UserMixin):
    """The signed-in operator, as Flask-Login sees it. The id in the session cookie carries the operator's current
    session token (vivier.models.Operator.session_token): signing out draws a new one, and every copy of an older
    cookie then opens nothing."""
    id: int
    email: str
    session_token: str = ""

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"


@login_manager.user_loader
def _load_operator(user_id: str) -> OperatorUser | None:
    from vivier.models import Operator

    number, _, token = user_id.partition(":")
    if not number.isdigit() or not token:
        return None
    with current_app.extensions["vivier"]["database"].session() as session:
        operator = session.get(Operator, int(number))
        if operator is None or not operator.active or not secrets.compare_digest(operator.session_token or "",
                                                                                  token):
            return None
        return OperatorUser(operator.id, operator.email, operator.session_token)


def _session_identifier() -> str:
    """What binds an operator's session to its browser (Flask-Login's "strong" protection): the client address as
    the app sees it (a declared proxy's X-Forwarded-For, else the peer; never a header any client can send) and its
    user agent."""
    agent = request.headers.get("User-Agent", "")
    return hashlib.sha512(f"{request.remote_addr}|{agent}".encode("utf-8", "replace")).hexdigest()


login_manager._session_identifier_generator = _session_identifier


def form_rate_limit() -> str:
    """The limit on each form's submissions per client address (VIVIER_FORM_RATE_LIMIT)."""
    return current_app.extensions["vivier"]["settings"].form_rate_limit


def init_extensions(app: Flask) -> None:
    settings = app.extensions["vivier"]["settings"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.ratelimit_storage)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session: a long form may take a while
    # Brotli or gzip, as the client accepts, only for the views decorated with @compress.compressed(): public pages
    # that hold no secret (a page with a CSRF token and reflected input, compressed, would leak the token: BREACH).
    app.config.setdefault("COMPRESS_REGISTER", False)
    app.config.setdefault("COMPRESS_MIMETYPES", ["text/html", "image/svg+xml"])
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    compress.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)


def site_root() -> str:
    """The site's public address without a trailing slash: VIVIER_BASE_URL (required in production); in
    development without it, the request's."""
    base = current_app.extensions["vivier"]["settings"].base_url
    return base or request.url_root.rstrip("/")


def external_url(endpoint: str, **values) -> str:
    """An absolute link for an e-mail: on VIVIER_BASE_URL when it is set, else on the address of the request."""
    base = current_app.extensions["vivier"]["settings"].base_url
    if base:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values) if request else url_for(endpoint, **values)


def private_headers(response):
    """Back-office pages hold personal data (submitters' addresses): not for search engines, not for caches."""
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store"
    return response
