"""Search page features on the crawled fixture directory: region and open-source facets, distance filter around a
commune, 'Vouliez-vous dire', long needs, and the pictures of the result set (map, counts per category)."""

from __future__ import annotations

import gzip
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.test_web import hit_names as highlighted_names


def hit_names(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", name) for name in highlighted_names(html)]


def page(client, **params) -> str:
    response = client.get("/", query_string=params)
    assert response.status_code == 200
    return unescape(response.get_data(as_text=True))


def test_region_and_open_source_facets_are_offered_and_filter(client):
    html = page(client, q="plateforme")
    assert "<legend>Région</legend>" in html and "Solution sous licence libre" in html
    free = page(client, q="plateforme", open_source="oui")
    assert hit_names(free) and free.count('class="tag tag-open"') == len(hit_names(free))
    breton = page(client, region="Bretagne")
    assert hit_names(breton)
    assert all(d in ("22", "29", "35", "56") for d in re.findall(r'<span>[^<(]+\((\w+)\)</span>', breton))


def test_distance_filter_around_a_commune(client):
    html = page(client, commune="Laval", rayon="25")
    assert "Cantine Facile" in hit_names(html)
    distances = [int(d) for d in re.findall(r'class="distance">à (\d+) km', html)]
    assert distances and len(distances) == len(hit_names(html)) and max(distances) <= 25
    assert "25 km au plus de Laval (53)" in html
    # The commune can be given by postcode, and the filter combines with a query and facets.
    with_query = page(client, q="cantine", commune="53000", rayon="50")
    assert "Cantine Facile" in hit_names(with_query)
    assert len(hit_names(page(client, commune="Laval", rayon="200"))) > len(hit_names(html))


def test_unknown_commune_proposes_candidates_and_keeps_the_search(client):
    html = page(client, q="cantine", commune="Lavalxyz", rayon="10")
    assert "Commune « Lavalxyz » introuvable" in html and "Laval (53)" in html
    assert hit_names(html)  # no distance filter applied rather than nothing at all
    for radius in ("-5", "999999", "12.5"):
        assert page(client, commune="Laval", rayon=radius)


def test_commune_options_for_the_datalist(client):
    html = client.get("/communes", query_string={"commune": "quimp"}).get_data(as_text=True)
    assert '<option value="Quimper (29)">' in html
    assert client.get("/communes", query_string={"commune": "<script>"}).status_code == 200


def test_typos_are_corrected_from_the_index_vocabulary_and_the_words_as_typed_offered(client):
    html = page(client, q="captuers de remplisage")
    assert "Résultats pour <strong>capteurs de remplissage</strong>" in html
    assert "Vouliez-vous dire" not in html  # corrected already
    exact = page(client, q="captuers de remplisage", exacte="1")
    link = re.search(r'Vouliez-vous dire <a href="\?([^"]+)"', exact)
    assert link and "capteurs de remplissage" in exact and "Résultats pour" not in exact
    for fine in ("capteurs de remplissage", "cantines scolaires", "reservation cantine"):  # plurals, accents
        html = page(client, q=fine)
        assert "Vouliez-vous dire" not in html and "Résultats pour" not in html


def test_a_pasted_paragraph_finds_the_right_supplier(client):
    need = ("La commune souhaite dématérialiser la restauration scolaire.\n\n"
            "Les familles doivent pouvoir inscrire leurs enfants, réserver ou annuler les repas jusqu'à la veille "
            "et payer en ligne. Le service de restauration doit connaître chaque matin le nombre de couverts par "
            "école. " * 3)
    names = hit_names(page(client, q=need))
    assert "Cantine Facile" in names[:5]


def test_results_page_draws_a_department_map_and_counts_per_category(client):
    html = page(client, q="capteurs")
    svg = re.search(r"<svg[^>]*>.*?</svg>", html, re.S).group(0)
    assert 'role="group"' in svg
    # France is drawn once from the outline sprite, then each department with suppliers, linked to its filter.
    sprite_url = re.search(r'<use class="map-dept map-c0" href="([^"#]+)#fond"', svg).group(1)
    linked = re.findall(r'<a class="map-link" href="([^"]+)"><title>([^<]+)</title><use class="map-dept map-c(\d)'
                        r'[^"]*" href="[^"#]+#d-(\w+)">', svg)
    assert linked and all("department=" + code in unescape(href) for href, _, _, code in linked)
    assert all(re.search(r"\(\w+\) : \d+ fournisseurs?", title) for _, title, _, _ in linked)
    assert all(colour != "0" for _, _, colour, _ in linked)  # a department without suppliers links nowhere
    assert "Aisne (02)" not in svg or "02" in {code for *_, code in linked}
    sprite = client.get(unescape(sprite_url))
    assert sprite.status_code == 200 and sprite.mimetype == "image/svg+xml"
    assert "immutable" in sprite.headers["Cache-Control"]
    ids = set(re.findall(r'id="([^"]+)"', sprite.get_data(as_text=True)))
    assert {"fond", "d-33", "d-75", "d-974", "z-75"} <= ids and {f"d-{code}" for *_, code in linked} <= ids
    assert client.get(unescape(sprite_url), headers={"If-None-Match": sprite.headers["ETag"]}).status_code == 304
    bars = re.findall(r'<meter min="0" max="(\d+)" value="(\d+)"', html)
    assert bars and all(int(v) <= int(m) for m, v in bars)
    assert "Résultats par thématique" in html


def test_the_results_partial_htmx_fetches_on_each_change_stays_small(client):
    # Sent again on every debounced keystroke, facet toggle and page turn: the map's outlines are not in it (they
    # were 128 KB of its 146 KB), and it travels compressed.
    for args in ({"q": "capteurs"}, {"q": "plateforme citoyenne participation"}, {"q": "logiciel", "page": "2"}):
        plain = client.get("/", query_string=args, headers={"HX-Request": "true"})
        assert plain.status_code == 200 and "map-link" in plain.get_data(as_text=True)
        assert "<path" not in plain.get_data(as_text=True)
        assert len(plain.get_data()) < 80_000, (args, len(plain.get_data()))
        sent = client.get("/", query_string=args, headers={"HX-Request": "true", "Accept-Encoding": "gzip"})
        assert sent.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in sent.headers["Vary"]
        assert gzip.decompress(sent.get_data()) == plain.get_data()
        assert len(sent.get_data()) < 30_000, (args, len(sent.get_data()))


def test_pages_holding_a_form_token_are_never_compressed(client):
    # A compressed page with a CSRF token and reflected input leaks the token to an attacker who can measure its
    # size (BREACH): only pages without secrets, like the results, are compressed.
    page = client.get("/fournisseurs/proposer", headers={"Accept-Encoding": "gzip, br"})
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)
    assert "Content-Encoding" not in page.headers


def test_accents_plurals_and_elision_are_optional(client):
    reference = hit_names(page(client, q="l'éclairage public", mode="keyword"))
    assert reference
    assert hit_names(page(client, q="eclairages publics", mode="keyword")) == reference
    assert hit_names(page(client, q="ECLAIRAGE PUBLIC", mode="keyword")) == reference


def test_supplier_page_shows_its_position_on_a_map(client):
    html = unescape(client.get("/fournisseurs/cantine-facile").get_data(as_text=True))
    figure = re.search(r'<figure class="position-map">(.*?)</figure>', html, re.S)
    assert figure and "<svg" in figure.group(1) and "<circle" in figure.group(1)
    assert "Position : Laval" in figure.group(1)


def test_strong_matches_are_counted_apart_from_the_neighbours(client):
    html = page(client, q="cantine")
    heading = re.search(r'<h2 id="results-title"[^>]*>(.*?)</h2>', html, re.S).group(1)
    assert re.search(r"\d+ fournisseurs? correspond(ent)? à « cantine » ; \d+ autres? résultats? proches?", heading)
    assert "Autres résultats proches, moins pertinents" in html and 'class="hits hits-weak"' in html
    assert "Inclure les résultats proches" in html and "proches=1" in html
    with_neighbours = page(client, q="cantine", proches="1")
    assert "Ne compter que les correspondances" in with_neighbours
    assert '<input type="hidden" name="proches" value="1">' in with_neighbours  # kept by facet changes


def test_a_need_nobody_answers_is_said_plainly_and_its_neighbours_listed(client):
    html = page(client, q="accordeur de piano pour l'école de musique")
    assert "Aucun fournisseur ne correspond vraiment à « accordeur de piano pour l'école de musique »" in html
    assert "Résultats proches, à vérifier" in html and hit_names(html)
    assert 'class="hits"' not in html.replace('class="hits hits-weak"', "")


# -- issue 21: commune suggestions and homonyms, page past the last, offered distances, results before filters -----
def notice_links(html: str, lead: str) -> list[tuple[dict, str]]:
    """(query arguments, text) of the links in the notice starting with `lead`."""
    notice = re.search(re.escape(lead) + r"(.*?)</p>", html, re.S)
    assert notice, f"no notice « {lead} »"
    return [(parse_qs(urlsplit(href).query), text)
            for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', notice.group(1))]


def test_a_commune_suggestion_replaces_the_commune_entered_and_is_resolved(client):
    html = page(client, q="cantine", commune="Sant-Nazer", rayon="100")
    links = notice_links(html, "Commune « Sant-Nazer » introuvable")
    assert [text for _, text in links[:3]] == ["Saint-Nazaire (44)", "Saint-Nazaire (66)", "Saint-Nazaire (30)"]
    args, _ = links[0]
    assert args["commune"] == ["Saint-Nazaire (44)"] and args["rayon"] == ["100"] and args["q"] == ["cantine"]
    chosen = page(client, **{name: values[0] for name, values in args.items()})
    assert "100 km au plus de Saint-Nazaire (44)" in chosen and "introuvable" not in chosen


def test_a_name_several_communes_bear_is_asked_and_the_search_runs_unfiltered(client):
    html = page(client, q="cantine", commune="Saint-Denis")
    links = notice_links(html, "Plusieurs communes portent ce nom :")
    assert [text for _, text in links] == ["Saint-Denis (974)", "Saint-Denis (93)", "Saint-Denis (11)",
                                           "Saint-Denis (30)"]
    assert all(args["commune"] == [text] and args["q"] == ["cantine"] for args, text in links)
    assert "km au plus de" not in html and 'class="distance"' not in html
    assert hit_names(html) == hit_names(page(client, q="cantine"))  # no distance filter
    exports = re.findall(r'href="(/[^"]*)" data-export=', html)
    assert exports and all("commune" not in href for href in exports)  # exports filter around nothing either
    chosen = page(client, q="cantine", commune="Saint-Denis (93)")
    assert "au plus de Saint-Denis (93)" in chosen and "Plusieurs communes" not in chosen


def test_a_page_past_the_last_shows_the_last(client):
    first = page(client, q="plateforme")
    last = int(re.search(r"Page 1 sur (\d+)", first).group(1))
    assert last > 1
    for asked in (last + 1, 999, 999_999):
        html = page(client, q="plateforme", page=str(asked))
        assert f"Page {last} sur {last}" in html and hit_names(html)
        assert 'rel="next"' not in html
    assert "Page 1 sur" in page(client, q="plateforme", page="-4")


@pytest.mark.parametrize(("asked", "applied"), [("9999", 200), ("1000", 200), ("30", 25), ("75", 100), ("1", 10),
                                                 ("-5", 10), ("12,5", 10)])
def test_a_distance_the_list_does_not_offer_is_brought_to_the_nearest_and_said(client, asked, applied):
    html = page(client, commune="Laval", rayon=asked)
    assert f"La distance « {asked} » n'est pas proposée : la plus proche, {applied} km, est appliquée." in html
    assert f'<option value="{applied}" selected>' in html and f"{applied} km au plus de Laval (53)" in html
    distances = [int(d) for d in re.findall(r'class="distance">à (\d+) km', html)]
    assert distances and max(distances) <= applied


def test_an_offered_distance_says_nothing_and_a_non_number_is_refused_in_french(client):
    assert "n'est pas proposée" not in page(client, commune="Laval", rayon="25")
    for bad in ("abc", "nan", "inf", "1e999"):
        response = client.get("/", query_string={"q": "cantine", "commune": "Laval", "rayon": bad})
        assert response.status_code == 400, bad
        assert "n&#39;est pas un nombre de kilomètres" in response.get_data(as_text=True)


def test_results_come_before_the_filters_with_a_skip_link_to_them(client):
    html = page(client, q="plateforme")
    assert html.index('id="results-title"') < html.index('class="facets"')
    assert re.search(r'<a class="skip-results" href="#liste-resultats">Aller aux résultats</a>', html)
    assert re.search(r'<div id="liste-resultats" class="hit-lists" tabindex="-1">\s*<ol class="hits"', html)
    assert re.search(r'<details class="filters" open data-fold="filters">\s*<summary>Filtres</summary>', html)
    assert re.search(r'rel="next"[^>]*data-focus-results', html)
    filtered = page(client, q="plateforme", region="Bretagne", commune="Laval")
    assert "<summary>Filtres <span class=\"count\">(2 actifs)</span></summary>" in filtered


def test_no_supplier_is_counted_in_words(client):
    html = page(client, region="Bretagne", department="13")  # no Breton supplier in the Bouches-du-Rhône
    heading = re.search(r'<h2 id="results-title">(.*?)</h2>', html, re.S).group(1)
    assert heading.strip() == "Aucun fournisseur référencé"
    assert not re.search(r"\b0 fournisseurs?\b", html)
