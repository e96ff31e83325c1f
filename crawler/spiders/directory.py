"""Spider for a directory site: paginated listing pages linking to one page per supplier."""

from __future__ import annotations

from typing import Any, Iterator

import scrapy
from scrapy.http import Response

# Selectors of the "Annuaire Territoires Connectés" layout (the bundled fixture directory).
LISTING_LINKS = "ul.resultats a.carte-lien::attr(href)"
NEXT_PAGE = "nav.pagination a[rel=next]::attr(href)"
PROFILE = "article.fiche-fournisseur"


def _text(node) -> str:
    return " ".join(t.strip() for t in node.css("::text").getall() if t.strip())


def _definition(profile, term: str):
    """The <dd> that follows the <dt> whose text is `term`."""
    return profile.xpath(f".//dl/dt[normalize-space()='{term}']/following-sibling::dd[1]")


def parse_profile_page(response: Response) -> dict[str, Any] | None:
    """Raw profile fields of one supplier page (strings as shown), or None if the page is not a profile."""
    profile = response.css(PROFILE)
    if not profile or not profile.css("h1.fiche-nom"):
        return None
    geo = profile.css("p.fiche-geo")
    offers = []
    for offer in profile.css("section.fiche-offres div.offre"):
        tiers = {row.attrib.get("data-palier"): _text(row.css("td")) for row in offer.css("table.offre-paliers tr")}
        offers.append({
            "name": _text(offer.css("h3")),
            "scope": _text(offer.css("p.offre-perimetre")),
            "price_band": _text(offer.css("p.offre-prix span")),
            "tiers": tiers or None,
        })
    references = []
    for ref in profile.css("section.fiche-references li"):
        year = _text(ref.css("span.ref-annee")).strip("() ")
        references.append({
            "client": _text(ref.css(".ref-client")),
            "object": _text(ref.css(".ref-objet")),
            "year": int(year) if year.isdigit() else None,
        })
    interop = profile.css("section.fiche-interop")
    return {
        "name": _text(profile.css("h1.fiche-nom")),
        "pitch": _text(profile.css("p.fiche-accroche")),
        "description": "\n\n".join(_text(p) for p in profile.css("section.fiche-presentation p")),
        "categories": [_text(li) for li in profile.css("section.fiche-thematiques li")],
        "labels": [_text(li) for li in profile.css("section.fiche-labels li")],
        "keywords": [_text(li) for li in profile.css("section.fiche-technologies li")],
        "website": _definition(profile, "Site internet").css("a::attr(href)").get(),
        "siren": _text(_definition(profile, "SIREN")) or None,
        "address": _text(profile.css("span.adresse-rue")),
        "postcode": _text(profile.css("span.adresse-cp")),
        "commune": _text(profile.css("span.adresse-ville")),
        "insee_code": _text(_definition(profile, "Code commune INSEE")),
        "size_band": _text(_definition(profile, "Effectif")),
        "founded_year": _text(_definition(profile, "Création")),
        "contact_email": _definition(profile, "Contact").css("a::attr(href)").get(),
        "contact_phone": _text(_definition(profile, "Téléphone")) or None,
        "latitude": geo.attrib.get("data-lat") if geo else None,
        "longitude": geo.attrib.get("data-lon") if geo else None,
        "references": references,
        "offers": offers,
        "interoperability": {
            "standards": [_text(li) for li in interop.css("ul.interop-standards li")],
            "api": _text(interop.css("p.interop-api")) or None,
            "licence": _text(interop.css("p.interop-licence span")) or None,
        } if interop else {},
        "url": response.url,
    }


class DirectorySpider(scrapy.Spider):
    """Crawl a directory from its first listing page.

    scrapy crawl directory -a start_url=http://127.0.0.1:8000/fournisseurs/page-1.html -a source=annuaire
    """

    name = "directory"

    def __init__(self, start_url: str | None = None, source: str = "directory", *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not start_url:
            raise ValueError("DirectorySpider needs start_url (-a start_url=...)")
        self.start_urls = [start_url]
        self.source_name = source

    def parse(self, response: Response) -> Iterator[Any]:
        for href in response.css(LISTING_LINKS).getall():
            yield response.follow(href, callback=self.parse_profile)
        next_page = response.css(NEXT_PAGE).get()
        if next_page:
            yield response.follow(next_page, callback=self.parse)

    def parse_profile(self, response: Response) -> Iterator[dict[str, Any]]:
        item = parse_profile_page(response)
        if item is None:
            self.crawler.stats.inc_value("vivier/pages_not_profile")
            return
        yield item
