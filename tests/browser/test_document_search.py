"""The search box with long needs, in a browser: a pasted specification searched by POST, Enter to search, and a
document uploaded with the facets chosen on the page (search_app/static/search-box.js)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.test_documents_upload import SPECIFICATION
from tests.test_textfiles import make_pdf

pytestmark = pytest.mark.browser

LONG_NEED = "\n\n".join(p for page in SPECIFICATION for p in page)
SCHOOL_CATEGORY = "school-services"


def hit_names(page) -> list[str]:
    return [name.strip() for name in page.locator("li.hit h3 a").all_inner_texts()]


def test_a_pasted_specification_is_searched_by_post_without_a_long_url(page, screenshot):
    page.goto("/")
    page.evaluate("window.__sameDocument = true")
    with page.expect_request(lambda r: r.url.endswith("/recherche/document") and r.method == "POST") as posted:
        page.locator("#q").fill(LONG_NEED)
    assert "q=" in posted.value.post_data and "q=" not in posted.value.url
    expect(page.locator("#results-title")).to_contain_text("« Ville de Saint-Aubin-des-Prés")
    assert "Cantine Facile" in hit_names(page)[:3]
    assert page.evaluate("window.__sameDocument === true"), "the results came with a full page load"
    assert "/recherche/document" not in page.url and len(page.url) < 100  # no POST address in the history
    box_height = page.locator("#q").bounding_box()["height"]
    assert box_height > 100, "the box did not grow with the pasted text"
    assert page.js_errors == []
    screenshot()


def test_enter_searches_and_shift_enter_starts_a_new_line(page):
    page.goto("/")
    box = page.locator("#q")
    box.click()
    box.press_sequentially("inscription cantine")
    box.press("Shift+Enter")
    box.press_sequentially("scolaire")
    assert box.input_value() == "inscription cantine\nscolaire"
    with page.expect_request(lambda r: "/?q=" in r.url and r.method == "GET"):
        box.press("Enter")
    assert box.input_value() == "inscription cantine\nscolaire"
    expect(page.locator("#results-title")).to_contain_text("inscription cantine scolaire")


def test_an_uploaded_document_keeps_the_facets_chosen_on_the_page(page, tmp_path, screenshot):
    page.goto("/?q=cantine")
    page.locator(f"#f-category-{SCHOOL_CATEGORY}").check()  # an htmx update: the page is not drawn again
    page.wait_for_url(re.compile(f"category={SCHOOL_CATEGORY}"))
    pdf = tmp_path / "cahier-des-charges.pdf"
    pdf.write_bytes(make_pdf(SPECIFICATION))

    page.locator("summary", has_text="Chercher à partir d'un cahier des charges").click()
    page.get_by_label("Cahier des charges ou description du besoin").set_input_files(str(pdf))
    page.get_by_role("button", name="Trouver des fournisseurs pour ce document").click()

    expect(page.locator(".document-source")).to_contain_text(
        "Recherche à partir du document « cahier-des-charges.pdf »")
    expect(page.locator(f"#f-category-{SCHOOL_CATEGORY}")).to_be_checked()
    assert page.locator("#q").input_value().startswith("Ville de Saint-Aubin-des-Prés")
    assert "Cantine Facile" in hit_names(page)[:3]
    screenshot()

    # Refining the document's long text: a facet goes by POST too, and the results follow.
    with page.expect_request(lambda r: r.url.endswith("/recherche/document") and r.method == "POST"):
        page.locator(f"#f-category-{SCHOOL_CATEGORY}").uncheck()
    expect(page.locator(f"#f-category-{SCHOOL_CATEGORY}")).not_to_be_checked()
    assert page.js_errors == []
