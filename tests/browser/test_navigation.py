"""The way back to one's own pages (issue 21), on a wide screen and on a phone: a signed-in buyer finds « Mes
projets » in the header and « Publiez un projet » opens the project form; an unverified buyer reads why « Publier »
is not available before clicking; a supplier in its editing session finds its alerts page. Against a private copy
of the fixture database; a screenshot of each key step under test-artifacts/screenshots/."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import ACTION_TIMEOUT_MS, screenshot_path

pytestmark = pytest.mark.browser

VERIFIED = "achats@brest-metropole.fr"  # on the allow-listed domain: verified at its first sign-in
UNVERIFIED = "marie.achat@gmail.com"  # on no allow-listed domain: an operator has not verified it yet
LINK = re.compile(r"https?://\S+")
WIDTHS = {"wide": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture()
def world(private_settings, encoder):
    """The app on a private database with the allow-listed buyer domain, an unverified buyer's draft and a supplier
    with a verified claim."""
    from werkzeug.serving import make_server

    from search_app import create_app
    from vivier import projects
    from vivier.models import Buyer, Supplier, utcnow

    app = create_app(settings=private_settings.with_overrides(form_rate_limit="1000 per minute"), encoder=encoder)
    database = app.extensions["vivier"]["database"]
    with database.session() as session:
        projects.add_buyer_domain(session, "brest-metropole.fr", "Brest métropole", "op@vivier.test")
        projects.buyer_sign_in_token(session, UNVERIFIED, "Mairie de Plouzané", utcnow())
        buyer = session.scalar(select(Buyer).where(Buyer.email == UNVERIFIED))
        draft = projects.create_project(session, buyer, {
            "title": "Bornes de recharge des véhicules municipaux", "need": "Équiper trois parkings de bornes.",
            "contract_model": "marche-public", "categories": ["mobility"], "departments": ["29"],
            "deadline": utcnow() + timedelta(days=30)}, now=utcnow())
        supplier = session.scalars(select(Supplier).where(Supplier.website_domain.is_not(None))
                                   .order_by(Supplier.id)).first()
        session.commit()
        found = {"draft": draft.slug, "supplier_id": supplier.id, "supplier_slug": supplier.slug,
                 "supplier": supplier.name, "supplier_email": f"contact@{supplier.website_domain}"}
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-navigation-server", daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "app": app, **found}
    server.shutdown()
    thread.join(timeout=10)


def new_page(browser, world, width: str):
    context = browser.new_context(base_url=world["url"], locale="fr-FR", viewport=WIDTHS[width])
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    return page


def shot(page, test: str, width: str, step: str) -> None:
    path = screenshot_path(f"{test}-{width}", step)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def sign_in(page, world, email: str) -> None:
    """Ask for a link on the sign-in page, then follow the link the e-mail carries."""
    from vivier.models import OutboxMessage

    page.goto("/acheteurs/connexion")
    page.get_by_label("Votre adresse électronique professionnelle").fill(email)
    page.get_by_role("button", name="Recevoir un lien de connexion").click()
    expect(page.locator("main")).to_contain_text("Lien de connexion envoyé")
    with world["app"].extensions["vivier"]["database"].session() as session:
        mail = session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == email)
                               .order_by(OutboxMessage.id.desc()).limit(1)).one()
    page.goto(LINK.search(mail.body).group())


def header_link(page, name: str):
    return page.get_by_role("navigation", name="Outils").get_by_role("link", name=name, exact=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_signed_in_buyer_finds_its_projects_and_the_project_form(browser, world, width):
    page = new_page(browser, world, width)
    page.goto("/projets")
    expect(header_link(page, "Mes projets")).to_have_count(0)  # nobody signed in yet
    sign_in(page, world, VERIFIED)
    page.goto("/")
    link = header_link(page, "Mes projets")
    expect(link).to_be_visible()
    shot(page, "buyer-header", width, "header")
    link.click()
    expect(page).to_have_url(re.compile(r"/acheteurs/projets$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes projets d'achat")

    page.goto("/projets")
    publish = page.get_by_role("link", name="Publiez un projet.")
    expect(publish).to_be_visible()
    publish.click()
    expect(page).to_have_url(re.compile(r"/projets/nouveau$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Nouveau projet d'achat")
    expect(page.get_by_label("Titre du projet")).to_be_visible()
    shot(page, "buyer-header", width, "form")
    assert page.js_errors == []


@pytest.mark.parametrize("width", WIDTHS)
def test_an_unverified_buyer_reads_why_it_cannot_publish_yet(browser, world, width):
    page = new_page(browser, world, width)
    sign_in(page, world, UNVERIFIED)
    page.goto(f"/projets/{world['draft']}")
    reason = page.locator("#publication-impossible")
    expect(reason).to_be_visible()
    expect(reason).to_contain_text("Publication impossible pour l'instant")
    expect(reason).to_contain_text("pas encore vérifiée")
    publish = page.get_by_role("button", name="Publier")
    expect(publish).to_be_disabled()
    expect(publish).to_have_accessible_description(re.compile("Publication impossible"))
    # The owner's actions sit on one row: the « Modifier » link and the button share their top and height.
    edit = page.locator(".project-actions").get_by_role("link", name="Modifier")
    edit_box, publish_box = edit.bounding_box(), publish.bounding_box()
    assert abs(edit_box["y"] - publish_box["y"]) < 2 and abs(edit_box["height"] - publish_box["height"]) < 2
    publish.scroll_into_view_if_needed()
    shot(page, "unverified-buyer", width, "project")
    assert page.js_errors == []


@pytest.mark.parametrize("width", WIDTHS)
def test_a_supplier_in_its_editing_session_finds_its_alerts(browser, world, width):
    from vivier import submissions
    from vivier.models import Supplier

    with world["app"].extensions["vivier"]["database"].session() as session:
        supplier = session.get(Supplier, world["supplier_id"])
        claim = submissions.start_claim(session, supplier, world["supplier_email"])
        submissions.confirm_claim(session, claim.token)
        token = submissions.edit_link_token(session, supplier, world["supplier_email"])
        session.commit()
    page = new_page(browser, world, width)
    page.goto(f"/acces/{token}")  # the private link opens the editing session on the editing page
    expect(page).to_have_url(re.compile(rf"/fournisseurs/{world['supplier_slug']}/modifier$"))
    alerts = page.get_by_role("link", name="Alertes sur les projets d'achat")
    expect(alerts).to_be_visible()
    shot(page, "supplier-alerts", width, "editing")
    alerts.click()
    expect(page).to_have_url(re.compile(rf"/fournisseurs/{world['supplier_slug']}/alertes$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Alertes sur les nouveaux projets d'achat")
    shot(page, "supplier-alerts", width, "alerts")
    assert page.js_errors == []


@pytest.mark.parametrize("width", WIDTHS)
def test_an_approved_edit_of_the_pitch_and_phone_keeps_the_company_where_it_is(browser, world, width):
    """Issue 21, item 8: the form re-sends every pre-filled field; only what the company changed becomes its
    values, so its precise map point stays put instead of moving to the commune's centre."""
    from vivier import communes, submissions
    from vivier.models import REVIEW_PENDING, Submission, Supplier

    database = world["app"].extensions["vivier"]["database"]
    with database.session() as session:
        # A company its sources place precisely: away from its commune's centre, where the old approval moved it.
        supplier = next(s for s in session.scalars(select(Supplier).where(
            Supplier.website_domain.is_not(None), Supplier.latitude.is_not(None), Supplier.insee_code.is_not(None))
            .order_by(Supplier.id))
            if abs(communes.centroid_for(s.insee_code)[0] - s.latitude) > 1e-3)
        supplier_id, slug, email = supplier.id, supplier.slug, f"contact@{supplier.website_domain}"
        before = (supplier.latitude, supplier.longitude, supplier.address, supplier.commune)
        claim = submissions.start_claim(session, supplier, email)
        submissions.confirm_claim(session, claim.token)
        token = submissions.edit_link_token(session, supplier, email)
        session.commit()
    page = new_page(browser, world, width)
    page.goto(f"/acces/{token}")
    pitch = f"Accroche revue pour l'écran de {width}"
    page.get_by_label("Accroche").fill(pitch)
    page.get_by_label("Téléphone").fill("02 98 00 00 00")
    page.get_by_role("button", name="Envoyer mes modifications").click()
    expect(page.locator("main")).to_contain_text("modifications")
    shot(page, "edit-keeps-place", width, "sent")

    with database.session() as session:  # an operator approves it (the back-office's flow is tested elsewhere)
        pending = session.scalars(select(Submission).where(Submission.supplier_id == supplier_id,
                                                           Submission.status == REVIEW_PENDING)).one()
        assert set(pending.data) >= {"pitch", "contact_phone"} and "commune" not in pending.data
        submissions.approve(session, pending, "operatrice@vivier.test")
        session.commit()
    with database.session() as session:
        supplier = session.get(Supplier, supplier_id)
        assert (supplier.latitude, supplier.longitude, supplier.address, supplier.commune) == before
        assert supplier.pitch == pitch
    page.goto(f"/fournisseurs/{slug}")
    expect(page.locator("main")).to_contain_text(pitch)
    expect(page.locator("figcaption", has_text="Position")).to_contain_text(before[3])
    shot(page, "edit-keeps-place", width, "public")
    assert page.js_errors == []
