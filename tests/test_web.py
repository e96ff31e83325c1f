"""Web views through the Flask test client, on the index built from the crawled fixture directory."""

import re
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import select

from vivier.models import STATUS_HIDDEN, Supplier

APP_DIR = Path(__file__).resolve().parent.parent / "search_app"


def hit_names(html: str) -> list[str]:
    return re.findall(r'<li class="hit(?: hit-weak)?">\s*<h3><a href="/fournisseurs/[^"]+">(.*?)</a>', html, re.S)


def test_search_page_without_javascript_lists_results_with_facets(client):
    response = client.get("/?q=collecte+des+d%C3%A9chets")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="fr">' in html and 'role="search"' in html and "<main" in html
    assert 'value="collecte des déchets"' in html
    assert hit_names(html) and "fournisseurs correspondent à « collecte des déchets »" in html
    assert 'name="category" value="waste"' in html and 'name="department"' in html
    assert "Pourquoi ce résultat ?" in html


def test_htmx_request_gets_the_results_partial_only(client):
    response = client.get("/?q=cantine", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and '<ol class="hits"' in html
    assert "HX-Request" in response.headers["Vary"]


def test_facet_selection_in_the_url_filters_and_stays_checked(client):
    html = client.get("/?q=capteurs&category=air-quality").get_data(as_text=True)
    assert 'id="f-category-air-quality" name="category" value="air-quality" checked' in html
    assert 'Filtres actifs' in html and "Qualité de l&#39;air" in html
    assert hit_names(html)


def test_empty_query_lists_all_suppliers(client, search_service):
    html = client.get("/").get_data(as_text=True)
    total = search_service.search("").total
    assert total >= 150 and f"{total} fournisseurs référencés" in html


def test_pagination_links_keep_the_query_and_filters(client):
    html = client.get("/?q=plateforme&size=10-49").get_data(as_text=True)
    if 'rel="next"' in html:
        link = re.search(r'rel="next" href="\?([^"]+)"', html).group(1)
        assert "q=plateforme" in link and "size=10-49" in link and "page=2" in link
        assert client.get("/?" + link.replace("&amp;", "&")).status_code == 200


@pytest.mark.parametrize("query", [
    "", "   ", '"unbalanced', "title:(a OR b) AND NOT c~2^3", "*", "\\", "?q=&&||!!", "<script>alert(1)</script>",
    "\x00\x01\x7f", "é" * 3000, "a " * 5000, "SELECT * FROM suppliers; --", "😀 cantine 😀",
])
def test_hostile_or_odd_queries_give_a_page_never_a_500(client, query):
    response = client.get("/", query_string={"q": query})
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)


def test_very_long_query_is_capped_with_a_notice(client, app):
    max_chars = app.extensions["vivier"]["settings"].query_max_chars
    query = "cantine scolaire " * (max_chars // 10)
    html = client.get("/", query_string={"q": query}).get_data(as_text=True)
    assert "seuls les premiers caractères" in html
    assert "cantine scolaire " * (max_chars // 17 + 1) not in html  # the box shows the capped text


@pytest.mark.parametrize("args", ["page=abc", "page=-3", "page=999999", "mode=evil", "category=" + "x" * 500,
                                  "department=99&department=2A&label=nope"])
def test_malformed_parameters_fall_back_to_defaults(client, args):
    assert client.get("/?q=cantine&" + args).status_code == 200


def test_supplier_page_shows_profile_provenance_and_similar(client, app):
    with app.extensions["vivier"]["database"].session() as s:
        supplier = s.scalar(select(Supplier).where(Supplier.references != []).order_by(Supplier.id).limit(1))
        slug, name = supplier.slug, supplier.name
        client_name = supplier.references[0]["client"]
    html = unescape(client.get(f"/fournisseurs/{slug}").get_data(as_text=True))
    assert f"<h1>{name}</h1>" in html
    assert "Origine des informations" in html and "annuaire" in html
    assert client_name in html
    assert "Fournisseurs similaires" in html


def test_unknown_and_hidden_suppliers_are_404_pages(client, app):
    response = client.get("/fournisseurs/n-existe-pas")
    assert response.status_code == 404 and "Page introuvable" in response.get_data(as_text=True)
    database = app.extensions["vivier"]["database"]
    with database.session() as s:
        supplier = s.scalar(select(Supplier).order_by(Supplier.id.desc()).limit(1))
        slug, previous = supplier.slug, supplier.status
        supplier.status = STATUS_HIDDEN
    try:
        assert client.get(f"/fournisseurs/{slug}").status_code == 404
    finally:
        with database.session() as s:
            s.scalar(select(Supplier).where(Supplier.slug == slug)).status = previous


def test_security_headers_and_method_errors(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert client.post("/").status_code == 405


def test_vendored_htmx_is_served_and_nothing_loads_from_elsewhere(client):
    html = client.get("/").get_data(as_text=True)
    script = re.search(r'<script src="([^"]+)"', html).group(1)
    assert script.startswith("/static/vendor/htmx")
    assert b"htmx" in client.get(script).data
    for template in APP_DIR.rglob("*.html"):
        assert not re.search(r'(src|href)="(https?:)?//', template.read_text()), template


def test_index_not_built_gives_a_503_page(tmp_path, encoder):
    from search_app import create_app
    from tests.conftest import make_settings

    app = create_app(settings=make_settings(tmp_path), encoder=encoder)
    response = app.test_client().get("/?q=cantine")
    assert response.status_code == 503 and "indisponible" in response.get_data(as_text=True)


def test_a_merged_suppliers_old_address_redirects_to_the_company(client, app):
    database = app.extensions["vivier"]["database"]
    with database.session() as s:
        gone, kept = s.scalars(select(Supplier).order_by(Supplier.id).limit(2)).all()
        gone_slug, kept_slug, previous = gone.slug, kept.slug, gone.status
        gone.status, gone.merged_into_id = "merged", kept.id
    try:
        response = client.get(f"/fournisseurs/{gone_slug}")
        assert response.status_code == 301 and response.headers["Location"].endswith(f"/fournisseurs/{kept_slug}")
    finally:
        with database.session() as s:
            restored = s.scalar(select(Supplier).where(Supplier.slug == gone_slug))
            restored.status, restored.merged_into_id = previous, None


def test_a_company_known_to_several_sources_shows_each_source_and_the_shown_value(all_sources_data_dir, encoder):
    from search_app import create_app
    from tests.conftest import make_settings
    from vivier.models import SourceRecord

    app = create_app(settings=make_settings(all_sources_data_dir), encoder=encoder)
    with app.extensions["vivier"]["database"].session() as s:
        records = s.execute(select(SourceRecord.supplier_id, SourceRecord.source_name)).all()
        by_supplier: dict[int, set] = {}
        for supplier_id, source in records:
            by_supplier.setdefault(supplier_id, set()).add(source)
        supplier_id, sources = max(sorted(by_supplier.items()), key=lambda item: len(item[1]))
        slug = s.get(Supplier, supplier_id).slug
    html = unescape(app.test_client().get(f"/fournisseurs/{slug}").get_data(as_text=True))
    assert len(sources) >= 4 and all(f">{source}</a>" in html for source in sources)
    assert "Valeur affichée" in html
    rows = html.split("<td>Nom</td>")[1:]
    assert len(rows) == len(sources) and sum("<td>oui</td>" in row.split("</tr>")[0] for row in rows) == 1


def test_a_search_server_that_does_not_answer_gives_503_on_search_and_the_rest_works(app, encoder):
    """The real Elasticsearch backend and client against a port nobody listens on: search pages and exports answer
    503 with a French message, supplier pages still render (without similar suppliers), and the password in
    ELASTICSEARCH_URL never reaches the page or the log."""
    import logging
    import socket

    from search_app import create_app

    with socket.socket() as probe:  # a free loopback port, closed again: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = app.extensions["vivier"]["settings"].with_overrides(
        backend="elasticsearch", elasticsearch_url=f"http://vivier:s3cr3t@127.0.0.1:{port}", elasticsearch_timeout=1)
    down = create_app(settings=settings, encoder=encoder)
    down.config.update(TESTING=True)
    client = down.test_client()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    down.logger.addHandler(handler)
    try:
        for url, headers in (("/?q=cantine", {}), ("/?q=cantine", {"HX-Request": "true"}), ("/", {}),
                             ("/recherche.csv?q=cantine", {})):
            response = client.get(url, headers=headers)
            html = response.get_data(as_text=True)
            assert response.status_code == 503, url
            assert "momentanément indisponible" in html and "construction" not in html and "s3cr3t" not in html
    finally:
        down.logger.removeHandler(handler)
    assert records and not any("s3cr3t" in r.getMessage() for r in records)
    with app.extensions["vivier"]["database"].session() as s:
        slug = s.scalar(select(Supplier.slug).where(Supplier.status != STATUS_HIDDEN).limit(1))
    page = client.get(f"/fournisseurs/{slug}")
    assert page.status_code == 200 and "Fournisseurs similaires" not in page.get_data(as_text=True)
