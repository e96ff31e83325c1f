"""CSV and sourcing-memo exports of search results and shortlists, through the Flask test client on the index
built from the crawled fixture directory."""

import csv
import io
import re
from datetime import date
from html import unescape
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from indexer.service import Place
from search_app.public import exports
from search_app.public.exports import (
    CLOCK_CONFIG,
    CSV_HEADER,
    ExportRow,
    date_in_words,
    export_filename,
    neutralise,
    place_in_words,
    render_csv,
)
from search_app.public.shortlist import SupplierSummary
from tests.test_shortlist import changed_supplier, live_suppliers
from vivier.models import Supplier
from vivier.taxonomy import CATEGORY_LABELS

DAY = date(2026, 11, 26)


@pytest.fixture()
def frozen_day(app):
    app.config[CLOCK_CONFIG] = lambda: DAY
    yield DAY
    app.config.pop(CLOCK_CONFIG, None)


def parse_csv(response) -> list[list[str]]:
    body = response.data
    assert body.startswith("\ufeff".encode()), "UTF-8 byte-order mark"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))


def ranked_names(service, text: str, filters: dict, mode: str = "hybrid") -> list[str]:
    names, page = [], 1
    while True:
        response = service.search(text, filters, page=page, per_page=100, mode=mode)
        names += [hit.document.name for hit in response.hits]
        if page * 100 >= response.total:
            return names
        page += 1


def summary(**values) -> SupplierSummary:
    base = {"id": 1, "slug": "acme", "name": "Acme", "siren": None, "website": None, "pitch": "", "commune": None,
            "department": None, "region": None, "categories": (), "labels": (), "size_band": None}
    return SupplierSummary(**{**base, **values})


# --- pure core ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cell, expected", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+33 1 23", "'+33 1 23"), ("-2", "'-2"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("Acme = bien", "Acme = bien"), ("", ""),
    ("https://acme.fr", "https://acme.fr"),
])
def test_cells_a_spreadsheet_would_evaluate_get_a_leading_apostrophe(cell, expected):
    assert neutralise(cell) == expected


def test_csv_rows_round_trip_with_semicolons_quotes_and_newlines():
    row = ExportRow(1, summary(name='Acme; "la" coop', pitch="Ligne 1\nLigne 2", categories=("waste", "parking"),
                               labels=("ess",), department="29", region="Bretagne", size_band="10-49",
                               siren="123456782", website="https://acme.fr", commune="Brest",
                               contact_email="contact@acme.fr", contact_phone="+33 2 98 00 00 00"),
                    "http://vivier.test/fournisseurs/acme")
    rows = list(csv.reader(io.StringIO(render_csv([row]).decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows == [list(CSV_HEADER), [
        "1", 'Acme; "la" coop', "123456782", "https://acme.fr", "contact@acme.fr", "'+33 2 98 00 00 00", "Brest",
        "29 Finistère", "Bretagne",
        "Collecte des déchets, Stationnement", "ESS", "10 à 49 salariés", "Ligne 1\nLigne 2",
        "http://vivier.test/fournisseurs/acme"]]


def test_the_distance_filter_is_stated_in_words():
    brest = SimpleNamespace(name="Brest", department="29")  # a vivier.communes.Commune's shown fields
    assert place_in_words(None) == []
    assert place_in_words(Place("brest", 25, brest)) == [("Distance", "à 25 km au plus de Brest (29)")]
    assert place_in_words(Place("Brst", 50)) == [("Commune", "« Brst » non reconnue : pas de filtre de distance")]


def test_dates_are_written_in_french_words_whatever_the_server_locale():
    assert date_in_words(DAY) == "26 novembre 2026"
    assert date_in_words(date(2027, 2, 1)) == "1 février 2027"


def test_export_file_names_carry_the_query_filters_and_date_in_ascii():
    assert export_filename("recherche", DAY, "csv") == "vivier-recherche-2026-11-26.csv"
    assert (export_filename("recherche", DAY, "csv", "Collecte des déchets", {"category": ["waste"]})
            == "vivier-recherche-collecte-des-dechets-waste-2026-11-26.csv")
    assert export_filename("recherche", DAY, "csv", '"; rm -rf / 😀') == "vivier-recherche-rm-rf-2026-11-26.csv"
    assert export_filename("recherche", DAY, "csv", "😀") == "vivier-recherche-2026-11-26.csv"
    assert len(export_filename("recherche", DAY, "csv", "cantine " * 50)) <= 100


# --- results exports ---------------------------------------------------------------------------------------------

def test_results_header_links_exports_with_the_same_query_string(client):
    html = client.get("/?q=cantine&category=school-services&mode=keyword&page=1").get_data(as_text=True)
    csv_link = re.search(r'<a href="([^"]+)" data-export="results-csv" download>Exporter ces résultats \(CSV\)</a>',
                         html).group(1)
    memo_link = re.search(r'<a href="([^"]+)" data-export="results-memo">Note de sourcing</a>', html).group(1)
    assert unescape(csv_link) == "/recherche.csv?q=cantine&category=school-services&mode=keyword"
    assert unescape(memo_link) == "/recherche/note?q=cantine&category=school-services&mode=keyword"
    assert html.index('id="results-title"') < html.index('data-export="results-csv"') < html.index('class="hits"')


def test_results_csv_follows_the_search_order_with_its_filters(client, search_service, frozen_day):
    filters = {"category": ["waste"]}
    response = client.get("/recherche.csv", query_string={"q": "collecte des déchets", "category": "waste"})
    assert response.status_code == 200
    assert response.content_type == "text/csv; charset=utf-8"
    assert (response.headers["Content-Disposition"]
            == 'attachment; filename="vivier-recherche-collecte-des-dechets-waste-2026-11-26.csv"')
    rows = parse_csv(response)
    assert rows[0] == list(CSV_HEADER)
    expected = ranked_names(search_service, "collecte des déchets", filters)
    assert expected and [row[1] for row in rows[1:]] == expected
    assert [row[0] for row in rows[1:]] == [str(i) for i in range(1, len(expected) + 1)]
    assert all(CATEGORY_LABELS["waste"] in row[9].split(", ") for row in rows[1:])
    assert all(re.fullmatch(r"http://localhost/fournisseurs/[a-z0-9-]+", row[13]) for row in rows[1:])
    assert all(len(row) == len(CSV_HEADER) for row in rows)


def test_results_csv_spans_several_pages_of_the_service_in_ranked_order(client, search_service):
    rows = parse_csv(client.get("/recherche.csv?mode=keyword"))[1:]
    expected = ranked_names(search_service, "", {}, mode="keyword")
    assert len(expected) > 100 and [row[1] for row in rows] == expected


def test_results_exports_stop_at_the_named_cap(client, monkeypatch, frozen_day):
    monkeypatch.setattr(exports, "MAX_EXPORT_ROWS", 30)
    rows = parse_csv(client.get("/recherche.csv"))
    assert len(rows) == 1 + 30
    html = unescape(client.get("/recherche/note").get_data(as_text=True))
    assert html.count('<li class="memo-supplier"') == 30 and "dont les 30 premiers figurent ci-dessous" in html


def test_results_memo_records_the_query_filters_date_and_suppliers(client, search_service, frozen_day):
    query = {"q": "cantine", "category": ["school-services", "e-services"], "mode": "keyword"}
    response = client.get("/recherche/note", query_string=query)
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "<h1 id=\"memo-title\">Note de sourcing</h1>" in html
    assert '<time datetime="2026-11-26">26 novembre 2026</time>' in html
    assert "« cantine »" in html
    assert ("Thématique : Restauration scolaire et périscolaire, E-guichet et démarches en ligne" in html)
    assert "mots-clés seulement" in html
    result = search_service.search("cantine", {"category": query["category"]}, per_page=100, mode="keyword")
    assert f"{result.total} fournisseurs" in html
    names = re.findall(r'<li class="memo-supplier" value="\d+">\s*<h2>(.*?)</h2>', html)
    assert names == [hit.document.name for hit in result.hits]
    assert "http://localhost/?q=cantine&category=school-services&category=e-services&mode=keyword" in html
    assert "article R2111-1 du code de la commande publique" in html
    assert re.search(r'<link rel="stylesheet" href="/static/print.css" media="print">', html)
    assert re.search(r'<button type="button" data-print hidden>Imprimer</button>', html)


def test_memo_shows_each_suppliers_details(client, app, frozen_day):
    with app.extensions["vivier"]["database"].session() as s:
        supplier = s.scalar(select(Supplier).where(Supplier.siren.is_not(None), Supplier.website.is_not(None),
                                                   Supplier.pitch != "", Supplier.commune.is_not(None))
                            .order_by(Supplier.id).limit(1))
        slug, siren, website, pitch, commune = (supplier.slug, supplier.siren, supplier.website, supplier.pitch,
                                                supplier.commune)
    html = unescape(client.get(f"/selection/note?ids={slug}").get_data(as_text=True))
    item = html.split('<li class="memo-supplier"')[1]
    for text in (siren, website, pitch, commune, f"http://localhost/fournisseurs/{slug}"):
        assert text in item


def test_results_export_with_no_match_is_an_empty_list_not_an_error(client):
    response = client.get("/recherche.csv", query_string={"q": "cantine", "department": "99", "mode": "keyword"})
    assert response.status_code == 200 and parse_csv(response) == [list(CSV_HEADER)]
    html = client.get("/recherche/note", query_string={"q": "zzzyxw", "mode": "keyword"}).get_data(as_text=True)
    assert "Aucun fournisseur ne correspond" in html


@pytest.mark.parametrize("args", ["page=abc", "mode=evil", "category=" + "x" * 500, "q=%00%01%7f",
                                  "q=" + "é" * 3000, "department=99&label=nope", "q=<script>alert(1)</script>"])
@pytest.mark.parametrize("path", ["/recherche.csv", "/recherche/note"])
def test_malformed_search_parameters_fall_back_never_a_500(client, path, args):
    response = client.get(f"{path}?{args}")
    assert response.status_code == 200
    assert b"<script>alert(1)</script>" not in response.data


def test_exports_when_the_index_is_not_built_are_a_503_page(tmp_path, encoder):
    from search_app import create_app
    from tests.conftest import make_settings

    app = create_app(settings=make_settings(tmp_path), encoder=encoder)
    response = app.test_client().get("/recherche.csv?q=cantine")
    assert response.status_code == 503 and "indisponible" in response.get_data(as_text=True)


# --- shortlist exports -------------------------------------------------------------------------------------------

def test_selection_csv_keeps_the_shortlist_order_and_skips_unknown_ids(client, app, frozen_day):
    (a, name_a), (b, name_b) = live_suppliers(app, 2)
    response = client.get(f"/selection.csv?ids={b},inconnu,{a}")
    assert response.headers["Content-Disposition"] == 'attachment; filename="vivier-selection-2026-11-26.csv"'
    rows = parse_csv(response)
    assert [row[:2] for row in rows[1:]] == [["1", name_b], ["2", name_a]]
    assert rows[1][13] == f"http://localhost/fournisseurs/{b}"


def test_selection_csv_neutralises_a_stored_formula(client, app):
    (slug, _), = live_suppliers(app, 1)
    with changed_supplier(app, slug, name="=HYPERLINK(\"http://evil.example\";\"x\")", pitch="@SUM(1+1)"):
        rows = parse_csv(client.get(f"/selection.csv?ids={slug}"))
    assert rows[1][1] == "'=HYPERLINK(\"http://evil.example\";\"x\")" and rows[1][12] == "'@SUM(1+1)"


def test_selection_memo_lists_the_suppliers_and_the_ids_not_found(client, app, frozen_day):
    (a, name_a), (b, name_b) = live_suppliers(app, 2)
    html = unescape(client.get(f"/selection/note?ids={b},{a},inconnu").get_data(as_text=True))
    assert "Sélection de 2 fournisseurs." in html and "26 novembre 2026" in html
    assert re.findall(r'<li class="memo-supplier" value="\d+">\s*<h2>(.*?)</h2>', html) == [name_b, name_a]
    assert "Identifiants introuvables (1) : inconnu" in html
    assert f"http://localhost/selection?ids={b},{a}" in html


@pytest.mark.parametrize("path", ["/selection.csv", "/selection/note"])
@pytest.mark.parametrize("query", ["", "?ids=", "?ids=inconnu", "?ids=%00,%ff", "?ids=" + "," * 5000])
def test_exporting_an_empty_or_unknown_selection_is_a_400_page(client, path, query):
    response = client.get(path + query)
    assert response.status_code == 400
    assert "Sélection vide" in response.get_data(as_text=True)


def test_memo_date_defaults_to_todays_date_in_paris(client, app):
    (slug, _), = live_suppliers(app, 1)
    from datetime import datetime
    from zoneinfo import ZoneInfo

    before = datetime.now(ZoneInfo("Europe/Paris")).date()
    html = client.get(f"/selection/note?ids={slug}").get_data(as_text=True)
    after = datetime.now(ZoneInfo("Europe/Paris")).date()
    shown = re.search(r'<time datetime="([0-9-]+)">', html).group(1)
    assert shown in (before.isoformat(), after.isoformat())


def test_result_exports_hold_the_strong_matches_unless_the_neighbours_are_asked_for(client, search_service,
                                                                                   frozen_day):
    response = search_service.search("cantine", per_page=500)
    assert 0 < response.strong_total < response.total
    strong = parse_csv(client.get("/recherche.csv", query_string={"q": "cantine"}))[1:]
    everything = parse_csv(client.get("/recherche.csv", query_string={"q": "cantine", "proches": "1"}))[1:]
    assert len(strong) == response.strong_total and len(everything) == response.total
    assert [row[1] for row in strong] == [h.document.name for h in response.hits if h.strong]
    # Nothing strong: the neighbours the page lists are what is exported.
    nothing = search_service.search("accordeur de piano pour l'école de musique", per_page=500)
    assert nothing.strong_total == 0 and nothing.total
    rows = parse_csv(client.get("/recherche.csv", query_string={"q": "accordeur de piano pour l'école de musique"}))
    assert len(rows) - 1 == nothing.total


def test_selection_exports_carry_the_public_contacts_the_page_shows(client, app, frozen_day):
    """Issue 21: the supplier page shows a public e-mail and phone; the CSV and the memo left them out."""
    (slug, name), = live_suppliers(app, 1)
    with changed_supplier(app, slug, contact_email="achats@acme.example", contact_phone="02 98 00 00 00"):
        rows = parse_csv(client.get(f"/selection.csv?ids={slug}"))
        html = unescape(client.get(f"/selection/note?ids={slug}").get_data(as_text=True))
        page = unescape(client.get(f"/fournisseurs/{slug}").get_data(as_text=True))
    record = dict(zip(rows[0], rows[1]))
    assert (record["Courriel"], record["Téléphone"]) == ("achats@acme.example", "02 98 00 00 00")
    assert "achats@acme.example" in page and "02 98 00 00 00" in page
    item = html.split('<li class="memo-supplier"')[1]
    assert "<dt>Courriel</dt>" in item and "achats@acme.example" in item
    assert "<dt>Téléphone</dt><dd>02 98 00 00 00</dd>" in item
    assert "Sélection de 1 fournisseur." in html


def test_an_export_applies_only_offered_distances_and_asks_nothing_of_an_ambiguous_commune(client):
    def names(**args):
        return [row[1] for row in parse_csv(client.get("/recherche.csv", query_string={"q": "capteurs", **args}))[1:]]

    # An edited link's distance is brought to the nearest offered one, as on the page (it was applied as 1000 km).
    assert names(commune="Brest", rayon="9999") == names(commune="Brest", rayon="200")
    assert names(commune="Brest", rayon="10") != names(commune="Brest", rayon="200") != names()  # distance counts
    # A name several communes bear filters nothing, as the page does while it asks which one is meant.
    assert names(commune="Saint-Denis", rayon="10") == names()
