"""Flask extensions shared by the views: CSRF protection, per-address rate limits, operator sessions; and the
helpers the company and moderation pages share (absolute links for e-mails, re-indexing at once).

Every POST form carries a CSRF token (Flask-WTF), except the search by document, which changes nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import Flask, current_app, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, headers_enabled=True)
login_manager = LoginManager()
login_manager.login_view = "moderation.login"
login_manager.login_message = "Connectez-vous pour accéder à la modération."
login_manager.session_protection = "strong"


@dataclass
class OperatorUser(UserMixin):
    """The signed-in operator, as Flask-Login sees it."""
    id: int
    email: str

    def get_id(self) -> str:
        return str(self.id)


@login_manager.user_loader
def _load_operator(user_id: str) -> OperatorUser | None:
    from vivier.models import Operator

    if not user_id.isdigit():
        return None
    with current_app.extensions["vivier"]["database"].session() as session:
        operator = session.get(Operator, int(user_id))
        return OperatorUser(operator.id, operator.email) if operator is not None and operator.active else None


def form_rate_limit() -> str:
    """The limit on each form's submissions per client address (VIVIER_FORM_RATE_LIMIT)."""
    return current_app.extensions["vivier"]["settings"].form_rate_limit


def init_extensions(app: Flask) -> None:
    settings = app.extensions["vivier"]["settings"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.ratelimit_storage)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session: a long form may take a while
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)


def external_url(endpoint: str, **values) -> str:
    """An absolute link for an e-mail: on VIVIER_BASE_URL when it is set, else on the address of the request."""
    base = current_app.extensions["vivier"]["settings"].base_url
    if base:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values) if request else url_for(endpoint, **values)


def reindex_now() -> bool:
    """Apply what changed in the database to the live search index now (an approval, a hidden or removed
    profile): embeds only the changed profiles' new texts. False when it could not (no index yet, or the search
    server does not answer): the change is stored, and the next update or build applies it."""
    from indexer.backends.base import IndexNotReady, SearchUnavailable
    from indexer.build import update_index

    ext = current_app.extensions["vivier"]
    try:
        if not ext["search"].backend.status().get("ready"):
            return False
        update_index(ext["settings"], ext["search"].encoder, export=False)
    except (IndexNotReady, SearchUnavailable) as error:
        current_app.logger.warning("re-index postponed: %s", error)
        return False
    # The open-data files follow, off the request: at 100k profiles a full export takes seconds.
    threading.Thread(target=_export, args=(ext["settings"],), name="vivier-opendata-export", daemon=True).start()
    return True


_export_lock = threading.Lock()


def _export(settings) -> None:
    from vivier.opendata import export_after_build

    with _export_lock:  # one export at a time; each replaces the files atomically
        export_after_build(settings)

