"""Search by purchasing central and by interoperability facts, on the crawled fixture index: the central filter
reads the database at query time, so an expired referencing stops matching the day after its end, with no
re-indexing; results show "achetable via" badges; the interoperability facet comes from the profiles."""

from __future__ import annotations

import re
from datetime import date, datetime
from html import unescape

from sqlalchemy import select

from tests.test_buyers import database, set_clock
from vivier import centrals
from vivier.models import Supplier

TODAY = datetime(2026, 3, 2, 10, 0)
AFTER_END = datetime(2027, 1, 2, 10, 0)


def hit_slugs(html: str) -> list[str]:
    return [unescape(n) for n in re.findall(r'<li class="hit">\s*<h3><a href="/fournisseurs/([^"]+)">', html)]


def total(html: str) -> int:
    return int(re.search(r'<h2 id="results-title">\s*(\d+) fournisseur', html).group(1))


def referenced(private_app) -> tuple[Supplier, Supplier, str]:
    """Two waste suppliers of the fixture directory: the first referenced until the end of 2026, the second's
    referencing already expired on TODAY. Returns them and the central's slug."""
    with database(private_app).session() as session:
        waste = [s for s in session.scalars(select(Supplier).order_by(Supplier.id))
                 if "waste" in (s.categories or [])][:2]
        central = centrals.save_central(session, name="Centrale de test des Ardennes", kind="centrale")
        centrals.add_referencing(session, central, waste[0], theme="waste", contract_type="accord-cadre",
                                 start_date=date(2025, 1, 1), end_date=date(2026, 12, 31), lot="Lot 1 : déchets")
        centrals.add_referencing(session, central, waste[1], theme="waste", contract_type="accord-cadre",
                                 start_date=date(2023, 1, 1), end_date=date(2025, 6, 30))
        session.expunge_all()
        return waste[0], waste[1], central.slug


def test_the_central_filter_keeps_what_is_purchasable_today_and_follows_the_calendar(private_app):
    first, second, slug = referenced(private_app)
    set_clock(private_app, TODAY)
    client = private_app.test_client()
    assert total(client.get("/?q=collecte+des+déchets").get_data(as_text=True)) > 2

    for value in ("toutes", slug):
        page = client.get(f"/?q=collecte+des+déchets&centrale={value}").get_data(as_text=True)
        assert hit_slugs(page) == [first.slug]
        assert "Achetable via Centrale de test des Ardennes" in page and "jusqu'au 31 décembre 2026" in page
        assert f"/centrales/{slug}" in page
    # The filter works without text too (browse), is kept in facet links, and shows as an active filter.
    browse = client.get("/?centrale=toutes").get_data(as_text=True)
    assert hit_slugs(browse) == [first.slug]
    assert "centrale=toutes" in browse and 'class="chip">Achetable via une centrale d&#39;achat' in browse
    partial = client.get("/?q=collecte&centrale=toutes", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert hit_slugs(partial) == [first.slug]
    # Unknown central: nothing is purchasable through it.
    assert hit_slugs(client.get("/?q=collecte&centrale=inconnue").get_data(as_text=True)) == []

    set_clock(private_app, AFTER_END)  # the day after the end date, nothing re-indexed
    after = client.get("/?q=collecte+des+déchets&centrale=toutes").get_data(as_text=True)
    assert hit_slugs(after) == [] and "Aucun fournisseur ne correspond" in after
    assert "Achetable via Centrale de test" not in client.get("/?q=collecte+des+déchets").get_data(as_text=True)


def test_the_api_takes_the_central_filter_and_gives_interoperability(private_app):
    first, _, slug = referenced(private_app)
    set_clock(private_app, TODAY)
    client = private_app.test_client()
    body = client.get(f"/api/v1/search?q=déchets&central={slug}").get_json()
    assert [h["id"] for h in body["hits"]] == [first.id]
    assert client.get("/api/v1/search?q=déchets&central=toutes").get_json()["total"] == 1


def test_the_interoperability_facet_filters_by_what_profiles_state(private_app):
    client = private_app.test_client()
    with database(private_app).session() as session:
        with_api = {s.slug for s in session.scalars(select(Supplier)) if (s.interoperability or {}).get("api")}
    page = client.get("/?q=capteurs").get_data(as_text=True)
    assert 'name="interop" value="documented_api"' in page and "API documentée" in page
    filtered = client.get("/?q=capteurs&interop=documented_api").get_data(as_text=True)
    slugs = hit_slugs(filtered)
    assert slugs and set(slugs) <= with_api
    api = client.get("/api/v1/search?q=capteurs&interop=documented_api").get_json()
    assert api["hits"] and all("documented_api" in h["interop"] for h in api["hits"])
    facet = {f["value"]: f for f in api["facets"]["interop"]}
    assert facet["documented_api"]["selected"] and facet["documented_api"]["label"] == "API documentée"
    assert client.get("/api/v1/search?interop=teleportation").status_code == 400
