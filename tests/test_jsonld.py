"""schema.org JSON-LD on the supplier page: an Organization built from the stored profile, and no profile text
able to end the <script> element that carries it."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from search_app.public.jsonld import script_json
from vivier.db import Database
from vivier.models import Supplier
from vivier.profiles import upsert_profile
from vivier import taxonomy

JSONLD = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)
# A fixture supplier with a SIREN, an offer, a label, a position and a "&" in its name.
KNOWN_SLUG = "borne-cite"
HOSTILE_NAME = "</script><script>alert(1)</script> Acme & Cie"


def jsonld_of(client, slug: str) -> tuple[dict, str]:
    html = client.get(f"/fournisseurs/{slug}").get_data(as_text=True)
    blocks = JSONLD.findall(html)
    assert len(blocks) == 1, html[:2000]
    return json.loads(blocks[0]), html


def test_known_supplier_is_an_organization_with_its_profile(app, client):
    data, _ = jsonld_of(client, KNOWN_SLUG)
    with app.extensions["vivier"]["database"].session() as session:
        s = session.scalar(select(Supplier).where(Supplier.slug == KNOWN_SLUG))
        assert data["@context"] == "https://schema.org" and data["@type"] == "Organization"
        assert data["name"] == s.name == "Borne & Cité"
        assert data["url"] == f"http://localhost/fournisseurs/{KNOWN_SLUG}"
        assert data["sameAs"] == s.website and data["description"] == s.pitch
        assert data["identifier"] == {"@type": "PropertyValue", "propertyID": "SIREN", "value": s.siren}
        assert data["address"]["@type"] == "PostalAddress" and data["address"]["addressCountry"] == "FR"
        assert data["address"]["postalCode"] == s.postcode and data["address"]["addressLocality"] == s.commune
        assert data["geo"] == {"@type": "GeoCoordinates", "latitude": s.latitude, "longitude": s.longitude}
        assert data["knowsAbout"] == [taxonomy.CATEGORY_LABELS[c] for c in s.categories]
        assert data["award"] == [taxonomy.LABEL_LABELS[label] for label in s.labels]
        assert [o["itemOffered"]["name"] for o in data["makesOffer"]] == [o["name"] for o in s.offers]
        assert data["makesOffer"][0]["@type"] == "Offer" and data["makesOffer"][0]["itemOffered"]["@type"] == "Service"
        assert data["email"] == s.contact_email


def test_hostile_name_stays_inside_the_json(private_app):
    database: Database = private_app.extensions["vivier"]["database"]
    with database.session() as session:
        result = upsert_profile(session, {"name": HOSTILE_NAME, "pitch": "Texte <b>gras</b> & </SCRIPT >",
                                          "commune": "Brest", "postcode": "29200"}, "annuaire", "http://x/hostile")
        session.commit()
        slug = session.get(Supplier, result.supplier_id).slug
    data, html = jsonld_of(private_app.test_client(), slug)
    assert data["name"] == HOSTILE_NAME and data["description"] == "Texte <b>gras</b> & </SCRIPT >"
    assert "<script>alert(1)" not in html
    assert html.count("</script>") == html.count("<script")  # every script element ends where it should


def test_script_json_escapes_what_could_end_the_script():
    text = str(script_json({"a": "</script>&<!--\u2028"}))
    assert not set("<>&") & set(text) and "\u2028" not in text
    assert json.loads(text) == {"a": "</script>&<!--\u2028"}
