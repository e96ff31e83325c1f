"""Spider parsing on saved pages, each with the URL it was saved from."""

from pathlib import Path

from scrapy.http import HtmlResponse, Request

import pytest

from vivier.normalise import normalise_profile
from crawler.sources import parse_source_file
from crawler.spiders.directory import DirectorySpider, parse_detail

PAGES = Path(__file__).parent / "pages"
SOURCES = Path(__file__).resolve().parent.parent / "fixtures" / "sources.yaml"
BASE = "http://annuaire.example"


def saved(name: str, url: str) -> HtmlResponse:
    return HtmlResponse(url=url, body=(PAGES / name).read_bytes(), encoding="utf-8", request=Request(url))


@pytest.fixture(scope="module")
def annuaire():
    """The annuaire's declared layout, as the demo's source file gives it."""
    specs = parse_source_file(SOURCES, {"annuaire": BASE}, names=["annuaire"])
    return next(s for s in specs if s.name == "annuaire").config


def test_profile_page_fields(annuaire):
    item = parse_detail(saved("annuaire_cantine-facile.html", f"{BASE}/fournisseurs/cantine-facile.html"),
                        annuaire["detail"])
    assert item["name"] == "Cantine Facile & Cie"
    assert item["pitch"].startswith("Réservation des repas scolaires")
    assert item["description"].split("\n\n")[1] == "Le service <périscolaire> facture au réel et encaisse par PayFiP."
    assert item["categories"] == ["Restauration scolaire et périscolaire", "E-guichet et démarches en ligne"]
    assert item["labels"] == ["Entreprise de l'ESS", "Agrément ESUS"]
    assert item["keywords"] == ["PayFiP", "portail famille"]
    assert item["website"] == "https://www.cantine-facile.fr"
    assert item["siren"] == "732 829 320"
    assert (item["address"], item["postcode"], item["commune"], item["insee_code"]) == (
        "12 rue de la Paix", "29000", "Quimper", "29232")
    assert item["size_band"] == "10 à 49 salariés"
    assert item["contact_email"] == "mailto:contact@cantine-facile.fr"
    assert item["references"] == [{"client": "Ville de Quimper", "object": "Portail famille des 20 écoles",
                                   "year": "(2021)"}]
    assert item["offers"][0]["tiers"] == {"basic": "1 école", "medium": "jusqu'à 10 écoles",
                                          "complex": "plus de 10 écoles"}
    assert item["interoperability"] == {"standards": ["OpenAPI"], "api": "API REST documentée",
                                        "licence": "AGPL-3.0"}

    profile = normalise_profile(item)
    assert profile["categories"] == ["school-services", "e-services"]
    assert profile["labels"] == ["ess", "esus"]
    assert profile["siren"] == "732829320"
    assert profile["department"] == "29" and profile["size_band"] == "10-49"
    assert profile["latitude"] == 47.996 and profile["contact_email"] == "contact@cantine-facile.fr"
    assert profile["references"][0]["year"] == 2021


def test_listing_page_follows_profiles_and_next_page(annuaire):
    spider = DirectorySpider(source="annuaire", config=annuaire)
    requests = list(spider.parse(saved("annuaire_page-1.html", f"{BASE}/fournisseurs/page-1.html")))
    urls = [r.url for r in requests]
    assert f"{BASE}/fournisseurs/cantine-facile.html" in urls
    assert urls[-1] == f"{BASE}/fournisseurs/page-2.html"
    assert requests[-1].callback == spider.parse
    assert requests[0].callback == spider.parse_detail
    assert all(r.errback == spider.on_failure for r in requests)


def test_page_that_is_not_a_profile_gives_nothing(annuaire):
    assert parse_detail(saved("annuaire_page-1.html", f"{BASE}/fournisseurs/page-1.html"), annuaire["detail"]) is None


def test_spider_requires_a_source_name():
    with pytest.raises(ValueError):
        DirectorySpider()
