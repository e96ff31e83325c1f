"""The `vivier` command line: demo, crawl, sources, index, search, eval, serve, worker, operators, centrals."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from vivier.config import ConfigError, Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_SITES = REPO_ROOT / "fixtures" / "sites"
DEMO_SOURCES = REPO_ROOT / "fixtures" / "sources.yaml"
# Vectors of the fixture companies' passages for the default model (embeddings.seeds; fixtures/build_vectors.py).
DEMO_VECTOR_SEEDS = REPO_ROOT / "fixtures" / "vectors"


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        raise click.UsageError(f"configuration: {error}") from None


def _encoder(settings: Settings):
    from embeddings.encoder import Encoder

    return Encoder.from_settings(settings)


@click.group()
def main() -> None:
    """Vivier: innovation-sourcing search engine for public buyers."""


@main.command("migrate")
def migrate_cmd() -> None:
    """Create or upgrade the database schema."""
    from vivier.db import Database

    Database(_settings()).migrate()
    click.echo("database is up to date")


def _variables(pairs: tuple[str, ...]) -> dict[str, str]:
    variables = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise click.UsageError(f"--var expects NAME=URL, got {pair!r}")
        variables[name.strip()] = value.strip()
    return variables


def _load_sources(path: Path | None, variables: dict[str, str], names: tuple[str, ...] = ()):
    from crawler.sources import SourceFileError, parse_source_file

    if path is None:
        return []
    try:
        return parse_source_file(path, variables, names or None)
    except SourceFileError as error:
        raise click.UsageError(str(error)) from None


# Notices of a run printed after a crawl (unreadable feed rows, merges that dropped a name); all of them (up to
# crawler.spiders.base.MAX_NOTICES) with `vivier sources report NAME`.
NOTICES_SHOWN = 20


def _print_summaries(summaries) -> None:
    for summary in summaries:
        resumed = ", resumed" if summary.resumed else ""
        click.echo(f"crawl of {summary.source} (run {summary.run_id}, {summary.status}{resumed}): "
                   + ", ".join(f"{k} {v}" for k, v in summary.figures.items()))
        for failure in summary.failures[:10]:
            click.echo(f"  failed: {failure}")
        if len(summary.failures) > 10:
            click.echo(f"  ... {summary.figures['failed'] + summary.figures['errors'] - 10} more")
        for notice in summary.notices[:NOTICES_SHOWN]:
            click.echo(f"  notice: {notice}")
        if summary.notices_count > NOTICES_SHOWN:
            click.echo(f"  ... {summary.notices_count - NOTICES_SHOWN} more notices: vivier sources report "
                       f"{summary.source}")


def _update_index(settings: Settings) -> None:
    """After a crawl: re-index what changed, if there is an index to keep up to date."""
    from indexer.backends import make_backend
    from indexer.build import update_index

    if not make_backend(settings).status().get("ready"):
        click.echo("index: none yet (run `vivier index build`)")
        return
    report = update_index(settings, _encoder(settings))
    click.echo(f"index: {report.updated} profiles re-indexed, {report.removed} removed, "
               f"{report.encoded} passages newly embedded -> {report.generation or 'unchanged'}")


@main.command("crawl")
@click.argument("sources", nargs=-1)
@click.option("--sources", "sources_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Source file (YAML or TOML) to register before crawling [VIVIER_SOURCES_FILE].")
@click.option("--var", "variables", multiple=True, metavar="NAME=URL",
              help="Value of a {NAME} placeholder in the source file (repeatable).")
@click.option("--loopback-fixture", is_flag=True,
              help="No politeness delays and loopback allowed: only for our own fixture sites.")
@click.option("--restart", is_flag=True, help="Start over instead of resuming an interrupted crawl.")
@click.option("--no-index", is_flag=True, help="Do not re-index the changed profiles afterwards.")
@click.option("--full", is_flag=True,
              help="Read every page again, even those the server says are unchanged since the last crawl.")
def crawl_cmd(sources: tuple[str, ...], sources_file: Path | None, variables: tuple[str, ...],
              loopback_fixture: bool, restart: bool, no_index: bool, full: bool) -> None:
    """Crawl SOURCES (default: every registered source), store and merge their profiles, re-index changes."""
    from sqlalchemy import select

    from crawler.run import CrawlInProgress, run_crawls, sync_sources
    from vivier.db import Database
    from vivier.models import Source

    settings = _settings()
    database = Database(settings)
    database.migrate()
    # Given names, only those are read from the file; a name it does not declare may be registered already.
    specs = _load_sources(sources_file or settings.sources_file, _variables(variables), sources)
    sync_sources(database, specs)
    names = list(sources)
    if not names:
        with database.session() as session:
            names = list(session.scalars(select(Source.name).order_by(Source.name)))
        if not names:
            raise click.UsageError("no source is registered: give a source file with --sources")
    try:
        summaries = run_crawls(settings, names, loopback_fixture=loopback_fixture, progress=sys.stderr.isatty(),
                               restart=restart, full=full)
    except LookupError as error:
        raise click.UsageError(f"{error}: declare it in a source file given with --sources") from None
    except CrawlInProgress as error:
        raise click.ClickException(str(error)) from None
    _print_summaries(summaries)
    if not no_index:
        _update_index(settings)


@main.group("sources")
def sources_group() -> None:
    """Inspect and check declared sources."""


@sources_group.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--var", "variables", multiple=True, metavar="NAME=URL")
def sources_check_cmd(path: Path, variables: tuple[str, ...]) -> None:
    """Validate a source file without crawling."""
    for spec in _load_sources(path, _variables(variables)):
        click.echo(f"{spec.name}: {spec.kind}, {spec.start_url}")
    click.echo(f"{path}: valid")


@sources_group.command("list")
def sources_list_cmd() -> None:
    """Registered sources with their last crawl."""
    from sqlalchemy import select

    from vivier.db import Database
    from vivier.models import CrawlRun, Source

    database = Database(_settings())
    database.migrate()
    with database.session() as session:
        for source in session.scalars(select(Source).order_by(Source.name)):
            run = session.scalar(select(CrawlRun).where(CrawlRun.source_id == source.id)
                                 .order_by(CrawlRun.id.desc()).limit(1))
            last = (f"last run {run.started_at:%Y-%m-%d %H:%M} {run.status}: "
                    + ", ".join(f"{k} {run.stats.get(k, 0)}" for k in ("pages", "items", "new", "merged", "failed"))
                    if run else "never crawled")
            click.echo(f"{source.name} ({source.kind}) {source.start_url} - {last}")


@sources_group.command("report")
@click.argument("name")
def sources_report_cmd(name: str) -> None:
    """The last crawl of source NAME: its figures, failed pages and every notice (unreadable feed rows, merges that
    dropped another name)."""
    from sqlalchemy import select

    from vivier.db import Database
    from vivier.models import CrawlRun, Source

    database = Database(_settings())
    database.migrate()
    with database.session() as session:
        source = session.scalar(select(Source).where(Source.name == name))
        if source is None:
            raise click.UsageError(f"unknown source {name!r}")
        run = session.scalar(select(CrawlRun).where(CrawlRun.source_id == source.id)
                             .order_by(CrawlRun.id.desc()).limit(1))
        if run is None:
            click.echo(f"{name}: never crawled")
            return
        stats = dict(run.stats or {})
        click.echo(f"{name}: run {run.id} started {run.started_at:%Y-%m-%d %H:%M}, {run.status}: "
                   + ", ".join(f"{k} {v}" for k, v in stats.items() if isinstance(v, int) and k != "notices_count"))
        for failure in stats.get("failure_samples") or []:
            click.echo(f"failed: {failure}")
        notices = stats.get("notices") or []
        for notice in notices:
            click.echo(f"notice: {notice}")
        if int(stats.get("notices_count") or 0) > len(notices):
            click.echo(f"... {int(stats['notices_count']) - len(notices)} more notices were not kept")


@main.group("index")
def index_group() -> None:
    """Build and inspect the search index."""


@index_group.command("build")
def index_build_cmd() -> None:
    """Rebuild the search index from the database (only changed texts are re-embedded)."""
    from indexer.backends.base import RebuildInProgress
    from indexer.build import BuildFailed, build_index

    settings = _settings()
    started = time.perf_counter()
    try:
        report = build_index(settings, _encoder(settings), progress=sys.stderr.isatty())
    except (BuildFailed, RebuildInProgress) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"indexed {report.documents} profiles ({report.passages} passages, {report.encoded} newly embedded) "
               f"in {time.perf_counter() - started:.1f}s -> {report.generation}")


@index_group.command("update")
def index_update_cmd() -> None:
    """Re-index only the profiles that changed since the live index was built."""
    _update_index(_settings())


@main.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "all"]), default="all", show_default=True,
              help="Which open-data files to write (the licence notice and datapackage.json always are).")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write to (default: DATA_DIR/opendata, the one the site serves).")
def export_cmd(fmt: str, output: Path | None) -> None:
    """Write the open-data exports of the public supplier profiles (CSV, JSON Lines, licence)."""
    from vivier.db import Database
    from vivier.opendata import FORMATS, export_opendata

    settings = _settings()
    Database(settings).migrate()
    report = export_opendata(settings, tuple(FORMATS) if fmt == "all" else (fmt,), output)
    click.echo(f"exported {report.suppliers} suppliers to {report.directory}: {', '.join(report.files)}")


# `vivier index status` lines: (label, status keys tried in order). The embedded backend names its live index a
# generation and its mapping version a format; Elasticsearch has an alias, an index and a mapping version.
STATUS_LINES = (
    ("backend", ("backend",)),
    ("ready", ("ready",)),
    ("problem", ("problem",)),  # a damaged index, or an intact previous one served in its place
    ("alias", ("alias", "root")),
    ("index", ("index", "generation")),
    ("documents", ("documents",)),
    ("passages", ("passages",)),
    ("model", ("model",)),
    ("dimension", ("dimension",)),
    ("mapping version", ("mapping_version", "format")),
    ("document version", ("document_version",)),
    ("built at", ("built_at",)),
    ("changes up to", ("watermark",)),
)


@index_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the backend's whole description as JSON.")
def index_status_cmd(as_json: bool) -> None:
    """Show the live index: alias, index, documents, model and mapping version, for either backend."""
    from indexer.backends import make_backend
    from indexer.backends.base import SearchUnavailable

    try:
        status = make_backend(_settings()).status()
    except SearchUnavailable as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps(status, indent=2, ensure_ascii=False))
        return
    for label, keys in STATUS_LINES:
        value = next((status[k] for k in keys if status.get(k) is not None), None)
        if value is None:
            continue
        if isinstance(value, bool):
            value = "yes" if value else "no (run `vivier index build`)"
        click.echo(f"{label + ':':<18}{value}")


@index_group.command("rollback")
def index_rollback_cmd() -> None:
    """Serve the previous index again (the one the last rebuild replaced)."""
    from indexer.backends import make_backend
    from indexer.backends.base import IndexNotReady, NothingToRollBack, RebuildInProgress, SearchUnavailable

    try:
        live = make_backend(_settings()).rollback()
    except (IndexNotReady, NothingToRollBack, RebuildInProgress, SearchUnavailable) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"live index: {live}")


@main.command("search")
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--category", multiple=True, help="Category slug (repeatable).")
@click.option("--department", multiple=True, help="Department code (repeatable).")
@click.option("--label", multiple=True, help="Label slug (repeatable).")
@click.option("--region", multiple=True, help="Region name (repeatable).")
@click.option("--open-source", is_flag=True, help="Only solutions under an open-source licence.")
@click.option("--near", "place", help="Commune (name, postcode or INSEE code) to search around.")
@click.option("--radius", type=click.IntRange(1, 1000), default=50, show_default=True, help="Radius around --near, km.")
@click.option("--mode", type=click.Choice(["hybrid", "keyword", "dense"]), default="hybrid")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True,
              help="Results printed (1 to 100); --mode dense finds 50 at most (the dense neighbours searched).")
@click.option("--exact", is_flag=True, help="Search the words as typed: no correction of unknown words.")
def search_cmd(query: str, as_json: bool, category, department, label, region, open_source: bool, place: str | None,
               radius: int, mode: str, limit: int, exact: bool) -> None:
    """Search the index and print ranked results (id, name, score): the strong matches, then the weaker
    neighbours (marked "~")."""
    from indexer.backends.base import OPEN_SOURCE_VALUE, IndexNotReady, SearchUnavailable
    from indexer.service import SearchService, resolve_place

    settings = _settings()
    service = SearchService(settings, _encoder(settings))
    resolved = resolve_place(place, radius)
    if resolved is not None and resolved.commune is None:
        hints = ", ".join(f"{c.name} ({c.department})" for c in resolved.candidates)
        raise click.ClickException(f"unknown commune {place!r}" + (f"; did you mean: {hints}?" if hints else ""))
    filters = {"category": category, "department": department, "label": label, "region": region,
               "open_source": (OPEN_SOURCE_VALUE,) if open_source else ()}
    try:
        response = service.search(query, filters, per_page=limit, mode=mode,
                                  near=resolved.filter if resolved else None, exact=exact)
    except (IndexNotReady, SearchUnavailable) as error:
        raise click.ClickException(str(error)) from None
    rows = [{"rank": rank, "id": hit.id, "slug": hit.document.slug, "name": hit.document.name,
             "score": round(hit.score, 6), "strong": hit.strong, "categories": list(hit.document.categories),
             "inferred_categories": list(hit.document.inferred_categories),
             **({"distance_km": hit.distance_km} if hit.distance_km is not None else {})}
            for rank, hit in enumerate(response.hits, start=1)]
    if as_json:
        click.echo(json.dumps({"query": query, "corrected": response.corrected, "total": response.total,
                               "strong_total": response.strong_total, "suggestion": response.suggestion,
                               "results": rows}, ensure_ascii=False, indent=1))
        return
    if response.corrected:
        click.echo(f"Résultats pour : {response.corrected} (--exact pour chercher « {query} » tel quel)")
    click.echo(f"{response.strong_total} correspondance(s), {response.total - response.strong_total} résultat(s) "
               f"proche(s)")
    if response.suggestion:
        click.echo(f"Vouliez-vous dire : {response.suggestion} ?")
    for row in rows:
        distance = f"  {row['distance_km']:>6.1f} km" if "distance_km" in row else ""
        weak = " " if row["strong"] else "~"
        click.echo(f"{row['rank']:>3}{weak} {row['id']:>5}  {row['score']:.4f}{distance}  {row['name']}")


@main.command("eval")
@click.argument("corpus", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("judgments", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--per-query", is_flag=True, help="Also list each query's figures.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the corpus's vectors in a cache here, so a re-run encodes nothing [default: a temp dir].")
@click.option("--ignore-unknown", is_flag=True, help="Drop judged ids missing from the corpus, with a warning.")
def eval_cmd(corpus: Path, judgments: Path, as_json: bool, per_query: bool, data_dir: Path | None,
             ignore_unknown: bool) -> None:
    """nDCG@10, P@10 and recall@50 of keyword, dense and hybrid search on CORPUS for the queries of JUDGMENTS.

    Both files are JSON Lines; indexer/evaluation.py documents their fields."""
    from indexer.evaluation import (
        EvaluationError,
        evaluate,
        format_per_query,
        format_table,
        load_corpus,
        load_judgments,
    )

    settings = _settings()
    try:
        documents = load_corpus(corpus)
        queries, warnings = load_judgments(judgments, [d.id for d in documents], ignore_unknown=ignore_unknown)
    except EvaluationError as error:
        raise click.ClickException(str(error)) from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    report = evaluate(documents, queries, _encoder(settings), settings, cache_dir=data_dir,
                      progress=sys.stderr.isatty(), warnings=warnings)
    if as_json:
        click.echo(json.dumps(report.to_dict(per_query=per_query), ensure_ascii=False, indent=1))
        return
    click.echo(format_table(report))
    if per_query:
        click.echo("")
        click.echo(format_per_query(report))


@main.group("operator")
def operator_group() -> None:
    """Moderation back-office accounts (the web has no sign-up: accounts are made here)."""


def _operator_database():
    from vivier.db import Database

    database = Database(_settings())
    database.migrate()
    return database


def _read_password(from_stdin: bool) -> str:
    """The new password: the first line of standard input for scripts, else typed twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _operator_change(action, *args):
    """Run one vivier.operators function in a committed session and return its operator; its refusals become
    command errors."""
    from vivier.operators import OperatorError

    database = _operator_database()
    try:
        with database.session() as session:
            return action(session, *args)
    except OperatorError as error:
        raise click.ClickException(str(error)) from None
    finally:
        database.dispose()


@operator_group.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def operator_create_cmd(email: str, password_stdin: bool) -> None:
    """Create an operator account for EMAIL (the password is asked for twice)."""
    from vivier.operators import OperatorError, check_email, create_operator

    try:
        email = check_email(email)  # before asking for a password it would not use
    except OperatorError as error:
        raise click.ClickException(str(error)) from None
    operator = _operator_change(create_operator, email, _read_password(password_stdin))
    click.echo(f"operator {operator.email} created")


@operator_group.command("list")
def operator_list_cmd() -> None:
    """Operator accounts, whether active, and their last sign-in."""
    from vivier.operators import list_operators

    database = _operator_database()
    with database.session() as session:
        for operator in list_operators(session):
            last = f"{operator.last_login_at:%Y-%m-%d %H:%M}" if operator.last_login_at else "never"
            click.echo(f"{operator.email}  {'active' if operator.active else 'disabled'}  last sign-in: {last}")
    database.dispose()


@operator_group.command("disable")
@click.argument("email")
def operator_disable_cmd(email: str) -> None:
    """Disable an account: it can no longer sign in, and its open sessions end at their next request."""
    from vivier.operators import set_active

    operator = _operator_change(set_active, email, False)
    click.echo(f"operator {operator.email} disabled")


@operator_group.command("enable")
@click.argument("email")
def operator_enable_cmd(email: str) -> None:
    """Enable a disabled account again."""
    from vivier.operators import set_active

    operator = _operator_change(set_active, email, True)
    click.echo(f"operator {operator.email} enabled")


@operator_group.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def operator_password_cmd(email: str, password_stdin: bool) -> None:
    """Set a new password for EMAIL."""
    from vivier.operators import set_password

    operator = _operator_change(set_password, email, _read_password(password_stdin))
    click.echo(f"password of {operator.email} changed")


# The demo's purchasing centrals, imported after its crawl.
DEMO_CENTRALS = REPO_ROOT / "fixtures" / "centrals.yaml"
# Exit status of a refused import file (as for a usage error): scripts tell it from a crash (1).
CENTRALS_REFUSED_EXIT = 2


class _CentralsRefused(click.ClickException):
    exit_code = CENTRALS_REFUSED_EXIT


@main.group("centrals")
def centrals_group() -> None:
    """Purchasing centrals and the offers they reference (ordered by their members without a tender)."""


@centrals_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def centrals_import_cmd(path: Path) -> None:
    """Load centrals and referencings from a YAML file (see fixtures/centrals.yaml); importing it again changes
    nothing. A refused entry writes nothing at all."""
    from vivier.centrals import CentralError, import_file

    database = _operator_database()
    try:
        with database.session() as session:
            counts = import_file(session, path)
    except CentralError as error:
        raise _CentralsRefused(str(error)) from None
    finally:
        database.dispose()
    click.echo(f"{counts['centrals']} centrals, {counts['referencings']} referencings added, "
               f"{counts['unchanged']} already recorded")


@centrals_group.command("list")
@click.option("--on", "day", type=click.DateTime(["%Y-%m-%d"]), help="Count as on this day (default: today, UTC).")
def centrals_list_cmd(day) -> None:
    """Centrals with their count of active, expired, upcoming and ended referencings."""
    from vivier.centrals import ACTIVE, ENDED, EXPIRED, UPCOMING, centrals, status_counts
    from vivier.models import utcnow

    today = (day or utcnow()).date()
    database = _operator_database()
    with database.session() as session:
        for central, _ in centrals(session, today):
            counts = status_counts(central, today)
            click.echo(f"{central.slug}  {central.name}  ({central.kind})  active {counts[ACTIVE]}  "
                       f"expired {counts[EXPIRED]}  upcoming {counts[UPCOMING]}  ended {counts[ENDED]}")
    database.dispose()


def _import_demo_centrals(database) -> None:
    """The demo's centrals: a referencing whose supplier the crawl did not find is skipped with a warning, and a
    refused file leaves the demo running without centrals."""
    from vivier.centrals import CentralError, import_file

    skipped: list[str] = []
    try:
        with database.session() as session:
            counts = import_file(session, DEMO_CENTRALS, skipped=skipped)
    except CentralError as error:
        click.echo(f"warning: purchasing centrals not imported: {error}", err=True)
        return
    for message in skipped:
        click.echo(f"warning: referencing skipped: {message}", err=True)
    click.echo(f"centrals: {counts['centrals']} centrals, {counts['referencings']} referencings added")


def _serve(settings: Settings, host: str, port: int) -> None:
    """The development server, with a background worker thread; links in e-mails point at it unless
    VIVIER_BASE_URL says otherwise."""
    from werkzeug.serving import run_simple

    from search_app import create_app
    from search_app.jobs import start_thread
    from search_app.warmup import warm_up

    if not settings.base_url:
        settings = settings.with_overrides(base_url=f"http://{host}:{port}")
    app = create_app(settings=settings, background_reload=True)
    # The model, the index and the communes table before serving (the first search took 7.8 s when they loaded
    # lazily), each step's time printed.
    warm_up(app, report=lambda step, seconds, note: click.echo(f"loaded {step} in {seconds:.1f} s"
                                                                 + (f" ({note})" if note else "")))
    stop = start_thread(app)
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        stop.set()


@main.command("outbox")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="Latest messages shown.")
@click.option("--to", "to_address", help="Only the messages sent to this address.")
@click.option("--show", "message_id", type=int, help="Print one message whole (its links included).")
def outbox_cmd(limit: int, to_address: str | None, message_id: int | None) -> None:
    """The e-mails the site sent (without VIVIER_SMTP_URL, the only place they go: development, demos)."""
    from sqlalchemy import select

    from vivier.models import OutboxMessage

    database = _operator_database()
    with database.session() as session:
        if message_id is not None:
            message = session.get(OutboxMessage, message_id)
            if message is None:
                raise click.ClickException(f"no message {message_id} in the outbox")
            click.echo(f"To: {message.to_address}\nSubject: {message.subject}\n"
                       f"Date: {message.created_at:%Y-%m-%d %H:%M}\n\n{message.body}")
            return
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        if to_address:
            query = query.where(OutboxMessage.to_address == to_address.strip().lower())
        for message in session.scalars(query):
            state = "sent" if message.sent_at else ("FAILED" if message.error else "kept")
            click.echo(f"{message.id:>6}  {message.created_at:%Y-%m-%d %H:%M}  {state:<6}  {message.to_address}  "
                       f"{message.subject}")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
def serve_cmd(host: str, port: int) -> None:
    """Serve the web app with its background worker (development server; in production: gunicorn -c
    deploy/gunicorn.conf.py)."""
    click.echo(f"Vivier: http://{host}:{port}/")
    _serve(_settings(), host, port)


@main.command("worker")
@click.option("--once", is_flag=True, help="Run the jobs due now, then stop.")
def worker_cmd(once: bool) -> None:
    """Run the background jobs web requests leave (e-mails, private links, index updates), until stopped."""
    import signal
    import threading

    from search_app import create_app
    from search_app.jobs import run_pending, serve

    settings = _settings()
    if not settings.base_url:
        raise click.ClickException("VIVIER_BASE_URL must be set: the links the worker e-mails are built on it")
    app = create_app(settings=settings)
    if once:
        runs = run_pending(app)
        click.echo(f"{len(runs)} job(s) run, {sum(not r.ok for r in runs)} failed")
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo("worker: running jobs (Ctrl+C to stop)")
    serve(app, stop)


@main.command("demo")
@click.option("--sites", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEMO_SITES,
              show_default=True, help="Folder of static fixture sites, one sub-folder per site.")
@click.option("--sources", "sources_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=DEMO_SOURCES, show_default=True, help="Source file of the fixture sites.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--no-serve", is_flag=True, help="Stop after indexing (for scripts and tests).")
def demo_cmd(sites: Path, sources_file: Path, host: str, port: int, no_serve: bool) -> None:
    """Serve the fixture sites on loopback, crawl them all, index, serve the app."""
    from crawler.run import run_crawls, sync_sources
    from indexer.build import build_index
    from vivier.db import Database
    from vivier_cli.devserver import FixtureSites

    settings = _settings()
    settings = settings.with_overrides(vector_seeds=(*settings.vector_seeds,
                                                     *sorted(DEMO_VECTOR_SEEDS.glob("*.npz"))))
    started = time.perf_counter()
    database = Database(settings)
    database.migrate()
    with FixtureSites(sites) as fixtures:
        click.echo("fixture sites served at " + ", ".join(f"{n} {u}" for n, u in fixtures.urls.items()))
        specs = _load_sources(sources_file, fixtures.urls)
        sync_sources(database, specs)
        summaries = run_crawls(settings, [s.name for s in specs], loopback_fixture=True,
                               progress=sys.stderr.isatty(), restart=True)
    _print_summaries(summaries)
    _import_demo_centrals(database)
    report = build_index(settings, _encoder(settings), progress=sys.stderr.isatty())
    click.echo(f"index: {report.documents} profiles, {report.passages} passages, {report.encoded} newly embedded")
    click.echo(f"ready in {time.perf_counter() - started:.1f}s")
    if no_serve:
        return
    click.echo(f"Vivier: http://{host}:{port}/  (Ctrl+C to stop)")
    _serve(settings, host, port)


if __name__ == "__main__":  # pragma: no cover
    main()
