"""Company-site, sitemap and feed spiders on saved pages (tests/pages/), each fed to the spider's callbacks with
the address it was saved from: what every page gives, field by field, and what it counts. The organisations are
invented. tests/test_spider.py does the same for the directory spider."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import DownloadConnectionRefusedError
from scrapy.http import HtmlResponse, Request, Response, TextResponse, XmlResponse
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from crawler.sources import parse_source, parse_source_file
from crawler.spiders.company_sites import CompanySitesSpider
from crawler.spiders.feed import FeedSpider
from crawler.spiders.sitemap import SitemapSourceSpider
from vivier.normalise import normalise_profile

PAGES = Path(__file__).parent / "pages"
SOURCES = Path(__file__).resolve().parent.parent / "fixtures" / "sources.yaml"


def saved(name: str, url: str, cls: type[TextResponse] = HtmlResponse, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> TextResponse:
    data = (PAGES / name).read_bytes() if body is None else body
    return cls(url=url, body=data, request=Request(url), headers=headers,
               **({"encoding": "utf-8"} if cls is HtmlResponse else {}))


def make_spider(cls, config: dict[str, Any], name: str = "essai"):
    """A spider with a crawler of its own (its counters), as Scrapy builds it, without any download."""
    crawler = get_crawler(cls)
    return cls.from_crawler(crawler, source=name, config=config)


def counters(spider) -> dict[str, Any]:
    stats = spider.crawler.stats.get_stats()
    return {key.removeprefix("vivier/"): value for key, value in stats.items() if key.startswith("vivier/") and value}


# -- company sites ------------------------------------------------------------------------------------------------
def site_config(seed_url: str, **changes: Any) -> dict[str, Any]:
    """The vitrines source's declaration (follow patterns, page limit), for one seed."""
    raw = {"name": "vitrines", "kind": "company-sites", "seeds": [{"url": seed_url}], **changes}
    return parse_source(raw).config


def crawl_site(spider, pages: dict[str, str]) -> list[Any]:
    """Run a site's callbacks as Scrapy would, answering each request with the saved page of its URL, and return
    the records (and the requests asked for on the way, in `spider.asked`)."""
    spider.asked = []
    seed = spider.config["seeds"][0]
    pending = list(spider.parse_home(saved(pages[seed["url"]], seed["url"]), seed=seed))
    items = []
    while pending:
        output = pending.pop(0)
        if isinstance(output, Request):
            spider.asked.append(output)
            assert output.callback == spider.parse_more and output.errback == spider.more_failed
            pending += list(output.callback(saved(pages[output.url], output.url), **output.cb_kwargs))
        else:
            items.append(output)
    return items


def test_a_json_ld_site_gives_its_organisation_and_the_about_page_its_address():
    home, about = "https://www.terreau-commun.fr/", "https://www.terreau-commun.fr/qui-sommes-nous.html"
    spider = make_spider(CompanySitesSpider, site_config(home))
    (item,) = crawl_site(spider, {home: "vitrine-jsonld_accueil.html", about: "vitrine-jsonld_qui-sommes-nous.html"})
    # Only the site's own "about" page is followed: not the page itself, an anchor, a mail link, another site, or
    # a page no pattern names.
    assert [r.url for r in spider.asked] == [about]
    assert item["url"] == item["record_key"] == home
    assert item["name"] == "Terreau Commun"  # schema.org's name, before its legal name and OpenGraph's
    assert item["pitch"] == "Le compostage partagé pour les communes rurales"
    assert item["description"] == ("Terreau Commun installe et anime des sites de compostage partagé dans les bourgs, "
                                   "les cantines et les jardins familiaux.")
    assert item["website"] == "https://www.terreau-commun.fr"
    assert item["siren"] == "412 530 008"
    assert (item["contact_email"], item["contact_phone"]) == ("bonjour@terreau-commun.fr", "02 99 00 11 22")
    assert (item["founded_year"], item["size_band"]) == ("2016", "10-19")
    assert item["keywords"] == ["compostage", "biodéchets"]
    assert item["labels"] == ["Entreprise de l'ESS"]
    assert item["offers"] == [{"name": "Site de compostage clé en main",
                               "scope": "Bacs, signalétique et formation des référents de quartier",
                               "price_band": "3500 EUR", "tiers": None}]
    assert item["address_text"] == "3 rue des Tanneurs, 35000 Rennes"  # the home page gives no address
    profile = normalise_profile(item)
    assert (profile["siren"], profile["postcode"], profile["commune"]) == ("412530008", "35000", "Rennes")
    assert profile["labels"] == ["ess"]
    assert counters(spider) == {}


def test_a_microdata_site_read_for_its_text_counts_its_broken_json_ld():
    home, society = "https://lumiere-des-marais.example/", "https://lumiere-des-marais.example/societe/"
    solutions = "https://lumiere-des-marais.example/solutions/telegestion.html"
    spider = make_spider(CompanySitesSpider, site_config(home, description="text", max_pages=2))
    (item,) = crawl_site(spider, {home: "vitrine-microdata_accueil.html", society: "vitrine-microdata_societe.html"})
    assert [r.url for r in spider.asked] == [society]  # max_pages 2: the home page and one more
    assert solutions not in [r.url for r in spider.asked]
    assert item["name"] == "Lumière des Marais"
    # "text": the pages' main text describes; the structured description becomes the pitch.
    assert item["description"].startswith("Lumière des Marais conçoit avec les communes du Marais poitevin")
    assert "rapport remis chaque trimestre aux services techniques." in item["description"]
    assert item["pitch"] == "Rénovation de l'éclairage public en LED pilotées et extinction nocturne concertée."
    assert item["siren"] == "827910001"  # from the intra-community VAT number
    assert (item["address"], item["postcode"], item["commune"]) == ("8 quai de la Sèvre", "79000", "Niort")
    assert item["website"] == "https://lumiere-des-marais.example"
    assert item["contact_email"] == "mailto:contact@lumiere-des-marais.example"
    assert normalise_profile(item)["contact_email"] == "contact@lumiere-des-marais.example"
    assert "address_text" not in item
    assert counters(spider) == {"structured_data_broken": 1}


def test_a_site_without_structured_data_falls_back_on_opengraph_and_its_pages_text():
    home = "https://www.atelier-pas-de-cote.example/atelier/"
    about = "https://www.atelier-pas-de-cote.example/atelier/a-propos.html"
    spider = make_spider(CompanySitesSpider, site_config(home))
    (item,) = crawl_site(spider, {home: "vitrine-opengraph_accueil.html", about: "vitrine-opengraph_a-propos.html"})
    # A site in a sub-folder of a shared host: the neighbour's "about" page is not its own.
    assert [r.url for r in spider.asked] == [about]
    assert item["name"] == "Atelier Pas de Côté"  # og:site_name, not the page's "Bienvenue"
    assert item["pitch"] == "Mobilier urbain en bois local, conçu avec les habitants."  # before the meta description
    assert item["description"].startswith("Atelier Pas de Côté est une menuiserie d'insertion installée à Limoges")
    assert "l'entretien pendant trois ans." in item["description"]
    assert item["website"] == "https://www.atelier-pas-de-cote.example/"  # og:url, before the canonical link
    assert item["address_text"] == "Atelier Pas de Côté, 14 avenue du Général-Leclerc, 87000 Limoges"
    assert set(item) == {"name", "pitch", "description", "website", "address_text", "url", "record_key"}


def test_a_site_whose_about_page_fails_still_gives_its_record():
    home = "https://www.terreau-commun.fr/"
    spider = make_spider(CompanySitesSpider, site_config(home))
    seed = spider.config["seeds"][0]
    (request,) = spider.parse_home(saved("vitrine-jsonld_accueil.html", home), seed=seed)

    failure = Failure(DownloadConnectionRefusedError("refused"))
    failure.request = request  # as Scrapy hands it to an errback
    (item,) = spider.more_failed(failure)
    assert item["name"] == "Terreau Commun" and "address_text" not in item
    assert counters(spider) == {"pages_failed": 1, "pages_failed/connection refused": 1,
                                "failure_samples": [f"{request.url}: connection refused"]}


def test_a_seed_that_is_not_a_page_is_counted():
    spider = make_spider(CompanySitesSpider, site_config("https://plaquette.example/offre.pdf"))
    response = Response("https://plaquette.example/offre.pdf", body=b"%PDF-1.4", request=Request("https://x"))
    assert list(spider.parse_home(response, seed=spider.config["seeds"][0])) == []
    assert counters(spider) == {"pages_not_html": 1}


# -- sitemaps -----------------------------------------------------------------------------------------------------
INCUBATOR = "https://incubateur-loire.example"


@pytest.fixture()
def sitemap_spider():
    config = parse_source({"name": "incubateur", "kind": "sitemap", "sitemap_urls": ["{incubateur}/robots.txt"],
                           "rules": ["/startups/"]}, {"incubateur": INCUBATOR}).config
    return make_spider(SitemapSourceSpider, config, "incubateur")


def test_robots_txt_leads_to_the_sitemap_index_and_the_index_to_every_sitemap(sitemap_spider):
    (request,) = sitemap_spider.parse_sitemap(saved("incubateur_robots.txt", f"{INCUBATOR}/robots.txt",
                                                    TextResponse))
    assert request.url == f"{INCUBATOR}/sitemap-index.xml" and request.callback == sitemap_spider.parse_sitemap
    requests = list(sitemap_spider.parse_sitemap(saved("incubateur_sitemap-index.xml", request.url, XmlResponse)))
    # A sitemap index's entries are all followed (no `follow` declared), relative ones made absolute.
    assert [r.url for r in requests] == [f"{INCUBATOR}/sitemap-startups.xml.gz", f"{INCUBATOR}/sitemap-evenements.xml"]
    assert all(r.callback == sitemap_spider.parse_sitemap and r.errback == sitemap_spider.on_failure
               for r in requests)


def test_a_gzipped_sitemap_gives_the_pages_its_rules_match(sitemap_spider):
    body = gzip.compress((PAGES / "incubateur_sitemap-startups.xml").read_bytes())
    response = saved("incubateur_sitemap-startups.xml", f"{INCUBATOR}/sitemap-startups.xml.gz", TextResponse,
                     body=body)
    requests = list(sitemap_spider.parse_sitemap(response))
    # Not /programme.html (no rule matches it), not the empty entry; the path given as a location made absolute.
    assert [r.url for r in requests] == [f"{INCUBATOR}/startups/hydrolia.html", f"{INCUBATOR}/startups/bouclette.html",
                                         f"{INCUBATOR}/startups/sans-donnees.html"]
    assert all(r.callback == sitemap_spider.parse_page for r in requests)
    assert counters(sitemap_spider) == {}


def test_a_sitemap_that_is_not_xml_is_counted(sitemap_spider):
    response = saved("incubateur_sans-donnees.html", f"{INCUBATOR}/sitemap-evenements.xml", TextResponse)
    assert list(sitemap_spider.parse_sitemap(response)) == []
    assert counters(sitemap_spider) == {"sitemaps_invalid": 1}


def test_a_startup_page_gives_the_startup_not_its_incubator(sitemap_spider):
    url = f"{INCUBATOR}/startups/hydrolia.html"
    (item,) = sitemap_spider.parse_page(saved("incubateur_hydrolia.html", url))
    assert item["url"] == item["record_key"] == url
    # The richest Organization of the page's graph: the startup, not the incubator that publishes the page.
    assert item["name"] == "Hydrolia"
    assert item["pitch"] == "Détection des fuites d'eau potable"
    assert item["description"].startswith("Hydrolia détecte les fuites des réseaux d'eau potable communaux")
    assert item["website"] == "https://www.hydrolia.example"  # its own, from its data
    assert item["siren"] == "533180006"
    assert item["founded_year"] == "2021-05-10"
    assert (item["address"], item["postcode"], item["commune"]) == ("2 rue de la Fonderie", "44200", "Nantes")
    assert (item["latitude"], item["longitude"]) == ("47.2008", "-1.5436")
    assert item["keywords"] == ["eau potable", "capteurs", "réseaux"]


def test_a_page_with_opengraph_only_is_a_profile_without_the_incubators_address(sitemap_spider):
    url = f"{INCUBATOR}/startups/bouclette.html"
    (item,) = sitemap_spider.parse_page(saved("incubateur_bouclette.html", url))
    assert item["name"] == "Bouclette"  # the company part of the page's title
    assert item["pitch"] == "Location de vêtements de travail réemployés pour les services techniques."
    assert "website" not in item  # a page about the startup on the incubator's site: not its website
    assert item["address_text"] == "5 boulevard Léon-Bureau, 44200 Nantes"


def test_a_page_without_any_data_is_not_a_profile(sitemap_spider):
    url = f"{INCUBATOR}/startups/sans-donnees.html"
    assert list(sitemap_spider.parse_page(saved("incubateur_sans-donnees.html", url))) == []
    assert counters(sitemap_spider) == {"pages_not_profile": 1}


# -- feeds --------------------------------------------------------------------------------------------------------
OPENDATA = "https://data.example"


def declared(name: str) -> dict[str, Any]:
    (spec,) = parse_source_file(SOURCES, {"opendata": OPENDATA}, names=[name])
    return spec.config


def test_a_windows_1252_csv_registry_gives_one_record_per_row_and_reports_the_broken_one():
    spider = make_spider(FeedSpider, declared("registre-esus"), "registre-esus")
    url = f"{OPENDATA}/esus.csv"
    items = list(spider.parse(saved("registre_esus.csv", url, TextResponse,
                                    headers={"Content-Type": "text/csv"})))
    assert [{k: v for k, v in i.items() if k != "url"} for i in items] == [
        {"siren": "744220005", "name": "LES JARDINS DE L'ÉCLUSE", "postcode": "21000", "commune": "DIJON",
         "labels": ["ESUS"], "record_key": "744220005"},
        # a quoted cell may hold the separator
        {"siren": "650390008", "name": "RESSOURCERIE LA CLÉ ; DES CHAMPS", "postcode": "71100",
         "commune": "CHALON-SUR-SAÔNE", "labels": ["ESUS"], "record_key": "650390008"},
        # without its key column, a row is keyed by its name and place
        {"siren": "", "name": "SANS SIREN COOP", "postcode": "58000", "commune": "NEVERS", "labels": ["ESUS"],
         "record_key": items[2]["record_key"]},
    ]
    assert items[2]["record_key"].startswith("row:") and all(i["url"] == url for i in items)
    assert counters(spider) == {"rows_broken": 1, "notices_count": 1,
                                "notices": [f"{url} line 4: 2 cells for 5 columns"]}
    assert normalise_profile(items[0])["labels"] == ["esus"]


def test_a_json_feed_reads_its_records_under_the_declared_key():
    spider = make_spider(FeedSpider, declared("french-tech"), "french-tech")
    url = f"{OPENDATA}/french-tech.json"
    first, second = spider.parse(saved("french-tech.json", url, TextResponse,
                                       headers={"Content-Type": "application/json"}))
    assert first == {"name": "Capteo Rivières", "website": "https://www.capteo-rivieres.example",
                     "siren": "906640008", "commune": "Grenoble", "postcode": "38000",
                     "categories": "Qualité de l'eau", "labels": "French Tech", "url": url,
                     "record_key": "906640008"}
    assert second["name"] == "Ombrelle Numérique" and second["website"] is None and second["siren"] == ""
    assert second["record_key"].startswith("row:")
    assert counters(spider)["notices"] == [f"{url} record 2: record 2 is a JSON str, not an object"]


def test_a_json_lines_feed_reads_nested_columns_and_reports_each_bad_line():
    config = parse_source({"name": "collectif", "kind": "feed", "url": f"{OPENDATA}/collectif.jsonl", "key": "siren",
                           "fields": {"name": "raison_sociale", "siren": "siren", "commune": "adresse.ville",
                                      "postcode": "adresse.cp", "description": "activite"}}).config
    spider = make_spider(FeedSpider, config, "collectif")
    url = f"{OPENDATA}/collectif.jsonl"
    first, second = spider.parse(saved("collectif.jsonl", url, TextResponse))
    assert first == {"name": "Cyclopolis SCIC", "siren": "412530008", "commune": "Tours", "postcode": "37000",
                     "description": "Vélos-cargos pour les services municipaux", "url": url,
                     "record_key": "412530008"}
    # A line separator inside a string does not cut the record; the line's \r\n is JSON Lines' own.
    assert second["name"] == "Au Fil\u2028de l’Eau" and second["commune"] == "Angers"
    notices = counters(spider)["notices"]
    assert [n.split(": ", 1)[0] for n in notices] == [f"{url} line 3", f"{url} line 4"]
    assert notices[0].endswith(")") and "invalid JSON" in notices[0]
    assert notices[1] == f"{url} line 4: a JSON list, not an object"


def test_a_feed_that_cannot_be_read_is_reported_not_stored():
    spider = make_spider(FeedSpider, declared("french-tech"), "french-tech")
    url = f"{OPENDATA}/french-tech.json"
    # Valid JSON, but no list under the declared key.
    assert list(spider.parse(saved("french-tech.json", url, TextResponse, body=b'{"data": {"nom": "X"}}'))) == []
    assert counters(spider)["feeds_invalid"] == 1
    assert counters(spider)["notices"] == [
        f"{url}: the feed could not be read (the feed holds no list of records under 'data')"]
