"""Accessibility habits of RGAA / WCAG 2.1 AA, checked in Chromium: accessible names of form controls as the
browser computes them (Chrome DevTools Protocol accessibility tree), landmarks, headings, language, keyboard focus
order and its visible indicator, the skip link."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

QUERY = "cantine"
FORM_CONTROLS = "input:not([type=hidden]), select, textarea, button"
# Name sources that do not label a control: a placeholder disappears as one types, a title is a tooltip.
NOT_A_LABEL = {"placeholder", "title"}
# Enough Tab presses to go through the header, the search box, the results and every facet of a results page.
MAX_TABS = 250

def supplier_path(page) -> str:
    page.goto(f"/?q={QUERY}")
    return page.locator("li.hit h3 a").first.get_attribute("href")


def open_page(page, name: str) -> None:
    """Open one of the app's pages by name, with every <details> open so that the controls inside count too."""
    if name == "search":
        page.goto(f"/?q={QUERY}")
    elif name == "all suppliers":
        page.goto("/")
    elif name == "supplier":
        page.goto(supplier_path(page))
    elif name == "shortlist":
        slug = supplier_path(page).rsplit("/", 1)[1]
        page.goto(f"/selection?ids={slug}")
    elif name == "not found":
        page.goto("/fournisseurs/aucun-fournisseur-de-ce-nom")
    elif name == "propose":
        page.goto("/fournisseurs/proposer")
    elif name == "claim":
        page.goto(supplier_path(page) + "/revendiquer")
    elif name == "moderation login":
        page.goto("/moderation/connexion")
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")


PAGES = ["search", "all suppliers", "supplier", "shortlist", "not found", "propose", "claim", "moderation login"]


def ax_nodes_of(page, selector: str) -> list[tuple[str, dict]]:
    """(opening tag, accessibility node) of each element matching `selector`, as Chromium computes them."""
    cdp = page.context.new_cdp_session(page)
    try:
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        result = []
        for node_id in cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": selector})["nodeIds"]:
            tag = cdp.send("DOM.getOuterHTML", {"nodeId": node_id})["outerHTML"].split(">", 1)[0] + ">"
            nodes = cdp.send("Accessibility.getPartialAXTree", {"nodeId": node_id, "fetchRelatives": False})["nodes"]
            result.append((tag, nodes[0]))
        return result
    finally:
        cdp.detach()


def landmark_roles(page) -> list[str]:
    cdp = page.context.new_cdp_session(page)
    try:
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()
    landmarks = {"banner", "main", "contentinfo", "search", "navigation", "complementary", "region", "form"}
    return [n["role"]["value"] for n in nodes if not n.get("ignored") and n.get("role", {}).get("value") in landmarks]


def name_source(ax_node: dict) -> str | None:
    """Where the accessible name came from: the first source that gave a value and was not superseded."""
    for source in ax_node.get("name", {}).get("sources", []):
        if "value" in source and not source.get("superseded"):
            return source.get("attribute") or source["type"]
    return None


@pytest.mark.parametrize("name", PAGES)
def test_every_form_control_has_an_accessible_label(page, name):
    open_page(page, name)
    shown = [(tag, node) for tag, node in ax_nodes_of(page, FORM_CONTROLS) if not node.get("ignored")]
    if name == "search":
        assert len(shown) >= 10, "the search page should show the search box, its button and facet checkboxes"
    unlabelled = [tag for tag, node in shown if not node.get("name", {}).get("value", "").strip()]
    assert not unlabelled, f"controls without an accessible name: {unlabelled}"
    by_placeholder = [tag for tag, node in shown if name_source(node) in NOT_A_LABEL]
    assert not by_placeholder, f"controls named only by a placeholder or a title: {by_placeholder}"


@pytest.mark.parametrize("name", PAGES)
def test_landmarks_and_language(page, name):
    open_page(page, name)
    assert page.evaluate("document.documentElement.lang") == "fr"
    roles = landmark_roles(page)
    for role in ("banner", "main", "contentinfo"):
        assert roles.count(role) == 1, f"{role}: {roles.count(role)} landmarks"
    if name in ("search", "all suppliers"):
        assert "search" in roles
    if name == "all suppliers":  # every supplier listed: several pages of results
        expect(page.get_by_role("navigation", name="Pages de résultats")).to_be_visible()


@pytest.mark.parametrize("name", [
    "search",
    "all suppliers",
    "supplier", "shortlist", "not found", "propose", "claim", "moderation login",
])
def test_one_h1_per_page(page, name):
    open_page(page, name)
    assert page.locator("h1").count() == 1


FOCUSED = """() => {
  const e = document.activeElement;
  const style = getComputedStyle(e);
  const box = e.getBoundingClientRect();
  const all = Array.from(document.querySelectorAll('*'));
  return {
    tag: e.outerHTML.split('>')[0].slice(0, 120) + '>',
    domIndex: all.indexOf(e),
    id: e.id,
    inHeader: !!e.closest('header[role=banner], body > header'),
    inSearchBox: !!e.closest('.searchbox'),
    inFacets: !!e.closest('aside.facets'),
    inResults: !!e.closest('section.results'),
    isFiltersSummary: e.matches('details.filters > summary'),
    isSkipLink: e.matches('a.skip-link'),
    isResultsSkipLink: e.matches('a.skip-results'),
    isSubmit: e.matches('#search-form button[type=submit]') && !e.closest('aside.facets'),
    top: box.top + window.scrollY, left: box.left, width: box.width,
    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
    shadow: style.boxShadow !== 'none',
    // A department of the results' map shows its focus as a thick outline of its shape (maps.css).
    ring: e.matches('a.map-link') && (() => {
      const shape = getComputedStyle(e.querySelector('.map-dept'));
      return shape.stroke !== 'none' && parseFloat(shape.strokeWidth) >= 3;
    })(),
  };
}"""


def tab_through(page, stop) -> list[dict]:
    """Press Tab from the top of the page until `stop(steps)` says enough; each step describes the focused element."""
    steps = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        steps.append(page.evaluate(FOCUSED))
        if stop(steps):
            break
    return steps


def test_tab_order_goes_skip_links_search_box_button_results_then_facets_with_a_visible_focus(page, screenshot):
    # Results before the filters (issue 21): the first result is no longer some 200 Tab presses away.
    page.goto(f"/?q={QUERY}")
    assert page.locator("[tabindex]:not([tabindex='0']):not([tabindex='-1'])").count() == 0, "positive tabindex"
    steps = tab_through(page, lambda s: len(s) > 1 and s[-2]["inFacets"] and not s[-1]["inFacets"])

    assert steps[0]["isSkipLink"], f"first Tab reached {steps[0]['tag']}"
    assert steps[0]["left"] >= 0 and steps[0]["width"] > 0, "the skip link stays off screen when focused"
    assert steps[1]["isResultsSkipLink"], f"second Tab reached {steps[1]['tag']}"
    assert steps[1]["left"] >= 0 and steps[1]["width"] > 0, "the results' skip link stays off screen when focused"
    at_q = next(i for i, s in enumerate(steps) if s["id"] == "q")
    assert all(s["inHeader"] for s in steps[2:at_q]), [s["tag"] for s in steps[2:at_q]]
    assert steps[at_q + 1]["isSubmit"], f"after the search box came {steps[at_q + 1]['tag']}"
    first_result = next(i for i, s in enumerate(steps) if s["inResults"])
    assert all(s["inSearchBox"] for s in steps[at_q:first_result]), [s["tag"] for s in steps[at_q:first_result]]
    summary = next(i for i, s in enumerate(steps) if s["isFiltersSummary"])
    assert all(s["inResults"] for s in steps[first_result:summary]), [s["tag"] for s in steps[first_result:summary]]
    first_facet = next(i for i, s in enumerate(steps) if s["inFacets"])
    assert first_facet == summary + 1, "the facets do not follow the results and the « Filtres » disclosure"
    facets = [s for s in steps if s["inFacets"]]
    expected_facets = page.locator("aside.facets").locator(FORM_CONTROLS).filter(visible=True).count()
    assert len(facets) == expected_facets > 5, "Tab skipped some facet controls"

    dom_order = [s["domIndex"] for s in steps[:-1]]
    assert dom_order == sorted(dom_order), "focus order differs from the document order"
    tops = [s["top"] for s in facets]
    assert tops == sorted(tops), "facet controls are not focused top to bottom"
    no_indicator = [s["tag"] for s in steps if not (s["outline"] or s["shadow"] or s["ring"])]
    assert not no_indicator, f"focused without a visible indicator: {no_indicator}"

    page.keyboard.press("Shift+Tab")  # back on the last facet control, to show its focus ring
    screenshot()


@pytest.mark.parametrize("name", ["search", "supplier"])
def test_the_skip_link_moves_the_focus_to_the_main_content(page, name):
    open_page(page, name)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#contenu")).to_be_focused()
    assert re.search(r"#contenu$", page.url)
    page.keyboard.press("Tab")
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)"), \
        "the Tab after the skip link left the main content"
