"""Shortlist (« Ma sélection ») through the Flask test client, on the database crawled from the fixture directory."""

import re
from contextlib import contextmanager
from html import unescape

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from search_app.public.shortlist import MAX_IDS, parse_ids
from vivier.models import SEARCHABLE_STATUSES, STATUS_HIDDEN, Supplier


def live_suppliers(app, count: int | None = None) -> list[tuple[str, str]]:
    """(slug, name) of live suppliers, by id."""
    with app.extensions["vivier"]["database"].session() as s:
        query = select(Supplier.slug, Supplier.name).where(Supplier.status.in_(SEARCHABLE_STATUSES))
        return [tuple(row) for row in s.execute(query.order_by(Supplier.id).limit(count)).all()]


@contextmanager
def changed_supplier(app, slug: str, **values):
    """Change a stored supplier for the duration of a test (the database is shared by the session)."""
    database = app.extensions["vivier"]["database"]
    with database.session() as s:
        supplier = s.scalar(select(Supplier).where(Supplier.slug == slug))
        previous = {key: getattr(supplier, key) for key in values}
        for key, value in values.items():
            setattr(supplier, key, value)
    try:
        yield
    finally:
        with database.session() as s:
            supplier = s.scalar(select(Supplier).where(Supplier.slug == slug))
            for key, value in previous.items():
                setattr(supplier, key, value)


def listed_names(html: str) -> list[str]:
    return [unescape(n) for n in re.findall(
        r'<li class="shortlist-item"[^>]*>\s*<h3><a href="/fournisseurs/[^"]+">(.*?)</a>', html, re.DOTALL)]


@pytest.mark.parametrize("values, expected", [
    (["a,b,c"], ["a", "b", "c"]),
    (["a", "b", "a"], ["a", "b"]),
    ([" A , b,,  ,a"], ["a", "b"]),
    (["x\x00y\x1f", "é"], ["xy", "é"]),
    (["z" * 500], ["z" * 120]),
    ([], []),
])
def test_ids_are_split_cleaned_and_deduplicated_in_order(values, expected):
    assert parse_ids(MultiDict([("ids", v) for v in values])) == (expected, 0)


def test_ids_beyond_the_cap_are_counted_and_left_out():
    ids, dropped = parse_ids(MultiDict({"ids": ",".join(f"id-{i}" for i in range(MAX_IDS + 7))}))
    assert len(ids) == MAX_IDS and ids[-1] == f"id-{MAX_IDS - 1}" and dropped == 7


def test_shortlist_page_lists_the_suppliers_in_the_order_given_with_controls(client, app):
    (a, name_a), (b, name_b), (c, name_c) = live_suppliers(app, 3)
    response = client.get(f"/selection?ids={c},{a},{b}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert listed_names(html) == [name_c, name_a, name_b]
    assert f'href="/fournisseurs/{a}"' in html
    # « Retirer » buttons submit the list with the id to remove (GET): it works without JavaScript.
    assert f'<input type="hidden" name="ids" value="{c},{a},{b}">' in html
    assert re.search(rf'name="remove" value="{a}" data-shortlist-remove\s+data-id="{a}">Retirer<', html)
    removed = client.get("/selection", query_string={"ids": f"{c},{a},{b}", "remove": a})
    assert removed.status_code == 303 and removed.headers["Location"] == f"/selection?ids={c},{b}"
    assert listed_names(client.get(removed.headers["Location"]).get_data(as_text=True)) == [name_c, name_b]
    assert f'href="http://localhost/selection?ids={c},{a},{b}" data-shortlist-copy>Copier le lien de partage' in html
    assert f'href="/selection.csv?ids={c},{a},{b}" data-export="csv"' in html and "Exporter en CSV" in html
    assert f'href="/selection/note?ids={c},{a},{b}" data-export="memo"' in html
    assert "Note de sourcing imprimable" in html
    assert f'data-ids="{c},{a},{b}"' in html and "introuvable" not in html


def test_shortlist_page_shows_commune_categories_labels_and_website(client, app):
    with app.extensions["vivier"]["database"].session() as s:
        supplier = s.scalar(select(Supplier).where(Supplier.website.is_not(None), Supplier.commune.is_not(None),
                                                   Supplier.categories != [], Supplier.labels != [])
                            .order_by(Supplier.id).limit(1))
        slug, commune, department, website = supplier.slug, supplier.commune, supplier.department, supplier.website
        category, label = supplier.categories[0], supplier.labels[0]
    html = unescape(client.get(f"/selection?ids={slug}").get_data(as_text=True))
    from vivier.taxonomy import CATEGORY_LABELS, LABEL_LABELS

    assert f"{commune} ({department})" in html
    assert CATEGORY_LABELS[category] in html and LABEL_LABELS[label] in html
    assert f'href="{website}"' in html


def test_unknown_and_hidden_ids_are_listed_as_not_found_never_an_error(client, app):
    (known, name), (hidden, hidden_name) = live_suppliers(app, 2)
    with changed_supplier(app, hidden, status=STATUS_HIDDEN):
        response = client.get("/selection", query_string={"ids": f"n-existe-pas,{known},<script>x</script>,{hidden}"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert listed_names(html) == [name]
    missing = re.findall(r'<span class="missing-id">(.*?)</span> — introuvable', html)
    assert missing == ["n-existe-pas", "&lt;script&gt;x&lt;/script&gt;", hidden]
    assert "<script>x</script>" not in html and hidden_name not in html
    # The ids not found stay in the list until removed; removing the last one leaves an empty list.
    assert f'name="ids" value="{known},n-existe-pas,&lt;script&gt;x&lt;/script&gt;,{hidden}"' in html
    removed = client.get("/selection", query_string={"ids": "n-existe-pas", "remove": "n-existe-pas"})
    assert removed.status_code == 303 and removed.headers["Location"] == "/selection?ids="
    assert "Votre sélection est vide" in client.get("/selection?ids=").get_data(as_text=True)
    # Only the suppliers found are shared and exported.
    assert f'href="/selection.csv?ids={known}"' in html


def test_a_merged_suppliers_old_id_resolves_to_the_surviving_supplier_once(client, app):
    (gone, _), (kept, kept_name) = live_suppliers(app, 2)
    database = app.extensions["vivier"]["database"]
    with database.session() as s:
        kept_id = s.scalar(select(Supplier.id).where(Supplier.slug == kept))
    with changed_supplier(app, gone, status="merged", merged_into_id=kept_id):
        html = client.get(f"/selection?ids={gone},{kept}").get_data(as_text=True)
    assert listed_names(html) == [kept_name]
    assert "introuvable" not in html
    assert f'data-ids="{kept}"' in html
    assert f"{{&#34;{gone}&#34;: &#34;{kept}&#34;}}" in html  # data-aliases, for the browser's copy of the list


def test_too_many_ids_are_capped_with_a_message(client, app):
    real = [slug for slug, _ in live_suppliers(app)]
    ids = real + [f"inconnu-{i}" for i in range(MAX_IDS + 50 - len(real))]
    response = client.get("/selection", query_string={"ids": ",".join(ids)})
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert f"au plus {MAX_IDS} fournisseurs : les 50" in html
    assert len(listed_names(html)) + html.count("— introuvable") == MAX_IDS


@pytest.mark.parametrize("query", ["ids=", "ids=,,,", "ids=%00%01%7f", "ids=" + "a" * 20000, "ids[]=x", "ids=%ff%fe",
                                   "ids=a&ids=b&ids=" + "%2C" * 3000])
def test_odd_parameters_give_a_page_never_a_500(client, query):
    response = client.get("/selection?" + query)
    assert response.status_code == 200 and "Ma sélection" in response.get_data(as_text=True)


def test_an_empty_shortlist_explains_how_to_add_suppliers(client):
    html = client.get("/selection").get_data(as_text=True)
    assert "Votre sélection est vide" in html and "data-export" not in html
    assert 'id="shortlist"' in html and "data-asked" not in html


def test_search_hits_carry_an_add_button_that_works_without_javascript(client):
    html = client.get("/?q=cantine").get_data(as_text=True)
    hits = re.findall(r'<li class="hit">(.*?)</li>\s*(?=<li class="hit">|</ol>)', html, re.DOTALL)
    assert hits
    for hit in hits:
        slug = re.search(r'href="/fournisseurs/([^"]+)"', hit).group(1)
        button = re.search(r"<button[^>]*data-shortlist-add[^>]*>([^<]*)</button>", hit, re.DOTALL)
        assert button and button.group(1) == "Ajouter à la sélection"
        for attribute in (f'data-id="{slug}"', f'value="{slug}"', 'name="ids"', 'form="shortlist-add-form"',
                          'aria-pressed="false"', 'type="submit"'):
            assert attribute in button.group(0)
    # The buttons submit a GET form outside the search form (forms cannot nest) to /selection?ids=<slug>.
    assert re.search(r'<form id="shortlist-add-form" action="/selection" method="get" hidden></form>', html)
    assert html.index('id="shortlist-add-form"') < html.index('id="search-form"')
    slug = re.search(r'data-shortlist-add data-id="([^"]+)"', html).group(1)
    assert len(listed_names(client.get("/selection", query_string={"ids": slug}).get_data(as_text=True))) == 1


def test_htmx_results_partial_keeps_the_buttons(client):
    html = client.get("/?q=cantine", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in html and "data-shortlist-add" in html


def test_header_links_the_shortlist_and_loads_the_script_from_self(client):
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'<a id="shortlist-link" href="/selection" data-max="200">Ma sélection '
                     r'<span id="shortlist-count" class="shortlist-count">0</span></a>', html)
    assert 'role="status"' in html and 'id="shortlist-status"' in html
    assert '<script src="/static/shortlist.js" defer></script>' in html
    assert not re.search(r"<script(?![^>]*\ssrc=)", html), "inline scripts are forbidden by the CSP"
    assert b"vivier.shortlist" in client.get("/static/shortlist.js").data


def test_supplier_page_has_the_same_add_button_as_the_results(client, app):
    """Issue 21: a buyer reading a supplier's page could not keep it aside."""
    (slug, _), = live_suppliers(app, 1)
    html = client.get(f"/fournisseurs/{slug}").get_data(as_text=True)
    button = re.search(r"<button[^>]*data-shortlist-add[^>]*>Ajouter à la sélection</button>", html, re.DOTALL)
    assert button, "no « Ajouter à la sélection » on the supplier page"
    for attribute in (f'data-id="{slug}"', f'value="{slug}"', 'name="ids"', 'form="shortlist-add-form"',
                      'aria-pressed="false"', 'type="submit"'):
        assert attribute in button.group(0)
    assert '<form id="shortlist-add-form" action="/selection" method="get" hidden></form>' in html


def test_supplier_page_names_sources_in_french_and_scrolls_its_provenance_table(client, app):
    (slug, _), = live_suppliers(app, 1)
    with app.extensions["vivier"]["database"].session() as s:
        supplier = s.scalar(select(Supplier).where(Supplier.slug == slug))
        record = supplier.provenance[0]
        previous = record.source_name
        record.source_name = "submitted"
    try:
        html = unescape(client.get(f"/fournisseurs/{slug}").get_data(as_text=True))
    finally:
        with app.extensions["vivier"]["database"].session() as s:
            s.scalar(select(Supplier).where(Supplier.slug == slug)).provenance[0].source_name = previous
    assert "déclaré par l'entreprise" in html and ">submitted<" not in html
    assert re.search(r'<div class="table-scroll" role="region" aria-labelledby="provenance-table-caption" '
                     r'tabindex="0">\s*<table class="provenance-table"', html)
    assert re.search(r"Fiche mise à jour le \d{1,2}(er)? \w+ \d{4}\.", html)
