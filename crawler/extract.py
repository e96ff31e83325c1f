"""Read a company from a web page: schema.org Organization (JSON-LD, microdata), OpenGraph and meta tags, falling
back to the page's main text (trafilatura). Pure: HTML and URL in, raw profile fields out (strings as found;
vivier.normalise types and cleans them)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator

import extruct
import trafilatura
from parsel import Selector
from w3lib.html import remove_tags, replace_entities

from vivier.text import fold

# schema.org types that describe a company or an organisation offering services.
ORGANIZATION_TYPES = frozenset({
    "Organization", "Corporation", "LocalBusiness", "ProfessionalService", "NGO", "Cooperative",
    "OnlineBusiness", "EducationalOrganization", "GovernmentOrganization", "NonprofitOrganization",
    "HomeAndConstructionBusiness", "Electrician", "GeneralContractor", "EmploymentAgency", "SportsOrganization",
})
# identifier propertyID values (folded) that carry a SIREN or SIRET.
SIREN_PROPERTY_IDS = frozenset({"siren", "siret", "sirene", "fr-siren", "fr-siret", "0002", "0009"})
# trafilatura logs an ERROR for every page it finds no text in; for us that is an expected outcome.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
# Main text longer than this is cut: a profile description, not a whole website.
MAX_MAIN_TEXT_WORDS = 600
# Separators between a page title's parts ("Acme – Capteurs de remplissage").
TITLE_SEPARATORS = (" | ", " – ", " — ", " - ", " · ", " : ")
# Title parts that name the page, not the company ("Accueil | Acme").
GENERIC_TITLE_PARTS = frozenset({"accueil", "home", "bienvenue", "page d'accueil", "site officiel", "index"})


@dataclass
class PageData:
    """What one page says, before choosing between sources of fields."""

    url: str
    organization: dict[str, Any] = field(default_factory=dict)  # raw profile fields from schema.org
    opengraph: dict[str, str] = field(default_factory=dict)
    meta_description: str | None = None
    canonical: str | None = None
    title: str | None = None
    heading: str | None = None
    address_text: str | None = None
    main_text: str | None = None
    broken_structured_data: int = 0


def _types(node: dict[str, Any]) -> set[str]:
    raw = node.get("@type") or []
    raw = [raw] if isinstance(raw, str) else raw
    return {str(t).rsplit("/", 1)[-1] for t in raw}


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from _walk(item)
    elif isinstance(node, dict):
        yield node
        for value in node.values():
            if isinstance(value, (list, dict)):
                yield from _walk(value)


def json_ld_blocks(selector: Selector) -> tuple[list[Any], int]:
    """Parsed JSON-LD blocks of a page, and how many could not be parsed (one broken block spoils no other)."""
    blocks, broken = [], 0
    for script in selector.xpath("//script[@type='application/ld+json']/text()").getall():
        text = script.strip().removeprefix("<!--").removesuffix("-->").strip()
        if not text:
            continue
        try:
            blocks.append(json.loads(text, strict=False))
        except ValueError:
            broken += 1
    return blocks, broken


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = next((v for v in value if v), None)
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value") or value.get("value")
    if value is None:
        return None
    text = " ".join(replace_entities(remove_tags(str(value))).split())
    return text or None


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    items = value if isinstance(value, list) else [value]
    return [t for t in (_text(item) for item in items) if t]


def _siren(node: dict[str, Any]) -> str | None:
    for key in ("taxID", "iso6523Code", "leiCode"):
        value = _text(node.get(key))
        if value:
            return value.split(":", 1)[-1]
    identifiers = node.get("identifier")
    for identifier in identifiers if isinstance(identifiers, list) else [identifiers]:
        if isinstance(identifier, dict):
            if str(identifier.get("propertyID", "")).strip().lower() in SIREN_PROPERTY_IDS:
                return _text(identifier.get("value"))
        elif isinstance(identifier, (str, int)) and str(identifier).replace(" ", "").isdigit():
            return str(identifier)
    vat = _text(node.get("vatID"))
    if vat:
        compact = vat.replace(" ", "").upper()
        if compact.startswith("FR") and len(compact) == 13:
            return compact[4:]
    return None


def _employees(value: Any) -> str | None:
    if isinstance(value, dict):
        low, high = value.get("minValue"), value.get("maxValue")
        if low is not None and high is not None:
            return f"{low}-{high}"
        value = value.get("value") if value.get("value") is not None else low
    return None if value is None else str(value)


def _offers(node: dict[str, Any]) -> list[dict[str, Any]]:
    raw = node.get("makesOffer") or []
    catalog = node.get("hasOfferCatalog")
    if isinstance(catalog, dict):
        raw = (raw if isinstance(raw, list) else [raw]) + list(_walk(catalog.get("itemListElement") or []))
    offers = []
    for offer in raw if isinstance(raw, list) else [raw]:
        if not isinstance(offer, dict):
            continue
        offered = offer.get("itemOffered")
        item = offered if isinstance(offered, dict) else offer
        name = _text(item.get("name")) or _text(offer.get("name"))
        if not name or _types(offer) & {"OfferCatalog"}:
            continue
        price = offer.get("priceSpecification") or {}
        price_text = _text(offer.get("price")) or (_text(price.get("price")) if isinstance(price, dict) else None)
        if price_text and isinstance(price, dict) and price.get("priceCurrency"):
            price_text = f"{price_text} {price['priceCurrency']}"
        offers.append({"name": name, "scope": _text(item.get("description")) or _text(offer.get("description")),
                       "price_band": price_text, "tiers": None})
    return offers


def organization_fields(node: dict[str, Any]) -> dict[str, Any]:
    """Raw profile fields of one schema.org Organization node."""
    address = node.get("address")
    address = address[0] if isinstance(address, list) and address else address
    fields: dict[str, Any] = {
        "name": _text(node.get("legalName")) if not node.get("name") else _text(node.get("name")),
        "pitch": _text(node.get("slogan")) or _text(node.get("disambiguatingDescription")),
        "description": _text(node.get("description")),
        "website": _text(node.get("url")),
        "siren": _siren(node),
        "contact_email": _text(node.get("email")),
        "contact_phone": _text(node.get("telephone")),
        "founded_year": _text(node.get("foundingDate")),
        "size_band": _employees(node.get("numberOfEmployees")),
        "keywords": _names(node.get("knowsAbout")) + _names(node.get("keywords")),
        "labels": _names(node.get("award")) + _names(node.get("hasCredential")),
        "offers": _offers(node),
    }
    if isinstance(address, dict):
        fields.update(address=_text(address.get("streetAddress")), postcode=_text(address.get("postalCode")),
                      commune=_text(address.get("addressLocality")))
    elif isinstance(address, str):
        fields["address_text"] = _text(address)
    geo = node.get("geo")
    if isinstance(geo, dict):
        fields.update(latitude=_text(geo.get("latitude")), longitude=_text(geo.get("longitude")))
    return {k: v for k, v in fields.items() if v not in (None, "", [])}


def _best_organization(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    organizations = [n for n in nodes if _types(n) & ORGANIZATION_TYPES and (n.get("name") or n.get("legalName"))]
    if not organizations:
        return {}
    # The richest description of the organisation wins (a page may also name its publisher or clients).
    return max((organization_fields(n) for n in organizations), key=len)


def read_page(html: str, url: str, with_main_text: bool = True) -> PageData:
    """Everything a page says about the company it presents."""
    selector = Selector(text=html)
    page = PageData(url=url)
    blocks, page.broken_structured_data = json_ld_blocks(selector)
    nodes = list(_walk(blocks))
    organization = _best_organization(nodes)
    if not organization:
        try:
            microdata = extruct.extract(html, base_url=url, syntaxes=["microdata"], uniform=True)["microdata"]
        except Exception:  # noqa: BLE001 - extruct raises whatever its parsers raise; the page is then plain HTML
            microdata = []
            page.broken_structured_data += 1
        organization = _best_organization(list(_walk(microdata)))
    page.organization = organization
    for meta in selector.xpath("//meta[starts-with(@property, 'og:')]"):
        content = " ".join((meta.attrib.get("content") or "").split())
        if content:
            page.opengraph.setdefault(meta.attrib["property"], content)
    page.meta_description = _text(selector.xpath("//meta[@name='description']/@content").get())
    page.canonical = selector.xpath("//link[@rel='canonical']/@href").get()
    page.title = _text(selector.xpath("//title/text()").get())
    page.heading = _text(" ".join(selector.xpath("(//h1)[1]//text()").getall()))
    page.address_text = _text(" ".join(selector.xpath("(//address)[1]//text()").getall()))
    if with_main_text:
        text = trafilatura.extract(html, url=url, favor_precision=True, include_comments=False,
                                   include_tables=False, deduplicate=True)
        if text and page.heading and text.startswith(page.heading):
            text = text[len(page.heading):].lstrip()  # the page's title ("Qui sommes-nous ?") is not content
        if text:
            words = text.split(" ")
            page.main_text = " ".join(words[:MAX_MAIN_TEXT_WORDS]) if len(words) > MAX_MAIN_TEXT_WORDS else text
    return page


def title_name(title: str | None) -> str | None:
    """The company part of a page title: "Acme – Capteurs de remplissage" and "Accueil | Acme" -> "Acme"."""
    if not title:
        return None
    parts = [title]
    for separator in TITLE_SEPARATORS:
        if separator in title:
            parts = [p.strip() for p in title.split(separator)]
            break
    named = [p for p in parts if p and fold(p) not in GENERIC_TITLE_PARTS]
    return named[0] if named else None
