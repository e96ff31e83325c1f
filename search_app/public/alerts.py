"""Alerts on any search (issue 21): an Atom feed of a results page, and an e-mail alert without an account.

- GET /recherche.atom?<the results page's query string>: the suppliers matching now (FEED_ENTRIES at most), newest
  updated first. Reads only: nothing is counted nor stored (a long need's digest is read, never written).
- /recherche/alerte?<query string>: the alert form (an address; CSRF, honeypot, rate limit). The form is a page of
  its own rather than a form inside the results: the results sit inside the GET search form (forms cannot nest),
  and that page is compressed and reflects the query, where a CSRF token must not be (BREACH,
  search_app.extensions). The results page's box (search/_alert_box.html) links to it with the same query string.
  The page answers the same whatever the address already has (no enumeration): the e-mail says what happened.
- /recherche/alertes/confirmer/<token>: GET shows the search and a button, POST confirms (a mail scanner opening
  links confirms nothing). /recherche/alertes/desabonner/<token>: GET shows a button, POST removes the alert, no
  sign-in needed (the link's token is the capability). Both buttons carry a CSRF token like every form of the site;
  a mail client's one-click unsubscription (RFC 8058's List-Unsubscribe-Post) would need that POST exempted, and
  List-Unsubscribe headers that vivier.mail does not write yet.
- send_digests: the background job (search_app.jobs, once an hour) that runs each confirmed alert's search through
  the search service and mails the suppliers that are new or changed since its last e-mail (vivier.alerts).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

from feedgen.feed import FeedGenerator
from flask import Blueprint, Response, make_response, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import StringField

from indexer.backends.base import IndexNotReady, SearchUnavailable
from indexer.service import Place
from search_app.context import database, search, settings
from search_app.extensions import external_url, form_rate_limit, limiter, site_root
from search_app.forms import FrenchFlaskForm, email_field, error_summary, honeypot_filled
from search_app.identity import now
from search_app.labels import facet_label, lifetime_text
from search_app.public.search import (LONG_QUERY_RATE_LIMIT, _query_string, is_long_query, parse_search_args,
                                      run_search, with_offered_radius)
from vivier import alerts, search_texts
from vivier.mail import send_mail
from vivier.models import SEARCHABLE_STATUSES, SearchAlert, Supplier

bp = Blueprint("alerts", __name__)

# Suppliers a feed lists.
FEED_ENTRIES = 50
# Results an alert's run reads (its ranked matches): deeper than a page, bounded.
DIGEST_DEPTH = 200
# Suppliers one e-mail lists; the rest are behind the link to the search.
DIGEST_SHOWN = 20
# A feed reader asks again after this many seconds at the soonest (shared caches too: the feed holds nothing private).
FEED_MAX_AGE_S = 900
PRIVATE_HEADERS = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"}
CONFIRM_SUBJECT = "Vivier : confirmez votre alerte « {label} »"
ACTIVE_SUBJECT = "Vivier : votre alerte « {label} » est déjà active"
LIMIT_SUBJECT = "Vivier : alerte non créée, limite atteinte"
DIGEST_SUBJECT = "Vivier : {count} pour votre alerte « {label} »"
LABEL_CHARS = 80


class AlertForm(FrenchFlaskForm):
    email = email_field("Votre adresse électronique", required=True,
                        description="Nous y envoyons un lien pour confirmer l'alerte ; sans confirmation, elle est "
                                    "effacée. Pas de compte, pas de mot de passe.")
    fax = StringField("Fax (laissez ce champ vide)")


class ButtonForm(FrenchFlaskForm):
    """A confirmation button: only the CSRF token."""


# -- the saved search -------------------------------------------------------------------------------------------
def requested_search() -> tuple[alerts.SavedSearch, dict] | None:
    """The search the query string describes, normalised, with its service arguments; None when it names a long
    need's digest no stored text answers any more. Reads only."""
    args = parse_search_args(request.args)
    if args.get("need") and not args.get("text"):
        with database().session() as session:
            text = search_texts.recall(session, args["need"])
        if text is None:
            return None
        args = {**args, "text": text}
    filters = dict(args["filters"])
    if args.get("central"):
        filters["central"] = args["central"]
    saved = alerts.SavedSearch.normalised(args["text"], filters, args["place"], args["radius"] or None,
                                          args["mode"], args["exact"], args["include_weak"])
    return saved, args


def service_args(saved: alerts.SavedSearch) -> dict[str, Any]:
    """What run_search takes, for a saved search (the first page)."""
    filters = {facet: list(values) for facet, values in saved.filters.items() if facet != "central"}
    return {"text": saved.text, "filters": filters, "central": list(saved.filters.get("central", ())), "page": 1,
            "mode": saved.mode, "place": saved.place, "radius": saved.radius_km or "", "exact": saved.exact,
            "include_weak": saved.include_weak}


def search_url(saved: alerts.SavedSearch, endpoint: str = "search.index") -> str:
    """The absolute address of the results page (or another view) of a saved search."""
    place = Place(saved.place, saved.radius_km or 50) if saved.place else None
    pairs = _query_string(saved.text, dict(saved.filters), None, saved.mode, place=place, exact=saved.exact,
                          include_weak=saved.include_weak)
    return external_url(endpoint) + ("?" + urlencode(pairs) if pairs else "")


def describe(saved: alerts.SavedSearch, limit: int = LABEL_CHARS) -> str:
    """The search in a few words: « capteurs de remplissage », 29 Finistère, à 50 km de Quimper."""
    parts = []
    if saved.text:
        text = saved.text if len(saved.text) <= limit else saved.text[:limit - 1].rstrip() + "…"
        parts.append(text)
    for facet, values in saved.filters.items():
        parts.extend(facet_label(facet, value) for value in values)
    if saved.place:
        parts.append(f"à {saved.radius_km or 50} km de {saved.place}")
    return ", ".join(parts) or "tous les fournisseurs"


def matching_suppliers(session: Session, saved: alerts.SavedSearch, depth: int) -> list[Supplier]:
    """The suppliers the search service ranks for the saved search (its strong matches when it has a text, unless
    it asks for the nearer neighbours too), as stored, in rank order. IndexNotReady or SearchUnavailable raised."""
    response, place = run_search(search(), with_offered_radius(service_args(saved)), page=1, per_page=depth,
                                 ask_homonyms=True)
    if place is not None and place.commune is None:
        return []  # a commune no longer found: nothing is near it (the page said so)
    hits = [h for h in response.hits if h.strong or not saved.text or saved.include_weak]
    ids = [int(h.id) for h in hits if h.id.isdigit()]
    rows = {s.id: s for s in session.scalars(select(Supplier).where(Supplier.id.in_(ids),
                                                                     Supplier.status.in_(SEARCHABLE_STATUSES)))}
    return [rows[i] for i in ids if i in rows]


# -- the Atom feed ------------------------------------------------------------------------------------------------
def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc)


def build_feed(saved: alerts.SavedSearch, suppliers: Sequence[Supplier], self_url: str) -> bytes:
    feed = FeedGenerator()
    feed.id(self_url)
    feed.title(f"Vivier : fournisseurs — {describe(saved)}")
    feed.subtitle("Les fournisseurs qui correspondent à cette recherche, les fiches modifiées le plus récemment "
                  "d'abord.")
    feed.author({"name": "Vivier"})
    feed.language("fr")
    feed.link(href=self_url, rel="self", type="application/atom+xml")
    feed.link(href=search_url(saved), rel="alternate", type="text/html")
    ordered = sorted(suppliers, key=lambda s: (s.updated_at, s.id), reverse=True)
    feed.updated(utc(ordered[0].updated_at) if ordered else utc(now()))
    for supplier in ordered:
        url = external_url("suppliers.detail", slug=supplier.slug)
        entry = feed.add_entry(order="append")
        entry.id(url)
        entry.title(supplier.name)
        entry.link(href=url, rel="alternate", type="text/html")
        entry.author({"name": supplier.name})
        entry.published(utc(supplier.created_at))
        entry.updated(utc(supplier.updated_at))
        entry.summary(supplier.pitch or supplier.name)
    return feed.atom_str(pretty=True)


@bp.get("/recherche.atom")
@limiter.limit(LONG_QUERY_RATE_LIMIT, exempt_when=lambda: not is_long_query(request.args))
def feed():
    found = requested_search()
    if found is None:
        return _forgotten_need()
    saved, _ = found
    try:
        with database().session() as session:
            suppliers = matching_suppliers(session, saved, FEED_ENTRIES)
            body = build_feed(saved, suppliers, site_root() + request.full_path.rstrip("?"))
    except (IndexNotReady, SearchUnavailable):
        return _notice("Service indisponible", ["Le service de recherche est momentanément indisponible ; "
                                                "réessayez dans quelques instants."], 503)
    response = Response(body, content_type="application/atom+xml; charset=utf-8")
    response.cache_control.public = True
    response.cache_control.max_age = FEED_MAX_AGE_S
    response.add_etag()
    return response.make_conditional(request)


# -- subscribing ------------------------------------------------------------------------------------------------
@bp.route("/recherche/alerte", methods=["GET", "POST"])
@limiter.limit(form_rate_limit, methods=["POST"])
def subscribe():
    found = requested_search()
    if found is None:
        return _forgotten_need()
    saved, _ = found
    form = AlertForm()
    context = {"form": form, "saved": saved, "label": describe(saved, 300), "search_link": search_url(saved),
               "feed_link": search_url(saved, "alerts.feed"), "too_long": saved.too_long,
               "max_chars": alerts.QUERY_MAX_CHARS, "action": request.full_path.rstrip("?")}
    if form.is_submitted() and honeypot_filled(form):  # a bot sees the same page; nothing is stored or sent
        return _private(render_template("alerts/sent.html", **context))
    if saved.too_long:
        return _private(render_template("alerts/subscribe.html", errors=[], **context)), (
            400 if request.method == "POST" else 200)
    if form.validate_on_submit():
        email = form.email.data
        with database().session() as session:
            done = alerts.subscribe(session, email, saved, now())
            _mail_subscription(session, email, saved, done)
            session.commit()
        return _private(render_template("alerts/sent.html", **context))
    status = 400 if form.errors else 200
    return _private(render_template("alerts/subscribe.html", errors=error_summary(form), **context)), status


def _mail_subscription(session: Session, email: str, saved: alerts.SavedSearch, done: alerts.Subscribed) -> None:
    """The e-mail that follows a request: the confirmation link, a reminder that the alert exists, or the limit."""
    label = describe(saved)
    common = {"label": describe(saved, 300), "search_link": search_url(saved)}
    if done.outcome in (alerts.NEW, alerts.PENDING_AGAIN) and done.alert is not None and done.confirm_token:
        body = render_template("alerts/mail/confirm.txt", **common,
                               link=external_url("alerts.confirm", token=done.confirm_token),
                               lifetime=lifetime_text(alerts.CONFIRM_LIFETIME),
                               unsubscribe_link=_unsubscribe_link(done.alert))
        send_mail(session, settings(), email, CONFIRM_SUBJECT.format(label=label), body)
    elif done.outcome == alerts.ALREADY_ACTIVE and done.alert is not None:
        body = render_template("alerts/mail/already_active.txt", **common,
                               unsubscribe_link=_unsubscribe_link(done.alert))
        send_mail(session, settings(), email, ACTIVE_SUBJECT.format(label=label), body)
    elif done.outcome == alerts.LIMIT_REACHED:
        body = render_template("alerts/mail/limit.txt", **common, limit=alerts.ALERTS_PER_ADDRESS)
        send_mail(session, settings(), email, LIMIT_SUBJECT, body)


def _unsubscribe_link(alert: SearchAlert) -> str:
    return external_url("alerts.unsubscribe", token=alerts.unsubscribe_token(alert, settings().secret_key))


# -- confirming, unsubscribing ------------------------------------------------------------------------------------
LINK_ERRORS = {
    "unknown": ("Lien inconnu", "Ce lien n'existe pas ou plus : une alerte non confirmée est effacée au bout de "
                                "quelques jours. Vérifiez qu'il a été copié en entier, ou créez l'alerte de nouveau "
                                "depuis la page de résultats.", 404),
    "expired": ("Lien expiré", "Ce lien de confirmation n'est plus valable : créez l'alerte de nouveau depuis la "
                               "page de résultats.", 410),
    "used": ("Alerte déjà confirmée", "Ce lien a déjà servi : l'alerte est active. Chaque e-mail d'alerte contient "
                                      "un lien pour la supprimer.", 410),
}


@bp.route("/recherche/alertes/confirmer/<token>", methods=["GET", "POST"])
def confirm(token: str):
    form = ButtonForm()
    with database().session() as session:
        try:
            alert = alerts.pending_alert(session, token, now())
        except alerts.AlertLinkError as error:
            title, message, status = LINK_ERRORS.get(error.reason, LINK_ERRORS["unknown"])
            return _notice(title, [message], status)
        saved = alerts.saved_search(alert)
        context = {"form": form, "label": describe(saved, 300), "search_link": search_url(saved),
                   "unsubscribe_link": _unsubscribe_link(alert)}
        if form.validate_on_submit():
            alerts.confirm(session, token, now())
            session.commit()
            return _private(render_template("alerts/confirmed.html", **context))
        return _private(render_template("alerts/confirm.html", **context)), 400 if form.errors else 200


@bp.route("/recherche/alertes/desabonner/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    form = ButtonForm()
    with database().session() as session:
        alert = alerts.alert_by_unsubscribe_token(session, token, settings().secret_key)
        if alert is None:
            return _notice("Alerte introuvable", [
                "Cette alerte n'existe pas ou plus : elle a peut-être déjà été supprimée, ou le lien est "
                "incomplet. Vous ne recevrez aucun e-mail pour une alerte supprimée."], 404)
        saved = alerts.saved_search(alert)
        context = {"form": form, "label": describe(saved, 300), "search_link": search_url(saved)}
        if form.validate_on_submit():
            alerts.unsubscribe(session, alert)
            session.commit()
            return _private(render_template("alerts/unsubscribed.html", **context))
        return _private(render_template("alerts/unsubscribe.html", **context))


@bp.post("/recherche/alertes/desabonner/<token>/un-clic")
def unsubscribe_one_click(token: str):
    """RFC 8058's one-click unsubscribe: the mail client POSTs "List-Unsubscribe=One-Click" to the address of the
    digest's List-Unsubscribe-Post header, with no session and no form (exempt from CSRF: the signed token in the
    address is the credential, and only removing the alert can be done with it)."""
    request.form.get("List-Unsubscribe")  # reads the body within the site's size cap (413 above it)
    with database().session() as session:
        alert = alerts.alert_by_unsubscribe_token(session, token, settings().secret_key)
        if alert is None:
            return _private(Response("Alerte introuvable ou déjà supprimée.\n", 404, mimetype="text/plain"))
        alerts.unsubscribe(session, alert)
        session.commit()
    return _private(Response("Alerte supprimée : vous ne recevrez plus d'e-mail pour cette recherche.\n",
                             mimetype="text/plain"))


def _notice(title: str, paragraphs: Sequence[str], status: int):
    links = [(url_for("search.index"), "Retour à la recherche")]
    return _private(make_response(render_template("profiles/notice.html", title=title, status=status,
                                                  paragraphs=list(paragraphs), links=links), status))


def _forgotten_need():
    return _notice("Recherche expirée", ["Le texte de ce besoin n'est plus conservé : relancez la recherche depuis "
                                         "la page d'accueil."], 410)


def _private(response):
    response = make_response(response)
    response.headers.update(PRIVATE_HEADERS)
    return response


# -- the worker's digests -----------------------------------------------------------------------------------------
def send_digests(session: Session, moment: datetime | None = None) -> int:
    """Delete the alerts left unconfirmed, then run each confirmed alert's search and mail what is new or changed
    since its last e-mail (nothing when nothing is); each alert's e-mail and record are committed together, so that
    a search server failing half-way (raised: the job is retried) sends nobody the same news twice. How many
    e-mails were sent. No index yet: nothing is done."""
    moment = moment or now()
    alerts.forget_unconfirmed(session, moment)
    session.commit()
    sent = 0
    for alert_id in [a.id for a in alerts.confirmed_alerts(session)]:
        alert = session.get(SearchAlert, alert_id)
        if alert is None:  # unsubscribed meanwhile
            continue
        saved = alerts.saved_search(alert)
        try:
            suppliers = matching_suppliers(session, saved, DIGEST_DEPTH)
        except IndexNotReady:
            return sent
        fresh_ids = set(alerts.fresh_matches(alert, [(s.id, s.updated_at) for s in suppliers]))
        fresh = [s for s in suppliers if s.id in fresh_ids]
        if fresh:
            _mail_digest(session, alert, saved, fresh)
            sent += 1
        alerts.record_run(alert, [s.id for s in suppliers], bool(fresh), moment)
        session.commit()
    return sent


def _mail_digest(session: Session, alert: SearchAlert, saved: alerts.SavedSearch, fresh: Sequence[Supplier]) -> None:
    known = {int(i) for i in alert.notified_ids or ()}
    rows: list[Mapping[str, Any]] = []
    for supplier in fresh[:DIGEST_SHOWN]:
        if supplier.created_at > alert.last_notified_at:
            why = "nouveau sur Vivier"
        elif alert.notified_ids is not None and supplier.id not in known:
            why = "correspond désormais à votre recherche"
        else:
            why = "fiche mise à jour"
        place = f"{supplier.commune} ({supplier.department})" if supplier.commune and supplier.department else (
            supplier.commune or "")
        rows.append({"name": supplier.name, "pitch": " ".join((supplier.pitch or "").split()), "place": place,
                     "why": why, "link": external_url("suppliers.detail", slug=supplier.slug)})
    count = f"{len(fresh)} fournisseur{'s' if len(fresh) > 1 else ''}"
    body = render_template("alerts/mail/digest.txt", rows=rows, more=len(fresh) - len(rows), count=count,
                           label=describe(saved, 300), search_link=search_url(saved),
                           feed_link=search_url(saved, "alerts.feed"), unsubscribe_link=_unsubscribe_link(alert))
    one_click = external_url("alerts.unsubscribe_one_click",
                             token=alerts.unsubscribe_token(alert, settings().secret_key))
    send_mail(session, settings(), alert.email, DIGEST_SUBJECT.format(count=count, label=describe(saved)), body,
              headers={"List-Unsubscribe": f"<{one_click}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
