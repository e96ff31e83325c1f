"""Supplier, central, shortlist, statistics and project pages on a 390 px phone and a 1280 px screen (issue 21):
no page wider than the window, wide tables scrolling inside their own focusable region, the central's comparison
table reachable to its last column, the project timeline's text legible, and « Ajouter à la sélection » on a
supplier page.

These pages need a purchasing central and a published project, which the shared live server's database has not:
this module serves its own copy of the crawled fixture database (module-scoped), where it adds them.
"""

from __future__ import annotations

import shutil
import threading
from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from search_app import PERMISSIONS_POLICY
from tests.browser.conftest import ACTION_TIMEOUT_MS, screenshot_path
from tests.conftest import make_settings

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
CENTRAL = "Centrale numérique du Nord-Est"


def test_permissions_policy_names_only_features_browsers_know():
    """Chromium logged « Unrecognized feature: 'bluetooth' » on every page."""
    assert "bluetooth" not in PERMISSIONS_POLICY
    assert "camera=()" in PERMISSIONS_POLICY and "geolocation=()" in PERMISSIONS_POLICY


@pytest.fixture(scope="module")
def world(tmp_path_factory, indexed_settings, encoder):
    """A private copy of the indexed fixture directory with a central referencing three offers side by side and a
    published project with milestones, served on loopback. Yields (base URL, names of what it added)."""
    from werkzeug.serving import make_server

    from search_app import create_app
    from tests.test_projects_web import action, buyer_client, create
    from vivier import centrals
    from vivier.models import Supplier

    data_dir = tmp_path_factory.mktemp("mobile") / "data"
    shutil.copytree(indexed_settings.data_dir, data_dir, ignore=shutil.ignore_patterns("httpcache", "crawls"))
    settings = make_settings(data_dir).with_overrides(form_rate_limit="1000 per minute")
    app = create_app(settings=settings, encoder=encoder)
    client = buyer_client(app)  # freezes the app clock on 2 March 2026
    project_slug = create(client)
    assert action(client, project_slug, "publier").status_code == 303
    database = app.extensions["vivier"]["database"]
    with database.session() as s:
        suppliers = list(s.scalars(select(Supplier).where(Supplier.contact_email.is_not(None))
                                   .order_by(Supplier.id).limit(3)))
        assert len(suppliers) == 3
        central = centrals.save_central(s, name=CENTRAL, kind="centrale", members="Les communes membres.",
                                        departments=["08", "55"], ordering="Mise en service sous 20 jours.")
        for index, supplier in enumerate(suppliers):
            centrals.add_referencing(
                s, central, supplier, theme="waste", lot="Lot 1 : collecte et suivi des déchets",
                contract_type="accord-cadre multi-attributaires", start_date=date(2025, 1, 1),
                end_date=date(2028, 12, 31), eligible_departments=["55"],
                conditions="Interopérabilité exigée avec le logiciel de facturation de la collectivité.",
                offer={"name": f"Offre {index + 1}", "price_band": "200 € HT par mois",
                       "equipment": "Capteurs de remplissage", "scope": "Collecte des bacs et des colonnes",
                       "tiers": {"basic": "Une benne", "medium": "Dix bennes", "complex": "Toute la déchetterie"},
                       "interoperability": {"standards": ["GeoJSON"], "api": "REST", "data_export": "CSV"}})
        names = {"central": central.slug, "project": project_slug, "supplier": suppliers[0].slug,
                 "supplier_name": suppliers[0].name, "email": suppliers[0].contact_email}
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="mobile-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", names
    server.shutdown()
    thread.join(timeout=10)


def open_page(request, browser, base_url: str, viewport: dict):
    context = browser.new_context(base_url=base_url, locale="fr-FR", viewport=viewport, accept_downloads=True)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    page.js_errors = []
    page.console_messages = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    page.on("console", lambda message: page.console_messages.append(message.text))
    request.addfinalizer(context.close)
    return page


def save(request, page, step: str) -> None:
    path = screenshot_path(request.node.name, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def paths(names: dict) -> dict[str, str]:
    return {"fournisseur": f"/fournisseurs/{names['supplier']}", "centrale": f"/centrales/{names['central']}",
            "centrales": "/centrales", "selection": f"/selection?ids={names['supplier']}",
            "statistiques": "/statistiques", "projet": f"/projets/{names['project']}"}


@pytest.mark.parametrize("name", ["fournisseur", "centrale", "centrales", "selection", "statistiques", "projet"])
def test_no_page_is_wider_than_a_390_px_phone(request, browser, world, name):
    base_url, names = world
    page = open_page(request, browser, base_url, PHONE)
    page.goto(paths(names)[name])
    page.wait_for_load_state("load")
    save(request, page, "390")
    assert page_width(page) <= PHONE["width"], f"{name} is {page_width(page)} px wide"
    # A table that does not fit scrolls inside its own region, which a keyboard reaches and a screen reader names.
    for table in page.locator("main table").all():
        if table.evaluate("t => t.getBoundingClientRect().width") > PHONE["width"]:
            region = table.locator("xpath=ancestor::div[contains(@class, 'table-scroll')][1]")
            assert region.count() == 1, f"a wide table of {name} has no scrolling region"
            assert region.get_attribute("tabindex") == "0" and region.get_attribute("role") == "region"
            assert region.get_attribute("aria-labelledby") or region.get_attribute("aria-label")
    assert page.js_errors == []
    assert not [m for m in page.console_messages if "Unrecognized feature" in m]


def test_project_timeline_text_stays_legible_at_390_px(request, browser, world):
    base_url, names = world
    page = open_page(request, browser, base_url, PHONE)
    page.goto(paths(names)["projet"])
    timeline = page.locator("svg.timeline")
    expect(timeline).to_be_visible()
    timeline.scroll_into_view_if_needed()
    save(request, page, "timeline")
    # The rendered height of a line of text, in CSS pixels: its font size times the picture's scale.
    sizes = page.evaluate("""() => [...document.querySelectorAll('svg.timeline text')].map(t => {
        const svg = t.ownerSVGElement;
        const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        return parseFloat(getComputedStyle(t).fontSize) * scale; })""")
    assert len(sizes) == 4 and min(sizes) >= 12, sizes
    # Every label inside the picture: nothing cut at its right edge.
    overflow = page.evaluate("""() => { const svg = document.querySelector('svg.timeline');
        const box = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text')].map(t => t.getBoundingClientRect().right - box.right); }""")
    assert max(overflow) <= 1, overflow


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_every_column_of_the_central_comparison_is_reachable(request, browser, world, viewport):
    base_url, names = world
    page = open_page(request, browser, base_url, viewport)
    page.goto(paths(names)["centrale"])
    table = page.locator("table.comparison").first
    last = table.locator("thead th").last
    expect(last).to_have_text("Conditions")
    region = table.locator("xpath=ancestor::div[contains(@class, 'table-scroll')][1]")
    assert region.get_attribute("tabindex") == "0" and region.get_attribute("role") == "region"
    assert page_width(page) <= viewport["width"]
    fits = region.evaluate("r => r.scrollWidth <= r.clientWidth + 1")
    if viewport is DESKTOP:  # issue 21: cut from « Interopérabilité » on at 1280 px; every column shows now
        widths = ("r => [r.scrollWidth, r.clientWidth, [...r.querySelectorAll('thead th')]"
                  ".map(t => Math.round(t.getBoundingClientRect().width)).join(' ')]")
        assert fits, region.evaluate(widths)
        expect(last).to_be_in_viewport()
    else:
        assert not fits and page.locator(".table-hint").first.is_visible()
    # A keyboard user scrolls the focused region to its end; the last header is then inside the window.
    region.focus()
    page.keyboard.press("End")
    region.evaluate("r => { r.scrollLeft = r.scrollWidth; }")
    box = last.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1, box
    last.scroll_into_view_if_needed()
    expect(last).to_be_in_viewport()
    save(request, page, "last-column")


def test_a_supplier_page_adds_the_supplier_to_the_shortlist(request, browser, world):
    base_url, names = world
    page = open_page(request, browser, base_url, PHONE)
    page.goto(paths(names)["fournisseur"])
    button = page.get_by_role("button", name="Ajouter à la sélection")
    expect(button).to_be_visible()
    button.click()
    expect(page.get_by_role("button", name="Retirer de la sélection")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#shortlist-count")).to_have_text("1")
    save(request, page, "added")
    page.locator("#shortlist-link").click()
    expect(page.locator(".shortlist-item h3")).to_have_text(names["supplier_name"])
    assert page_width(page) <= PHONE["width"]
    save(request, page, "shortlist")
    with page.expect_download() as download:
        page.locator("a[data-export='csv']").click()
    body = download.value.path().read_bytes().decode("utf-8-sig")
    header = body.splitlines()[0].split(";")
    assert "Courriel" in header and "Téléphone" in header and names["email"] in body
    assert page.js_errors == []
