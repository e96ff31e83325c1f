"""The site described for machines and reusers: sitemap.xml, robots.txt, and the open-data page and files."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from datetime import datetime

from flask import Blueprint, Response, current_app, render_template, request, send_from_directory, url_for
from sqlalchemy import select

from search_app.context import settings
from vivier import opendata
from vivier.models import SEARCHABLE_STATUSES, Project, Supplier
from vivier.projects import PUBLIC_STATUSES

log = logging.getLogger(__name__)
bp = Blueprint("opendata", __name__)

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
# The sitemaps.org limit of one file. Beyond it the sitemap keeps the pages listed first (site pages, then
# projects and suppliers by id) and logs a warning: a sitemap index is the next step when the directory grows so.
SITEMAP_MAX_URLS = 50_000
# Pages no crawler should index: private links, sign-in, back-office, forms and per-visitor pages.
ROBOTS_DISALLOW = (
    "/moderation/", "/acheteurs/", "/acces/", "/revendiquer/", "/selection", "/recherche/",
    "/fournisseurs/proposer", "/fournisseurs/*/modifier", "/fournisseurs/*/revendiquer", "/fournisseurs/*/alertes",
    "/fournisseurs/*/supprimer", "/fournisseurs/*/masquer", "/projets/nouveau", "/projets/*/modifier",
    "/projets/*/proposition", "/projets/*/propositions",
)


def site_root() -> str:
    """The site's address without a trailing slash: VIVIER_BASE_URL, else the address the request came to."""
    return settings().base_url or request.url_root.rstrip("/")


def lastmod(moment: datetime | None) -> str | None:
    """W3C datetime of a naive UTC time, as sitemaps want it."""
    return moment.isoformat(timespec="seconds") + "+00:00" if moment else None


def sitemap_xml(entries: list[tuple[str, datetime | None]]) -> bytes:
    """A sitemaps.org urlset of (absolute URL, last change) pairs."""
    ET.register_namespace("", SITEMAP_NS)
    urlset = ET.Element(f"{{{SITEMAP_NS}}}urlset")
    for location, changed in entries:
        url = ET.SubElement(urlset, f"{{{SITEMAP_NS}}}url")
        ET.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = location
        if changed is not None:
            ET.SubElement(url, f"{{{SITEMAP_NS}}}lastmod").text = lastmod(changed)
    return ET.tostring(urlset, encoding="utf-8", xml_declaration=True)


def robots_txt(root: str) -> str:
    lines = ["User-agent: *", *(f"Disallow: {path}" for path in ROBOTS_DISALLOW), "Allow: /", "",
             f"Sitemap: {root}{url_for('opendata.sitemap')}", ""]
    return "\n".join(lines)


def _public_entries(session, root: str, limit: int) -> list[tuple[str, datetime | None]]:
    projects = session.execute(select(Project.slug, Project.updated_at)
                               .where(Project.status.in_(PUBLIC_STATUSES)).order_by(Project.id).limit(limit))
    suppliers = session.execute(select(Supplier.slug, Supplier.updated_at)
                                .where(Supplier.status.in_(SEARCHABLE_STATUSES)).order_by(Supplier.id).limit(limit))
    entries = [(root + url_for("projects.detail", slug=slug), changed) for slug, changed in projects]
    entries += [(root + url_for("suppliers.detail", slug=slug), changed) for slug, changed in suppliers]
    return entries


@bp.get("/sitemap.xml")
def sitemap():
    root = site_root()
    entries: list[tuple[str, datetime | None]] = [
        (root + url_for(endpoint), None) for endpoint in ("search.index", "projects.index", "opendata.index")]
    with current_app.extensions["vivier"]["database"].session() as session:
        entries += _public_entries(session, root, SITEMAP_MAX_URLS)
    if len(entries) > SITEMAP_MAX_URLS:
        log.warning("sitemap.xml truncated to %d of %d pages", SITEMAP_MAX_URLS, len(entries))
        entries = entries[:SITEMAP_MAX_URLS]
    return Response(sitemap_xml(entries), mimetype="application/xml")


@bp.get("/robots.txt")
def robots():
    return Response(robots_txt(site_root()), mimetype="text/plain")


@bp.get("/donnees-ouvertes")
def index():
    directory = opendata.opendata_dir(settings())
    package = opendata.read_package(directory)
    generated_at = count = None
    if package:
        try:
            generated_at = datetime.fromisoformat(package["created"].removesuffix("Z"))
            count = next((r.get("count") for r in package.get("resources", [])), None)
        except (AttributeError, KeyError, TypeError, ValueError):  # not a descriptor we wrote: none shown
            package = None
    files = [(name, (directory / name).stat().st_size) for name in opendata.CONTENT_TYPES
             if package and (directory / name).is_file()]
    return render_template("opendata/index.html", package=package, generated_at=generated_at, files=files, count=count,
                           licence_title=opendata.LICENCE_TITLE, licence_url=opendata.LICENCE_URL)


@bp.get("/donnees-ouvertes/<name>")
def download(name: str):
    directory = opendata.opendata_dir(settings())
    if name not in opendata.CONTENT_TYPES or not (directory / name).is_file():
        known = name in opendata.CONTENT_TYPES
        return render_template("opendata/missing.html", name=name, known=known), 404
    response = send_from_directory(directory, name, max_age=0)
    response.headers["Content-Type"] = opendata.CONTENT_TYPES[name]  # as given: werkzeug would add a charset twice
    response.headers["Access-Control-Allow-Origin"] = "*"  # open data: readable by any site's scripts
    return response
