"""sitemap.xml and robots.txt: public pages only, absolute URLs, on VIVIER_BASE_URL when it is set."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

from sqlalchemy import select

from vivier.models import SEARCHABLE_STATUSES, STATUS_HIDDEN, STATUS_MERGED, Buyer, Project, Supplier
from vivier.projects import PROJECT_DRAFT, PROJECT_PUBLISHED

NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
LASTMOD = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")
T0 = datetime(2026, 1, 5, 10, 0)


def sitemap_of(client) -> dict[str, str | None]:
    response = client.get("/sitemap.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    root = ET.fromstring(response.data)
    assert root.tag == f"{NS}urlset"
    return {url.findtext(f"{NS}loc"): url.findtext(f"{NS}lastmod") for url in root.iter(f"{NS}url")}


def add_project(session, buyer: Buyer, slug: str, status: str) -> None:
    session.add(Project(slug=slug, buyer_id=buyer.id, title=slug, contract_model="marche-public",
                        deadline=T0 + timedelta(days=60), status=status, updated_at=T0))


def test_sitemap_lists_public_pages_only(private_app):
    database = private_app.extensions["vivier"]["database"]
    with database.session() as session:
        suppliers = session.scalars(select(Supplier).order_by(Supplier.id)).all()
        hidden, merged = suppliers[0], suppliers[1]
        hidden.status, merged.status, merged.merged_into_id = STATUS_HIDDEN, STATUS_MERGED, suppliers[2].id
        buyer = Buyer(email="achats@brest-metropole.fr", organisation="Brest métropole", verified=True)
        session.add(buyer)
        session.flush()
        add_project(session, buyer, "projet-public", PROJECT_PUBLISHED)
        add_project(session, buyer, "projet-brouillon", PROJECT_DRAFT)
        session.commit()
        public = {s.slug for s in session.scalars(select(Supplier).where(Supplier.status.in_(SEARCHABLE_STATUSES)))}
        hidden_slug, merged_slug = hidden.slug, merged.slug
    urls = sitemap_of(private_app.test_client())
    root = "http://localhost"
    assert {root + "/", root + "/projets", root + "/donnees-ouvertes"} <= set(urls)
    listed_suppliers = {u.rsplit("/", 1)[1] for u in urls if u.startswith(root + "/fournisseurs/")}
    assert listed_suppliers == public and hidden_slug not in listed_suppliers and merged_slug not in listed_suppliers
    assert root + "/projets/projet-public" in urls and root + "/projets/projet-brouillon" not in urls
    assert urls[root + "/projets/projet-public"] == "2026-01-05T10:00:00+00:00"
    assert all(u.startswith(root + "/") for u in urls)
    assert all(LASTMOD.fullmatch(m) for u, m in urls.items() if "/fournisseurs/" in u)


def test_sitemap_and_robots_use_the_base_url(private_settings, encoder):
    from search_app import create_app

    app = create_app(private_settings.with_overrides(base_url="https://vivier.example.fr"), encoder)
    client = app.test_client()
    assert all(u.startswith("https://vivier.example.fr/") for u in sitemap_of(client))
    robots = client.get("/robots.txt")
    assert robots.mimetype == "text/plain"
    assert "Sitemap: https://vivier.example.fr/sitemap.xml" in robots.get_data(as_text=True).splitlines()


def test_robots_keeps_crawlers_off_private_pages(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "User-agent: *" and "Allow: /" in lines
    for path in ("/moderation/", "/acheteurs/", "/fournisseurs/*/modifier", "/acces/", "/revendiquer/"):
        assert f"Disallow: {path}" in lines
    assert not any(line in ("Disallow: /", "Disallow: /fournisseurs/", "Disallow: /projets/") for line in lines)
    assert "Sitemap: http://localhost/sitemap.xml" in lines
