"""Reading companies from web pages (schema.org JSON-LD and microdata, OpenGraph, main text), on the fixture sites'
saved pages, each read from the address it is served at; expectations come from the fixture world."""

from pathlib import Path

import pytest
from scrapy.http import HtmlResponse, Request

from crawler.extract import organization_fields, read_page, title_name
from vivier.normalise import normalise_profile
from crawler.spiders.company_sites import company_profile, follow_links
from crawler.sources import DEFAULT_FOLLOW
from fixtures import world

SITES = Path(__file__).resolve().parent.parent / "fixtures" / "sites"
BASE = "http://vitrines.example"
WORLD = world.load_world()


def page(site: str, path: str, base: str = BASE) -> HtmlResponse:
    url = f"{base}/{path}"
    return HtmlResponse(url=url, body=(SITES / site / path).read_bytes(), encoding="utf-8", request=Request(url))


def first(style: str) -> dict:
    return next(c for c in world.vitrines_members(WORLD) if world.site_style(c) == style)


def harvest_site(c: dict) -> dict:
    """What the company-sites spider makes of a site: its home page and the pages it follows."""
    folder = world.site_folder(c)
    home = page("vitrines", f"{folder}/index.html")
    seed = {"url": f"{BASE}/{folder}/"}
    pages = [read_page(home.text, home.url)]
    for url in follow_links(home, seed["url"], list(DEFAULT_FOLLOW), 3):
        path = url.removeprefix(BASE + "/")
        if (SITES / "vitrines" / path).exists():
            pages.append(read_page(page("vitrines", path).text, url))
    return normalise_profile(company_profile(pages, seed))


@pytest.mark.parametrize("style", ["jsonld", "microdata", "opengraph", "plain"])
def test_each_style_of_company_site_gives_what_it_shows(style):
    c = first(style)
    profile = harvest_site(c)
    for field, expected in world.vitrines_view(c).items():
        got = profile[field]
        if field == "description":
            assert " ".join(expected.split()) in " ".join(got.split()), field
        elif field == "website":
            assert got.rstrip("/") == expected.rstrip("/")
        elif field in ("latitude", "longitude"):
            assert got == pytest.approx(expected)
        elif isinstance(expected, list):
            assert sorted(got) == sorted(expected), field
        else:
            assert str(got) == str(expected), field


def test_a_broken_json_ld_block_spoils_no_other():
    jsonld = [c for c in world.vitrines_members(WORLD) if world.site_style(c) == "jsonld"]
    c = jsonld[3]  # fixtures/sitegen/vitrines.py BROKEN_JSONLD_BLOCK
    home = page("vitrines", f"{world.site_folder(c)}/index.html")
    data = read_page(home.text, home.url)
    assert data.broken_structured_data == 1 and data.organization["name"] == c["name"]


def test_follow_links_stays_in_the_site_and_takes_about_and_solutions_pages():
    c = first("plain")
    folder = world.site_folder(c)
    home = page("vitrines", f"{folder}/index.html")
    links = follow_links(home, f"{BASE}/{folder}/", list(DEFAULT_FOLLOW), 5)
    assert links == [f"{BASE}/{folder}/a-propos.html", f"{BASE}/{folder}/solutions.html"]
    assert follow_links(home, f"{BASE}/{folder}/", list(DEFAULT_FOLLOW), 1) == links[:1]


@pytest.mark.parametrize("style", ["jsonld", "microdata"])
def test_incubator_pages_carry_the_startup_in_structured_data(style):
    c = next(c for c in world.incubateur_members(WORLD) if world.page_style(c) == style)
    response = page("incubateur", world.incubateur_page(c), "http://incubateur.example")
    profile = normalise_profile(company_profile([read_page(response.text, response.url)], {"url": response.url},
                                                own_site=False))
    view = world.incubateur_view(c)
    assert {k: profile[k] for k in ("name", "pitch", "website", "postcode", "commune", "founded_year")} == {
        "name": view["name"], "pitch": view["pitch"], "website": view["website"] + "/",
        "postcode": view["postcode"], "commune": view["commune"], "founded_year": view["founded_year"]}
    assert sorted(profile["labels"]) == sorted(view["labels"]) and profile["keywords"] == view["keywords"]
    assert profile["siren"] == view.get("siren")


def test_a_page_without_structured_data_is_not_a_profile():
    response = page("incubateur", "startups/projet-confidentiel.html", "http://incubateur.example")
    data = read_page(response.text, response.url)
    assert data.organization == {} and data.opengraph == {}
    assert "fin du programme" in data.main_text


def test_schema_org_identifiers_and_head_counts():
    base = {"@type": "Organization", "name": "Acme"}
    assert organization_fields({**base, "identifier": {"@type": "PropertyValue", "propertyID": "SIRET",
                                                       "value": "73282932000074"}})["siren"] == "73282932000074"
    assert organization_fields({**base, "vatID": "FR 44 732829320"})["siren"] == "732829320"
    assert organization_fields({**base, "iso6523Code": "0002:732829320"})["siren"] == "732829320"
    assert organization_fields({**base, "taxID": "732 829 320"})["siren"] == "732 829 320"
    assert organization_fields({**base, "numberOfEmployees": {"value": 35}})["size_band"] == "35"
    fields = organization_fields({**base, "description": "<p>Capteurs &amp; <b>LoRa</b></p>",
                                  "address": "12 rue de la Paix, 29000 Quimper", "knowsAbout": "LoRa, IoT"})
    assert fields["description"] == "Capteurs & LoRa" and fields["keywords"] == ["LoRa", "IoT"]
    profile = normalise_profile(fields)
    assert (profile["postcode"], profile["commune"], profile["address"]) == ("29000", "Quimper", "12 rue de la Paix")


@pytest.mark.parametrize("title, name", [
    ("Acme – Capteurs de remplissage", "Acme"), ("Accueil | Acme", "Acme"), ("Acme", "Acme"), ("Accueil", None),
])
def test_company_name_from_a_page_title(title, name):
    assert title_name(title) == name
