"""Faults, each caused for real: a rebuild and a crawl killed with SIGKILL midway, a database locked by another
connection or full (SQLite's own SQLITE_FULL), a full file system under the index, a search backend that is gone,
damaged index files. What must hold: the live index keeps serving the same results, nothing stored is lost or
duplicated, the site answers a clear French 503 rather than a 500, and the next run repairs what was left."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select

from fixtures.build_sites import load_profiles
from tests.conftest import REPO, run_cli, source_args
from tests.test_profile_forms import VALID_PROFILE, csrf_token
from vivier_cli.main import main
from vivier.db import WEB_BUSY_TIMEOUT_S
from vivier.models import SEARCHABLE_STATUSES, Submission, Supplier

# Queries whose result lists must not change while a fault lasts (hybrid search, the real model).
QUERIES = ("collecte des déchets", "cantine scolaire", "capteurs qualité de l'air", "éclairage public")
# Seconds allowed for a subprocess to reach the point where it is killed.
REACH_TIMEOUT_S = 120
# A `vivier index build` that stops, once the tantivy part of its new generation is written, until it is killed:
# the same code path as `python -m vivier_cli index build`, with a pause wrapped around one step. It names the
# generation it was writing in the file given as its argument.
PAUSED_BUILD = """
import os, sys, time
from indexer.backends.embedded import EmbeddedBackend

write_index = EmbeddedBackend._write_index

def write_index_then_wait(self, target, documents):
    write_index(self, target, documents)
    marker = sys.argv[1]
    with open(marker + ".tmp", "w") as out:
        out.write(target.name)
    os.replace(marker + ".tmp", marker)
    time.sleep(600)

EmbeddedBackend._write_index = write_index_then_wait
from vivier_cli.main import main
main(["index", "build"])
"""


def cli_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "VIVIER_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    return env


def cli(settings, *args):
    """`vivier ARGS` in this process (the model is loaded only if something must be embedded)."""
    return CliRunner().invoke(main, list(args), env={"VIVIER_DATA_DIR": str(settings.data_dir), "DATABASE_URL": "",
                                                     "ELASTICSEARCH_URL": "", "VIVIER_SEARCH_BACKEND": ""})


def wait_for(condition, timeout: float = REACH_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the subprocess did not get there in time"
        time.sleep(0.02)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL to the process and the children it forked (started with start_new_session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def make_app(settings, encoder):
    from search_app import create_app

    app = create_app(settings=settings.with_overrides(form_rate_limit="1000 per minute"), encoder=encoder)
    app.config.update(TESTING=True)
    return app


def hit_slugs(html: str) -> list[str]:
    return re.findall(r'<li class="hit">\s*<h3><a href="/fournisseurs/([^"]+)"', html)


def results(app) -> dict[str, list[str]]:
    """The suppliers the search page lists for each of QUERIES, in rank order."""
    client = app.test_client()
    found = {}
    for query in QUERIES:
        response = client.get("/", query_string={"q": query})
        assert response.status_code == 200, query
        found[query] = hit_slugs(response.get_data(as_text=True))
    assert all(found.values())
    return found


def index_root(settings) -> Path:
    return settings.index_dir / "embedded"


def live_generation(settings) -> str:
    return (index_root(settings) / "CURRENT").read_text().strip()


def generations(settings) -> list[str]:
    return sorted(p.name for p in index_root(settings).glob("gen-*"))


def only_live_generation(settings) -> str:
    """Delete the generations kept behind the live one: there is none to fall back to."""
    live = live_generation(settings)
    for name in generations(settings):
        if name != live:
            shutil.rmtree(index_root(settings) / name)
    return live


def database_path(settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


def row_counts(path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("suppliers", "submissions", "claims", "outbox", "source_records")}


def listed_slug(app) -> str:
    with app.extensions["vivier"]["database"].session() as session:
        return session.scalar(select(Supplier.slug).where(Supplier.status.in_(SEARCHABLE_STATUSES))
                              .order_by(Supplier.id).limit(1))


def listed_id(app) -> int:
    with app.extensions["vivier"]["database"].session() as session:
        return session.scalar(select(Supplier.id).where(Supplier.status.in_(SEARCHABLE_STATUSES))
                              .order_by(Supplier.id).limit(1))


def submissions_named(app, name: str) -> int:
    with app.extensions["vivier"]["database"].session() as session:
        return session.scalar(select(func.count()).select_from(Submission).where(Submission.name == name))


def assert_database_page(response) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == 503, html
    assert "La base de données est momentanément indisponible" in html and "réessayez" in html
    assert '<html lang="fr">' in html and response.headers["Retry-After"]


# -- a rebuild killed midway ----------------------------------------------------------------------------------
def test_a_rebuild_killed_midway_leaves_the_live_index_serving_and_the_next_one_cleans_up(private_settings, encoder,
                                                                                         tmp_path):
    app = make_app(private_settings, encoder)
    before = results(app)
    live = live_generation(private_settings)
    marker = tmp_path / "paused-in"
    build = subprocess.Popen([sys.executable, "-c", PAUSED_BUILD, str(marker)], cwd=REPO,
                             env=cli_env(private_settings.data_dir), start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: marker.exists() or build.poll() is not None)
        assert build.poll() is None, build.communicate()
    finally:
        kill_group(build)
    partial = index_root(private_settings) / marker.read_text()
    assert partial.is_dir() and (partial / "tantivy").is_dir() and not (partial / "meta.json").exists()

    assert live_generation(private_settings) == live
    assert results(app) == before  # the running app
    assert results(make_app(private_settings, encoder)) == before  # and one started now, which opens the index
    with open(index_root(private_settings) / ".lock", "w") as lock:  # the killed build's lock died with it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(lock, fcntl.LOCK_UN)

    output = run_cli(["index", "build"], private_settings.data_dir).stdout
    rebuilt = live_generation(private_settings)
    assert rebuilt != live and rebuilt in output
    assert not partial.exists() and generations(private_settings) == sorted([live, rebuilt])
    assert results(app) == before


# -- a crawl killed midway ------------------------------------------------------------------------------------
def stored(data_dir: Path) -> int:
    path = data_dir / "vivier.db"
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as connection:
        try:
            return connection.execute("SELECT count(*) FROM suppliers").fetchone()[0]
        except sqlite3.OperationalError:  # the schema is not there yet
            return 0


def page_urls(data_dir: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(data_dir / "vivier.db")) as connection:
        return {url for (url,) in connection.execute("SELECT url FROM source_records WHERE source_name = 'annuaire'")}


def test_a_crawl_killed_midway_starts_again_finishes_and_duplicates_nothing(tmp_path, fixture_sites,
                                                                           crawled_data_dir):
    """tests/test_harvest.py resumes a crawl that stopped cleanly (a page limit); this one is killed with SIGKILL."""
    from scrapy import Request
    from scrapy.dupefilters import RFPDupeFilter

    data_dir, expected = tmp_path / "data", len(load_profiles())
    args = [sys.executable, "-m", "vivier_cli", "crawl", "annuaire", *source_args(fixture_sites), "--no-index"]
    crawl = subprocess.Popen(args, cwd=REPO, env=cli_env(data_dir), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: stored(data_dir) >= 30 or crawl.poll() is not None)
        assert crawl.poll() is None, crawl.communicate()
    finally:
        kill_group(crawl)
    killed_at = stored(data_dir)
    assert 30 <= killed_at < expected
    job = data_dir / "crawls" / "annuaire"
    assert job.is_dir()
    # Scrapy records a request as seen when it queues it, through an 8 KB write buffer, and saves the queue itself
    # only when it stops: a larger crawl killed midway leaves on disk the fingerprints of pages it had queued but
    # not fetched, and no queue. The fixture directory is too small to fill that buffer, so Scrapy's own filter
    # writes here what such a crawl leaves: the pages not stored yet, as seen.
    seen = RFPDupeFilter(path=str(job))
    for url in page_urls(crawled_data_dir) - page_urls(data_dir):
        seen.request_seen(Request(url))
    seen.close("killed")

    second = run_cli(args[3:], data_dir).stdout
    assert "finished" in second and f"unchanged {killed_at}" in second, second
    assert not job.exists()
    with contextlib.closing(sqlite3.connect(data_dir / "vivier.db")) as connection:
        names = [name for (name,) in connection.execute("SELECT name FROM suppliers")]
        records = connection.execute("SELECT count(*), count(DISTINCT source_name || ' ' || url) FROM source_records"
                                     " WHERE source_name = 'annuaire'").fetchone()
        runs = connection.execute("SELECT status, json_extract(stats, '$.finish_reason') FROM crawl_runs "
                                  "ORDER BY id").fetchall()
    assert len(names) == len(set(names)) == expected and set(names) == {p["name"] for p in load_profiles()}
    assert records == (expected, expected)  # one record per page, none twice
    assert runs == [("interrupted", "killed"), ("finished", "finished")]


# -- the database locked or full --------------------------------------------------------------------------------
def timed_post(client, url: str, data: dict):
    started = time.monotonic()
    response = client.post(url, data=data)
    return response, time.monotonic() - started


def test_a_locked_database_answers_503_in_bounded_time_and_the_same_forms_then_succeed(private_settings, encoder):
    app = make_app(private_settings, encoder)
    proposer, claimer, reader, slug = app.test_client(), app.test_client(), app.test_client(), listed_slug(app)
    proposal = {**VALID_PROFILE, "name": "Verrou Patient", "csrf_token": csrf_token(proposer, "/fournisseurs/proposer")}
    claim = {"email": "direction@verrou-patient.fr", "message": "",
             "csrf_token": csrf_token(claimer, f"/fournisseurs/{slug}/revendiquer")}
    path = database_path(private_settings)
    before = row_counts(path)
    holder = sqlite3.connect(path, isolation_level=None)  # another process's long write transaction
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE suppliers SET pitch = 'Écrit pendant le verrou' WHERE slug = ?", (slug,))
    try:
        with ThreadPoolExecutor(2) as pool:  # two writing pages, each waiting for the lock
            posts = [pool.submit(timed_post, proposer, "/fournisseurs/proposer", proposal),
                     pool.submit(timed_post, claimer, f"/fournisseurs/{slug}/revendiquer", claim)]
            page = reader.get(f"/fournisseurs/{slug}")  # reading needs no write lock
            search = reader.get("/", query_string={"q": "cantine"})
            (refused, waited), (refused_claim, waited_claim) = (post.result() for post in posts)
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert_database_page(refused)
    assert_database_page(refused_claim)
    assert all(WEB_BUSY_TIMEOUT_S - 0.5 <= w < WEB_BUSY_TIMEOUT_S + 5 for w in (waited, waited_claim))
    assert page.status_code == 200 and search.status_code == 200
    assert row_counts(path) == before
    assert "Écrit pendant le verrou" in reader.get(f"/fournisseurs/{slug}").get_data(as_text=True)

    # The same submissions, once the lock is gone.
    assert proposer.post("/fournisseurs/proposer", data=proposal).status_code == 303
    assert claimer.post(f"/fournisseurs/{slug}/revendiquer", data=claim).status_code == 200
    after = row_counts(path)
    assert (after["submissions"], after["claims"]) == (before["submissions"] + 1, before["claims"] + 1)
    assert submissions_named(app, "Verrou Patient") == 1


@contextlib.contextmanager
def database_locked(path: Path, readers_too: bool = False):
    """Another process's long write transaction; with `readers_too`, in SQLite's exclusive locking mode, which
    keeps readers out of a WAL database as well (it needs no other connection open to take it)."""
    holder = sqlite3.connect(path, isolation_level=None)
    if readers_too:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE suppliers SET pitch = pitch WHERE id = (SELECT min(id) FROM suppliers)")
    try:
        yield
    finally:
        holder.execute("COMMIT")
        holder.close()


def test_a_database_503_says_retry_after_the_database_delay_not_the_rate_limit_window(private_settings, encoder):
    """Flask-Limiter adds a Retry-After (when the route's rate-limit window resets) to every answer of a limited
    route and keeps the later of its own and the page's: with the default form limit (10 per hour) a form refused
    while the database was locked said "Retry-After: 3600", and an API answer up to a minute."""
    from search_app import DATABASE_RETRY_AFTER_S, create_app

    app = create_app(settings=private_settings, encoder=encoder)  # the default limits: forms 10 per hour
    app.config.update(TESTING=True)
    client = app.test_client()
    proposal = {**VALID_PROFILE, "name": "Verrou Horaire", "csrf_token": csrf_token(client, "/fournisseurs/proposer")}
    with database_locked(database_path(private_settings)):
        refused = client.post("/fournisseurs/proposer", data=proposal)
    assert_database_page(refused)
    assert refused.headers["Retry-After"] == str(DATABASE_RETRY_AFTER_S)
    assert refused.headers["X-RateLimit-Limit"] == "10"  # the rate limit's own headers stay
    supplier_id, slug = listed_id(app), listed_slug(app)
    app.extensions["vivier"]["database"].engine.dispose()  # no connection of the app keeps the WAL open
    with database_locked(database_path(private_settings), readers_too=True):
        problem = client.get(f"/api/v1/suppliers/{supplier_id}")
        page = client.get(f"/fournisseurs/{slug}")
    assert problem.status_code == 503 and problem.get_json()["title"] == "Database unavailable"
    assert problem.headers["Retry-After"] == str(DATABASE_RETRY_AFTER_S)
    assert_database_page(page)
    assert page.headers["Retry-After"] == str(DATABASE_RETRY_AFTER_S)
    assert client.post("/fournisseurs/proposer", data=proposal).status_code == 303  # once the lock is gone


def test_a_full_database_answers_503_keeps_what_it_had_and_takes_the_form_once_there_is_room(private_settings,
                                                                                          encoder):
    app = make_app(private_settings, encoder)
    client = app.test_client()
    proposal = {**VALID_PROFILE, "name": "Disque Plein", "description": "Des sondes dans les massifs. " * 250,
                "csrf_token": csrf_token(client, "/fournisseurs/proposer")}
    path = database_path(private_settings)
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("VACUUM")  # no free page left inside the file: a new row must grow it
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
    before = row_counts(path)
    engine = app.extensions["vivier"]["database"].engine

    def no_room(dbapi_connection, _record):  # the file may not grow: SQLite's real SQLITE_FULL
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    engine.dispose()
    event.listen(engine, "connect", no_room)
    try:
        refused = client.post("/fournisseurs/proposer", data=proposal)
        page = client.get(f"/fournisseurs/{listed_slug(app)}")  # reading needs no room
    finally:
        event.remove(engine, "connect", no_room)
        engine.dispose()
    assert_database_page(refused)
    assert page.status_code == 200
    assert row_counts(path) == before

    assert client.post("/fournisseurs/proposer", data=proposal).status_code == 303
    assert submissions_named(app, "Disque Plein") == 1


def test_an_unreachable_database_is_a_503_problem_on_the_api_and_a_503_page_elsewhere(private_settings, encoder,
                                                                                     tmp_path):
    (tmp_path / "gone.db").mkdir()  # a volume that is not mounted: SQLite cannot open the file
    app = make_app(private_settings.with_overrides(database_url=f"sqlite:///{tmp_path / 'gone.db'}"), encoder)
    client = app.test_client()
    problem = client.get("/api/v1/suppliers/1")
    assert problem.status_code == 503 and problem.mimetype == "application/problem+json"
    assert problem.get_json()["title"] == "Database unavailable" and problem.headers["Retry-After"]
    assert_database_page(client.get("/fournisseurs/une-entreprise"))


def test_a_mistake_in_sql_is_not_taken_for_an_unavailable_database(tmp_path):
    """SQLite reports both as OperationalError: only the first kind is a 503, the other stays a 500 (a bug)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from search_app import database_unavailable

    engine = create_engine(f"sqlite:///{tmp_path / 'mistake.db'}")
    with pytest.raises(OperationalError) as mistake, engine.connect() as connection:
        connection.execute(text("SELECT * FROM nowhere"))
    engine.dispose()
    (tmp_path / "gone.db").mkdir()
    with pytest.raises(OperationalError) as gone, create_engine(f"sqlite:///{tmp_path / 'gone.db'}").connect():
        pass
    assert not database_unavailable(mistake.value) and database_unavailable(gone.value)


# -- a full file system under the index -------------------------------------------------------------------------
def _limit_file_size(limit: int):
    def apply() -> None:  # in the child: writes past `limit` bytes fail with EFBIG instead of killing it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@contextlib.contextmanager
def full_file_system(index_dir: Path, free_bytes: int):
    """The index directory on a tmpfs with `free_bytes` left once the live index is copied in, where mounting is
    permitted (root); elsewhere a per-process file size limit. Yields the `preexec_fn` for the build subprocess."""
    saved = index_dir.with_name("index-on-disk")
    shutil.move(index_dir, saved)
    index_dir.mkdir()
    used = sum(-(-p.stat().st_size // 4096) * 4096 + 4096 for p in saved.rglob("*"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={(used + free_bytes) // 1024}k", "tmpfs",
                              str(index_dir)], capture_output=True).returncode == 0
    try:
        shutil.copytree(saved, index_dir, dirs_exist_ok=True)
        yield None if mounted else _limit_file_size(free_bytes)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(index_dir)], check=True)


def test_a_full_disk_fails_the_build_clearly_and_the_live_index_keeps_serving(private_settings, encoder):
    app = make_app(private_settings, encoder)
    before = results(app)
    live = only_live_generation(private_settings)
    with full_file_system(private_settings.index_dir, free_bytes=256 * 1024) as preexec:
        files = {p: p.stat().st_size for p in (index_root(private_settings) / live).rglob("*")}
        failed = subprocess.run([sys.executable, "-m", "vivier_cli", "index", "build"], cwd=REPO,
                                env=cli_env(private_settings.data_dir), preexec_fn=preexec, capture_output=True,
                                text=True, timeout=300)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "the index build failed, the live index is unchanged" in failed.stderr
        assert "No space left on device" in failed.stderr or "File too large" in failed.stderr
        assert "Traceback" not in failed.stderr
        assert live_generation(private_settings) == live and generations(private_settings) == [live]
        assert {p: p.stat().st_size for p in (index_root(private_settings) / live).rglob("*")} == files
        assert results(make_app(private_settings, encoder)) == before  # opened from the full file system
        assert results(app) == before


# -- the search backend down ------------------------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as probe:  # a free loopback port, closed again: connections are refused
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("fault", ["index directory missing", "index directory unreadable",
                                   "search server refusing connections"])
def test_with_search_down_search_pages_are_503_and_supplier_pages_and_forms_work(fault, private_settings, encoder):
    settings = private_settings
    root = index_root(settings)
    if fault == "index directory missing":
        shutil.rmtree(root)
    elif fault == "index directory unreadable":  # a file where the directory should be (chmod is moot for root)
        shutil.rmtree(root)
        root.write_text("not a directory")
    else:
        settings = settings.with_overrides(backend="elasticsearch", elasticsearch_timeout=1,
                                           elasticsearch_url=f"http://127.0.0.1:{closed_port()}")
    app = make_app(settings, encoder)
    client = app.test_client()
    for headers in ({}, {"HX-Request": "true"}):
        response = client.get("/", query_string={"q": "cantine"}, headers=headers)
        assert response.status_code == 503 and "momentanément indisponible" in response.get_data(as_text=True)
    api = client.get("/api/v1/search", query_string={"q": "cantine"})
    assert api.status_code == 503 and api.mimetype == "application/problem+json"

    assert client.get(f"/fournisseurs/{listed_slug(app)}").status_code == 200
    assert client.get("/fournisseurs/proposer").status_code == 200
    name = f"Panne {fault}"[:60]
    proposal = {**VALID_PROFILE, "name": name, "csrf_token": csrf_token(client, "/fournisseurs/proposer")}
    assert client.post("/fournisseurs/proposer", data=proposal).status_code == 303
    assert submissions_named(app, name) == 1


# -- a damaged index --------------------------------------------------------------------------------------------
def _cut(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def _scramble(path: Path) -> None:
    path.write_bytes(bytes(b ^ 0x5A for b in path.read_bytes()))  # same size, nothing readable


def _flip(path: Path) -> None:
    """Flip one bit of each byte of the file's second half, in place: its size, its header (the first half) and
    meta.json stay as they were, so only a checksum tells. Flipped vectors change dense results, flipped field norms
    keyword scores, silently (a disk fault, a bad copy)."""
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data)):
        data[i] ^= 0x40
    size = path.stat().st_size
    with open(path, "r+b") as file:  # rewritten in place, as a disk fault would
        file.write(data)
    assert path.stat().st_size == size


def _flip_field_norms(gen: Path) -> None:
    norms = sorted((gen / "tantivy").glob("*.fieldnorm"))
    assert norms
    for path in norms:
        _flip(path)


DAMAGES = {
    "vectors cut short": lambda gen: _cut(gen / "vectors.npy", 4096),
    "vectors scrambled": lambda gen: _scramble(gen / "vectors.npy"),
    "vectors flipped in place": lambda gen: _flip(gen / "vectors.npy"),
    "tantivy segment file deleted": lambda gen: sorted((gen / "tantivy").glob("*.idx"))[0].unlink(),
    "tantivy segment files flipped in place": _flip_field_norms,
    "meta.json garbage": lambda gen: (gen / "meta.json").write_text("{not json"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_index_is_a_503_reported_by_status_and_repaired_by_a_build(damage, private_settings, encoder):
    before = results(make_app(private_settings, encoder))
    live = only_live_generation(private_settings)
    DAMAGES[damage](index_root(private_settings) / live)

    app = make_app(private_settings, encoder)  # a process started after the damage: it opens the index
    client = app.test_client()
    for url in ("/?q=cantine", "/api/v1/search?q=cantine", "/recherche.csv?q=cantine"):
        response = client.get(url)
        assert response.status_code == 503, url
    html = client.get("/?q=cantine").get_data(as_text=True)
    assert "momentanément indisponible" in html and 'class="hit"' not in html
    assert client.get(f"/fournisseurs/{listed_slug(app)}").status_code == 200

    status = cli(private_settings, "index", "status")
    assert status.exit_code == 0, status.output
    lines = dict(line.split(":", 1) for line in status.output.splitlines())
    assert lines["ready"].strip().startswith("no") and lines["problem"].strip()
    built = cli(private_settings, "index", "build")
    assert built.exit_code == 0, built.output
    assert results(app) == before
    assert live not in generations(private_settings)
    assert "problem" not in cli(private_settings, "index", "status").output


@pytest.mark.parametrize("damage", ["live vectors cut short", "live vectors flipped in place",
                                    "live tantivy segment files flipped in place",
                                    "CURRENT names a missing generation"])
def test_a_damaged_live_index_falls_back_to_the_newest_intact_one_until_the_next_build(damage, private_settings,
                                                                                      encoder, caplog):
    from indexer.build import build_index

    before = results(make_app(private_settings, encoder))
    intact = only_live_generation(private_settings)
    if damage.startswith("live "):
        build_index(private_settings, encoder, export=False)  # the same data, in a newer generation
        damaged = live_generation(private_settings)
        DAMAGES[damage.removeprefix("live ")](index_root(private_settings) / damaged)
    else:
        damaged = "gen-19700101T000000-0"
        (index_root(private_settings) / "CURRENT").write_text(damaged)

    with caplog.at_level("WARNING", logger="indexer.backends.embedded"):
        assert results(make_app(private_settings, encoder)) == before
    assert any(damaged in r.getMessage() and intact in r.getMessage() for r in caplog.records)
    status = cli(private_settings, "index", "status")
    lines = dict(line.split(":", 1) for line in status.output.splitlines())
    assert lines["ready"].strip() == "yes" and lines["index"].strip() == intact and damaged in lines["problem"]

    assert cli(private_settings, "index", "build").exit_code == 0
    assert damaged not in generations(private_settings) and intact in generations(private_settings)
    assert "problem" not in cli(private_settings, "index", "status").output


def test_a_generation_records_a_checksum_of_each_file_and_one_without_checksums_stays_readable(private_settings,
                                                                                             encoder):
    """Generations written before checksums were recorded have sizes only: they are opened as before."""
    before = results(make_app(private_settings, encoder))
    live = index_root(private_settings) / only_live_generation(private_settings)
    meta = json.loads((live / "meta.json").read_text(encoding="utf-8"))
    assert set(meta["checksums"]) == set(meta["files"]) and {"vectors.npy", "docs.json"} <= set(meta["files"])
    assert any(name.startswith("tantivy/") and name.endswith(".fieldnorm") for name in meta["checksums"])
    for name, checksum in meta["checksums"].items():
        algorithm, _, digest = checksum.partition(":")
        assert hashlib.new(algorithm, (live / name).read_bytes()).hexdigest() == digest
    del meta["checksums"]
    (live / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    assert results(make_app(private_settings, encoder)) == before
    status = json.loads(cli(private_settings, "index", "status", "--json").output)
    assert status["ready"] and "problem" not in status and "checksums" not in status


def test_rollback_skips_a_previous_generation_damaged_in_place(private_settings, encoder):
    from indexer.build import build_index

    damaged = only_live_generation(private_settings)
    build_index(private_settings, encoder, export=False)
    live = live_generation(private_settings)
    DAMAGES["vectors flipped in place"](index_root(private_settings) / damaged)
    rolled = cli(private_settings, "index", "rollback")
    assert rolled.exit_code == 1 and f"{damaged}: damaged" in rolled.output, rolled.output
    assert live_generation(private_settings) == live
