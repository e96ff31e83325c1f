"""A purchase project's sourcing through the web pages (search_app/purchasing/participation.py), on a private copy of
the crawled fixture database, time injected through the app's clock: questions and published answers, sealed
variant proposals (access by every role), deadline enforcement, attachments, decisions, e-mails, the sourcing log
and its exports, suppliers' alerts."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from search_app.purchasing.participation import (CONFIDENTIAL, LogLine, detail_text, french_datetime, render_log_csv)
from vivier import projects as pj
from vivier import submissions
from vivier.models import (SEARCHABLE_STATUSES, Attachment, Buyer, OutboxMessage, Project, Proposal, Question,
                           Subscription, Supplier)
from vivier.operators import create_operator

NOW = datetime(2026, 3, 2, 9, 0)  # 10:00 in Paris
DEADLINE = NOW + timedelta(days=30)
AFTER = DEADLINE + timedelta(hours=1)
BUYER_EMAIL = "achats@brest-metropole.fr"
PROJECT = {"title": "Capteurs de remplissage des colonnes de tri", "need": "Mesurer le remplissage des colonnes "
           "à verre pour optimiser les tournées de collecte.", "contract_model": "marche-public",
           "categories": ["waste"], "departments": ["29"], "deadline": DEADLINE, "variants_allowed": True,
           "variant_requirements": "Autonomie de 5 ans au moins."}
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# Sessions opened by hand last past every time the tests move the clock to.
SESSION_EXPIRY = (NOW + timedelta(days=365)).isoformat()


# -- helpers ----------------------------------------------------------------------------------------------------
class Clock:
    """The app's clock (search_app.identity.now), moved by the tests."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def app(private_app):
    private_app.extensions["vivier"]["clock"] = Clock(NOW)
    return private_app


def at(app, moment: datetime) -> None:
    app.extensions["vivier"]["clock"].at = moment


def db(app):
    return app.extensions["vivier"]["database"].session()


def csrf(client) -> str:
    """A CSRF token for this browser's session (any form of the site gives one)."""
    return CSRF_INPUT.search(client.get("/fournisseurs/proposer").get_data(as_text=True)).group(1)


def post(client, path: str, data: dict | None = None, **kwargs):
    return client.post(path, data={"csrf_token": csrf(client), **(data or {})}, **kwargs)


def outbox(app, to: str | None = None) -> list[OutboxMessage]:
    with db(app) as s:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if to is not None:
            query = query.where(OutboxMessage.to_address == to)
        return list(s.scalars(query))


def make_project(app, **changes) -> tuple[int, str]:
    """A verified buyer's published project: (buyer id, slug)."""
    with db(app) as s:
        pj.add_buyer_domain(s, "brest-metropole.fr", "Brest métropole", "op", NOW)
        buyer = pj.open_buyer_session(s, pj.buyer_sign_in_token(s, BUYER_EMAIL, now=NOW), NOW)
        project = pj.create_project(s, buyer, {**PROJECT, **changes}, now=NOW)
        pj.publish(s, project, buyer, NOW)
        return buyer.id, project.slug


def buyer_client(app, buyer_id: int, email: str = BUYER_EMAIL):
    client = app.test_client()
    with client.session_transaction() as session:
        session["buyer"] = {"buyer_id": buyer_id, "email": email, "expires": SESSION_EXPIRY}
    return client


def other_buyer(app) -> int:
    with db(app) as s:
        buyer = pj.open_buyer_session(s, pj.buyer_sign_in_token(s, "achats@quimper.fr", now=NOW), NOW)
        return buyer.id


def suppliers_with_domain(app, count: int) -> list[Supplier]:
    with db(app) as s:
        return list(s.scalars(select(Supplier).where(Supplier.website_domain.is_not(None),
                                                     Supplier.status.in_(SEARCHABLE_STATUSES))
                              .order_by(Supplier.id).limit(count)))


def supplier_client(app, supplier: Supplier):
    """A browser holding a verified supplier's editing session (a claim confirmed from the company's domain)."""
    email = f"jeanne@{supplier.website_domain}"
    with db(app) as s:
        start = submissions.start_claim(s, s.get(Supplier, supplier.id), email, now=NOW)
        submissions.confirm_claim(s, start.token, now=NOW)
    client = app.test_client()
    with client.session_transaction() as session:
        session["profile_edit"] = {"supplier_id": supplier.id, "email": email, "expires": SESSION_EXPIRY}
    return client, email


def operator_client(app):
    with db(app) as s:
        create_operator(s, "moderatrice@vivier.test", "une phrase de passe solide")
    client = app.test_client()
    token = CSRF_INPUT.search(client.get("/moderation/connexion").get_data(as_text=True)).group(1)
    response = client.post("/moderation/connexion", data={"csrf_token": token, "email": "moderatrice@vivier.test",
                                                           "password": "une phrase de passe solide"})
    assert response.status_code == 302
    return client


def propose(client, slug: str, text: str = "Capteurs solaires sans pile", files=(), **fields):
    data = {"text": text, "varied_requirement": "Autonomie : recharge solaire au lieu d'une pile",
            "price_band": "de 20 000 à 30 000 € HT", **fields}
    if files:
        data["attachments"] = [(io.BytesIO(content), name) for name, content in files]
    return post(client, f"/projets/{slug}/proposition", data, content_type="multipart/form-data")


def proposal_row(app, supplier_id: int) -> Proposal | None:
    with db(app) as s:
        return s.scalar(select(Proposal).where(Proposal.supplier_id == supplier_id))


def kinds(app, slug: str) -> list[str]:
    with db(app) as s:
        project = s.scalar(select(Project).where(Project.slug == slug))
        return [e.kind for e in pj.events(s, project)]


def page(response) -> str:
    return unescape(response.get_data(as_text=True))


# -- questions and answers --------------------------------------------------------------------------------------
def test_a_question_reaches_the_buyer_and_its_answer_is_published_anonymised_to_every_participant(app):
    buyer_id, slug = make_project(app)
    first, second = suppliers_with_domain(app, 2)
    asker, asker_email = supplier_client(app, first)
    proposer, proposer_email = supplier_client(app, second)
    assert propose(proposer, slug).status_code == 303  # a participant by its proposal

    response = post(asker, f"/projets/{slug}/questions", {"text": "Les colonnes enterrées sont-elles concernées ?"})
    assert response.status_code == 303
    [mail] = outbox(app, BUYER_EMAIL)
    assert "Les colonnes enterrées sont-elles concernées ?" in mail.body and first.name not in mail.body
    public = page(app.test_client().get(f"/projets/{slug}/questions"))
    assert "colonnes enterrées" not in public  # unanswered: not published yet
    assert "colonnes enterrées" in page(asker.get(f"/projets/{slug}/questions"))  # its author sees it pending

    buyer = buyer_client(app, buyer_id)
    assert "Questions en attente de votre réponse" in page(buyer.get(f"/projets/{slug}/questions"))
    with db(app) as s:
        question_id = s.scalar(select(Question.id))
    at(app, NOW + timedelta(days=1))
    response = post(buyer, f"/projets/{slug}/questions/{question_id}/reponse",
                    {"text": "Oui, les 40 colonnes enterrées aussi."})
    assert response.status_code == 303

    public = page(app.test_client().get(f"/projets/{slug}/questions"))
    assert "Les colonnes enterrées sont-elles concernées ?" in public and "les 40 colonnes enterrées" in public
    assert french_datetime(NOW) in public and french_datetime(NOW + timedelta(days=1)) in public
    assert "2 mars 2026 à 10:00" in public  # Paris time
    for secret in (first.name, asker_email, first.website_domain):
        assert secret not in public
    answers = [m for m in outbox(app) if m.subject.startswith("Vivier : réponse publiée")]
    assert sorted(m.to_address for m in answers) == sorted([asker_email, proposer_email])
    assert all("les 40 colonnes enterrées" in m.body and first.name not in m.body for m in answers)
    assert kinds(app, slug)[-3:] == ["proposal_received", "question", "answer"]


def test_the_project_page_includes_the_participation_box(app):
    buyer_id, slug = make_project(app)
    if "projects.detail" not in app.view_functions:
        pytest.skip("the project page is not built yet")
    [supplier] = suppliers_with_domain(app, 1)
    client, _ = supplier_client(app, supplier)
    html = page(client.get(f"/projets/{slug}"))
    assert "Questions et réponses" in html and f'action="/projets/{slug}/questions"' in html
    assert f'href="/projets/{slug}/proposition"' in html
    assert f'href="/projets/{slug}/propositions"' in page(buyer_client(app, buyer_id).get(f"/projets/{slug}"))


def test_a_supplier_in_session_finds_its_alerts_from_the_project_page_and_its_editing_page(app):
    _, slug = make_project(app)
    [supplier] = suppliers_with_domain(app, 1)
    client, _ = supplier_client(app, supplier)
    alerts = f'href="/fournisseurs/{supplier.slug}/alertes"'
    assert alerts in page(client.get(f"/projets/{slug}"))
    assert alerts in page(client.get(f"/fournisseurs/{supplier.slug}/modifier"))
    assert client.get(f"/fournisseurs/{supplier.slug}/alertes").status_code == 200
    # The supplier page's link (its template asks supplier_in_session) is for the company's own session only.
    from search_app.companies.editing import supplier_in_session

    with app.test_request_context():
        assert not supplier_in_session(supplier.id)
    with client.session_transaction() as state:
        assert state["profile_edit"]["supplier_id"] == supplier.id
    with app.test_request_context(), client.session_transaction() as state:
        from flask import session as web_session

        web_session.update(state)
        assert supplier_in_session(supplier.id) and not supplier_in_session(supplier.id + 1)
    # Without a session, the project page says that the company's session also brings the alerts.
    anonymous = page(app.test_client().get(f"/projets/{slug}"))
    assert "/alertes" not in anonymous and "recevoir par courriel les nouveaux projets" in anonymous


def test_consent_labels_agree_with_each_field():
    from search_app.purchasing.participation_forms import ProposalForm, consent_label

    assert consent_label("attachments", "Pièces jointes") == (
        "Pièces jointes : j'accepte que mes pièces jointes figurent dans la synthèse partagée par l'acheteur")
    assert "que l'exigence modifiée figure" in consent_label("varied_requirement", "Exigence modifiée")
    assert "que ma fourchette de prix figure" in consent_label("price_band", "Fourchette de prix")
    assert "que le texte de ma proposition figure" in consent_label("text", "Texte de la proposition")
    labels = [getattr(ProposalForm, f"consent_{name}").args[0] for name in pj.CONSENT_FIELDS]
    assert not any("qu'il figure" in label for label in labels) and len(labels) == len(pj.CONSENT_FIELDS)


def test_questions_need_a_verified_supplier_an_open_project_and_a_csrf_token(app):
    buyer_id, slug = make_project(app)
    [supplier] = suppliers_with_domain(app, 1)
    client, _ = supplier_client(app, supplier)
    assert post(app.test_client(), f"/projets/{slug}/questions", {"text": "Anonyme ?"}).status_code == 403
    assert client.post(f"/projets/{slug}/questions", data={"text": "Sans jeton ?"}).status_code == 400
    assert post(client, f"/projets/{slug}/questions", {"text": ""}).status_code == 400
    at(app, DEADLINE - timedelta(seconds=1))
    assert post(client, f"/projets/{slug}/questions", {"text": "Juste avant ?"}).status_code == 303
    at(app, DEADLINE)
    response = post(client, f"/projets/{slug}/questions", {"text": "Trop tard ?"})
    assert response.status_code == 409 and "Les questions sont closes" in page(response)
    with db(app) as s:
        assert [q.text for q in s.scalars(select(Question))] == ["Juste avant ?"]
        question_id = s.scalar(select(Question.id))
    # Only the project's buyer answers.
    supplier_answer = post(client, f"/projets/{slug}/questions/{question_id}/reponse", {"text": "Moi"})
    assert supplier_answer.status_code == 403
    assert post(buyer_client(app, other_buyer(app), "achats@quimper.fr"),
                f"/projets/{slug}/questions/{question_id}/reponse", {"text": "Moi"}).status_code == 403
    assert buyer_client(app, buyer_id).post(f"/projets/{slug}/questions/{question_id}/reponse",
                                            data={"text": "Sans jeton"}).status_code == 400


# -- proposals: deadline, edits, decisions ----------------------------------------------------------------------
def test_a_proposal_is_edited_until_the_deadline_then_locked_and_decided_after_it(app):
    buyer_id, slug = make_project(app)
    [supplier] = suppliers_with_domain(app, 1)
    client, email = supplier_client(app, supplier)
    form = page(client.get(f"/projets/{slug}/proposition"))
    assert "Autonomie de 5 ans au moins." in form and "Proposer une variante" in form  # the minimum requirements

    assert propose(client, slug, files=[("étude.pdf", PDF)], consent_text="y").status_code == 303
    first = proposal_row(app, supplier.id)
    assert first.consent == {"text": True, "varied_requirement": False, "price_band": False, "attachments": False}
    [receipt] = outbox(app, email)
    assert "scellée" in receipt.body and "1 avril 2026 à 11:00" in receipt.body  # the deadline, Paris time

    at(app, NOW + timedelta(days=2))
    edited = propose(client, slug, text="Capteurs solaires, version 2", files=[("photo.png", PNG)],
                     remove=str(_attachment_ids(app, first.id)[0]))
    assert edited.status_code == 303
    second = proposal_row(app, supplier.id)
    assert (second.id, second.text, second.updated_at) == (first.id, "Capteurs solaires, version 2",
                                                           NOW + timedelta(days=2))
    assert [a.filename for a in _attachments(app, second.id)] == ["photo.png"]

    buyer = buyer_client(app, buyer_id)
    early = post(buyer, f"/projets/{slug}/propositions/{second.id}/decision",
                 {"decision": "retenue", "message": "Bravo"})
    assert early.status_code == 409 and "après la date limite" in page(early)
    assert "Vous rendrez votre décision après la date limite" in page(buyer.get(
        f"/projets/{slug}/propositions/{second.id}"))

    at(app, DEADLINE)
    locked = client.get(f"/projets/{slug}/proposition")
    assert locked.status_code == 200 and "Proposition verrouillée" in page(locked)
    assert "Capteurs solaires, version 2" in page(locked)
    late = propose(client, slug, text="Trop tard")
    assert late.status_code == 409 and proposal_row(app, supplier.id).text == "Capteurs solaires, version 2"

    assert post(buyer, f"/projets/{slug}/propositions/{second.id}/decision",
                {"decision": "inconnue", "message": "?"}).status_code == 400
    assert buyer.post(f"/projets/{slug}/propositions/{second.id}/decision",
                      data={"decision": "retenue", "message": "Sans jeton"}).status_code == 400
    assert post(client, f"/projets/{slug}/propositions/{second.id}/decision",
                {"decision": "retenue", "message": "Par moi-même"}).status_code == 403  # the author is no buyer
    assert proposal_row(app, supplier.id).decision is None
    decided = post(buyer, f"/projets/{slug}/propositions/{second.id}/decision",
                   {"decision": "a-approfondir", "message": "Pouvez-vous présenter un pilote ?"})
    assert decided.status_code == 303
    [mail] = [m for m in outbox(app, email) if m.subject.startswith("Vivier : décision")]
    assert "Décision : À approfondir" in mail.body and "Pouvez-vous présenter un pilote ?" in mail.body
    shown = page(client.get(f"/projets/{slug}/proposition"))
    assert "Décision de l'acheteur : À approfondir" in shown and "Pouvez-vous présenter un pilote ?" in shown
    assert [k for k in kinds(app, slug) if k not in ("created", "published")] == [
        "proposal_received", "proposal_updated", "closed", "decision"]


def _attachments(app, proposal_id: int) -> list[Attachment]:
    with db(app) as s:
        return list(s.scalars(select(Attachment).where(Attachment.proposal_id == proposal_id)
                              .order_by(Attachment.id)))


def _attachment_ids(app, proposal_id: int) -> list[int]:
    return [a.id for a in _attachments(app, proposal_id)]


def test_a_project_without_variants_refuses_proposals(app):
    _, slug = make_project(app, variants_allowed=False)
    [supplier] = suppliers_with_domain(app, 1)
    client, _ = supplier_client(app, supplier)
    assert "n'admet pas de variantes" in page(client.get(f"/projets/{slug}/proposition"))
    response = propose(client, slug)
    assert response.status_code == 409 and proposal_row(app, supplier.id) is None
    assert "/proposition" not in page(client.get(f"/projets/{slug}/questions"))


def test_proposals_need_a_verified_supplier_and_a_csrf_token(app):
    _, slug = make_project(app)
    [supplier] = suppliers_with_domain(app, 1)
    assert app.test_client().get(f"/projets/{slug}/proposition").status_code == 403
    assert propose(app.test_client(), slug).status_code == 403
    client, _ = supplier_client(app, supplier)
    assert client.post(f"/projets/{slug}/proposition", data={"text": "Sans jeton"}).status_code == 400
    assert post(client, f"/projets/{slug}/proposition", {"text": ""}).status_code == 400
    assert proposal_row(app, supplier.id) is None


@pytest.mark.parametrize("name, content, message", [
    ("outil.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" * 8, "Type de fichier refusé"),
    ("page.html", b"<html><script>alert(1)</script></html>", "Type de fichier refusé"),
    ("grand.pdf", b"%PDF-1.4\n" + b"0" * pj.MAX_ATTACHMENT_BYTES, "trop volumineux"),
])
def test_a_refused_attachment_is_a_french_error_and_nothing_is_stored(app, name, content, message):
    _, slug = make_project(app)
    [supplier] = suppliers_with_domain(app, 1)
    client, _ = supplier_client(app, supplier)
    response = propose(client, slug, files=[(name, content), ("bon.pdf", PDF)])
    html = page(response)
    assert response.status_code == 400 and f"Pièce jointe « {name} »" in html and message in html
    assert proposal_row(app, supplier.id) is None
    with db(app) as s:
        assert s.scalar(select(Attachment.id)) is None


# -- sealed proposals: every role -------------------------------------------------------------------------------
def test_a_sealed_proposal_its_files_and_the_list_are_read_by_its_author_and_the_buyer_only(app):
    buyer_id, slug = make_project(app)
    author_supplier, other_supplier = suppliers_with_domain(app, 2)
    author, _ = supplier_client(app, author_supplier)
    assert propose(author, slug, text="Secret industriel XK-42", files=[("plan.pdf", PDF)]).status_code == 303
    proposal = proposal_row(app, author_supplier.id)
    [attachment_id] = _attachment_ids(app, proposal.id)
    detail = f"/projets/{slug}/propositions/{proposal.id}"
    piece = f"{detail}/pieces/{attachment_id}"
    listing = f"/projets/{slug}/propositions"

    roles = {
        "anonyme": app.test_client(),
        "autre fournisseur": supplier_client(app, other_supplier)[0],
        "autre acheteur": buyer_client(app, other_buyer(app), "achats@quimper.fr"),
        "opérateur": operator_client(app),
    }
    for role, client in roles.items():
        for path in (detail, piece):
            response = client.get(path)
            assert response.status_code == 404, (role, path)
            assert "XK-42" not in page(response) and author_supplier.name not in page(response)
        assert client.get(listing).status_code == 403, role
        # A proposal id that does not exist answers the same.
        assert client.get(f"/projets/{slug}/propositions/{proposal.id + 99}").status_code == 404

    buyer = buyer_client(app, buyer_id)
    for client in (author, buyer):
        shown = client.get(detail)
        assert shown.status_code == 200 and "Secret industriel XK-42" in page(shown)
        assert shown.headers["Cache-Control"] == "private, no-store"
        download = client.get(piece)
        assert download.status_code == 200 and download.data == PDF
        assert download.headers["Content-Disposition"].startswith("attachment;")
        assert download.headers["Content-Type"] == "application/pdf"
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.headers["Content-Security-Policy"].startswith("sandbox")
    assert author.get(listing).status_code == 403
    listed = buyer.get(listing)
    assert listed.status_code == 200 and author_supplier.name in page(listed)
    # A file of another proposal is not reachable through this one.
    assert buyer.get(f"{detail}/pieces/{attachment_id + 99}").status_code == 404


# -- the sourcing log and its exports ---------------------------------------------------------------------------
def test_the_log_csv_lists_every_event_in_order_with_actors_and_logs_its_own_export(app):
    buyer_id, slug = make_project(app)
    [supplier] = suppliers_with_domain(app, 1)
    client, email = supplier_client(app, supplier)
    at(app, NOW + timedelta(hours=1))
    post(client, f"/projets/{slug}/questions", {"text": "Quel réseau radio ?"})
    at(app, NOW + timedelta(hours=2))
    propose(client, slug)
    buyer = buyer_client(app, buyer_id)
    with db(app) as s:
        question_id = s.scalar(select(Question.id))
        proposal_id = s.scalar(select(Proposal.id))
    at(app, NOW + timedelta(hours=3))
    post(buyer, f"/projets/{slug}/questions/{question_id}/reponse", {"text": "LoRaWAN."})
    at(app, AFTER)
    post(buyer, f"/projets/{slug}/propositions/{proposal_id}/decision", {"decision": "retenue", "message": "Oui"})

    for role in (app.test_client(), client):
        assert role.get(f"/projets/{slug}/journal.csv").status_code == 403
        assert role.get(f"/projets/{slug}/journal").status_code == 403
        assert role.get(f"/projets/{slug}/synthese").status_code == 403
    response = buyer.get(f"/projets/{slug}/journal.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for the accents
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Date et heure (Europe/Paris)", "Acteur", "Événement", "Détails"]
    buyer_actor, supplier_actor = f"acheteur : {BUYER_EMAIL}", f"fournisseur : {supplier.name} ({email})"
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        ("2026-03-02 10:00:00", buyer_actor, "Création du projet"),
        ("2026-03-02 10:00:00", buyer_actor, "Publication"),
        ("2026-03-02 11:00:00", supplier_actor, "Question reçue"),
        ("2026-03-02 12:00:00", supplier_actor, "Proposition reçue"),
        ("2026-03-02 13:00:00", buyer_actor, "Réponse publiée"),
        ("2026-04-01 11:00:00", "Vivier", "Clôture"),  # at the deadline, summer time
        ("2026-04-01 12:00:00", buyer_actor, "Décision"),
        ("2026-04-01 12:00:00", buyer_actor, "Export"),
    ]
    assert rows[-2][3] == f"décision : Retenue ; proposition n° {proposal_id}"
    assert rows[-1][3] == "format : journal (CSV)"
    assert kinds(app, slug)[-1] == "export"
    journal = page(buyer.get(f"/projets/{slug}/journal"))
    assert "Question reçue" in journal and supplier_actor in journal and "1 avril 2026 à 12:00" in journal


def test_the_summary_marks_what_a_supplier_did_not_consent_to_disclose_and_is_logged(app):
    buyer_id, slug = make_project(app)
    open_supplier, secret_supplier = suppliers_with_domain(app, 2)
    everything = {f"consent_{name}": "y" for name in pj.CONSENT_FIELDS}
    propose(supplier_client(app, open_supplier)[0], slug, text="Texte partageable", files=[("offre.pdf", PDF)],
            **everything)
    propose(supplier_client(app, secret_supplier)[0], slug, text="Texte secret", files=[("secret.pdf", PDF)],
            consent_price_band="y")
    at(app, AFTER)
    response = buyer_client(app, buyer_id).get(f"/projets/{slug}/synthese")
    html = page(response)
    assert response.status_code == 200 and 'media="print"' in html
    assert "Texte partageable" in html and "offre.pdf" in html
    assert "Texte secret" not in html and "secret.pdf" not in html and "Autonomie : recharge solaire" in html
    assert html.count(f">{CONFIDENTIAL}<") == 3  # text, varied requirement, attachments of the second proposal
    assert "de 20 000 à 30 000 € HT" in html
    assert kinds(app, slug)[-1] == "export"


def test_log_details_are_french_words_and_csv_cells_are_never_formulas():
    assert detail_text({"proposal_id": 3, "decision": "non-retenue"}) == (
        "décision : Non retenue ; proposition n° 3")
    assert detail_text({"deadline": "2026-04-01T09:00:00"}) == "date limite : 1 avril 2026 à 11:00"
    body = render_log_csv([LogLine(NOW, "=HYPERLINK(\"x\")", "Question reçue", "")]).decode("utf-8-sig")
    assert "'=HYPERLINK" in body


# -- alerts -----------------------------------------------------------------------------------------------------
def test_a_verified_supplier_creates_lists_and_deletes_its_alerts(app):
    first, second = suppliers_with_domain(app, 2)
    client, email = supplier_client(app, first)
    path = f"/fournisseurs/{first.slug}/alertes"
    assert app.test_client().get(path).status_code == 403
    assert supplier_client(app, second)[0].get(path).status_code == 403
    assert post(client, path, {}).status_code == 400  # nothing chosen
    assert post(client, path, {"departments": "29, banane"}).status_code == 400
    response = post(client, path, {"categories": ["waste"], "departments": "29, 2a", "query": "capteurs verre"})
    assert response.status_code == 303
    with db(app) as s:
        [subscription] = s.scalars(select(Subscription))
        assert (subscription.email, subscription.categories, subscription.departments, subscription.query) == (
            email, ["waste"], ["29", "2A"], "capteurs verre")
    listed = page(client.get(path))
    assert "capteurs verre" in listed and "29, 2A" in listed
    assert client.post(f"{path}/{subscription.id}/supprimer").status_code == 400  # no CSRF token
    assert post(supplier_client(app, second)[0], f"/fournisseurs/{second.slug}/alertes/{subscription.id}/supprimer"
                ).status_code == 404
    assert post(client, f"{path}/{subscription.id}/supprimer").status_code == 303
    with db(app) as s:
        assert s.scalar(select(Subscription.id)) is None


def test_a_draft_is_not_shown_to_anybody_but_its_buyer(app):
    with db(app) as s:
        pj.add_buyer_domain(s, "brest-metropole.fr", "Brest métropole", "op", NOW)
        buyer = pj.open_buyer_session(s, pj.buyer_sign_in_token(s, BUYER_EMAIL, now=NOW), NOW)
        project = pj.create_project(s, buyer, PROJECT, now=NOW)
        buyer_id, slug = buyer.id, project.slug
    assert app.test_client().get(f"/projets/{slug}/questions").status_code == 404
    assert buyer_client(app, buyer_id).get(f"/projets/{slug}/questions").status_code == 200
    with db(app) as s:
        assert s.get(Buyer, buyer_id).verified


def test_a_received_proposal_stays_with_the_project_when_its_supplier_is_deleted(app):
    """The supplier asks for its profile's deletion and an operator approves: the buyer still reads the proposal it
    received (the log says it was received), under the company's name, marked as withdrawn from Vivier."""
    buyer_id, slug = make_project(app)
    [supplier] = suppliers_with_domain(app, 1)
    author, email = supplier_client(app, supplier)
    assert propose(author, slug, text="Capteurs solaires XK-42").status_code == 303
    proposal_id = proposal_row(app, supplier.id).id
    with db(app) as s:
        deletion = submissions.request_deletion(s, s.get(Supplier, supplier.id), email)
        assert submissions.received_proposals(s, s.get(Supplier, supplier.id)) == 1
        submissions.approve(s, deletion, "op")
    with db(app) as s:
        assert s.get(Supplier, supplier.id) is None
        kept = s.get(Proposal, proposal_id)
        assert kept is not None and kept.supplier_id is None and kept.supplier_name == supplier.name
    buyer = buyer_client(app, buyer_id)
    response = buyer.get(f"/projets/{slug}/propositions/{proposal_id}")
    assert response.status_code == 200
    html = page(response)
    assert "Capteurs solaires XK-42" in html and supplier.name in html and "retiré sa fiche" in html
    assert supplier.name in page(buyer.get(f"/projets/{slug}/propositions"))
    assert "proposal_received" in kinds(app, slug)
