"""The JSON API /api/v1 on the real fixture index and database: search like the page, cursor pagination,
suppliers, public projects, reference lists, problem documents, CORS, rate limits, and every answer checked
against the OpenAPI 3.1 description the app generates."""

from __future__ import annotations

from datetime import datetime, timedelta

import jsonschema
from html import unescape
import pytest
from openapi_spec_validator import validate as validate_spec

from search_app import create_app
from search_app.public.search import parse_search_args, run_search
from werkzeug.datastructures import MultiDict

PROBLEM = "application/problem+json"
NOW = datetime(2026, 3, 2, 9, 0)


@pytest.fixture(scope="module")
def document(app):
    return app.test_client().get("/api/v1/openapi.json").get_json()


def check(document: dict, path: str, response, status: int = 200) -> dict:
    """The body of `response`, after checking it against the response schema the description declares."""
    assert response.status_code == status, response.get_data(as_text=True)
    media = "application/json" if status < 400 else PROBLEM
    assert response.mimetype == media
    declared = document["paths"][path]["get"]["responses"][str(status)]["content"][media]["schema"]
    schema = {**declared, "components": document["components"]}
    jsonschema.Draft202012Validator(schema).validate(response.get_json())
    return response.get_json()


def test_the_description_is_valid_openapi_3_1_and_has_a_page(client, document):
    assert document["openapi"].startswith("3.1")
    validate_spec(document)
    assert {"/api/v1/search", "/api/v1/suppliers/{supplier_id}", "/api/v1/projects", "/api/v1/projects/{slug}",
            "/api/v1/categories", "/api/v1/departments"} <= set(document["paths"])
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and "text/html" in page.content_type
    html = page.get_data(as_text=True)
    assert "GET /api/v1/search" in html and "per_page" in html and "SearchPage" in html
    main = html.split("<main", 1)[1].split("</main>")[0]
    assert "https://" not in main.replace("https://www.", "").replace("https://vivier.example.fr", "")


def _texts(node):
    """Every description, summary and title string of a document, wherever it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "summary", "title") and isinstance(value, str):
                yield value
            else:
                yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)


def test_the_description_is_readable_french_with_stable_names_and_examples(client, document):
    import re

    assert document["info"]["title"] == "API ouverte de Vivier" and document["info"]["version"] == "1.0"
    assert "acheteurs publics" in document["info"]["description"]
    names = set(document["components"]["schemas"])
    assert {"SearchPage", "SupplierHit", "Supplier", "Project", "Terms", "Term", "Problem"} <= names
    hashed = re.compile(r"\.[0-9a-f]{7}")
    raw = client.get("/api/v1/openapi.json").get_data(as_text=True)
    assert not any(hashed.search(name) for name in names) and not hashed.search(raw)
    assert "`" not in raw  # no markdown the page would show literally
    assert all(name.isidentifier() for name in names)
    search = document["paths"]["/api/v1/search"]["get"]
    assert search["summary"] == "Chercher des fournisseurs." and "curseur" in search["description"]
    assert "Search suppliers" not in raw  # the developers' note after the form feed stays out
    params = {p["name"]: p for p in search["parameters"]}
    assert params["q"]["description"].startswith("texte libre") and params["q"]["schema"]["examples"]
    assert search["responses"]["429"]["description"].startswith("Trop de requêtes")
    supplier = document["components"]["schemas"]["Supplier"]
    assert supplier["description"].startswith("La fiche publique") and supplier["properties"]["name"]["examples"]
    assert document["components"]["schemas"]["Term"]["examples"][0]["slug"] == "waste"
    english = [text for text in _texts(document) if re.search(r"\b(the|of|results|when|only)\b", text)]
    assert english == [] or all("Read-only public API" in text for text in english), english
    assert {t["name"]: t["description"] for t in document["tags"]}["projects"] == "Projets d'achat publics"
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "<h1>API ouverte de Vivier</h1>" in page and "Vivier API 1" not in page
    assert "Version 1.0" in page and "Paramètres" in page and "Schémas" in page and "Exemple de Term" in page
    assert "120 par minute" in page or "par minute" in page
    assert '"Finistère"' in unescape(page) and "\\u00e8" not in page
    assert 'lang="en"' not in page


def test_search_answers_what_the_page_finds(client, document, search_service):
    body = check(document, "/api/v1/search", client.get("/api/v1/search?q=capteurs&department=29&per_page=10"))
    args = parse_search_args(MultiDict([("q", "capteurs"), ("department", "29")]))
    expected, _ = run_search(search_service, args, per_page=10)
    assert [h["id"] for h in body["hits"]] == [int(h.id) for h in expected.hits]
    assert body["total"] == expected.total
    assert {facet: [(v["value"], v["count"], v["selected"]) for v in values]
            for facet, values in body["facets"].items()} == {
        facet: [(v.value, v.count, v.selected) for v in values] for facet, values in expected.facets.items()}
    assert all(v["label"] for values in body["facets"].values() for v in values)


def test_cursor_pagination_walks_every_result_once(client, document):
    first = check(document, "/api/v1/search", client.get("/api/v1/search?per_page=7"))
    seen, body, pages = [], first, 0
    while True:
        seen += [h["id"] for h in body["hits"]]
        pages += 1
        if body["next"] is None:
            break
        assert "per_page=7" in body["next"] and body["next_cursor"] in body["next"]
        body = check(document, "/api/v1/search", client.get(body["next"]))
    assert len(seen) == len(set(seen)) == first["total"] and pages == -(-first["total"] // 7)


@pytest.mark.parametrize("query, words", [
    ("per_page=abc", "per_page"), ("per_page=0", "per_page"), ("mode=fuzzy", "mode"), ("cursor=nope", "cursor"),
    ("near=Zzyzxville", "unknown commune"), ("radius=-3&near=Brest", "radius"),
])
def test_bad_parameters_are_400_problems(client, document, query, words):
    body = check(document, "/api/v1/search", client.get(f"/api/v1/search?{query}"), 400)
    assert body["status"] == 400 and body["title"] == "Bad request" and words in body["detail"]


def test_a_cursor_only_works_with_its_page_size(client):
    cursor = client.get("/api/v1/search?per_page=5").get_json()["next_cursor"]
    response = client.get(f"/api/v1/search?per_page=6&cursor={cursor}")
    assert response.status_code == 400 and response.mimetype == PROBLEM


def test_search_near_a_commune_reports_distances(client, document):
    body = check(document, "/api/v1/search", client.get("/api/v1/search?near=Brest&radius=30"))
    assert body["near"] == {"commune": "Brest", "radius_km": 30}
    assert all(h["distance_km"] is not None and h["distance_km"] <= 30 for h in body["hits"])


def test_supplier_by_id_and_unknown_id(client, document):
    hit = client.get("/api/v1/search?q=capteurs").get_json()["hits"][0]
    body = check(document, "/api/v1/suppliers/{supplier_id}", client.get(hit["api_url"]))
    assert body["id"] == hit["id"] and body["name"] == hit["name"] and body["url"].endswith(f"/fournisseurs/"
                                                                                              f"{hit['slug']}")
    missing = check(document, "/api/v1/suppliers/{supplier_id}", client.get("/api/v1/suppliers/999999"), 404)
    assert missing["status"] == 404


def test_reference_lists(client, document):
    categories = check(document, "/api/v1/categories", client.get("/api/v1/categories"))["items"]
    assert {"slug": "waste", "label": "Collecte des déchets"} in categories
    departments = check(document, "/api/v1/departments", client.get("/api/v1/departments"))["items"]
    assert {"code": "29", "name": "Finistère", "region": "Bretagne"} in departments


def test_unknown_address_and_method_are_problems_and_cors_is_open(client):
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.mimetype == PROBLEM and missing.get_json()["status"] == 404
    refused = client.post("/api/v1/categories")
    assert refused.status_code == 405 and refused.mimetype == PROBLEM
    ok = client.get("/api/v1/categories", headers={"Origin": "https://example.org"})
    assert ok.headers["Access-Control-Allow-Origin"] == "*" and "Access-Control-Allow-Credentials" not in ok.headers
    assert "X-RateLimit-Remaining" in ok.headers and "X-RateLimit-Limit" in ok.headers
    preflight = client.options("/api/v1/search", headers={"Origin": "https://example.org",
                                                          "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 200 and preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert client.get("/fournisseurs/inconnu").mimetype == "text/html"  # pages keep their HTML errors


def test_the_rate_limit_answers_a_429_problem(private_settings, encoder):
    app = create_app(settings=private_settings, encoder=encoder)
    app.config.update(TESTING=True, API_RATE_LIMIT="2 per minute")
    client = app.test_client()
    assert [client.get("/api/v1/categories").status_code for _ in range(2)] == [200, 200]
    refused = client.get("/api/v1/categories")
    assert refused.status_code == 429 and refused.mimetype == PROBLEM and refused.get_json()["status"] == 429
    assert int(refused.headers["Retry-After"]) > 0 and refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["Access-Control-Allow-Origin"] == "*"


def test_projects_show_only_public_projects_and_public_fields(private_app):
    from vivier import projects as pj

    project_data = {"title": "Capteurs de remplissage des colonnes de tri", "need": "Mesurer le remplissage.",
                    "contract_model": "marche-public", "categories": ["waste"], "departments": ["29"],
                    "deadline": NOW + timedelta(days=30), "budget_band": "40 000 €", "show_budget": False}
    private_app.extensions["vivier"]["clock"] = lambda: NOW
    with private_app.extensions["vivier"]["database"].session() as s:
        pj.add_buyer_domain(s, "brest-metropole.fr", "Brest métropole", "op", NOW)
        buyer = pj.open_buyer_session(s, pj.buyer_sign_in_token(s, "achats@brest-metropole.fr", now=NOW), NOW)
        public = pj.create_project(s, buyer, project_data, [(NOW + timedelta(days=60), "Consultation")], NOW)
        pj.publish(s, public, buyer, NOW)
        draft = pj.create_project(s, buyer, {**project_data, "title": "Projet en brouillon"}, now=NOW)
        s.commit()
        public_slug, draft_slug = public.slug, draft.slug
    client = private_app.test_client()
    document = client.get("/api/v1/openapi.json").get_json()
    listing = check(document, "/api/v1/projects", client.get("/api/v1/projects"))
    assert [p["slug"] for p in listing["projects"]] == [public_slug] and listing["total"] == 1
    assert check(document, "/api/v1/projects", client.get("/api/v1/projects?category=parking"))["total"] == 0
    body = check(document, "/api/v1/projects/{slug}", client.get(f"/api/v1/projects/{public_slug}"))
    assert body["organisation"] == "Brest métropole" and body["status"] == "published"
    assert body["budget_band"] is None  # the buyer did not choose to show it
    assert body["milestones"] == [{"date": "2026-05-01T09:00:00Z", "label": "Consultation"}]
    assert not {"matches", "buyer_id", "email", "proposals"} & set(body)
    check(document, "/api/v1/projects/{slug}", client.get(f"/api/v1/projects/{draft_slug}"), 404)


def test_search_says_what_was_searched_and_which_hits_are_strong(client, document):
    answer = check(document, "/api/v1/search", client.get("/api/v1/search?q=colecte+dechets"))
    assert answer["corrected"] == "collecte déchets"
    strong = [h["strong"] for h in answer["hits"]]
    assert answer["strong_total"] == sum(strong) > 0 and strong == sorted(strong, reverse=True)  # strong first
    exact = client.get("/api/v1/search?q=colecte+dechets&exact=true").get_json()
    assert exact["corrected"] is None and exact["suggestion"] == "collecte déchets"
    nothing = client.get("/api/v1/search?q=accordeur+de+piano").get_json()
    assert nothing["strong_total"] == 0 and not any(h["strong"] for h in nothing["hits"])
    counted = client.get("/api/v1/search?q=cantine&include_weak=true").get_json()
    assert sum(v["count"] for v in counted["facets"]["department"]) == counted["total"]
