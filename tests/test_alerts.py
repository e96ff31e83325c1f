"""Alerts on any search (issue 21): the Atom feed of a results page, and e-mail alerts without an account (double
opt-in, one-click unsubscription) mailed by the background worker when new or changed profiles match."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import select

from search_app.jobs import PERIODIC_JOBS, handlers, run_pending, update_search_index
from search_app.public.alerts import FEED_ENTRIES
from search_app.public.search import parse_search_args, run_search
from vivier import alerts, jobs
from vivier.models import OutboxMessage, SearchAlert, Supplier, utcnow
from vivier.profiles import upsert_profile

ATOM = "{http://www.w3.org/2005/Atom}"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# A need no fixture company answers in these words: the buyer finds nothing today.
NEED = "accordeur de piano pour l'école de musique"
NEED_QS = urlencode({"q": NEED})
ADDRESS = "acheteuse@ville-exemple.fr"
NEWCOMER = {"name": "Diapason Service", "pitch": "Accordeur de piano pour les écoles de musique et les conservatoires.",
            "description": "Accord, entretien et réglage des pianos droits et à queue des écoles de musique "
                           "municipales et des conservatoires ; contrat annuel d'accord.",
            "commune": "Brest", "postcode": "29200"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def database(app):
    return app.extensions["vivier"]["database"]


def outbox(app, to: str = ADDRESS) -> list[OutboxMessage]:
    with database(app).session() as s:
        messages = list(s.scalars(select(OutboxMessage).where(OutboxMessage.to_address == to)
                                  .order_by(OutboxMessage.id)))
        s.expunge_all()
        return messages


def stored_alerts(app) -> list[SearchAlert]:
    with database(app).session() as s:
        rows = list(s.scalars(select(SearchAlert).order_by(SearchAlert.id)))
        s.expunge_all()
        return rows


def subscribe(client, qs: str = NEED_QS, email: str = ADDRESS, **extra):
    page = client.get(f"/recherche/alerte?{qs}")
    assert page.status_code == 200
    token = CSRF_FIELD.search(page.get_data(as_text=True)).group(1)
    return client.post(f"/recherche/alerte?{qs}", data={"csrf_token": token, "email": email, **extra})


def link_in(message: OutboxMessage, kind: str) -> str:
    """The path of the confirmation ("confirmer") or unsubscribe ("desabonner") link of a message."""
    match = re.search(rf"https?://\S+/recherche/alertes/{kind}/\S+", message.body)
    assert match, f"no {kind} link in {message.body}"
    return urlsplit(match.group(0)).path


def button_post(client, path: str):
    """Open a link's page and press its button (with the page's CSRF token, when it has one)."""
    page = client.get(path)
    assert page.status_code == 200
    token = CSRF_FIELD.search(page.get_data(as_text=True))
    return client.post(path, data={"csrf_token": token.group(1)} if token else {})


def run_alerts_job(app) -> list[OutboxMessage]:
    """Queue the periodic job as the worker does and run it; the messages it wrote."""
    before = {m.id for m in outbox(app)}
    with database(app).session() as s:
        jobs.enqueue_once(s, alerts.ALERTS_JOB)
        s.commit()
    runs = run_pending(app)
    assert [r.kind for r in runs if r.kind == alerts.ALERTS_JOB] == [alerts.ALERTS_JOB]
    assert all(r.ok for r in runs), runs
    return [m for m in outbox(app) if m.id not in before]


def add_newcomer(app, **changes) -> str:
    with database(app).session() as s:
        result = upsert_profile(s, {**NEWCOMER, **changes}, "annuaire", "http://test/diapason")
        s.commit()
        slug = s.get(Supplier, result.supplier_id).slug
    assert update_search_index(app)
    return slug


# -- the feed -----------------------------------------------------------------------------------------------------
def check_atom(document: bytes) -> ET.Element:
    """RFC 4287's rules a reader relies on: one id, title and updated per feed and entry, RFC 3339 dates, an author
    for every entry, alternate links, unique entry ids."""
    feed = ET.fromstring(document)
    assert feed.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert len(feed.findall(f"{ATOM}{name}")) == 1, name
    assert RFC3339.match(feed.find(f"{ATOM}updated").text)
    assert feed.find(f"{ATOM}link[@rel='self']") is not None
    feed_author = feed.find(f"{ATOM}author/{ATOM}name")
    ids = []
    for entry in feed.findall(f"{ATOM}entry"):
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, name
        assert RFC3339.match(entry.find(f"{ATOM}updated").text)
        assert entry.find(f"{ATOM}author/{ATOM}name") is not None or feed_author is not None
        # Without content, an entry needs an alternate link (a link without rel is one).
        assert any(link.get("rel", "alternate") == "alternate" and link.get("href")
                   for link in entry.findall(f"{ATOM}link"))
        ids.append(entry.find(f"{ATOM}id").text)
    assert len(ids) == len(set(ids))
    return feed


def test_the_feed_lists_the_suppliers_matching_the_search(private_app):
    client = private_app.test_client()
    qs = urlencode({"q": "capteurs de remplissage"})
    response = client.get(f"/recherche.atom?{qs}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    feed = check_atom(response.data)
    entries = feed.findall(f"{ATOM}entry")
    # The same suppliers as the search service's strong matches, newest updated first.
    with private_app.test_request_context(f"/?{qs}"):
        from flask import request

        found, _ = run_search(private_app.extensions["vivier"]["search"], parse_search_args(request.args),
                              per_page=FEED_ENTRIES)
    strong = {int(h.id) for h in found.hits if h.strong}
    assert entries and len(entries) == len(strong)
    with database(private_app).session() as s:
        suppliers = {s_.slug: s_ for s_ in s.scalars(select(Supplier).where(Supplier.id.in_(strong)))}
        links = [e.find(f"{ATOM}link").get("href") for e in entries]
        slugs = [urlsplit(link).path.removeprefix("/fournisseurs/") for link in links]
        assert set(slugs) == set(suppliers)
        dates = [suppliers[slug].updated_at for slug in slugs]
        assert dates == sorted(dates, reverse=True)
        first = entries[0]
        assert first.find(f"{ATOM}title").text == suppliers[slugs[0]].name
        assert first.find(f"{ATOM}summary").text == (suppliers[slugs[0]].pitch or suppliers[slugs[0]].name)
        assert first.find(f"{ATOM}author/{ATOM}name").text == suppliers[slugs[0]].name
        assert first.find(f"{ATOM}updated").text.startswith(suppliers[slugs[0]].updated_at.strftime("%Y-%m-%dT%H:%M"))
    # The results page offers the feed and the alert, with the same query string.
    page = client.get(f"/?{qs}").get_data(as_text=True)
    assert f'/recherche.atom?{qs}"' in page.replace("&amp;", "&")
    assert f'/recherche/alerte?{qs}"' in page.replace("&amp;", "&")
    assert "Recevoir un e-mail quand un fournisseur correspond à cette recherche" in page
    # A feed reads only: no alert, no mail, no search counted.
    assert stored_alerts(private_app) == []


def test_a_feed_of_nothing_is_an_empty_valid_feed_and_a_forgotten_need_is_410(private_app):
    client = private_app.test_client()
    response = client.get(f"/recherche.atom?{NEED_QS}")
    assert response.status_code == 200
    assert check_atom(response.data).findall(f"{ATOM}entry") == []
    forgotten = client.get("/recherche.atom?besoin=" + "0" * 64)
    assert forgotten.status_code == 410 and "Recherche expirée" in forgotten.get_data(as_text=True)


# -- subscribing, confirming, the worker's digests, unsubscribing ------------------------------------------------------
def test_an_alert_mails_only_what_is_new_until_it_is_unsubscribed(private_app):
    client = private_app.test_client()
    response = subscribe(client)
    assert response.status_code == 200 and "Vérifiez votre messagerie" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "private, no-store"
    [alert] = stored_alerts(private_app)
    assert alert.email == ADDRESS and alert.query == NEED and alert.confirmed_at is None
    assert alert.mode == "hybrid" and alert.filters == {} and alert.confirm_token_hash
    [confirmation] = outbox(private_app)
    assert "confirmez votre alerte" in confirmation.subject and NEED in confirmation.body
    confirm_path = link_in(confirmation, "confirmer")
    assert confirm_path.split("/")[-1] not in alert.confirm_token_hash  # stored hashed, not as sent

    # Unconfirmed: the worker mails nothing, even when a matching supplier appears.
    assert run_alerts_job(private_app) == []

    # Opening the link shows a button (a mail scanner confirms nothing); pressing it confirms.
    assert client.get(confirm_path).status_code == 200
    assert stored_alerts(private_app)[0].confirmed_at is None
    confirmed = button_post(client, confirm_path)
    assert confirmed.status_code == 200 and "Alerte activée" in confirmed.get_data(as_text=True)
    assert stored_alerts(private_app)[0].confirmed_at is not None
    used = client.get(confirm_path)
    assert used.status_code == 410 and "déjà confirmée" in used.get_data(as_text=True)

    # Nothing matched anew: nothing is sent.
    assert run_alerts_job(private_app) == []

    # A supplier answering the need appears: one digest, with it and a one-click unsubscribe link.
    slug = add_newcomer(private_app)
    [digest] = run_alerts_job(private_app)
    assert digest.to_address == ADDRESS and "1 fournisseur" in digest.subject
    assert "Diapason Service" in digest.body and f"/fournisseurs/{slug}" in digest.body
    assert "nouveau sur Vivier" in digest.body
    unsubscribe_path = link_in(digest, "desabonner")
    [alert] = stored_alerts(private_app)
    with database(private_app).session() as s:
        newcomer_id = s.scalar(select(Supplier.id).where(Supplier.slug == slug))
    assert newcomer_id in alert.notified_ids and alert.last_notified_at >= alert.confirmed_at

    # Nothing new since: nothing again.
    assert run_alerts_job(private_app) == []

    # Its profile changes: it is mailed again, as changed.
    add_newcomer(private_app, pitch="Accordeur de piano pour les écoles de musique, et réparation des pianos.")
    [changed] = run_alerts_job(private_app)
    assert "fiche mise à jour" in changed.body and "réparation des pianos" in changed.body
    assert link_in(changed, "desabonner") == unsubscribe_path  # one link per alert, valid as long as it lives

    # The link's page has a button (opening the link removes nothing); pressing it removes the alert, no sign-in.
    page = private_app.test_client().get(unsubscribe_path)
    assert page.status_code == 200 and "Supprimer l'alerte" in page.get_data(as_text=True)
    assert private_app.test_client().post(unsubscribe_path).status_code == 400  # a form of this site only (CSRF)
    assert stored_alerts(private_app) != []
    gone = button_post(private_app.test_client(), unsubscribe_path)
    assert gone.status_code == 200 and "Alerte supprimée" in gone.get_data(as_text=True)
    assert stored_alerts(private_app) == []
    add_newcomer(private_app, pitch="Accordeur de piano pour les écoles de musique, encore une nouveauté.")
    assert run_alerts_job(private_app) == []
    again = client.get(unsubscribe_path)
    assert again.status_code == 404 and "Alerte introuvable" in again.get_data(as_text=True)


def test_a_digest_carries_a_one_click_unsubscribe_that_a_mail_client_can_post(private_app):
    client = private_app.test_client()
    subscribe(client)
    [confirmation] = outbox(private_app)
    button_post(client, link_in(confirmation, "confirmer"))
    add_newcomer(private_app)
    [digest] = run_alerts_job(private_app)
    # RFC 2369 and RFC 8058 headers, kept on the outbox row for the worker that delivers it.
    assert digest.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    target = digest.headers["List-Unsubscribe"]
    assert target.startswith("<http") and target.endswith("/un-clic>")
    path = urlsplit(target.strip("<>")).path
    assert private_app.test_client().get(path).status_code == 405  # a GET (a link scanner) removes nothing
    assert stored_alerts(private_app) != []
    tampered = private_app.test_client().post(path.replace("/un-clic", "x/un-clic"),
                                              data={"List-Unsubscribe": "One-Click"})
    assert tampered.status_code == 404 and stored_alerts(private_app) != []
    # What a mail client sends: a POST with that one field, no session, no form token.
    done = private_app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "Alerte supprimée" in done.get_data(as_text=True)
    assert stored_alerts(private_app) == []
    assert private_app.test_client().post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 404


def test_only_unsubscribe_headers_may_be_added_to_a_message(private_app):
    from vivier.mail import send_mail

    with database(private_app).session() as s:
        with pytest.raises(ValueError, match="Bcc"):
            send_mail(s, private_app.extensions["vivier"]["settings"], "a@b.fr", "x", "y", headers={"Bcc": "c@d.fr"})


def test_the_saved_search_keeps_filters_place_and_mode(private_app):
    qs = urlencode([("q", "Collecte   des déchets"), ("department", "29"), ("category", "waste"),
                    ("commune", "Quimper"), ("rayon", "25"), ("mode", "keyword"), ("page", "3")])
    assert subscribe(private_app.test_client(), qs).status_code == 200
    [alert] = stored_alerts(private_app)
    assert alert.query == "Collecte des déchets" and alert.filters == {"category": ["waste"], "department": ["29"]}
    assert (alert.place, alert.radius_km, alert.mode) == ("Quimper", 25, "keyword")
    # The mails link to the same search.
    [mail] = outbox(private_app)
    assert "mode=keyword" in mail.body and "rayon=25" in mail.body and "department=29" in mail.body


def test_the_page_answers_the_same_whatever_the_address_already_has(private_app):
    client = private_app.test_client()
    first = subscribe(client).get_data(as_text=True)
    button_post(client, link_in(outbox(private_app)[0], "confirmer"))
    again = subscribe(client).get_data(as_text=True)  # the same search, already active
    newcomer = subscribe(client, email="autre@ville-exemple.fr").get_data(as_text=True)

    def text(page: str) -> str:
        return re.sub(r'name="csrf_token"[^>]*>', "", page)

    assert text(first) == text(again) == text(newcomer)
    assert len(stored_alerts(private_app)) == 2  # no second alert for the same address and search
    reminder = outbox(private_app)[-1]
    assert "déjà active" in reminder.subject and "/recherche/alertes/desabonner/" in reminder.body


def test_an_address_holds_a_limited_number_of_alerts(private_app):
    with database(private_app).session() as s:
        for n in range(alerts.ALERTS_PER_ADDRESS):
            alerts.subscribe(s, ADDRESS, alerts.SavedSearch.normalised(f"recherche {n}", {}))
        s.commit()
    response = subscribe(private_app.test_client())
    assert response.status_code == 200 and "Vérifiez votre messagerie" in response.get_data(as_text=True)
    assert len(stored_alerts(private_app)) == alerts.ALERTS_PER_ADDRESS
    [mail] = outbox(private_app)
    assert "limite atteinte" in mail.subject and "/recherche/alertes/" not in mail.body


def test_a_long_query_a_bad_address_and_a_bot_store_nothing(private_app):
    client = private_app.test_client()
    long_qs = urlencode({"q": "capteurs " * 200})
    page = client.get(f"/recherche/alerte?{long_qs}")
    assert page.status_code == 200 and "trop longue pour une alerte" in page.get_data(as_text=True)
    token = CSRF_FIELD.search(client.get(f"/recherche/alerte?{NEED_QS}").get_data(as_text=True)).group(1)
    refused = client.post(f"/recherche/alerte?{long_qs}", data={"csrf_token": token, "email": ADDRESS})
    assert refused.status_code == 400
    invalid = subscribe(client, email="pas-une-adresse")
    assert invalid.status_code == 400 and "Adresse électronique invalide" in invalid.get_data(as_text=True)
    bot = subscribe(client, fax="0102030405")
    assert bot.status_code == 200 and "Vérifiez votre messagerie" in bot.get_data(as_text=True)
    assert stored_alerts(private_app) == [] and outbox(private_app) == []
    no_token = client.post(f"/recherche/alerte?{NEED_QS}", data={"email": ADDRESS})
    assert no_token.status_code == 400 and stored_alerts(private_app) == []


def test_the_form_is_rate_limited(private_settings, encoder):
    from search_app import create_app

    app = create_app(settings=private_settings.with_overrides(form_rate_limit="2 per minute"), encoder=encoder)
    client = app.test_client()
    statuses = [subscribe_status(client, f"n{n}@ville-exemple.fr") for n in range(3)]
    assert statuses == [200, 200, 429]


def subscribe_status(client, email: str) -> int:
    page = client.get(f"/recherche/alerte?{NEED_QS}")
    token = CSRF_FIELD.search(page.get_data(as_text=True)).group(1)
    return client.post(f"/recherche/alerte?{NEED_QS}", data={"csrf_token": token, "email": email}).status_code


@pytest.mark.parametrize("path", [
    "/recherche/alertes/confirmer/inconnu", "/recherche/alertes/confirmer/" + "x" * 300,
    "/recherche/alertes/desabonner/inconnu", "/recherche/alertes/desabonner/1.deadbeef",
    "/recherche/alertes/desabonner/99999999999999999999.abc", "/recherche/alertes/desabonner/.",
])
def test_bad_links_give_a_french_404_never_a_500(private_app, path):
    client = private_app.test_client()
    for response in (client.get(path), client.post(path)):
        assert response.status_code in (400, 404), (path, response.status_code)
        assert "<html" in response.get_data(as_text=True) and 'lang="fr"' in response.get_data(as_text=True)


def test_a_tampered_or_expired_link_and_unconfirmed_alerts_are_forgotten(private_app):
    client = private_app.test_client()
    subscribe(client)
    [mail] = outbox(private_app)
    confirm_path = link_in(mail, "confirmer")
    unsubscribe_path = link_in(mail, "desabonner")
    tampered = unsubscribe_path[:-2] + ("00" if not unsubscribe_path.endswith("00") else "11")
    assert client.get(tampered).status_code == 404
    token = CSRF_FIELD.search(client.get(f"/recherche/alerte?{NEED_QS}").get_data(as_text=True)).group(1)
    assert client.post(tampered, data={"csrf_token": token}).status_code == 404
    assert len(stored_alerts(private_app)) == 1
    # Older than the confirmation's lifetime: the link has expired, and the worker deletes the alert.
    with database(private_app).session() as s:
        alert = s.scalar(select(SearchAlert))
        alert.created_at = utcnow() - alerts.CONFIRM_LIFETIME - timedelta(minutes=1)
        s.commit()
    expired = client.get(confirm_path)
    assert expired.status_code == 410 and "Lien expiré" in expired.get_data(as_text=True)
    assert run_alerts_job(private_app) == []
    assert stored_alerts(private_app) == []
    assert client.get(confirm_path).status_code == 404


def test_the_worker_queues_the_alerts_every_hour(private_app):
    assert alerts.ALERTS_JOB in PERIODIC_JOBS and alerts.ALERTS_JOB in handlers(private_app)


# -- the rules of vivier.alerts ------------------------------------------------------------------------------------
def test_fresh_matches_are_new_or_changed_since_the_last_mail():
    sent = datetime(2026, 3, 2, 9, 0)
    before, after = sent - timedelta(days=1), sent + timedelta(hours=1)
    alert = SearchAlert(last_notified_at=sent, notified_ids=None)
    # First run: what matched already was on the page the buyer saw; only what changed since is news.
    assert alerts.fresh_matches(alert, [(1, before), (2, after)]) == [2]
    alerts.record_run(alert, [1, 2], mailed=True, now=after)
    assert alert.notified_ids == [1, 2] and alert.last_notified_at == after
    later = after + timedelta(hours=1)
    # Then: a supplier never mailed, or one changed since the last mail.
    assert alerts.fresh_matches(alert, [(1, before), (2, after), (3, before), (1, later)]) == [3, 1]
    alerts.record_run(alert, [2], mailed=False, now=later)
    assert alert.last_notified_at == after and sorted(alert.notified_ids) == [1, 2]


def test_a_saved_search_is_normalised_and_keyed():
    a = alerts.SavedSearch.normalised("  Collecte  des déchets ", {"department": ["29", "29", " 56 "], "label": []},
                                      "Quimper ", "25", "inconnu")
    b = alerts.SavedSearch.normalised("collecte des déchets", {"department": ["56", "29"]}, "quimper", 25)
    assert a.text == "Collecte des déchets" and a.filters == {"department": ("29", "56")}
    assert (a.place, a.radius_km, a.mode) == ("Quimper", 25, "hybrid")
    assert a.key() == b.key()
    assert alerts.SavedSearch.normalised("x", {}, "", "25").radius_km is None  # a radius needs a commune
    assert alerts.SavedSearch.normalised("x" * (alerts.QUERY_MAX_CHARS + 1), {}).too_long

