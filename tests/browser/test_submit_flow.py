"""A company proposes its profile, an operator approves it in the back-office, a buyer then finds it: in the
browser, against a private copy of the fixture database and index (the shared live server is left untouched)."""

from __future__ import annotations

import re
import time
import threading

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ACTION_TIMEOUT_MS, VIEWPORT, screenshot_path

pytestmark = pytest.mark.browser

OPERATOR = ("moderation@vivier.test", "un mot de passe assez long")
# A need no fixture company answers in these words.
QUERY = "télérelève des compteurs d'eau"


@pytest.fixture()
def private_server(private_settings, encoder):
    from werkzeug.serving import make_server

    from search_app import create_app
    from search_app.jobs import start_thread
    from vivier.db import Database
    from vivier.operators import create_operator

    database = Database(private_settings)
    with database.session() as session:
        create_operator(session, *OPERATOR)
        session.commit()
    database.dispose()
    app = create_app(settings=private_settings.with_overrides(form_rate_limit="1000 per minute"), encoder=encoder)
    stop_worker = start_thread(app)  # the background worker, as `vivier serve` runs it
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-private-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    stop_worker.set()
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture()
def private_page(browser, private_server):
    context = browser.new_context(base_url=private_server, locale="fr-FR", viewport=VIEWPORT)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def shot(page, step: str) -> None:
    path = screenshot_path("test_a_proposed_profile_is_found_once_approved", step)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def result_names(page) -> list[str]:
    return page.locator("ol.hits li.hit h3 a").all_inner_texts()


def test_a_proposed_profile_is_found_once_approved(private_page):
    page = private_page
    page.goto("/")
    page.get_by_role("link", name="Référencer mon entreprise").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("fiche")

    page.get_by_label("Nom de l'entreprise").fill("Hydrovigie")
    page.get_by_label("Accroche").fill("Télérelève des compteurs d'eau par radio LoRaWAN")
    page.get_by_label("Présentation").fill("Nos capteurs relèvent chaque nuit les compteurs d'eau des abonnés et "
                                           "signalent les fuites au service des eaux.")
    page.get_by_label("Adresse électronique de contact").fill("contact@hydrovigie.fr")
    page.get_by_label("Code postal").fill("35000")
    page.get_by_label("Commune").fill("Rennes")
    page.get_by_label("Réseaux IoT et LoRa").check()
    shot(page, "form")
    page.get_by_role("button", name="Envoyer ma proposition").click()
    expect(page.locator("main")).to_contain_text("vérification")

    page.goto(f"/?q={QUERY}")  # not public before moderation
    expect(page.locator("main h1")).to_be_visible()
    assert "Hydrovigie" not in result_names(page)

    page.goto("/moderation/")
    page.get_by_label("Adresse électronique").fill(OPERATOR[0])
    page.get_by_label("Mot de passe").fill(OPERATOR[1])
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("link", name=re.compile(r"Examiner la demande n° \d+")).first.click()
    expect(page.locator("main")).to_contain_text("Hydrovigie")
    shot(page, "moderation")
    page.get_by_role("button", name="Approuver et publier").click()
    expect(page.locator("main")).to_contain_text("approuvée")

    # The approval only queued the index update: the background worker applies it within a few seconds.
    deadline = time.monotonic() + 30
    while True:
        page.goto(f"/?q={QUERY}")
        if "Hydrovigie" in result_names(page) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(300)
    expect(page.locator("ol.hits").first).to_contain_text("Hydrovigie")  # among the strong matches
    assert "Hydrovigie" in result_names(page)[:3]  # with Hydroradio, whose pitch is the query word for word
    shot(page, "found")
    page.get_by_role("link", name="Hydrovigie").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hydrovigie")
