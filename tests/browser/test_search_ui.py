"""The search page as a buyer uses it in a browser: search as you type, facets, supplier pages, shortlist, exports.

The index is built from the annuaire fixture directory crawled on loopback (tests/conftest.py).
"""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

QUERY = "inscription cantine scolaire"
# Suppliers of fixtures/directory/profiles/a6_school_services.yaml that answer QUERY best (golden queries agree).
CANTEEN_SUPPLIER = "Cantine Facile"
SCHOOL_CATEGORY = "school-services"
SCHOOL_CATEGORY_LABEL = "Restauration scolaire et périscolaire"


def total_shown(page) -> int:
    """The number of suppliers the results heading announces ("38 fournisseurs correspondent à « ... »")."""
    return int(re.match(r"\s*(\d+)", page.locator("#results-title").inner_text()).group(1))


def query_args(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def mark_document(page) -> None:
    """Tag the current document: the tag survives htmx swaps and disappears on a full page load."""
    page.evaluate("window.__vivierSameDocument = true")


def same_document(page) -> bool:
    return page.evaluate("window.__vivierSameDocument === true")


def hit_names(page, strong_only: bool = False) -> list[str]:
    """Result names in order; `strong_only`: the strong matches, without the weaker neighbours listed after them."""
    selector = "ol.hits:not(.hits-weak) li.hit h3 a" if strong_only else "li.hit h3 a"
    return [name.strip() for name in page.locator(selector).all_inner_texts()]


def test_typing_a_need_shows_results_without_reloading_the_page(page, screenshot):
    page.goto("/")
    mark_document(page)
    page.locator("#q").fill(QUERY)  # an input event, as typing sends: htmx searches after a pause

    expect(page.locator("#results-title")).to_contain_text(f"« {QUERY} »")
    assert same_document(page), "the results came with a full page load, not an htmx swap"
    assert query_args(page)["q"] == [QUERY], "hx-push-url did not record the query in the address bar"
    hits = page.locator("li.hit")
    assert hits.count() > 0
    first = hits.first
    expect(first.locator(".tag", has_text=SCHOOL_CATEGORY_LABEL)).to_be_visible()
    assert CANTEEN_SUPPLIER in hit_names(page)[:3]
    assert page.js_errors == []
    screenshot()


def test_a_facet_filters_the_results_in_place_and_stays_checked(page, screenshot):
    page.goto(f"/?q={QUERY}")
    mark_document(page)
    before_total, before_names = total_shown(page), hit_names(page)
    checkbox = page.locator(f"#f-category-{SCHOOL_CATEGORY}")
    expected = int(re.search(r"\((\d+)\)", page.locator(f"label[for='f-category-{SCHOOL_CATEGORY}']").inner_text())
                   .group(1))
    assert 0 < expected < before_total

    checkbox.check()
    page.wait_for_url(re.compile(rf"category={SCHOOL_CATEGORY}"))
    expect(page.locator("#results-title")).to_contain_text(f"{expected} fournisseur")
    assert same_document(page)
    args = query_args(page)
    assert (args["q"], args["category"]) == ([QUERY], [SCHOOL_CATEGORY])
    expect(page.locator(f"#f-category-{SCHOOL_CATEGORY}")).to_be_checked()  # a new element, after the swap
    assert hit_names(page) != before_names
    for hit in page.locator("li.hit").all():
        expect(hit.locator(".tag", has_text=SCHOOL_CATEGORY_LABEL)).to_have_count(1)
    expect(page.locator(".active-filters")).to_contain_text(SCHOOL_CATEGORY_LABEL)
    assert page.js_errors == []
    screenshot()


# htmx restores history by asking the URL again with HX-Request (and HX-History-Restore-Request) headers; the view
# answers with the results fragment only, which then replaces the whole <body>.
def test_the_back_button_restores_the_results_before_a_facet(page, screenshot):
    page.goto(f"/?q={QUERY}")
    before_total, before_names = total_shown(page), hit_names(page)
    page.locator(f"#f-category-{SCHOOL_CATEGORY}").check()
    page.wait_for_url(re.compile(rf"category={SCHOOL_CATEGORY}"))
    expect(page.locator("#results-title")).not_to_contain_text(f"{before_total} fournisseurs")

    page.go_back()
    page.wait_for_url(lambda url: "category=" not in url)
    expect(page.locator("#results-title")).to_contain_text(f"{before_total} fournisseurs")
    # The whole page is back, not the results fragment alone.
    assert page.locator("header[role=banner]").count() == 1
    assert page.locator("#q").input_value() == QUERY
    expect(page.locator(f"#f-category-{SCHOOL_CATEGORY}")).not_to_be_checked()
    assert hit_names(page) == before_names
    screenshot()


def test_a_hit_opens_the_suppliers_page_with_its_provenance(page, screenshot):
    page.goto(f"/?q={QUERY}")
    link = page.locator("li.hit h3 a").first
    name = link.inner_text().strip()
    link.click()
    page.wait_for_url(re.compile(r"/fournisseurs/[^/?]+$"))

    expect(page.locator("h1")).to_have_text(name)
    assert page.title().startswith(name)
    provenance = page.locator("section.provenance table")
    expect(provenance.locator("thead th")).to_contain_text(["Champ", "Source", "Valeur affichée"])
    assert provenance.locator("tbody tr").count() > 0
    expect(provenance.locator("tbody tr").filter(has_text="Nom").first).to_be_visible()
    screenshot()


def read_csv(path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8-sig")
    dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=",;\t")
    return list(csv.DictReader(io.StringIO(text), dialect=dialect))


def csv_names(rows: list[dict[str, str]]) -> list[str]:
    name_column = next(column for column in rows[0] if column.strip().lower() in ("nom", "name", "fournisseur"))
    return [row[name_column] for row in rows]


def test_shortlist_two_suppliers_then_export_them_as_csv_and_memo(page, screenshot):
    page.goto(f"/?q={QUERY}")
    hits = page.locator("li.hit")
    assert hits.count() >= 2
    chosen = []
    for hit in hits.all()[:2]:
        chosen.append(hit.locator("h3 a").inner_text().strip())
        button = hit.locator("button[data-shortlist-add]")
        expect(button).to_have_text("Ajouter à la sélection")
        expect(button).to_have_attribute("aria-pressed", "false")
        button.click()
        expect(button).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#shortlist-count")).to_have_text("2")
    assert page.evaluate("window.localStorage.getItem('vivier.shortlist')") is not None

    page.reload()  # the list is kept on this device
    expect(page.locator("#shortlist-count")).to_have_text("2")
    expect(page.locator("button[data-shortlist-add][aria-pressed='true']")).to_have_count(2)

    page.locator("a#shortlist-link").click()
    page.wait_for_url(re.compile(r"/selection\?ids="))
    for name in chosen:
        expect(page.locator("main")).to_contain_text(name)
    screenshot("selection")

    with page.expect_download() as download_info:
        page.locator('a[data-export="csv"]').click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = read_csv(download.path())
    assert sorted(csv_names(rows)) == sorted(chosen)

    memo_href = page.locator('a[data-export="memo"]').get_attribute("href")
    page.goto(memo_href)
    assert "Note de sourcing" in page.title()
    expect(page.locator("h1")).to_contain_text("Note de sourcing")
    for name in chosen:
        expect(page.locator("main")).to_contain_text(name)
    screenshot("memo")
    assert page.js_errors == []


def test_the_results_can_be_downloaded_as_csv(page):
    page.goto(f"/?q={QUERY}&category={SCHOOL_CATEGORY}")
    total, names = total_shown(page), hit_names(page, strong_only=True)  # exports hold the strong matches
    with page.expect_download() as download_info:
        page.locator('a[data-export="results-csv"]').click()
    rows = read_csv(download_info.value.path())
    assert len(rows) == total
    assert csv_names(rows)[: len(names)] == names
