"""A buyer publishes a purchase project, a verified supplier proposes a variant, the buyer decides after the
deadline: in two browsers (the buyer's and the supplier's), against a private copy of the fixture database. The
app's clock is moved past the deadline between the proposal and the decision."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import ACTION_TIMEOUT_MS, VIEWPORT, screenshot_path

pytestmark = pytest.mark.browser

BUYER = "achats@brest-metropole.fr"
LINK = re.compile(r"https?://\S+")


@pytest.fixture()
def world(private_settings, encoder):
    """The app on a private database, the allow-listed buyer domain, and a supplier with a verified claim."""
    from werkzeug.serving import make_server

    from search_app import create_app
    from vivier import projects, submissions
    from vivier.models import Supplier, utcnow

    app = create_app(settings=private_settings.with_overrides(form_rate_limit="1000 per minute"), encoder=encoder)
    database = app.extensions["vivier"]["database"]
    with database.session() as session:
        projects.add_buyer_domain(session, "brest-metropole.fr", "Brest métropole", "op@vivier.test")
        supplier = next(s for s in session.scalars(select(Supplier).where(Supplier.website_domain.is_not(None))
                                                   .order_by(Supplier.id)) if "waste" in s.categories)
        email = f"contact@{supplier.website_domain}"
        submissions.confirm_claim(session, submissions.start_claim(session, supplier, email).token)
        edit_token = submissions.edit_link_token(session, supplier, email)
        session.commit()
        name = supplier.name
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-project-server", daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "app": app, "supplier": name,
           "supplier_email": email, "edit_token": edit_token, "now": utcnow}
    server.shutdown()
    thread.join(timeout=10)


def new_page(browser, world):
    context = browser.new_context(base_url=world["url"], locale="fr-FR", viewport=VIEWPORT)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    return context.new_page()


def shot(page, step: str) -> None:
    path = screenshot_path("test_publish_propose_decide", step)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def last_mail(world, to: str):
    from vivier.models import OutboxMessage

    with world["app"].extensions["vivier"]["database"].session() as session:
        return session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == to)
                               .order_by(OutboxMessage.id.desc()).limit(1)).one()


def sign_in(page, world) -> None:
    page.goto("/acheteurs/connexion")
    page.get_by_label("Votre adresse électronique professionnelle").fill(BUYER)
    page.get_by_role("button", name="Recevoir un lien de connexion").click()
    page.goto(LINK.search(last_mail(world, BUYER).body).group())


def test_publish_propose_decide(browser, world):
    buyer = new_page(browser, world)
    buyer.goto("/")
    buyer.get_by_role("link", name="Projets d'achat").first.click()
    sign_in(buyer, world)
    buyer.get_by_role("link", name="Préparer un nouveau projet").click()

    deadline = world["now"]() + timedelta(days=20)
    buyer.get_by_label("Titre du projet").fill("Capteurs de remplissage des colonnes à verre")
    buyer.get_by_label("Besoin").fill("Mesurer le remplissage des colonnes à verre pour adapter les tournées.")
    buyer.get_by_label("Les variantes sont admises").check()
    buyer.get_by_label("Exigences minimales des variantes").fill("Autonomie de cinq ans au moins.")
    buyer.get_by_label("Modèle de contrat envisagé").select_option(label="Marché public")
    buyer.get_by_label("Territoire : départements").fill("29")
    buyer.get_by_label("Collecte des déchets").check()
    buyer.get_by_label("Date limite de réponse").fill(deadline.strftime("%Y-%m-%d"))
    buyer.get_by_role("button", name="Enregistrer le brouillon").click()
    buyer.get_by_role("button", name="Publier").click()
    expect(buyer.locator("main")).to_contain_text("Autonomie de cinq ans")
    expect(buyer.locator("ol.matches li").first).to_be_visible()  # the engine's best-matching suppliers
    shot(buyer, "published")
    project_path = buyer.url.split(world["url"], 1)[1]

    supplier = new_page(browser, world)
    supplier.goto(f"/acces/{world['edit_token']}")  # the verified supplier's private link
    supplier.goto(project_path)
    supplier.get_by_role("link", name="Proposer une variante").click()
    supplier.get_by_label("Votre proposition").fill("Capteurs à ultrasons alimentés par une cellule solaire.")
    supplier.get_by_label("Exigence que votre variante modifie").fill("Autonomie : illimitée grâce au solaire.")
    supplier.get_by_role("button", name="Déposer ma proposition").click()
    expect(supplier.locator("main")).to_contain_text("solaire")
    shot(supplier, "proposed")

    # Sealed: another visitor cannot see it, even knowing the buyer's page.
    stranger = new_page(browser, world)
    stranger.goto(project_path)
    expect(stranger.locator("main")).not_to_contain_text("ultrasons")

    # The next day after the deadline: the buyer's session of the day has expired, a new link signs it in.
    world["app"].extensions["vivier"]["clock"] = lambda: deadline + timedelta(days=1)
    sign_in(buyer, world)
    buyer.goto(project_path)
    buyer.get_by_role("link", name="Propositions reçues (1)").click()
    buyer.get_by_role("link", name=world["supplier"]).click()
    expect(buyer.locator("main")).to_contain_text("ultrasons")
    buyer.get_by_label("Décision").select_option(label="À approfondir")
    buyer.get_by_label("Message au fournisseur").fill("Pouvez-vous détailler l'entretien des cellules ?")
    buyer.get_by_role("button", name="Enregistrer et envoyer au fournisseur").click()
    shot(buyer, "decided")
    assert "entretien des cellules" in last_mail(world, world["supplier_email"]).body
    expect(buyer.locator("main")).to_contain_text("À approfondir")

    decision_mail = last_mail(world, world["supplier_email"])
    assert "À approfondir" in decision_mail.body or "approfondir" in decision_mail.body
