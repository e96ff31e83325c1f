"""A buyer who found nothing asks, from the results page, to be e-mailed when a supplier matches; then confirms the
alert from the mailed link. In the browser at a desktop and a phone width, against a private copy of the fixture
database (the shared live server is left untouched)."""

from __future__ import annotations

import re
import threading
from urllib.parse import urlencode, urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import ACTION_TIMEOUT_MS, screenshot_path

pytestmark = pytest.mark.browser

NEED = "accordeur de piano pour l'école de musique"
ADDRESS = "acheteuse@ville-exemple.fr"
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture()
def alert_server(private_settings, encoder):
    from werkzeug.serving import make_server

    from search_app import create_app

    app = create_app(settings=private_settings.with_overrides(form_rate_limit="1000 per minute"), encoder=encoder)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-alerts-server", daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def shot(page, name: str, step: str, full_page: bool = True) -> None:
    path = screenshot_path(f"test_subscribe_to_a_search_from_its_results-{name}", step)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)


@pytest.mark.parametrize("name", WIDTHS)
def test_subscribe_to_a_search_from_its_results(browser, alert_server, name):
    from vivier.models import OutboxMessage, SearchAlert

    app, base = alert_server
    context = browser.new_context(base_url=base, locale="fr-FR", viewport=WIDTHS[name])
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto("/?" + urlencode({"q": NEED}))
        box = page.locator(".search-alert")
        expect(box).to_contain_text("Recevoir un e-mail quand un fournisseur correspond à cette recherche")
        expect(box.get_by_role("link", name="Flux Atom")).to_have_attribute("href", re.compile(r"/recherche\.atom\?q="))
        box.scroll_into_view_if_needed()
        shot(page, name, "results", full_page=False)  # the box in view (the whole list is long)
        # The box fits the window: no sideways scrolling on a phone.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

        box.get_by_role("link", name="Créer une alerte par e-mail").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Recevoir un e-mail")
        expect(page.locator(".alert-search")).to_contain_text(NEED)
        page.get_by_label("Votre adresse électronique").fill(ADDRESS)
        shot(page, name, "form")
        page.get_by_role("button", name="Créer l'alerte").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre messagerie")
        expect(page.locator("p.alert-sent[role=status]")).to_contain_text("Un e-mail vient d'être envoyé")
        shot(page, name, "sent")

        database = app.extensions["vivier"]["database"]
        with database.session() as s:
            alert = s.scalar(select(SearchAlert).where(SearchAlert.email == ADDRESS))
            assert alert is not None and alert.query == NEED and alert.confirmed_at is None
            mail = s.scalar(select(OutboxMessage).where(OutboxMessage.to_address == ADDRESS))
            link = re.search(r"https?://\S+/recherche/alertes/confirmer/\S+", mail.body).group(0)
        page.goto(urlsplit(link).path)
        page.get_by_role("button", name="Activer l'alerte").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Alerte activée")
        shot(page, name, "confirmed")
        with database.session() as s:
            assert s.scalar(select(SearchAlert.confirmed_at).where(SearchAlert.email == ADDRESS)) is not None
        assert errors == []
    except Exception:
        shot(page, name, "failed")
        raise
    finally:
        context.close()
