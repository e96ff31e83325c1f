"""HTTP method errors: a 405 names the methods the address takes (the Allow header RFC 9110 requires), on the HTML
pages and on the JSON API, whose errors are RFC 9457 problem documents."""

from __future__ import annotations

PROBLEM = "application/problem+json"


def allowed(response) -> set[str]:
    return {method.strip() for method in response.headers.get("Allow", "").split(",") if method.strip()}


def test_a_405_page_names_the_allowed_methods(client):
    search = client.post("/")  # the search page is GET only
    assert search.status_code == 405 and search.mimetype == "text/html"
    assert "Méthode non autorisée" in search.get_data(as_text=True)
    assert allowed(search) == {"GET", "HEAD", "OPTIONS"}
    assert search.headers["Content-Security-Policy"] and search.headers["X-Content-Type-Options"] == "nosniff"
    sign_out = client.get("/acheteurs/deconnexion")  # a POST-only action
    assert sign_out.status_code == 405 and "POST" in allowed(sign_out) and "GET" not in allowed(sign_out)


def test_a_405_problem_of_the_api_names_the_allowed_methods(client):
    for path in ("/api/v1/categories", "/api/v1/search", "/api/v1/suppliers/1"):
        refused = client.delete(path)
        assert refused.status_code == 405 and refused.mimetype == PROBLEM, path
        assert refused.get_json()["status"] == 405 and refused.get_json()["title"] == "Method not allowed"
        assert allowed(refused) == {"GET", "HEAD", "OPTIONS"}, path
        assert refused.headers["Access-Control-Allow-Origin"] == "*"
    assert allowed(client.post("/api/v1/categories")) == {"GET", "HEAD", "OPTIONS"}


def test_other_errors_carry_no_allow_header(client):
    assert "Allow" not in client.get("/nexiste-pas").headers
    assert "Allow" not in client.get("/api/v1/nexiste-pas").headers


def test_a_503_carries_no_retry_after_of_the_rate_limit(tmp_path, encoder):
    """Flask-Limiter gives every answer of a limited route (the API) a Retry-After, when its window resets: a 503
    keeps only the one its handler chose (the database's, tests/test_faults.py), none for a search unavailable."""
    from search_app import create_app
    from vivier.config import load_settings

    app = create_app(settings=load_settings({"VIVIER_DATA_DIR": str(tmp_path / "vide")}), encoder=encoder)
    app.config.update(TESTING=True)
    client = app.test_client()
    unavailable = client.get("/api/v1/search", query_string={"q": "capteurs"})  # no index was ever built
    assert unavailable.status_code == 503 and unavailable.mimetype == PROBLEM
    assert "Retry-After" not in unavailable.headers and "X-RateLimit-Limit" in unavailable.headers
    limited = client.get("/api/v1/categories")
    assert limited.status_code == 200 and limited.headers["X-RateLimit-Remaining"]
