"""Attacks found by the trust review (issue 18), reproduced against the real components, so that they stay fixed.

Each test is written as the attacker would proceed; the assertions are what must hold."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin

import pytest
from sqlalchemy import select

from tests.test_moderation import (CRAWLED_SLUG, crawled_supplier, csrf_token, database, operator,  # noqa: F401
                                   staffed_app, submission, submit_update)
from vivier import submissions as sub
from vivier.models import OutboxMessage, SourceRecord, Supplier
from vivier.profiles import JOINED_SIREN, SourceInfo, upsert_profile

SIREN = "732829320"
VICTIM = {"name": "Victime SAS", "siren": SIREN, "website": "https://www.victime.fr", "commune": "Brest",
          "postcode": "29200", "contact_email": "contact@victime.fr", "contact_phone": "02 98 00 00 00",
          "pitch": "Capteurs de remplissage des bornes de tri"}
DIRECTORY = SourceInfo("annuaire", "directory")
OTHER_DIRECTORY = SourceInfo("annuaire-bis", "directory")


@pytest.fixture
def victim(db) -> int:
    with db.session() as s:
        supplier_id = upsert_profile(s, VICTIM, DIRECTORY, "https://annuaire.test/victime").supplier_id
        s.commit()
    return supplier_id


# -- profile takeover ------------------------------------------------------------------------------------------------
def test_a_directory_listing_the_victims_siren_with_another_website_takes_nothing_over(db, victim):
    """A directory page (a source as trusted as the victim's) lists the victim's public SIREN with the attacker's
    website: it joins the profile by SIREN, but must not replace its website, name or contacts, nor make an address
    on the attacker's domain the profile's owner."""
    with db.session() as s:
        outcome = upsert_profile(s, {"name": "Victime", "siren": SIREN, "website": "https://victime-fr.example",
                                     "contact_email": "pirate@victime-fr.example", "commune": "Brest",
                                     "postcode": "29200", "description": "Texte de l'annuaire."},
                                 OTHER_DIRECTORY, "https://annuaire-bis.test/victime")
        assert outcome.supplier_id == victim  # the same company, by its SIREN
        supplier = s.get_one(Supplier, victim)
        assert (supplier.name, supplier.website, supplier.contact_email) == (
            "Victime SAS", VICTIM["website"], VICTIM["contact_email"])
        assert supplier.description == "Texte de l'annuaire."  # what it may add, it adds
        record = s.scalar(select(SourceRecord).where(SourceRecord.source_name == "annuaire-bis"))
        assert record.joined_by == JOINED_SIREN
        assert sub.ownership_domain(s, supplier) == "victime.fr"
        claim = sub.start_claim(s, supplier, "pirate@victime-fr.example")
        assert claim.token is None and claim.claim.method == "operator"  # no link: an operator decides
        assert sub.start_claim(s, supplier, "jeanne@victime.fr").token is not None  # the real domain still works


def test_a_siren_only_record_never_fills_a_website_the_profile_lacks(db):
    with db.session() as s:
        victim_id = upsert_profile(s, {k: v for k, v in VICTIM.items() if k != "website"}, DIRECTORY,
                                   "https://annuaire.test/victime").supplier_id
        upsert_profile(s, {"name": "Victime", "siren": SIREN, "website": "https://victime-fr.example"},
                       OTHER_DIRECTORY, "https://annuaire-bis.test/victime")
        supplier = s.get_one(Supplier, victim_id)
        assert supplier.website is None and sub.ownership_domain(s, supplier) is None
        assert sub.start_claim(s, supplier, "pirate@victime-fr.example").token is None


def test_an_update_giving_a_profile_someone_elses_siren_needs_the_operators_explicit_confirmation(db):
    """The attacker's own approved profile asks to take the victim's SIREN: the operator must see it as a merge,
    approving needs an explicit confirmation, and even then the victim keeps its name, website and contacts, and
    the decision records the change."""
    with db.session() as s:
        victim_id = upsert_profile(s, {k: v for k, v in VICTIM.items() if k != "website"}, DIRECTORY,
                                   "https://annuaire.test/victime").supplier_id
        own = sub.submit_new(s, {"name": "Pirate Conseil", "website": "https://pirate.example",
                                 "contact_email": "boss@pirate.example", "commune": "Quimper", "postcode": "29000",
                                 "pitch": "Conseil"}, "boss@pirate.example")
        attacker = sub.approve(s, own, "op")
        s.commit()
        update = sub.submit_update(s, attacker, {"name": "Pirate Conseil", "siren": SIREN,
                                                 "website": "https://pirate.example",
                                                 "contact_email": "boss@pirate.example"}, "boss@pirate.example")
        warnings = sub.identity_changes(s, update)
        assert any("fusionnerait cette fiche avec la fiche « Victime SAS »" in w for w in warnings), warnings
        with pytest.raises(sub.ModerationError, match="change l'identité"):
            sub.approve(s, update, "op")
        merged = sub.approve(s, update, "op", confirm_identity=True)
        assert merged.id == victim_id  # the operator confirmed the merge...
        victim = s.get_one(Supplier, victim_id)
        assert (victim.name, victim.website, victim.contact_email) == ("Victime SAS", None, VICTIM["contact_email"])
        assert "identité" in update.changes  # ...and the history says what was confirmed
        assert not sub.may_edit(s, victim_id, "jeanne@victime.fr") and sub.ownership_domain(s, victim) is None


def test_the_moderation_page_shows_an_identity_change_and_approval_needs_the_box(operator, staffed_app):  # noqa: F811
    """Another listed company asks for Kaptéo's SIREN: the page warns, approval without the box is refused, with
    it the change is applied and logged in the decision."""
    kapteo = crawled_supplier(staffed_app)
    with database(staffed_app).session() as s:
        other = s.scalar(select(Supplier).where(Supplier.slug != CRAWLED_SLUG, Supplier.siren.is_(None),
                                                Supplier.status == "crawled").order_by(Supplier.id).limit(1))
        other_slug = other.slug
    submission_id = submit_update(staffed_app, {"siren": kapteo.siren}, email="x@ailleurs.test", slug=other_slug)
    page = unescape(operator.get(f"/moderation/soumissions/{submission_id}").get_data(as_text=True))
    assert "cette demande change l'identité d'une fiche" in page and f"« {kapteo.name} »" in page
    assert "confirmer_identite" in page
    token = csrf_token(operator, f"/moderation/soumissions/{submission_id}")
    refused = unescape(operator.post(f"/moderation/soumissions/{submission_id}/approuver",
                                     data={"csrf_token": token}, follow_redirects=True).get_data(as_text=True))
    assert "Impossible d'approuver" in refused and "confirmez-le explicitement" in refused
    operator.post(f"/moderation/soumissions/{submission_id}/approuver",
                  data={"csrf_token": token, "confirmer_identite": "1"})
    decided = submission(staffed_app, submission_id)
    assert decided.status == "approved" and "identité" in decided.changes


# -- one-time links ---------------------------------------------------------------------------------------------------
def test_a_one_time_link_opened_by_several_requests_at_once_opens_one_session(tmp_path):
    """Eight threads redeem the same editing link at the same moment, each with its own connection: one wins."""
    import threading
    import time

    from tests.conftest import make_settings
    from vivier.db import Database

    database = Database(make_settings(tmp_path))
    database.migrate()
    with database.session() as s:
        supplier_id = upsert_profile(s, VICTIM, DIRECTORY, "https://annuaire.test/victime").supplier_id
        raw = sub.issue_token(s, "edit", "jeanne@victime.fr", sub.EDIT_LINK_LIFETIME, supplier_id)
    barrier, outcomes = threading.Barrier(8), []

    def redeem() -> None:
        barrier.wait()
        try:
            with database.session() as s:
                sub.redeem_token(s, raw, "edit")
                time.sleep(0.2)  # the rest of the request's work before its commit: the race's window
            outcomes.append("opened")
        except sub.TokenError as error:
            outcomes.append(error.reason)

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["opened"] + ["used"] * 7
    database.dispose()


# -- buyers' organisation ---------------------------------------------------------------------------------------------
def test_asking_a_sign_in_link_for_someone_elses_address_names_nothing(db):
    """An outsider asks a link for a not-yet-registered buyer address with a fake organisation: nothing is named
    until the address's owner opens a link, and the owner's own request names it."""
    from vivier import projects

    with db.session() as s:
        projects.buyer_sign_in_token(s, "achats@mairie-exemple.fr", "Escrocs Associés")
        outsiders = s.scalars(select(projects.AccessToken)).all()
        buyer = s.scalar(select(projects.Buyer).where(projects.Buyer.email == "achats@mairie-exemple.fr"))
        assert buyer.organisation == ""
        raw = projects.buyer_sign_in_token(s, "achats@mairie-exemple.fr", "Mairie d'Exemple")
        assert projects.open_buyer_session(s, raw).organisation == "Mairie d'Exemple"
        assert len(outsiders) == 1  # the outsider's link is never opened: its organisation is never applied


def test_a_new_profile_matching_a_supplier_with_its_own_submitted_record_is_approved(db, victim):
    """The supplier already has a "submitted" record (an approved update); a new-profile submission matching it by
    SIREN is approved into that record, not refused by the unique (source, key) constraint with a 500."""
    with db.session() as s:
        supplier = s.get_one(Supplier, victim)
        s.add(sub.Claim(supplier_id=victim, email="jeanne@victime.fr", method="domain", status="verified"))
        update = sub.submit_update(s, supplier, {"name": "Victime SAS", "pitch": "Pitch de l'entreprise"},
                                   "jeanne@victime.fr")
        sub.approve(s, update, "op")
        again = sub.submit_new(s, {"name": "Victime SAS", "siren": SIREN, "pitch": "Nouvelle fiche"},
                               "autre@victime.fr")
        approved = sub.approve(s, again, "op", confirm_identity=True)
        assert approved.id == victim and approved.pitch == "Nouvelle fiche"
        submitted = s.scalars(select(SourceRecord).where(SourceRecord.source_name == "submitted")).all()
        assert [r.record_key for r in submitted] == [f"supplier:{victim}"]


# -- configuration a production server refuses to start without ------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"base_url": None}, "VIVIER_BASE_URL must be the site's public address"),
    ({"secret_key": "dev-only-not-secret"}, "VIVIER_SECRET_KEY must be a random value"),
    ({"secret_key": "trop-court"}, "VIVIER_SECRET_KEY must be a random value"),
])
def test_a_production_server_refuses_a_missing_base_url_or_a_weak_secret(tmp_path, changes, message):
    from search_app import create_app
    from tests.conftest import make_settings
    from vivier.config import ConfigError

    good = make_settings(tmp_path).with_overrides(base_url="https://vivier.example.fr", secret_key="s" * 40)
    create_app(settings=good, production=True)  # what is required is enough
    with pytest.raises(ConfigError, match=message):
        create_app(settings=good.with_overrides(**changes), production=True)


def test_links_are_built_on_the_base_url_never_on_the_host_a_client_sends(private_settings, encoder):
    """POST /acheteurs/connexion with Host: evil.example: the e-mailed sign-in link points at the base URL; in
    production the request is refused."""
    from search_app import create_app
    from tests.test_moderation import database as app_database

    settings = private_settings.with_overrides(base_url="https://vivier.example.fr", secret_key="s" * 40,
                                               form_rate_limit="1000 per minute")
    app = create_app(settings=settings, encoder=encoder)
    app.config.update(WTF_CSRF_ENABLED=False)
    client = app.test_client()
    response = client.post("/acheteurs/connexion", data={"email": "achats@mairie-exemple.fr", "organisation": ""},
                           headers={"Host": "evil.example"})
    assert response.status_code == 200
    with app_database(app).session() as s:
        [mail] = s.scalars(select(OutboxMessage).where(OutboxMessage.to_address == "achats@mairie-exemple.fr"))
    assert "https://vivier.example.fr/acheteurs/acces/" in mail.body and "evil.example" not in mail.body
    production = create_app(settings=settings, encoder=encoder, production=True)
    assert production.test_client().get("/", headers={"Host": "evil.example"}).status_code == 400
    sitemap = production.test_client().get("/sitemap.xml", base_url="https://vivier.example.fr").get_data(as_text=True)
    assert "https://vivier.example.fr/" in sitemap


# -- operators' sessions ----------------------------------------------------------------------------------------------
def test_a_copied_operator_cookie_stops_working_at_sign_out(operator, staffed_app):  # noqa: F811
    copy = staffed_app.test_client()
    cookie = operator.get_cookie("session")
    copy.set_cookie("session", cookie.value)
    assert copy.get("/moderation/").status_code == 200  # the copy works while the session lives
    token = csrf_token(operator, "/moderation/")
    assert operator.post("/moderation/deconnexion", data={"csrf_token": token}).status_code == 302
    assert copy.get("/moderation/").status_code == 302  # sent to the sign-in page: the copy is dead


def test_an_operator_session_is_bound_to_the_peer_address_not_to_a_forwarded_header(operator):  # noqa: F811
    """Flask-Login's strong protection used X-Forwarded-For, which any client sets: a stolen cookie replayed with
    the victim's forwarded address passed. Without a declared proxy the header is ignored."""
    assert operator.get("/moderation/", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200
    other = operator.get("/moderation/", environ_overrides={"REMOTE_ADDR": "198.51.100.7"},
                         headers={"X-Forwarded-For": "127.0.0.1"})
    assert other.status_code == 302  # another peer address: the session is not honoured


def test_rate_limits_count_the_peer_unless_a_proxy_is_declared(private_settings, encoder):
    from search_app import create_app

    def limited_after(app) -> int:
        client = app.test_client()
        for n in range(1, 200):
            forwarded = f"203.0.113.{n % 250}"
            if client.get("/api/v1/categories", headers={"X-Forwarded-For": forwarded}).status_code == 429:
                return n
        return 0

    app = create_app(settings=private_settings, encoder=encoder)
    app.config["API_RATE_LIMIT"] = "20 per minute"
    assert limited_after(app) == 21  # a new X-Forwarded-For per request changes nothing: the peer is counted
    behind_proxy = create_app(settings=private_settings.with_overrides(trusted_proxies=1), encoder=encoder)
    behind_proxy.config["API_RATE_LIMIT"] = "20 per minute"
    assert limited_after(behind_proxy) == 0  # behind a declared proxy, each forwarded client is counted apart


# -- long needs -------------------------------------------------------------------------------------------------------
LONG_NEED = ("La commune souhaite un service de collecte des déchets ménagers avec des capteurs de remplissage sur "
             "les colonnes de tri, des tournées optimisées et un suivi des tonnages. ") * 200  # ~34,000 characters


def test_a_long_need_is_never_repeated_in_links_and_its_links_stay_short(private_app):
    client = private_app.test_client()
    response = client.post("/recherche/document", data={"q": LONG_NEED})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and len(html) < 200_000  # 4.3 MB when every link repeated the text
    links = re.findall(r'href="([^"]*)"', html) + re.findall(r'hx-get="([^"]*)"', html)
    assert links and max(len(link) for link in links) < 2_000  # no 414 from a server's 4 kB request line
    facet = next(unescape(link) for link in links if "besoin=" in link and "category=" in link)
    followed = client.get(urljoin("/recherche/document", facet), follow_redirects=True)  # as a browser resolves it
    assert followed.status_code == 200 and "capteurs de remplissage" in followed.get_data(as_text=True)
    forgotten = client.get("/?besoin=" + "0" * 64)
    assert forgotten.status_code == 410 and "Recherche expirée" in forgotten.get_data(as_text=True)


def test_a_long_need_is_embedded_once_whatever_the_pages_and_filters(private_app):
    service = private_app.extensions["vivier"]["search"]
    calls = []
    encode = service.encoder.encode

    def counted(texts, *args, **kwargs):
        calls.append(len(texts))
        return encode(texts, *args, **kwargs)

    service.encoder.encode = counted
    try:
        service._vectors.clear()
        for page in (1, 2):
            for filters in ({}, {"category": ["waste"]}):
                service.search(LONG_NEED, filters, page=page)
    finally:
        service.encoder.encode = encode
    from indexer.service import MAX_QUERY_CHUNKS

    assert calls == [MAX_QUERY_CHUNKS]  # one embedding of at most MAX_QUERY_CHUNKS chunks, for four searches


def test_long_needs_are_rate_limited_apart_from_typed_queries(private_app):
    from search_app.public.search import LONG_QUERY_RATE_LIMIT

    limit = int(LONG_QUERY_RATE_LIMIT.split()[0])
    client = private_app.test_client()
    html = client.post("/recherche/document", data={"q": LONG_NEED}).get_data(as_text=True)
    digest = re.search(r"besoin=([0-9a-f]{64})", html).group(1)
    statuses = [client.get(f"/?besoin={digest}").status_code for _ in range(limit + 1)]
    assert statuses[:limit] == [200] * limit and statuses[-1] == 429
    assert client.get("/?q=cantine").status_code == 200  # typed searches are not counted with them
