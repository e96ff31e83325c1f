"""The `vivier` command line: demo, crawl, index, search, serve."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from vivier.config import ConfigError, Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_SITE = REPO_ROOT / "fixtures" / "sites" / "annuaire"
DEMO_SOURCE = "annuaire-demo"


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        raise click.UsageError(f"configuration: {error}") from None


def _encoder(settings: Settings):
    from embeddings.encoder import Encoder

    return Encoder(settings.embedding_model)


@click.group()
def main() -> None:
    """Vivier: innovation-sourcing search engine for public buyers."""


@main.command("migrate")
def migrate_cmd() -> None:
    """Create or upgrade the database schema."""
    from vivier.db import Database

    Database(_settings()).migrate()
    click.echo("database is up to date")


@main.command("crawl")
@click.argument("source")
@click.option("--url", help="Register SOURCE with this start URL (or change it) before crawling.")
@click.option("--loopback-fixture", is_flag=True,
              help="No politeness delays: only for our own fixture sites served on loopback.")
def crawl_cmd(source: str, url: str | None, loopback_fixture: bool) -> None:
    """Crawl a directory SOURCE and store its profiles."""
    from crawler.run import register_source, run_crawl
    from vivier.db import Database

    settings = _settings()
    database = Database(settings)
    database.migrate()
    if url:
        register_source(database, source, url)
    try:
        summary = run_crawl(settings, source, loopback_fixture=loopback_fixture)
    except LookupError as error:
        raise click.UsageError(f"{error}: register it with --url") from None
    click.echo(f"crawl of {source} (run {summary.run_id}): " +
               ", ".join(f"{k} {v}" for k, v in summary.figures.items()))


@main.group("index")
def index_group() -> None:
    """Build and inspect the search index."""


@index_group.command("build")
def index_build_cmd() -> None:
    """Rebuild the search index from the database (only changed texts are re-embedded)."""
    from indexer.build import build_index

    settings = _settings()
    started = time.perf_counter()
    report = build_index(settings, _encoder(settings), progress=sys.stderr.isatty())
    click.echo(f"indexed {report.documents} profiles ({report.passages} passages, {report.encoded} newly embedded) "
               f"in {time.perf_counter() - started:.1f}s -> {report.generation}")


@index_group.command("status")
def index_status_cmd() -> None:
    """Print the live index's description as JSON."""
    from indexer.backends import make_backend

    click.echo(json.dumps(make_backend(_settings()).status(), indent=2, ensure_ascii=False))


@main.command("search")
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--category", multiple=True, help="Category slug (repeatable).")
@click.option("--department", multiple=True, help="Department code (repeatable).")
@click.option("--label", multiple=True, help="Label slug (repeatable).")
@click.option("--mode", type=click.Choice(["hybrid", "keyword", "dense"]), default="hybrid")
@click.option("--limit", type=click.IntRange(1, 100), default=10)
def search_cmd(query: str, as_json: bool, category, department, label, mode: str, limit: int) -> None:
    """Search the index and print ranked results (id, name, score)."""
    from indexer.backends.base import IndexNotReady
    from indexer.service import SearchService

    settings = _settings()
    service = SearchService(settings, _encoder(settings))
    try:
        response = service.search(query, {"category": category, "department": department, "label": label},
                                  per_page=limit, mode=mode)
    except IndexNotReady as error:
        raise click.ClickException(str(error)) from None
    rows = [{"rank": rank, "id": hit.id, "slug": hit.document.slug, "name": hit.document.name,
             "score": round(hit.score, 6), "categories": list(hit.document.categories)}
            for rank, hit in enumerate(response.hits, start=1)]
    if as_json:
        click.echo(json.dumps({"query": query, "total": response.total, "results": rows}, ensure_ascii=False, indent=1))
        return
    click.echo(f"{response.total} résultat(s)")
    for row in rows:
        click.echo(f"{row['rank']:>3}  {row['id']:>5}  {row['score']:.4f}  {row['name']}")


def _serve(settings: Settings, host: str, port: int) -> None:
    from werkzeug.serving import run_simple

    from search_app import create_app

    app = create_app(settings=settings)
    run_simple(host, port, app, threaded=True, use_reloader=False)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
def serve_cmd(host: str, port: int) -> None:
    """Serve the web app (development server; use gunicorn 'search_app:create_app()' in production)."""
    click.echo(f"Vivier: http://{host}:{port}/")
    _serve(_settings(), host, port)


@main.command("demo")
@click.option("--site", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEMO_SITE,
              show_default=True, help="Static fixture site to crawl.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--no-serve", is_flag=True, help="Stop after indexing (for scripts and tests).")
def demo_cmd(site: Path, host: str, port: int, no_serve: bool) -> None:
    """Serve the fixture directory on loopback, crawl it, index it, serve the app."""
    from crawler.run import register_source, run_crawl
    from indexer.build import build_index
    from vivier.db import Database
    from vivier.devserver import StaticSite

    settings = _settings()
    started = time.perf_counter()
    database = Database(settings)
    database.migrate()
    with StaticSite(site) as fixture:
        click.echo(f"fixture directory served at {fixture.url}/")
        register_source(database, DEMO_SOURCE, f"{fixture.url}/fournisseurs/page-1.html")
        summary = run_crawl(settings, DEMO_SOURCE, loopback_fixture=True)
    click.echo("crawl: " + ", ".join(f"{k} {v}" for k, v in summary.figures.items()))
    report = build_index(settings, _encoder(settings), progress=sys.stderr.isatty())
    click.echo(f"index: {report.documents} profiles, {report.passages} passages, {report.encoded} newly embedded")
    click.echo(f"ready in {time.perf_counter() - started:.1f}s")
    if no_serve:
        return
    click.echo(f"Vivier: http://{host}:{port}/  (Ctrl+C to stop)")
    _serve(settings, host, port)


if __name__ == "__main__":  # pragma: no cover
    main()
