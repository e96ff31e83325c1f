"""schema.org JSON-LD of a supplier page (an `Organization`), for search engines and other readers of the page.

Built from the public profile only (what the page shows), and serialised so that no profile text can end the
`<script>` element that carries it.
"""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from vivier import taxonomy
from vivier.models import Supplier

SCHEMA_CONTEXT = "https://schema.org"
COUNTRY = "FR"
# Characters that could end the <script> element or open an HTML comment or entity inside it; written as JSON
# \u escapes they read the same to a JSON parser.
SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _address(supplier: Supplier) -> dict[str, Any] | None:
    parts = {"streetAddress": supplier.address, "postalCode": supplier.postcode,
             "addressLocality": supplier.commune, "addressRegion": supplier.region}
    parts = {k: v for k, v in parts.items() if v}
    if not parts:
        return None
    return {"@type": "PostalAddress", **parts, "addressCountry": COUNTRY}


def _offers(supplier: Supplier) -> list[dict[str, Any]]:
    offers = []
    for offer in supplier.offers or []:
        if not isinstance(offer, dict) or not offer.get("name"):
            continue
        service = {"@type": "Service", "name": offer["name"]}
        if offer.get("scope"):
            service["description"] = offer["scope"]
        offers.append({"@type": "Offer", "itemOffered": service})
    return offers


def organization(supplier: Supplier, page_url: str) -> dict[str, Any]:
    """The supplier as a schema.org Organization; empty fields are left out."""
    data: dict[str, Any] = {"@context": SCHEMA_CONTEXT, "@type": "Organization", "name": supplier.name,
                            "url": page_url}
    if supplier.website:
        data["sameAs"] = supplier.website
    if supplier.pitch:
        data["description"] = supplier.pitch
    address = _address(supplier)
    if address:
        data["address"] = address
    if supplier.latitude is not None and supplier.longitude is not None:
        data["geo"] = {"@type": "GeoCoordinates", "latitude": supplier.latitude, "longitude": supplier.longitude}
    if supplier.siren:
        data["identifier"] = {"@type": "PropertyValue", "propertyID": "SIREN", "value": supplier.siren}
    if supplier.categories:
        data["knowsAbout"] = [taxonomy.CATEGORY_LABELS.get(c, c) for c in supplier.categories]
    if supplier.labels:
        data["award"] = [taxonomy.LABEL_LABELS.get(label, label) for label in supplier.labels]
    offers = _offers(supplier)
    if offers:
        data["makesOffer"] = offers
    if supplier.contact_email:
        data["email"] = supplier.contact_email
    if supplier.contact_phone:
        data["telephone"] = supplier.contact_phone
    return data


def script_json(data: dict[str, Any]) -> Markup:
    """JSON safe to place between <script type="application/ld+json"> and </script>."""
    text = json.dumps(data, ensure_ascii=False)
    for char, escape in SCRIPT_ESCAPES.items():
        text = text.replace(char, escape)
    return Markup(text)
