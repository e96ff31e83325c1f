"""The production server: gunicorn with deploy/gunicorn.conf.py serves the app (search page, its htmx partial, a
supplier page) from the indexed fixture directory, on a loopback port."""

from __future__ import annotations

import html
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest
from sqlalchemy import select

from vivier.db import Database
from vivier.models import SEARCHABLE_STATUSES, Supplier

pytest.importorskip("gunicorn", reason="gunicorn is in the server and test extras")


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    with urlopen(Request(url, headers=headers or {}), timeout=30) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read().decode("utf-8")


def test_gunicorn_serves_search_and_supplier_pages(indexed_settings, tmp_path):
    from benchmarks.load import GunicornServer

    database = Database(indexed_settings)
    with database.session() as session:
        supplier = session.scalars(select(Supplier).where(Supplier.status.in_(SEARCHABLE_STATUSES))
                                   .order_by(Supplier.id)).first()
        name, slug = supplier.name, supplier.slug
    database.dispose()

    # One worker: what is tested is the config and the entry point, not the worker count.
    with GunicornServer(indexed_settings.data_dir, tmp_path, workers=1) as server:
        search = f"{server.url}/?{urlencode({'q': name, 'mode': 'keyword'})}"
        status, content_type, page = get(search)
        assert status == 200 and content_type.startswith("text/html")
        assert "<html" in page and html.escape(name) in page

        status, _, partial = get(search, {"HX-Request": "true"})
        assert status == 200 and "<html" not in partial and html.escape(name) in partial

        status, _, page = get(f"{server.url}/fournisseurs/{slug}")
        assert status == 200 and f"<h1>{html.escape(name)}</h1>" in page
    assert server.process.returncode is not None  # stopped on leaving


def test_rate_limits_hold_exactly_under_the_production_server(indexed_settings, tmp_path):
    """The API's limit (120 a minute) under gunicorn with deploy/gunicorn.conf.py, requests in parallel: exactly
    120 pass. Two workers counting in their own memory let 216 through before (the config now runs one)."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.error import HTTPError

    from benchmarks.load import GunicornServer

    def status(url: str) -> int:
        try:
            with urlopen(url, timeout=30) as response:
                return response.status
        except HTTPError as error:
            return error.code

    with GunicornServer(indexed_settings.data_dir, tmp_path, workers=1) as server:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(status, [f"{server.url}/api/v1/categories"] * 140))
    assert statuses.count(200) == 120 and statuses.count(429) == 20


def test_several_workers_with_memory_rate_limits_are_refused(indexed_settings, tmp_path):
    from benchmarks.load import GunicornServer

    with pytest.raises(RuntimeError, match="each worker would count rate limits on its own"):
        with GunicornServer(indexed_settings.data_dir, tmp_path, workers=2, boot_timeout=60):
            pass
