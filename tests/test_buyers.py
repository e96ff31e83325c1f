"""Buyers through the Flask test client, on a private copy of the fixture database: sign-in links (allow-listed
domain or not), link reuse and expiry, and the operators' verification back-office. Time is moved with the app's
clock."""

from __future__ import annotations

import re
from html import unescape
from datetime import datetime, timedelta

from sqlalchemy import select

from vivier import projects as pj
from vivier.models import Buyer, BuyerDomain, OutboxMessage, Project
from vivier.operators import create_operator, find_operator

NOW = datetime(2026, 3, 2, 9, 0)
OPERATOR = "moderatrice@vivier.test"
PASSWORD = "une phrase de passe solide"
CITY = "achats@brest-metropole.fr"  # on the allow-listed domain
OTHER = "marie.achat@gmail.com"  # on no allow-listed domain
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
LINK = re.compile(r"https?://\S+/acheteurs/acces/\S+")


# -- helpers (tests/test_projects_web.py uses them too) -----------------------------------------------------------
def database(app):
    return app.extensions["vivier"]["database"]


def set_clock(app, moment: datetime) -> None:
    app.extensions["vivier"]["clock"] = lambda: moment


def csrf_token(client, path: str) -> str:
    match = CSRF_FIELD.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post(client, path: str, data: dict | None = None, page: str = "/acheteurs/connexion", **kwargs):
    return client.post(path, data={"csrf_token": csrf_token(client, page), **(data or {})}, **kwargs)


def allow_domain(app, domain: str = "brest-metropole.fr", organisation: str = "Brest métropole") -> None:
    with database(app).session() as s:
        pj.add_buyer_domain(s, domain, organisation, "op@vivier.test", NOW)


def last_mail(app, to: str) -> OutboxMessage | None:
    with database(app).session() as s:
        message = s.scalar(select(OutboxMessage).where(OutboxMessage.to_address == to)
                           .order_by(OutboxMessage.id.desc()).limit(1))
        if message is not None:
            s.expunge(message)
        return message


def sign_in_link(client, app, email: str, organisation: str = "") -> str:
    response = post(client, "/acheteurs/connexion", {"email": email, "organisation": organisation})
    assert response.status_code == 200
    link = LINK.search(last_mail(app, email).body).group(0)
    return link[link.index("/acheteurs/"):]


def sign_in(client, app, email: str = CITY) -> None:
    """A buyer session in this client, through the real link."""
    response = client.get(sign_in_link(client, app, email))
    assert response.status_code == 303 and response.headers["Location"].endswith("/acheteurs/projets")


def operator_client(app):
    with database(app).session() as s:
        if find_operator(s, OPERATOR) is None:
            create_operator(s, OPERATOR, PASSWORD)
    client = app.test_client()
    token = csrf_token(client, "/moderation/connexion")
    response = client.post("/moderation/connexion", data={"csrf_token": token, "email": OPERATOR,
                                                           "password": PASSWORD})
    assert response.status_code in (302, 303)
    return client


# -- sign-in ------------------------------------------------------------------------------------------------------
def test_allow_listed_address_is_verified_by_its_link(private_app):
    set_clock(private_app, NOW)
    allow_domain(private_app)
    client = private_app.test_client()
    page = post(client, "/acheteurs/connexion", {"email": "Achats@Brest-Metropole.fr", "organisation": ""})
    assert page.status_code == 200 and "Lien de connexion envoyé" in page.get_data(as_text=True)
    mail = last_mail(private_app, CITY)
    assert mail is not None and "valable 1 heure" in mail.body
    link = LINK.search(mail.body).group(0)
    response = client.get(link[link.index("/acheteurs/"):])
    assert response.status_code == 303
    mine = client.get("/acheteurs/projets").get_data(as_text=True)
    assert CITY in mine and "pas encore vérifiée" not in mine
    with database(private_app).session() as s:
        buyer = s.scalar(select(Buyer).where(Buyer.email == CITY))
        assert buyer.verified and buyer.verified_by == "domain" and buyer.organisation == "Brest métropole"
    # Signing out ends the session.
    assert post(client, "/acheteurs/deconnexion", page="/acheteurs/projets").status_code == 303
    assert client.get("/acheteurs/projets").status_code == 303


def test_link_works_once_and_expires(private_app):
    set_clock(private_app, NOW)
    client = private_app.test_client()
    link = sign_in_link(client, private_app, OTHER)
    assert client.get(link).status_code == 303
    reused = client.get(link)
    assert reused.status_code == 410 and "déjà servi" in reused.get_data(as_text=True)
    late = sign_in_link(client, private_app, OTHER)
    set_clock(private_app, NOW + pj.BUYER_LINK_LIFETIME + timedelta(minutes=1))
    expired = client.get(late)
    assert expired.status_code == 410 and "Lien expiré" in expired.get_data(as_text=True)
    assert client.get("/acheteurs/acces/pas-un-vrai-jeton").status_code == 404


def test_session_ends_after_its_lifetime(private_app):
    set_clock(private_app, NOW)
    client = private_app.test_client()
    sign_in(client, private_app, OTHER)
    assert client.get("/acheteurs/projets").status_code == 200
    set_clock(private_app, NOW + pj.BUYER_SESSION_LIFETIME + timedelta(minutes=1))
    assert client.get("/acheteurs/projets").status_code == 303


def test_sign_in_form_errors_are_french_and_csrf_is_required(private_app):
    client = private_app.test_client()
    page = post(client, "/acheteurs/connexion", {"email": "pas-une-adresse", "organisation": "Mairie"})
    body = page.get_data(as_text=True)
    assert page.status_code == 400 and "Adresse électronique invalide" in body and 'value="Mairie"' in body
    assert client.post("/acheteurs/connexion", data={"email": CITY}).status_code == 400
    assert last_mail(private_app, CITY) is None


# -- verification by an operator ----------------------------------------------------------------------------------
def test_unverified_buyer_prepares_drafts_until_an_operator_verifies_it(private_app):
    set_clock(private_app, NOW)
    client = private_app.test_client()
    sign_in(client, private_app, OTHER)
    assert "pas encore vérifiée" in client.get("/acheteurs/projets").get_data(as_text=True)
    with database(private_app).session() as s:
        buyer = s.scalar(select(Buyer).where(Buyer.email == OTHER))
        project = pj.create_project(s, buyer, {"title": "Bornes de recharge", "need": "Des bornes.",
                                               "contract_model": "marche-public", "categories": ["mobility"],
                                               "departments": [], "deadline": NOW + timedelta(days=20)}, now=NOW)
        slug = project.slug
    # The project page says why « Publier » is not available before any click; a post anyway is refused clearly.
    page = unescape(client.get(f"/projets/{slug}").get_data(as_text=True))
    assert "Publication impossible pour l'instant" in page and "pas encore vérifiée" in page
    assert re.search(r'<button type="submit" disabled aria-describedby="publication-impossible">Publier</button>',
                     page)
    refused = post(client, f"/projets/{slug}/publier", page=f"/projets/{slug}")
    body = unescape(refused.get_data(as_text=True))
    assert refused.status_code == 403 and "Seuls les acheteurs vérifiés publient" in body
    assert "Publication impossible pour l'instant" in body and "Action impossible" not in body
    assert "notre équipe vérifie" in body

    anonymous = private_app.test_client()
    assert anonymous.get("/moderation/acheteurs/").status_code in (302, 303)
    operator = operator_client(private_app)
    queue = operator.get("/moderation/acheteurs/")
    assert queue.status_code == 200 and OTHER in queue.get_data(as_text=True)
    with database(private_app).session() as s:
        buyer_id = s.scalar(select(Buyer.id).where(Buyer.email == OTHER))
    done = post(operator, f"/moderation/acheteurs/{buyer_id}/verifier", page="/moderation/acheteurs/")
    assert done.status_code == 303
    assert "a vérifié votre adresse" in last_mail(private_app, OTHER).body
    assert f"/moderation/acheteurs/{buyer_id}/verifier" not in operator.get("/moderation/acheteurs/").get_data(
        as_text=True)
    with database(private_app).session() as s:
        buyer = s.scalar(select(Buyer).where(Buyer.email == OTHER))
        assert buyer.verified and buyer.verified_by == OPERATOR

    verified_page = client.get(f"/projets/{slug}").get_data(as_text=True)
    assert "Publication impossible" not in verified_page and " disabled " not in verified_page
    assert post(client, f"/projets/{slug}/publier", page=f"/projets/{slug}").status_code == 303
    with database(private_app).session() as s:
        assert s.scalar(select(Project.status).where(Project.slug == slug)) == "published"


def test_operator_keeps_the_domain_allow_list(private_app):
    operator = operator_client(private_app)
    bad = post(operator, "/moderation/acheteurs/domaines", {"domain": "pas un domaine", "organisation": "X"},
               page="/moderation/acheteurs/")
    assert bad.status_code == 400 and "Domaine invalide" in bad.get_data(as_text=True)
    good = post(operator, "/moderation/acheteurs/domaines", {"domain": "@Quimperle.BZH", "organisation": "Quimperlé"},
                page="/moderation/acheteurs/")
    assert good.status_code == 303
    assert "quimperle.bzh" in operator.get("/moderation/acheteurs/").get_data(as_text=True)
    with database(private_app).session() as s:
        entry = s.scalar(select(BuyerDomain).where(BuyerDomain.domain == "quimperle.bzh"))
        assert entry.added_by == OPERATOR
    # An address of a sub-domain is verified at its first sign-in.
    set_clock(private_app, NOW)
    sign_in(private_app.test_client(), private_app, "dsi@mairie.quimperle.bzh")
    with database(private_app).session() as s:
        assert s.scalar(select(Buyer.verified).where(Buyer.email == "dsi@mairie.quimperle.bzh"))


# -- the way back to one's projects (issue 21) -------------------------------------------------------------------
def test_a_signed_in_buyer_finds_its_projects_in_the_header_and_publishes_from_the_project_list(private_app):
    set_clock(private_app, NOW)
    allow_domain(private_app)
    anonymous = private_app.test_client()
    public = anonymous.get("/projets").get_data(as_text=True)
    assert ">Mes projets</a>" not in public
    assert 'href="/acheteurs/connexion">Acheteur public ? Publiez un projet' in public
    client = private_app.test_client()
    sign_in(client, private_app)
    for path in ("/", "/projets", "/centrales"):
        assert '<a href="/acheteurs/projets">Mes projets</a>' in client.get(path).get_data(as_text=True), path
    listing = client.get("/projets").get_data(as_text=True)
    assert '<a href="/projets/nouveau">Publiez un projet.</a>' in listing
    assert "/acheteurs/connexion" not in listing.split('id="contenu"', 1)[1]
    assert client.get("/projets/nouveau").status_code == 200
    # The sign-in page says who is signed in already, with the way to the projects.
    again = client.get("/acheteurs/connexion").get_data(as_text=True)
    assert "déjà connecté comme" in again and CITY in again and 'href="/projets/nouveau"' in again
    # Signed out, the header forgets the link.
    post(client, "/acheteurs/deconnexion", page="/acheteurs/projets")
    assert ">Mes projets</a>" not in client.get("/projets").get_data(as_text=True)
