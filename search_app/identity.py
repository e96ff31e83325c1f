"""Who is on the page, without accounts: a buyer signed in by a magic link, a supplier in the editing session a
private link opened (search_app.companies.editing), an operator (Flask-Login). And the clock the pages use, which
tests replace to move across deadlines.

Both sessions live in Flask's signed session cookie: an id, the address, an expiry. Each request re-reads the row:
a buyer removed or a claim revoked ends the session at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeGuard

from flask import current_app, has_request_context
from flask import session as web_session
from sqlalchemy.orm import Session

from vivier.models import Buyer, Supplier, utcnow

BUYER_SESSION_KEY = "buyer"
# The supplier's editing session (search_app.companies.editing keeps it under this key).
SUPPLIER_SESSION_KEY = "profile_edit"


def now() -> datetime:
    """The current time (naive UTC, as stored), from the app's clock."""
    return current_app.extensions["vivier"].get("clock", utcnow)()


def open_buyer_session(buyer: Buyer) -> None:
    from vivier.projects import BUYER_SESSION_LIFETIME

    web_session[BUYER_SESSION_KEY] = {"buyer_id": buyer.id, "email": buyer.email,
                                      "expires": (now() + BUYER_SESSION_LIFETIME).isoformat()}


def end_buyer_session() -> None:
    web_session.pop(BUYER_SESSION_KEY, None)


def _live(state: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(state, dict) and datetime.fromisoformat(state.get("expires") or "1970-01-01") > now()


def buyer_signed_in() -> bool:
    """Whether this browser holds a live buyer session, from the signed cookie alone (no query): what the header
    needs to offer « Mes projets ». The pages behind the link check the buyer itself (current_buyer)."""
    return has_request_context() and _live(web_session.get(BUYER_SESSION_KEY))


def supplier_in_session(supplier_id: int) -> bool:
    """Whether this browser holds a live editing session for this supplier, from the signed cookie alone (no
    query): what a page needs to offer the company's own links. The pages behind them check the address again
    (current_supplier)."""
    if not has_request_context():  # a page rendered for no browser (a worker's mail) has nobody signed in
        return False
    state = web_session.get(SUPPLIER_SESSION_KEY)
    return _live(state) and state.get("supplier_id") == supplier_id


def current_buyer(session: Session) -> Buyer | None:
    """The signed-in buyer, or None (no session, expired, or the buyer is gone)."""
    state = web_session.get(BUYER_SESSION_KEY)
    if not _live(state):
        return None
    buyer = session.get(Buyer, state.get("buyer_id"))
    return buyer if buyer is not None and buyer.email == state.get("email") else None


def current_supplier(session: Session) -> tuple[Supplier, str] | None:
    """The supplier whose editing session this browser holds, with the verified address, or None."""
    from vivier.submissions import may_edit

    state = web_session.get(SUPPLIER_SESSION_KEY)
    if not _live(state):
        return None
    supplier = session.get(Supplier, state.get("supplier_id"))
    email = state.get("email") or ""
    if supplier is None or not may_edit(session, supplier.id, email):
        return None
    return supplier, email
