"""Claims, private editing links and sessions, updates and removal through the web pages, on a private copy of the
indexed fixture database. Links are read from the outbox table, as a company reads them from its mailbox."""

from __future__ import annotations

from datetime import timedelta

from markupsafe import escape
from sqlalchemy import select

from search_app.jobs import run_pending
from tests.test_profile_forms import (approve_and_reindex, count, csrf_token, database, hit_slugs, link_path,
                                      listed_suppliers, outbox, post_form)
from vivier import submissions as service
from vivier.models import (Job, CLAIM_BY_DOMAIN, CLAIM_BY_OPERATOR, CLAIM_PENDING, CLAIM_VERIFIED, AccessToken, Claim,
                           Submission, Supplier, utcnow)


def verified_address(app, supplier: Supplier, email: str) -> None:
    """An address an operator verified (the claim path that needs no link)."""
    with database(app).session() as session:
        start = service.start_claim(session, session.get(Supplier, supplier.id), email)
        service.decide_claim(session, start.claim, "operateur@vivier.fr", accept=True)


def request_edit_link(app, client, supplier: Supplier, email: str) -> str | None:
    """Ask for an editing link on the web page; the link's path if one was mailed."""
    before = len(outbox(app, email))
    response = post_form(client, f"/fournisseurs/{supplier.slug}/modifier/lien", {"email": email})
    assert response.status_code == 200
    run_pending(app)  # the background worker decides and sends (search_app.jobs)
    mails = outbox(app, email)[before:]
    return link_path(mails[0].body) if mails else None


def editing_client(app, supplier: Supplier, email: str):
    """A browser with an editing session for `supplier`, opened the way a company opens it."""
    verified_address(app, supplier, email)
    client = app.test_client()
    path = request_edit_link(app, client, supplier, email)
    assert client.get(path).status_code == 303
    return client


# -- claims -----------------------------------------------------------------------------------------------------
def test_the_supplier_page_offers_to_claim_or_edit_it(private_app):
    [supplier] = listed_suppliers(private_app, 1)
    html = private_app.test_client().get(f"/fournisseurs/{supplier.slug}").get_data(as_text=True)
    assert "C'est votre entreprise ?" in html
    assert f'href="/fournisseurs/{supplier.slug}/revendiquer"' in html
    assert f'href="/fournisseurs/{supplier.slug}/modifier/lien"' in html


def test_a_claim_from_the_company_domain_is_verified_by_its_link_which_opens_the_editing_form(private_app):
    [supplier] = listed_suppliers(private_app, 1)
    email = f"jeanne@{supplier.website_domain}"
    client = private_app.test_client()
    page = client.get(f"/fournisseurs/{supplier.slug}/revendiquer").get_data(as_text=True)
    assert f"@{supplier.website_domain}" in page
    response = post_form(client, f"/fournisseurs/{supplier.slug}/revendiquer",
                         {"email": email.upper(), "message": "Directrice technique"})
    assert response.status_code == 200 and "Un lien de confirmation vient d'être envoyé" in response.get_data(
        as_text=True)
    with database(private_app).session() as session:
        claim = session.scalars(select(Claim)).one()
        assert (claim.email, claim.method, claim.status, claim.message) == (
            email, CLAIM_BY_DOMAIN, CLAIM_PENDING, "Directrice technique")
    [mail] = outbox(private_app)
    assert mail.to_address == email and "valable 24 heures" in mail.body
    path = link_path(mail.body)
    assert path.startswith("/revendiquer/")

    # Someone else's browser cannot use the link once it has served.
    confirmed = client.get(path)
    assert confirmed.status_code == 303 and confirmed.headers["Location"].endswith(f"/{supplier.slug}/modifier")
    form = client.get(confirmed.headers["Location"])
    html = form.get_data(as_text=True)
    # As the template writes it (which supplier comes first depends on the crawl's order: "Borne & Cité"...).
    assert form.status_code == 200 and "Votre adresse est confirmée" in html
    assert f'value="{escape(supplier.name)}"' in html
    with database(private_app).session() as session:
        assert session.scalars(select(Claim)).one().status == CLAIM_VERIFIED
        assert service.may_edit(session, supplier.id, email)
    again = private_app.test_client().get(path)
    assert again.status_code == 410 and "Lien déjà utilisé" in again.get_data(as_text=True)


def test_a_claim_from_another_domain_waits_for_an_operator_and_gets_no_link(private_app):
    [supplier] = listed_suppliers(private_app, 1)
    client = private_app.test_client()
    response = post_form(client, f"/fournisseurs/{supplier.slug}/revendiquer", {"email": "jeanne.martin@gmail.com"})
    assert response.status_code == 200 and "en attente de vérification" in response.get_data(as_text=True)
    with database(private_app).session() as session:
        claim = session.scalars(select(Claim)).one()
        assert (claim.method, claim.status) == (CLAIM_BY_OPERATOR, CLAIM_PENDING)
    [mail] = outbox(private_app)
    assert mail.to_address == "jeanne.martin@gmail.com" and "http" not in mail.body
    assert count(private_app, AccessToken) == 0
    # Pending, the address gets no editing link; once an operator accepts, it does.
    assert request_edit_link(private_app, client, supplier, "jeanne.martin@gmail.com") is None
    with database(private_app).session() as session:
        service.decide_claim(session, session.get(Claim, claim.id), "operateur@vivier.fr", accept=True)
    assert request_edit_link(private_app, client, supplier, "jeanne.martin@gmail.com").startswith("/acces/")


def test_an_invalid_claim_keeps_the_message_and_explains_the_error(private_app):
    [supplier] = listed_suppliers(private_app, 1)
    response = post_form(private_app.test_client(), f"/fournisseurs/{supplier.slug}/revendiquer",
                         {"email": "jeanne@", "message": "Je suis la gérante"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "Adresse électronique invalide" in html
    assert 'value="jeanne@"' in html and "Je suis la gérante</textarea>" in html
    assert count(private_app, Claim) == 0


def test_unknown_suppliers_have_no_claim_or_edit_pages(private_app):
    client = private_app.test_client()
    for path in ("/fournisseurs/nexiste-pas/revendiquer", "/fournisseurs/nexiste-pas/modifier/lien",
                 "/fournisseurs/nexiste-pas/modifier", "/fournisseurs/nexiste-pas/supprimer"):
        assert client.get(path).status_code == 404, path


# -- editing links ----------------------------------------------------------------------------------------------
def test_an_editing_link_goes_only_to_verified_addresses_and_the_page_never_tells(private_app):
    [supplier] = listed_suppliers(private_app, 1)
    verified_address(private_app, supplier, "verifiee@exemple.fr")
    client = private_app.test_client()
    pages = {}
    for email in ("verifiee@exemple.fr", "inconnue@exemple.fr"):
        response = post_form(client, f"/fournisseurs/{supplier.slug}/modifier/lien", {"email": email})
        assert response.status_code == 200
        pages[email] = response.get_data(as_text=True).replace(email, "ADRESSE")
    assert pages["verifiee@exemple.fr"] == pages["inconnue@exemple.fr"]
    assert "un lien vient de lui être envoyé" in pages["inconnue@exemple.fr"]
    # The request only recorded the ask, the same for both (same work, same time); the worker decides.
    with database(private_app).session() as session:
        asks = session.scalars(select(Job).where(Job.kind == "edit-link").order_by(Job.id)).all()
        assert [a.payload["email"] for a in asks] == ["verifiee@exemple.fr", "inconnue@exemple.fr"]
    assert outbox(private_app, "verifiee@exemple.fr") == []
    run_pending(private_app)
    assert outbox(private_app, "inconnue@exemple.fr") == []
    [mail] = outbox(private_app, "verifiee@exemple.fr")
    assert "valable 1 heure" in mail.body and link_path(mail.body).startswith("/acces/")
    with database(private_app).session() as session:  # the database keeps the token's hash only
        token = session.scalars(select(AccessToken)).one()
        assert link_path(mail.body).removeprefix("/acces/") != token.token_hash
        assert service.hash_token(link_path(mail.body).removeprefix("/acces/")) == token.token_hash


def test_an_editing_link_works_once_and_a_new_one_can_be_asked_for(private_app):
    [supplier] = listed_suppliers(private_app, 1)
    verified_address(private_app, supplier, "verifiee@exemple.fr")
    client = private_app.test_client()
    path = request_edit_link(private_app, client, supplier, "verifiee@exemple.fr")
    opened = client.get(path)
    assert opened.status_code == 303 and opened.headers["Location"].endswith(f"/fournisseurs/{supplier.slug}/modifier")
    assert client.get(f"/fournisseurs/{supplier.slug}/modifier").status_code == 200
    reused = private_app.test_client().get(path)
    html = reused.get_data(as_text=True)
    assert reused.status_code == 410 and "Lien déjà utilisé" in html
    assert f'href="/fournisseurs/{supplier.slug}/modifier/lien"' in html  # ask for a new one
    fresh = private_app.test_client()
    assert fresh.get(request_edit_link(private_app, fresh, supplier, "verifiee@exemple.fr")).status_code == 303
    unknown = private_app.test_client().get("/acces/ceci-n-est-pas-un-lien")
    assert unknown.status_code == 404 and "Lien inconnu" in unknown.get_data(as_text=True)


def test_an_expired_link_is_refused_with_a_way_to_get_a_new_one(private_app):
    [supplier] = listed_suppliers(private_app, 1)
    verified_address(private_app, supplier, "verifiee@exemple.fr")
    client = private_app.test_client()
    path = request_edit_link(private_app, client, supplier, "verifiee@exemple.fr")
    with database(private_app).session() as session:
        session.scalars(select(AccessToken)).one().expires_at = utcnow() - timedelta(minutes=1)
    expired = client.get(path)
    html = expired.get_data(as_text=True)
    assert expired.status_code == 410 and "Lien expiré" in html
    assert f'href="/fournisseurs/{supplier.slug}/modifier/lien"' in html
    no_session = client.get(f"/fournisseurs/{supplier.slug}/modifier")
    assert no_session.status_code == 302
    assert no_session.headers["Location"].endswith(f"/fournisseurs/{supplier.slug}/modifier/lien")


def test_an_expired_editing_session_sends_back_to_the_link_request(private_app):
    [supplier] = listed_suppliers(private_app, 1)
    client = editing_client(private_app, supplier, "verifiee@exemple.fr")
    with client.session_transaction() as web_session:
        state = web_session["profile_edit"]
        web_session["profile_edit"] = {**state, "expires": (utcnow() - timedelta(seconds=1)).isoformat()}
    response = client.get(f"/fournisseurs/{supplier.slug}/modifier")
    assert response.status_code == 302 and response.headers["Location"].endswith("/modifier/lien")
    assert "session de modification a expiré" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_a_revoked_address_loses_its_open_session(private_app):
    [supplier] = listed_suppliers(private_app, 1)
    client = editing_client(private_app, supplier, "verifiee@exemple.fr")
    with database(private_app).session() as session:
        for claim in session.scalars(select(Claim)):
            claim.status = "rejected"
    assert client.get(f"/fournisseurs/{supplier.slug}/modifier").status_code == 302


# -- authorization ----------------------------------------------------------------------------------------------
def test_a_session_for_one_supplier_cannot_edit_or_delete_another(private_app):
    own, other = listed_suppliers(private_app, 2)
    client = editing_client(private_app, own, "verifiee@exemple.fr")
    token = csrf_token(client, f"/fournisseurs/{own.slug}/modifier")
    for path in (f"/fournisseurs/{other.slug}/modifier", f"/fournisseurs/{other.slug}/supprimer"):
        assert client.get(path).status_code == 403, path
    edit = client.post(f"/fournisseurs/{other.slug}/modifier",
                       data={"csrf_token": token, "name": "Défiguré", "pitch": "Défiguré", "commune": "Brest",
                             "categories": ["waste"]})
    assert edit.status_code == 403 and "Accès refusé" in edit.get_data(as_text=True)
    delete = client.post(f"/fournisseurs/{other.slug}/supprimer", data={"csrf_token": token, "confirm": "y"})
    assert delete.status_code == 403
    with database(private_app).session() as session:
        assert session.scalars(select(Submission)).all() == []
        assert session.get(Supplier, other.id).status == "crawled"
    # Without any session: to the link request page, nothing changes either.
    anonymous = private_app.test_client()
    token = csrf_token(anonymous, f"/fournisseurs/{other.slug}/revendiquer")
    assert anonymous.post(f"/fournisseurs/{other.slug}/supprimer",
                          data={"csrf_token": token, "confirm": "y"}).status_code == 302
    assert count(private_app, Submission) == 0


# -- updates ----------------------------------------------------------------------------------------------------
def test_an_update_is_pending_until_approved_then_searchable_once_indexed(private_app):
    [supplier] = listed_suppliers(private_app, 1)
    client = editing_client(private_app, supplier, "verifiee@exemple.fr")
    page = client.get(f"/fournisseurs/{supplier.slug}/modifier").get_data(as_text=True)
    assert f'value="{escape(supplier.pitch)}"' in page  # prefilled with the public values
    new_pitch = "Zorglubix, la plateforme qui compte les hérissons des parcs"
    data = {"name": supplier.name, "pitch": new_pitch, "commune": supplier.commune, "categories": supplier.categories,
            "website": supplier.website, "offers-0-name": "Pack hérissons", "offers-0-basic": "Un parc"}
    response = post_form(client, f"/fournisseurs/{supplier.slug}/modifier", data)
    assert response.status_code == 200 and "après validation" in response.get_data(as_text=True)
    [mail] = outbox(private_app, "verifiee@exemple.fr")[1:]
    assert "vos modifications" in mail.subject and f"/fournisseurs/{supplier.slug}" in mail.body
    with database(private_app).session() as session:
        submission = session.scalars(select(Submission)).one()
        assert (submission.kind, submission.status, submission.supplier_id) == ("update", "pending", supplier.id)
        assert submission.data["offers"] == [{"name": "Pack hérissons", "scope": None, "price_band": None,
                                              "tiers": {"basic": "Un parc"}}]
    # Pending: not public; the form now shows the pending values.
    assert new_pitch not in client.get(f"/fournisseurs/{supplier.slug}").get_data(as_text=True)
    assert supplier.slug not in hit_slugs(client, "Zorglubix")
    again = client.get(f"/fournisseurs/{supplier.slug}/modifier").get_data(as_text=True)
    assert "attendent validation" in again and f'value="{new_pitch}"' in again
    # The pending update holds only what changed; the fields it left alone show their public values.
    assert "website" not in submission.data and f'value="{escape(supplier.website)}"' in again

    approve_and_reindex(private_app, submission.id)
    assert new_pitch in client.get(f"/fournisseurs/{supplier.slug}").get_data(as_text=True)
    assert hit_slugs(client, "Zorglubix")[0] == supplier.slug
    history = client.get(f"/fournisseurs/{supplier.slug}/modifier").get_data(as_text=True)
    assert "Historique des demandes" in history and "Acceptée" in history


def test_an_invalid_update_keeps_what_was_typed(private_app):
    [supplier] = listed_suppliers(private_app, 1)
    client = editing_client(private_app, supplier, "verifiee@exemple.fr")
    response = post_form(client, f"/fournisseurs/{supplier.slug}/modifier",
                         {"name": supplier.name, "pitch": "Nouvelle accroche", "commune": "", "categories": ["waste"],
                          "website": "pas un site"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Indiquez la commune de l&#39;entreprise." in html and "Adresse de site invalide" in html
    assert 'value="Nouvelle accroche"' in html and 'value="pas un site"' in html
    assert count(private_app, Submission) == 0


# -- removal ----------------------------------------------------------------------------------------------------
def test_a_removal_request_hides_the_profile_at_once_then_from_search_and_ends_the_session(private_app):
    [supplier] = listed_suppliers(private_app, 1)
    client = editing_client(private_app, supplier, "verifiee@exemple.fr")
    assert supplier.slug in hit_slugs(client, supplier.name)
    confirm_page = client.get(f"/fournisseurs/{supplier.slug}/supprimer")
    assert confirm_page.status_code == 200 and "Confirmer la demande de suppression" in confirm_page.get_data(
        as_text=True)
    unconfirmed = post_form(client, f"/fournisseurs/{supplier.slug}/supprimer", {"reason": "Cessation d'activité"})
    assert unconfirmed.status_code == 400
    assert "Cochez la case pour confirmer" in unconfirmed.get_data(as_text=True)
    assert "Cessation d&#39;activité</textarea>" in unconfirmed.get_data(as_text=True)
    assert supplier.slug in hit_slugs(client, supplier.name)

    done = post_form(client, f"/fournisseurs/{supplier.slug}/supprimer",
                     {"reason": "Cessation d'activité", "confirm": "y"})
    assert done.status_code == 200 and "n'apparaît plus dans la recherche" in done.get_data(as_text=True)
    assert client.get(f"/fournisseurs/{supplier.slug}").status_code == 404  # its page at once
    assert all(run.ok for run in run_pending(private_app))  # the background worker updates the index
    assert supplier.slug not in hit_slugs(client, supplier.name)
    with database(private_app).session() as session:
        request = session.scalars(select(Submission)).one()
        assert (request.kind, request.status, request.reason) == ("deletion", "pending", "Cessation d'activité")
        assert session.get(Supplier, supplier.id).status == "hidden"  # deleted once an operator confirms
    assert "suppression" in outbox(private_app, "verifiee@exemple.fr")[-1].subject
    with client.session_transaction() as web_session:
        assert "profile_edit" not in web_session
