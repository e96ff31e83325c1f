"""E-mail alerts on any search (issue 21): a buyer who found nothing today hears of the suppliers that match later.

No account: an alert is an address and a saved search. It is stored unconfirmed with a one-time confirmation
link's token (hashed, like every private link's); opening the link confirms it (double opt-in), and alerts left
unconfirmed are deleted after CONFIRM_LIFETIME. Every e-mail of an alert carries a link that removes it: the link's
token is an HMAC of the alert's id and a random nonce under the site's secret key, so the database never holds a
usable link, and a link stays valid as long as the alert (no token to store per e-mail).

The search itself is run by the web app's search service (search_app.public.alerts, in the background worker); this
module keeps the rules: what a saved search is, one alert per address and search, ALERTS_PER_ADDRESS at most, which
matches are new (not mailed before, or changed since the last e-mail), what a run records.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vivier.models import SearchAlert, utcnow
from vivier.submissions import hash_token

# The background job that mails the alerts' news; queued once an hour by the worker (search_app.jobs.PERIODIC_JOBS).
ALERTS_JOB = "search-alerts"
# Alerts one address may hold (confirmed or not): bounds what one person, or somebody typing their address, costs.
ALERTS_PER_ADDRESS = 20
# A saved search's text: a query or a short need. A whole specification (a document search) is too long to keep.
QUERY_MAX_CHARS = 1500
# Values kept per filter, and characters per value (as indexer.service.clean_filters keeps them).
FILTER_VALUES_MAX = 30
FILTER_VALUE_MAX_CHARS = 80
PLACE_MAX_CHARS = 100
MODES = ("hybrid", "keyword", "dense")
# An unconfirmed alert, and its confirmation link, last this long.
CONFIRM_LIFETIME = timedelta(days=3)
# Supplier ids remembered per alert as already mailed (or seen on the page): the most recent are kept.
NOTIFIED_IDS_MAX = 1000


class AlertLinkError(ValueError):
    """A confirmation or unsubscribe link that is unknown ("unknown"), expired ("expired") or served ("used")."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SavedSearch:
    """A search as an alert keeps it: what the results page's query string says, normalised."""

    text: str = ""
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    place: str = ""
    radius_km: int | None = None
    mode: str = "hybrid"
    exact: bool = False
    include_weak: bool = False

    @classmethod
    def normalised(cls, text: str | None, filters: Mapping[str, Sequence[str]] | None, place: str | None = "",
                   radius_km: Any = None, mode: str | None = "hybrid", exact: bool = False,
                   include_weak: bool = False) -> "SavedSearch":
        """Spaces collapsed, filters sorted and deduplicated, the radius kept only with a commune. A text longer than
        QUERY_MAX_CHARS is kept whole here: `too_long` says so, for the form to refuse it."""
        clean: dict[str, tuple[str, ...]] = {}
        for facet, values in sorted((filters or {}).items()):
            kept = sorted(dict.fromkeys(v.strip()[:FILTER_VALUE_MAX_CHARS] for v in values or () if v and v.strip()))
            if kept:
                clean[str(facet)[:40]] = tuple(kept[:FILTER_VALUES_MAX])
        place = " ".join((place or "").split())[:PLACE_MAX_CHARS]
        try:
            radius = int(radius_km) if place and radius_km not in (None, "") else None
        except (TypeError, ValueError):
            radius = None
        return cls(text=" ".join((text or "").split()), filters=clean, place=place, radius_km=radius,
                   mode=mode if mode in MODES else "hybrid", exact=bool(exact), include_weak=bool(include_weak))

    @property
    def too_long(self) -> bool:
        return len(self.text) > QUERY_MAX_CHARS

    @property
    def empty(self) -> bool:
        return not self.text and not self.filters and not self.place

    def key(self) -> str:
        """The search's digest: one alert per address and search."""
        data = [self.text.casefold(), {k: list(v) for k, v in self.filters.items()}, self.place.casefold(),
                self.radius_km, self.mode, self.exact, self.include_weak]
        return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def saved_search(alert: SearchAlert) -> SavedSearch:
    return SavedSearch(alert.query, {k: tuple(v) for k, v in (alert.filters or {}).items()}, alert.place,
                       alert.radius_km, alert.mode, alert.exact, alert.include_weak)


# -- subscribing ------------------------------------------------------------------------------------------------
NEW = "new"  # a new alert, unconfirmed: a confirmation e-mail
PENDING_AGAIN = "pending-again"  # the same search asked again before confirming: a new confirmation e-mail
ALREADY_ACTIVE = "already-active"  # the same search, confirmed already: a reminder with its unsubscribe link
LIMIT_REACHED = "limit-reached"  # ALERTS_PER_ADDRESS already: nothing stored, an e-mail says why


@dataclass
class Subscribed:
    """What `subscribe` did; the page says the same whatever it is (it tells nobody which addresses have alerts)."""

    outcome: str
    alert: SearchAlert | None = None
    confirm_token: str | None = None  # the raw token, for the confirmation link (NEW, PENDING_AGAIN)


def subscribe(session: Session, email: str, search: SavedSearch, now: datetime | None = None) -> Subscribed:
    """Record the alert unconfirmed (flushed with the caller's transaction); the caller mails the link."""
    if search.too_long:
        raise ValueError("a saved search's text is at most QUERY_MAX_CHARS characters")
    now = now or utcnow()
    email = email.strip().lower()
    key = search.key()
    alert = session.scalar(select(SearchAlert).where(SearchAlert.email == email, SearchAlert.search_key == key))
    if alert is not None and alert.confirmed_at is not None:
        return Subscribed(ALREADY_ACTIVE, alert)
    raw = secrets.token_urlsafe(32)
    if alert is not None:
        alert.confirm_token_hash, alert.created_at, alert.last_notified_at = hash_token(raw), now, now
        session.flush()
        return Subscribed(PENDING_AGAIN, alert, raw)
    held = session.scalar(select(func.count()).select_from(SearchAlert).where(SearchAlert.email == email)) or 0
    if held >= ALERTS_PER_ADDRESS:
        return Subscribed(LIMIT_REACHED)
    alert = SearchAlert(email=email, query=search.text, filters={k: list(v) for k, v in search.filters.items()},
                        place=search.place, radius_km=search.radius_km, mode=search.mode, exact=search.exact,
                        include_weak=search.include_weak, search_key=key, created_at=now,
                        confirm_token_hash=hash_token(raw), unsubscribe_nonce=secrets.token_hex(16),
                        last_notified_at=now, notified_ids=None)
    session.add(alert)
    session.flush()
    return Subscribed(NEW, alert, raw)


def pending_alert(session: Session, raw: str, now: datetime | None = None) -> SearchAlert:
    """The alert a confirmation link names (nothing written); AlertLinkError when it is unknown, expired or used."""
    now = now or utcnow()
    alert = session.scalar(select(SearchAlert).where(SearchAlert.confirm_token_hash == hash_token(raw or "")))
    if alert is None:
        raise AlertLinkError("unknown")
    if alert.confirmed_at is not None:
        raise AlertLinkError("used")
    if alert.created_at + CONFIRM_LIFETIME <= now:
        raise AlertLinkError("expired")
    return alert


def confirm(session: Session, raw: str, now: datetime | None = None) -> SearchAlert:
    """Confirm the alert the link names (flushed); AlertLinkError as pending_alert. Its news count from the moment
    the buyer asked for it (last_notified_at stays the subscription's time)."""
    now = now or utcnow()
    alert = pending_alert(session, raw, now)
    alert.confirmed_at = now
    session.flush()
    return alert


# -- unsubscribing ------------------------------------------------------------------------------------------------
def unsubscribe_token(alert: SearchAlert, secret_key: str) -> str:
    """The token of the alert's unsubscribe link: "<id>.<HMAC>"; valid as long as the alert exists."""
    return f"{alert.id}.{_unsubscribe_mac(alert.id, alert.unsubscribe_nonce, secret_key)}"


def _unsubscribe_mac(alert_id: int, nonce: str, secret_key: str) -> str:
    message = f"search-alert-unsubscribe:{alert_id}:{nonce}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()[:40]


def alert_by_unsubscribe_token(session: Session, token: str, secret_key: str) -> SearchAlert | None:
    """The alert the unsubscribe link names; None for a malformed link, a wrong code or an alert gone already."""
    number, _, mac = (token or "").partition(".")
    if not number.isdigit() or len(number) > 12 or not mac:
        return None
    alert = session.get(SearchAlert, int(number))
    if alert is None:
        return None
    if not hmac.compare_digest(_unsubscribe_mac(alert.id, alert.unsubscribe_nonce, secret_key), mac):
        return None
    return alert


def unsubscribe(session: Session, alert: SearchAlert) -> None:
    """Remove the alert (the address is kept nowhere else)."""
    session.delete(alert)
    session.flush()


def forget_unconfirmed(session: Session, now: datetime | None = None) -> int:
    """Delete the alerts left unconfirmed for CONFIRM_LIFETIME; how many."""
    now = now or utcnow()
    result = session.execute(delete(SearchAlert).where(SearchAlert.confirmed_at.is_(None),
                                                       SearchAlert.created_at < now - CONFIRM_LIFETIME))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# -- the worker's runs ----------------------------------------------------------------------------------------------
def confirmed_alerts(session: Session) -> list[SearchAlert]:
    return list(session.scalars(select(SearchAlert).where(SearchAlert.confirmed_at.is_not(None))
                                .order_by(SearchAlert.id)))


def fresh_matches(alert: SearchAlert, matches: Sequence[tuple[int, datetime]]) -> list[int]:
    """Of the suppliers matching now ((id, updated_at), in rank order), those to mail: changed since the last e-mail
    (updated_at later), or not mailed before. On an alert's first run, the suppliers that matched already were on
    the page the buyer saw: only those changed since are news."""
    known = None if alert.notified_ids is None else {int(i) for i in alert.notified_ids}
    return [supplier_id for supplier_id, updated_at in matches
            if updated_at > alert.last_notified_at or (known is not None and supplier_id not in known)]


def record_run(alert: SearchAlert, matching_ids: Iterable[int], mailed: bool, now: datetime) -> None:
    """After a run: every supplier matching now is known (mailed, or already seen); the time of a mail sent."""
    ids = [int(i) for i in matching_ids]
    known = [int(i) for i in alert.notified_ids or () if int(i) not in set(ids)]
    alert.notified_ids = (known + ids)[-NOTIFIED_IDS_MAX:]
    alert.last_checked_at = now
    if mailed:
        alert.last_notified_at = now
