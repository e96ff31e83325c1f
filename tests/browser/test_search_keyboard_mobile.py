"""The search page by keyboard and on a phone (issue 21), at 1280 px and 390 px: commune suggestions and homonyms,
page turns that move the focus to the results, the skip link to the results, the filters' disclosure, no
horizontal scrolling, the first result near the top; and the focus on a form's error summary.

The index is built from the annuaire fixture directory crawled on loopback (tests/conftest.py).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
WIDTHS = [pytest.param(DESKTOP, id="1280"), pytest.param(PHONE, id="390")]
QUERY = "cantine"
# Tab presses from the top of the page to the first result: the two skip links, Enter, one Tab.
HANDFUL = 5


@pytest.fixture(params=WIDTHS)
def viewport(request, page):
    page.set_viewport_size(request.param)
    return request.param


def query_args(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def show_filters(page) -> None:
    """Open the « Filtres » disclosure when it is closed (on a phone)."""
    details = page.locator("details[data-fold=filters]")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    expect(details).to_have_attribute("open", "")


def no_wider_than_the_window(page, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"the page is {scroll_width} px wide in a {width} px window"


def test_a_commune_suggestion_gives_one_commune_parameter_and_a_resolved_place(page, viewport, screenshot):
    page.goto(f"/?q={QUERY}&commune=Sant-Nazer")
    # The notice is above the results, seen even on a phone, where the filters are folded.
    notice = page.locator(".commune-notice", has_text="Commune « Sant-Nazer » introuvable")
    expect(notice).to_be_visible()
    links = notice.get_by_role("link")
    assert links.first.inner_text() == "Saint-Nazaire (44)"  # before Saint-Paër (76): closer, and more populous
    screenshot("suggested")
    links.first.click()

    page.wait_for_url(re.compile(r"commune=Saint-Nazaire"))
    args = query_args(page)
    assert args["commune"] == ["Saint-Nazaire (44)"] and args["q"] == [QUERY] and args["rayon"] == ["50"]
    show_filters(page)
    expect(page.locator(".near .hint")).to_have_text(
        "Fournisseurs situés à 50 km au plus de Saint-Nazaire (44).")
    expect(page.locator(".commune-notice")).to_have_count(0)
    expect(page.locator("#commune")).to_have_value("Saint-Nazaire (44)")
    assert page.js_errors == []
    screenshot()


def test_an_ambiguous_name_offers_each_commune_and_filters_nothing(page, viewport, screenshot):
    page.goto(f"/?q={QUERY}&commune=Saint-Denis")
    notice = page.locator(".commune-notice", has_text="Plusieurs communes portent ce nom :")
    expect(notice).to_be_visible()
    names = notice.get_by_role("link").all_inner_texts()
    assert names[:2] == ["Saint-Denis (974)", "Saint-Denis (93)"] and len(names) == 4
    expect(page.locator("li.hit").first).to_be_visible()  # the search ran, without a distance filter
    expect(page.locator("li.hit .distance")).to_have_count(0)
    screenshot("asked")

    notice.get_by_role("link", name="Saint-Denis (93)").click()
    page.wait_for_url(re.compile(r"commune=Saint-Denis"))
    assert query_args(page)["commune"] == ["Saint-Denis (93)"]
    show_filters(page)
    expect(page.locator(".near .hint")).to_contain_text("au plus de Saint-Denis (93)")
    screenshot()


def test_a_page_turn_focuses_the_results_heading_in_view(page, viewport, screenshot):
    page.goto("/")  # every supplier: several pages
    page.evaluate("window.__vivierSameDocument = true")
    next_link = page.locator(".pagination a[rel=next]")
    next_link.scroll_into_view_if_needed()
    next_link.click()

    page.wait_for_url(re.compile(r"page=2"))
    heading = page.locator("#results-title")
    expect(heading).to_be_focused()
    expect(heading).to_be_in_viewport()
    assert page.evaluate("window.__vivierSameDocument === true"), "the page turn reloaded the page"
    assert page.evaluate("document.getElementById('results-title').getBoundingClientRect().top") < 100
    expect(page.locator(".pagination span")).to_contain_text("Page 2 sur")
    screenshot()


def test_a_page_past_the_last_shows_the_last(page, viewport):
    page.goto("/")
    last = int(re.search(r"sur (\d+)", page.locator(".pagination span").inner_text()).group(1))
    page.goto("/?page=999")
    expect(page.locator(".pagination span")).to_have_text(f"Page {last} sur {last}")
    expect(page.locator("li.hit").first).to_be_visible()


def test_the_first_result_is_a_handful_of_tabs_away_through_the_skip_link(page, viewport, screenshot):
    page.goto(f"/?q={QUERY}")
    first_result = page.locator("li.hit h3 a").first
    page.keyboard.press("Tab")
    expect(page.locator("a.skip-link")).to_be_focused()
    presses = 1
    page.keyboard.press("Tab")
    presses += 1
    skip = page.get_by_role("link", name="Aller aux résultats")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    screenshot("skip-link")
    page.keyboard.press("Enter")
    expect(page.locator("#liste-resultats")).to_be_focused()
    while not page.evaluate("el => el === document.activeElement", first_result.element_handle()):
        page.keyboard.press("Tab")
        presses += 1
        assert presses <= HANDFUL, f"the first result is not reached after {HANDFUL} Tab presses"
    expect(first_result).to_be_in_viewport()
    screenshot()


def test_results_come_before_the_filters_in_the_focus_order(page, viewport):
    page.goto(f"/?q={QUERY}")
    show_filters(page)
    order = page.evaluate("""() => {
      const first = document.querySelector('li.hit h3 a'), facet = document.querySelector('aside.facets input');
      return first.compareDocumentPosition(facet) & Node.DOCUMENT_POSITION_FOLLOWING;
    }""")
    assert order, "a facet comes before the first result in the document"
    if viewport["width"] >= 1000:  # the filters stay on the left of the results on a wide screen
        filters = page.locator("details[data-fold=filters]").bounding_box()
        results = page.locator("section.results").bounding_box()
        assert filters["x"] + filters["width"] <= results["x"] and abs(filters["y"] - results["y"]) < 40


def test_the_filters_are_folded_on_a_phone_and_open_on_a_wide_screen(page, viewport, screenshot):
    page.goto(f"/?q={QUERY}")
    details = page.locator("details[data-fold=filters]")
    phone = viewport["width"] < 800
    if phone:
        expect(details).not_to_have_attribute("open", "")
        expect(page.locator("#f-category-school-services")).to_be_hidden()
        details.locator("summary").click()  # opened by the buyer: it stays open when a facet redraws the results
        page.locator("#f-category-school-services").check()
        page.wait_for_url(re.compile(r"category=school-services"))
        expect(page.locator("details[data-fold=filters]")).to_have_attribute("open", "")
        expect(page.locator("details[data-fold=filters] summary")).to_contain_text("(1 actif)")
    else:
        expect(details).to_have_attribute("open", "")
        expect(page.locator("#f-category-school-services")).to_be_visible()
    assert page.js_errors == []
    screenshot()


def test_the_page_fits_the_window_and_the_first_result_is_near_the_top(page, viewport, screenshot):
    for path in (f"/?q={QUERY}", "/", f"/?q={QUERY}&commune=Saint-Denis", f"/?q={QUERY}&commune=Laval&rayon=100"):
        page.goto(path)
        no_wider_than_the_window(page, viewport["width"])
        top = page.evaluate("document.querySelector('li.hit').getBoundingClientRect().top + window.scrollY")
        assert top <= 1.5 * viewport["height"], f"{path}: the first result is {top:.0f} px down"
    page.goto(f"/?q={QUERY}")
    box = page.locator("#q").bounding_box()
    button = page.locator("#search-form .searchbox-row button[type=submit]").bounding_box()
    if viewport["width"] < 800:  # stacked: the box takes the whole width, the button goes below it
        assert box["width"] >= viewport["width"] - 60 and button["y"] >= box["y"] + box["height"]
    else:
        assert abs(button["y"] - box["y"]) < 10 and button["x"] > box["x"] + box["width"]
    header = page.locator("header.site-header").bounding_box()
    assert header["height"] <= (260 if viewport["width"] < 800 else 160), header
    screenshot()
    show_filters(page)
    no_wider_than_the_window(page, viewport["width"])
    screenshot("filters-open")


def test_a_form_with_errors_focuses_its_error_summary(page, viewport, screenshot):
    page.goto("/fournisseurs/proposer")
    page.locator("form.profile-form button[type=submit]").last.click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    page.keyboard.press("Tab")  # the first error's link, which leads to its field
    expect(summary.get_by_role("link").first).to_be_focused()
    screenshot()
