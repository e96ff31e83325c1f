"""The moderation back-office through the Flask test client, on a private copy of the crawled and indexed fixture
database: sign-in, authorization, CSRF, and what each decision does to the database, the outbox and the search."""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from search_app.jobs import run_pending, update_search_index
from search_app.backoffice.moderation import LOGIN_ERROR, LOGIN_RATE_LIMIT, safe_next
from vivier import submissions as sub
from vivier.jobs import INDEX_UPDATE_JOB
from vivier_cli.main import main
from vivier.models import (CLAIM_BY_OPERATOR, CLAIM_PENDING, CLAIM_REJECTED, CLAIM_VERIFIED, REVIEW_APPROVED,
                           REVIEW_PENDING, REVIEW_REJECTED, STATUS_CRAWLED, STATUS_HIDDEN, STATUS_VERIFIED, Claim,
                           OutboxMessage, Submission, Supplier, Suppression)
from vivier.operators import create_operator, find_operator

OPERATOR = "moderatrice@vivier.test"
PASSWORD = "une phrase de passe solide"
COMPANY = "contact@zorglubia.fr"
# A crawled fixture supplier (annuaire directory) with a SIREN, a website and a town.
CRAWLED_SLUG = "kapteo"
# Words no fixture profile uses: a search for them finds only what a test put there.
NEW_PROFILE = {"name": "Zorglubia Mobilité", "pitch": "Navettes autonomes zorglubiennes pour les bourgs ruraux",
               "description": "Transport à la demande.", "postcode": "29200", "commune": "Brest",
               "website": "https://www.zorglubia.fr", "categories": ["mobility"]}
NEW_PITCH = "Capteurs quadriphoniques de ronflement des chaudières communales"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


# -- helpers ----------------------------------------------------------------------------------------------------
def database(app):
    return app.extensions["vivier"]["database"]


def csrf_token(client, path: str = "/moderation/connexion") -> str:
    page = client.get(path)
    match = CSRF_FIELD.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client, email: str = OPERATOR, password: str = PASSWORD, next_path: str | None = None):
    token = csrf_token(client)
    path = "/moderation/connexion" + (f"?next={next_path}" if next_path else "")
    return client.post(path, data={"csrf_token": token, "email": email, "password": password})


def post(client, path: str, data: dict | None = None, page: str = "/moderation/"):
    """A form submission with the CSRF token a page of the back-office gave."""
    return client.post(path, data={"csrf_token": csrf_token(client, page), **(data or {})})


def searched(client, text: str) -> str:
    """The public search page for `text`, by keywords (a dense retrieval returns some neighbour for anything)."""
    return client.get("/", query_string={"q": text, "mode": "keyword"}).get_data(as_text=True)


def outbox(app, to: str) -> list[OutboxMessage]:
    with database(app).session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.to_address == to)
                              .order_by(OutboxMessage.id)))


def crawled_supplier(app, slug: str = CRAWLED_SLUG) -> Supplier:
    with database(app).session() as s:
        return s.scalar(select(Supplier).where(Supplier.slug == slug))


def submit_new(app, data=NEW_PROFILE, email: str = COMPANY, now: datetime | None = None) -> int:
    with database(app).session() as s:
        return sub.submit_new(s, data, email, now=now).id


def submit_update(app, changes: dict, email: str = "jeanne@kapteo.fr", slug: str = CRAWLED_SLUG) -> int:
    with database(app).session() as s:
        supplier = s.scalar(select(Supplier).where(Supplier.slug == slug))
        return sub.submit_update(s, supplier, {"name": supplier.name, **changes}, email).id


def submission(app, submission_id: int) -> Submission:
    with database(app).session() as s:
        return s.get(Submission, submission_id)


@pytest.fixture
def staffed_app(private_app):
    """The private app with one operator account."""
    with database(private_app).session() as s:
        create_operator(s, OPERATOR, PASSWORD)
    return private_app


@pytest.fixture
def operator(staffed_app):
    """A test client signed in as the operator."""
    client = staffed_app.test_client()
    assert sign_in(client).status_code == 302
    return client


# -- sign-in and authorization ----------------------------------------------------------------------------------
PROTECTED_PAGES = ["/moderation/", "/moderation/soumissions/1", "/moderation/revendications/1",
                   "/moderation/fournisseurs", f"/moderation/fournisseurs/{CRAWLED_SLUG}"]


@pytest.mark.parametrize("path", PROTECTED_PAGES)
def test_every_back_office_page_requires_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/moderation/connexion?next=")


def test_login_page_is_in_french_private_and_not_indexed(client):
    response = client.get("/moderation/connexion")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<label for="email">Adresse électronique</label>' in page and 'autocomplete="current-password"' in page
    assert '<meta name="robots" content="noindex, nofollow">' in page
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_wrong_password_an_unknown_address_and_a_disabled_account_get_the_same_answer(staffed_app):
    client = staffed_app.test_client()
    with database(staffed_app).session() as s:
        create_operator(s, "ancien@vivier.test", PASSWORD)
    CliRunner().invoke(main, ["operator", "disable", "ancien@vivier.test"],
                       env={"VIVIER_DATA_DIR": str(staffed_app.extensions["vivier"]["settings"].data_dir),
                            "DATABASE_URL": None}, catch_exceptions=False)
    answers = [sign_in(client, password="pas le bon mot de passe"), sign_in(client, email="inconnu@vivier.test"),
               sign_in(client, email="ancien@vivier.test")]
    for answer in answers:
        assert answer.status_code == 200
        assert LOGIN_ERROR in answer.get_data(as_text=True)
    assert client.get("/moderation/").status_code == 302  # still signed out
    with database(staffed_app).session() as s:
        assert find_operator(s, OPERATOR).last_login_at is None


def test_an_empty_sign_in_form_gets_french_field_errors(staffed_app):
    client = staffed_app.test_client()
    response = client.post("/moderation/connexion", data={"csrf_token": csrf_token(client), "email": "",
                                                          "password": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Indiquez votre adresse électronique." in page and "Indiquez votre mot de passe." in page
    assert 'aria-invalid="true"' in page


def test_signing_in_opens_the_queue_or_the_page_asked_for_then_signing_out_closes_it(staffed_app):
    client = staffed_app.test_client()
    response = sign_in(client, email=OPERATOR.upper(), next_path="/moderation/fournisseurs")
    assert response.status_code == 302 and response.headers["Location"] == "/moderation/fournisseurs"
    assert client.get("/moderation/").status_code == 200
    with database(staffed_app).session() as s:
        assert find_operator(s, OPERATOR).last_login_at is not None
    assert post(client, "/moderation/deconnexion").status_code == 302
    assert client.get("/moderation/").status_code == 302


def test_after_sign_in_only_back_office_pages_one_may_open_are_followed(private_app):
    with private_app.test_request_context():
        assert safe_next("/moderation/fournisseurs?q=kap") == "/moderation/fournisseurs?q=kap"
        for target in ("https://evil.example/moderation/", "//evil.example/moderation/", "/fournisseurs/kapteo",
                       "/moderation/soumissions/1/approuver", "/moderation/nulle-part", None):
            assert safe_next(target) == "/moderation/"


def test_sign_in_attempts_are_rate_limited(staffed_app):
    client = staffed_app.test_client()
    allowed = int(LOGIN_RATE_LIMIT.split()[0])
    for _ in range(allowed):
        assert sign_in(client, password="devinette numéro x").status_code == 200
    assert sign_in(client).status_code == 429  # even the right password, once over the limit
    assert client.get("/moderation/connexion").status_code == 200  # the page itself stays readable


def test_a_disabled_operator_loses_an_open_session(operator, staffed_app):
    assert operator.get("/moderation/").status_code == 200
    result = CliRunner().invoke(main, ["operator", "disable", OPERATOR],
                                env={"VIVIER_DATA_DIR": str(staffed_app.extensions["vivier"]["settings"].data_dir),
                                     "DATABASE_URL": None})
    assert result.exit_code == 0, result.output
    assert operator.get("/moderation/").status_code == 302


def test_a_post_without_sign_in_changes_nothing(staffed_app):
    submission_id = submit_new(staffed_app)
    client = staffed_app.test_client()
    actions = (f"/moderation/soumissions/{submission_id}/approuver", f"/moderation/soumissions/{submission_id}/refuser",
               f"/moderation/fournisseurs/{CRAWLED_SLUG}/masquer")
    for path in actions:
        response = post(client, path, {"reason": "non"}, page="/moderation/connexion")
        assert response.status_code == 302 and response.headers["Location"].startswith("/moderation/connexion")
    assert submission(staffed_app, submission_id).status == REVIEW_PENDING
    assert crawled_supplier(staffed_app).status == STATUS_CRAWLED
    assert outbox(staffed_app, COMPANY) == []


def test_an_approval_without_csrf_token_is_refused_and_changes_nothing(operator, staffed_app):
    submission_id = submit_new(staffed_app)
    response = operator.post(f"/moderation/soumissions/{submission_id}/approuver")
    assert response.status_code == 400
    assert "Formulaire expiré" in response.get_data(as_text=True)
    response = operator.post(f"/moderation/soumissions/{submission_id}/approuver", data={"csrf_token": "faux"})
    assert response.status_code == 400
    assert submission(staffed_app, submission_id).status == REVIEW_PENDING
    assert outbox(staffed_app, COMPANY) == []


def test_unknown_ids_are_not_found(operator):
    assert operator.get("/moderation/soumissions/999999").status_code == 404
    assert operator.get("/moderation/revendications/999999").status_code == 404
    assert operator.get("/moderation/fournisseurs/nobody-here").status_code == 404
    assert post(operator, "/moderation/soumissions/999999/approuver").status_code == 404


# -- the queue --------------------------------------------------------------------------------------------------
def test_the_queue_lists_pending_requests_oldest_first_with_counts(operator, staffed_app):
    later = submit_new(staffed_app, {**NEW_PROFILE, "name": "Plus Récente"}, now=datetime(2020, 1, 2))
    earlier = submit_new(staffed_app, {**NEW_PROFILE, "name": "Plus Ancienne"}, now=datetime(2020, 1, 1))
    update = submit_update(staffed_app, {"pitch": NEW_PITCH})
    with database(staffed_app).session() as s:
        supplier = s.scalar(select(Supplier).where(Supplier.slug == CRAWLED_SLUG))
        claim = sub.start_claim(s, supplier, "jeanne@gmail.com", "Je suis la gérante.").claim
        domain_claim = sub.start_claim(s, supplier, "paul@kapteo.fr").claim  # verified by its link, not here
        decided = sub.submit_new(s, {**NEW_PROFILE, "name": "Déjà Refusée"}, COMPANY)
        sub.reject(s, decided, "autre@vivier.test", "hors sujet")
    assert claim.method == CLAIM_BY_OPERATOR
    page = operator.get("/moderation/").get_data(as_text=True)
    assert "2 nouvelles fiches, 1 modification, 0 demande de suppression, 1 revendication à vérifier" in page
    pending = page.split('id="revendications"')[0]
    assert pending.index("Plus Ancienne") < pending.index("Plus Récente") < pending.index("Kapteo")
    for submission_id in (earlier, later, update):
        assert f'href="/moderation/soumissions/{submission_id}"' in pending
    assert f'href="/moderation/revendications/{claim.id}"' in page
    assert f'href="/moderation/revendications/{domain_claim.id}"' not in page
    assert "Déjà Refusée" not in pending  # decided: listed under the latest decisions only
    assert "refusée par autre@vivier.test" in page


def run_worker(app) -> None:
    """What the background worker does next: every due job (the index update among them) runs, and succeeds."""
    runs = run_pending(app)
    assert INDEX_UPDATE_JOB in {run.kind for run in runs} and all(run.ok for run in runs), runs


# -- decisions on submissions -----------------------------------------------------------------------------------
def test_a_new_profile_is_searchable_only_once_approved(operator, staffed_app, caplog):
    caplog.set_level(logging.INFO, logger=staffed_app.logger.name)
    submission_id = submit_new(staffed_app)
    assert update_search_index(staffed_app)  # an index update before approval must not publish it
    assert "Zorglubia" not in searched(operator, "zorglubiennes")
    page = operator.get(f"/moderation/soumissions/{submission_id}").get_data(as_text=True)
    assert "Navettes autonomes zorglubiennes" in page and "Approuver et publier" in page
    fields = page.split("Fiche proposée")[1].split("</table>")[0]  # in the profile's order, region derived
    assert fields.index(">Nom<") < fields.index(">Accroche<") < fields.index(">Commune<") < fields.index(">Région<")
    assert "Fournisseurs à l'activité proche" in page  # what the search finds close to it

    # The request only writes rows (the decision, the outbox, an index-update job): with no worker running it
    # answers at once (a re-index of the live generation took 3.2-3.7 s in the request before), and the profile
    # appears in search once the worker has run. Timed once the app is warm (templates compiled by a first
    # approval of another profile), as a moderator's second decision is.
    warm_up = submit_new(staffed_app, {**NEW_PROFILE, "name": "Échauffement Numérique", "siren": None,
                                       "website": None}, email="autre@exemple.fr")
    assert post(operator, f"/moderation/soumissions/{warm_up}/approuver").status_code == 302
    started = time.perf_counter()
    response = post(operator, f"/moderation/soumissions/{submission_id}/approuver")
    elapsed = time.perf_counter() - started
    assert response.status_code == 302 and response.headers["Location"] == "/moderation/"
    assert elapsed < 0.3, f"the approval took {elapsed:.3f} s"
    assert "approuvée" in operator.get("/moderation/").get_data(as_text=True)  # the flashed confirmation
    assert 'href="/fournisseurs/zorglubia-mobilite"' not in searched(operator, "zorglubiennes")
    run_worker(staffed_app)
    assert 'href="/fournisseurs/zorglubia-mobilite"' in searched(operator, "zorglubiennes")
    decided = submission(staffed_app, submission_id)
    assert (decided.status, decided.decided_by) == (REVIEW_APPROVED, OPERATOR)
    assert f"moderation: {OPERATOR} approved submission {submission_id} (new)" in caplog.text
    supplier = crawled_supplier(staffed_app, "zorglubia-mobilite")
    assert supplier.status == STATUS_VERIFIED
    [mail] = outbox(staffed_app, COMPANY)
    assert "publiée" in mail.subject
    assert "http://localhost/fournisseurs/zorglubia-mobilite" in mail.body
    assert "/fournisseurs/zorglubia-mobilite/modifier/lien" in mail.body  # where to ask for an editing link


def test_a_decision_is_taken_once(operator, staffed_app):
    submission_id = submit_new(staffed_app)
    post(operator, f"/moderation/soumissions/{submission_id}/approuver")
    again = post(operator, f"/moderation/soumissions/{submission_id}/approuver")
    assert again.headers["Location"] == f"/moderation/soumissions/{submission_id}"
    page = operator.get(again.headers["Location"]).get_data(as_text=True)
    assert "déjà été traitée" in page and "Approuver et publier" not in page
    refused = post(operator, f"/moderation/soumissions/{submission_id}/refuser", {"reason": "trop tard"})
    assert refused.status_code == 302
    assert submission(staffed_app, submission_id).status == REVIEW_APPROVED
    assert len(outbox(staffed_app, COMPANY)) == 1


def test_a_new_profile_that_matches_a_listed_supplier_says_so(operator, staffed_app):
    kapteo = crawled_supplier(staffed_app)
    submission_id = submit_new(staffed_app, {**NEW_PROFILE, "siren": kapteo.siren})
    page = operator.get(f"/moderation/soumissions/{submission_id}").get_data(as_text=True)
    assert "l'approbation rattachera cette proposition à la fiche existante" in page
    assert f'href="/moderation/fournisseurs/{CRAWLED_SLUG}"' in page and "même SIREN" in page


def test_an_update_shows_its_diff_and_once_approved_the_search_shows_the_new_pitch(operator, staffed_app):
    before = crawled_supplier(staffed_app)
    submission_id = submit_update(staffed_app, {"pitch": NEW_PITCH})
    page = operator.get(f"/moderation/soumissions/{submission_id}").get_data(as_text=True)
    diff = page.split("Modifications demandées")[1].split("</table>")[0]
    assert "Accroche" in diff and f"<del>{before.pitch}</del>" in diff and f"<ins>{NEW_PITCH}</ins>" in diff
    assert "Nom" not in diff  # the name is submitted unchanged: not a change
    assert "Origine des informations" in page and "annuaire" in page  # provenance of the current profile
    assert 'href="/moderation/fournisseurs/kapteo"' in page
    assert 'href="/fournisseurs/kapteo"' not in searched(operator, "ronflement quadriphoniques")

    assert post(operator, f"/moderation/soumissions/{submission_id}/approuver").status_code == 302
    run_worker(staffed_app)
    assert 'href="/fournisseurs/kapteo"' in searched(operator, "ronflement quadriphoniques")
    assert NEW_PITCH in operator.get("/fournisseurs/kapteo").get_data(as_text=True)
    assert crawled_supplier(staffed_app).status == STATUS_VERIFIED
    assert submission(staffed_app, submission_id).changes["pitch"] == [before.pitch, NEW_PITCH]
    [mail] = outbox(staffed_app, "jeanne@kapteo.fr")
    assert "modifications sont en ligne" in mail.subject

    # The next request for this supplier shows the approved one in its history, with what it changed.
    second = submit_update(staffed_app, {"pitch": "Autre accroche"})
    page = operator.get(f"/moderation/soumissions/{second}").get_data(as_text=True)
    history = page.split("Historique des demandes")[1]
    assert f"n° {submission_id} — Modification" in history and f"approuvée par {OPERATOR}" in history
    assert "Accroche" in history


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_refusal_without_reason_gets_a_french_form_error_and_changes_nothing(operator, staffed_app, reason):
    submission_id = submit_update(staffed_app, {"pitch": NEW_PITCH})
    response = post(operator, f"/moderation/soumissions/{submission_id}/refuser", {"reason": reason})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Indiquez le motif du refus : il est envoyé à l&#39;entreprise." in page
    assert 'aria-invalid="true"' in page and 'aria-describedby="reason-erreur"' in page
    assert submission(staffed_app, submission_id).status == REVIEW_PENDING
    assert outbox(staffed_app, "jeanne@kapteo.fr") == []


def test_a_refusal_sends_its_reason_and_leaves_the_profile_as_it_was(operator, staffed_app):
    submission_id = submit_update(staffed_app, {"pitch": NEW_PITCH})
    reason = "Accroche publicitaire : décrivez ce que fait la solution."
    response = post(operator, f"/moderation/soumissions/{submission_id}/refuser", {"reason": f"  {reason}\n"})
    assert response.status_code == 302
    decided = submission(staffed_app, submission_id)
    assert (decided.status, decided.reason, decided.decided_by) == (REVIEW_REJECTED, reason, OPERATOR)
    assert crawled_supplier(staffed_app).pitch != NEW_PITCH
    [mail] = outbox(staffed_app, "jeanne@kapteo.fr")
    assert "n'a pas été acceptée" in mail.subject and reason in mail.body


# -- hiding and removal -----------------------------------------------------------------------------------------
def test_hiding_a_profile_takes_it_out_of_search_once_the_worker_has_run(operator, staffed_app):
    assert 'href="/fournisseurs/kapteo"' in searched(operator, "Kapteo")
    page = operator.get(f"/moderation/fournisseurs/{CRAWLED_SLUG}").get_data(as_text=True)
    assert "Origine des informations" in page and "Masquer la fiche" in page
    response = post(operator, f"/moderation/fournisseurs/{CRAWLED_SLUG}/masquer")
    assert response.status_code == 302
    assert crawled_supplier(staffed_app).status == STATUS_HIDDEN
    assert operator.get("/fournisseurs/kapteo").status_code == 404  # its page at once
    run_worker(staffed_app)
    assert 'href="/fournisseurs/kapteo"' not in searched(operator, "Kapteo")
    assert operator.get("/fournisseurs/kapteo").status_code == 404
    page = operator.get(f"/moderation/fournisseurs/{CRAWLED_SLUG}").get_data(as_text=True)
    assert "absente de la recherche" in page and "Masquer la fiche" not in page


def test_the_supplier_lookup_finds_hidden_profiles_too(operator, staffed_app):
    post(operator, f"/moderation/fournisseurs/{CRAWLED_SLUG}/masquer")
    page = operator.get("/moderation/fournisseurs", query_string={"q": "KAPT"}).get_data(as_text=True)
    assert 'href="/moderation/fournisseurs/kapteo"' in page and "masquée" in page
    assert "Aucune fiche" in operator.get("/moderation/fournisseurs", query_string={"q": "%_"}).get_data(as_text=True)


def test_an_approved_deletion_removes_the_supplier_and_keeps_crawls_from_bringing_it_back(operator, staffed_app):
    kapteo = crawled_supplier(staffed_app)
    with database(staffed_app).session() as s:
        # As the public page does, without its re-indexing: approval must not leave the profile in the index.
        submission_id = sub.request_deletion(s, s.get(Supplier, kapteo.id), "jeanne@kapteo.fr", "Nous fermons.").id
    page = operator.get(f"/moderation/soumissions/{submission_id}").get_data(as_text=True)
    assert "Nous fermons." in page and "Approuver et supprimer la fiche" in page

    assert post(operator, f"/moderation/soumissions/{submission_id}/approuver").status_code == 302
    assert crawled_supplier(staffed_app) is None
    run_worker(staffed_app)
    assert 'href="/fournisseurs/kapteo"' not in searched(operator, "Kapteo")
    with database(staffed_app).session() as s:
        assert s.scalar(select(Suppression).where(Suppression.siren == kapteo.siren)) is not None
        assert sub.is_suppressed(s, {"name": "Kapteo", "siren": kapteo.siren})
        assert sub.is_suppressed(s, {"name": "KAPTEO", "commune": kapteo.commune})
        assert s.get(Submission, submission_id).status == REVIEW_APPROVED
    [mail] = outbox(staffed_app, "jeanne@kapteo.fr")
    assert "supprimée" in mail.subject and "Kapteo" in mail.body
    # The history stays readable without its supplier.
    assert "Kapteo" in operator.get(f"/moderation/soumissions/{submission_id}").get_data(as_text=True)


def test_a_refused_deletion_shows_the_profile_again(operator, staffed_app):
    with database(staffed_app).session() as s:
        supplier = s.scalar(select(Supplier).where(Supplier.slug == CRAWLED_SLUG))
        submission_id = sub.request_deletion(s, supplier, "inconnu@gmail.com").id
    assert update_search_index(staffed_app)
    assert 'href="/fournisseurs/kapteo"' not in searched(operator, "Kapteo")
    response = post(operator, f"/moderation/soumissions/{submission_id}/refuser",
                    {"reason": "Cette adresse ne représente pas l'entreprise."})
    assert response.status_code == 302
    assert crawled_supplier(staffed_app).status == STATUS_CRAWLED
    run_worker(staffed_app)
    assert 'href="/fournisseurs/kapteo"' in searched(operator, "Kapteo")
    [mail] = outbox(staffed_app, "inconnu@gmail.com")
    assert "ne représente pas" in mail.body


# -- claims -----------------------------------------------------------------------------------------------------
def start_claim(app, email: str) -> int:
    with database(app).session() as s:
        supplier = s.scalar(select(Supplier).where(Supplier.slug == CRAWLED_SLUG))
        return sub.start_claim(s, supplier, email, "Je suis la gérante de Kapteo.").claim.id


def claim_row(app, claim_id: int) -> Claim:
    with database(app).session() as s:
        return s.get(Claim, claim_id)


def test_an_accepted_claim_lets_the_address_ask_for_editing_links(operator, staffed_app):
    claim_id = start_claim(staffed_app, "jeanne.kapteo@gmail.com")
    page = operator.get(f"/moderation/revendications/{claim_id}").get_data(as_text=True)
    assert "Je suis la gérante de Kapteo." in page and "domaine gmail.com" in page and "kapteo.fr" in page
    assert claim_row(staffed_app, claim_id).status == CLAIM_PENDING
    assert post(operator, f"/moderation/revendications/{claim_id}/accepter").status_code == 302
    claim = claim_row(staffed_app, claim_id)
    assert (claim.status, claim.decided_by) == (CLAIM_VERIFIED, OPERATOR) and claim.verified_at is not None
    with database(staffed_app).session() as s:
        assert sub.may_edit(s, claim.supplier_id, "jeanne.kapteo@gmail.com")
    [mail] = outbox(staffed_app, "jeanne.kapteo@gmail.com")
    assert "http://localhost/fournisseurs/kapteo/modifier/lien" in mail.body
    assert f'href="/moderation/revendications/{claim_id}"' not in operator.get("/moderation/").get_data(as_text=True)


def test_a_refused_claim_gives_no_right_and_says_why(operator, staffed_app):
    claim_id = start_claim(staffed_app, "jeanne.kapteo@gmail.com")
    response = post(operator, f"/moderation/revendications/{claim_id}/refuser",
                    {"reason": "Écrivez-nous depuis une adresse kapteo.fr."})
    assert response.status_code == 302
    claim = claim_row(staffed_app, claim_id)
    assert (claim.status, claim.decided_by) == (CLAIM_REJECTED, OPERATOR)
    with database(staffed_app).session() as s:
        assert not sub.may_edit(s, claim.supplier_id, "jeanne.kapteo@gmail.com")
    [mail] = outbox(staffed_app, "jeanne.kapteo@gmail.com")
    assert "Écrivez-nous depuis une adresse kapteo.fr." in mail.body and "modifier/lien" not in mail.body
    # Decided once: a later acceptance is refused and sends nothing.
    assert post(operator, f"/moderation/revendications/{claim_id}/accepter").status_code == 302
    assert claim_row(staffed_app, claim_id).status == CLAIM_REJECTED
    assert len(outbox(staffed_app, "jeanne.kapteo@gmail.com")) == 1


def test_a_claim_refusal_reason_too_long_is_a_form_error(operator, staffed_app):
    claim_id = start_claim(staffed_app, "jeanne.kapteo@gmail.com")
    response = post(operator, f"/moderation/revendications/{claim_id}/refuser", {"reason": "x" * 2001})
    assert response.status_code == 400
    assert "Le motif dépasse 2000 caractères." in response.get_data(as_text=True)
    assert claim_row(staffed_app, claim_id).status == CLAIM_PENDING
    assert outbox(staffed_app, "jeanne.kapteo@gmail.com") == []


def test_claim_decisions_require_sign_in_and_a_csrf_token(operator, staffed_app):
    claim_id = start_claim(staffed_app, "jeanne.kapteo@gmail.com")
    assert operator.post(f"/moderation/revendications/{claim_id}/accepter").status_code == 400
    anonymous = staffed_app.test_client()
    response = post(anonymous, f"/moderation/revendications/{claim_id}/accepter", page="/moderation/connexion")
    assert response.status_code == 302 and response.headers["Location"].startswith("/moderation/connexion")
    assert claim_row(staffed_app, claim_id).status == CLAIM_PENDING
