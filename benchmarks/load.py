"""Load test: the web app served by gunicorn (deploy/gunicorn.conf.py) on loopback, under a mixed traffic of searches,
facet-filtered searches, htmx partials and supplier pages, at 10k and 100k synthetic profiles.

    .venv/bin/python -m benchmarks.load [--sizes 10000,100000] [--duration 30] [--connections 4]
                                        [--workers N] [--threads N] [--work-dir DIR] [--note TEXT] [--no-record]

Needs wrk (Debian or Ubuntu: `apt-get install wrk`; macOS: `brew install wrk`) and gunicorn (`pip install -e
'.[server]'`). For each size:
1. Prepares the profiles, the embedding cache and the index with benchmarks/search.py (`prepare`, `measure_build`;
   an index already under --work-dir is reused).
2. Writes a request plan: PLAN_LENGTH request paths drawn, seeded, from a mix of full-page searches (the search
   benchmark's short and medium French queries, hybrid or keyword), facet-filtered searches (category,
   department, label, size), htmx partials (the same searches with the HX-Request header, some on page 2) and
   supplier pages (slugs drawn from the database).
3. Starts gunicorn with the project's config on an ephemeral loopback port and waits until every worker has
   logged that it is warm (model and index loaded, deploy/gunicorn.conf.py's post_worker_init).
4. Runs wrk for WARMUP_S (discarded: templates, page cache, connections), then for --duration seconds with
   --connections connections on one wrk thread; wrk's Lua script cycles through the plan.
5. Reads the workers' memory, stops gunicorn, and reads its access log: the server-side time of every request of
   the measured run, by kind, and every status.

Throughput and the p50/p95/p99 latencies are wrk's: client-side, queueing in the server's backlog included.
Errors are non-2xx/3xx responses (wrk's and the access log's) and socket errors (connect, read, write, timeout
after WRK_TIMEOUT_S); any error fails the run, which is then not recorded. The figures are printed last and
appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import runpy
import shutil
import signal
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.search import (QUERIES, SEED, data_settings, machine, measure_build, percentiles, prepare,
                               request_url)
from indexer.backends.base import FACET_FIELDS
from vivier.taxonomy import CATEGORIES, SIZE_BANDS

CONFIG = REPO / "deploy" / "gunicorn.conf.py"
RESULTS_FILE = REPO / "benchmarks" / "RESULTS.md"
RESULTS_SECTION = "## Load (`python -m benchmarks.load`)"
DURATION_S = 30
# Discarded first seconds of load: each worker compiles its templates and opens its database connections.
WARMUP_S = 5
# Two per core: every worker thread (2 workers x 2 threads) has a request, and a short queue forms, as at a busy
# hour. More connections only lengthen the queue (latency grows, throughput does not).
CONNECTIONS = 4
# One wrk thread: an event loop drives a few hundred requests per second with a few per cent of a core; a second
# thread would take CPU from the server it measures.
WRK_THREADS = 1
# A response slower than this counts as an error (a timeout).
WRK_TIMEOUT_S = 10
# Seconds for gunicorn to bind and for every worker to load the model and the index (about 20 s at 100k on a busy
# machine).
BOOT_TIMEOUT_S = 180
STOP_TIMEOUT_S = 40
# Requests in the plan wrk cycles through: more than a run sends at this machine's rate, so each supplier page is
# requested about once.
PLAN_LENGTH = 6000
# A buyer's visit as guessed from the interface: searches, refined with facets (htmx requests when JavaScript
# runs), the next page, and a few supplier pages opened from the results.
MIX = {"search": 35, "facets": 20, "htmx": 20, "supplier": 25}
KINDS = tuple(MIX)
# Hybrid is the page's default; keyword ("mots exacts") is one click away.
MODE_WEIGHTS = {"hybrid": 3, "keyword": 1}
# Share of htmx requests that ask for page 2 (the pagination links are htmx).
NEXT_PAGE_RATE = 0.3
# Departments a facet filter picks from: the most common in the database, so that filters find suppliers.
TOP_DEPARTMENTS = 12
FACET_LABELS = ("ess", "esus", "french-tech", "societe-a-mission", "iso-14001", "b-corp")
# gunicorn's access log: status, server-side microseconds, the HX-Request header, the request line.
ACCESS_LOG_FORMAT = "%(s)s %(D)s %({hx-request}i)s %(r)s"
# Cores of the machine the config is sized for, for the capacity estimate.
CORES = 2
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
WARM = re.compile(r"Worker warm \(pid: (\d+)\)")

# Cycles through the plan (one "HTMX<TAB>PATH" line per request; HTMX is 1 or 0) from a given position, then prints
# wrk's summary as one JSON line. `init` runs in each wrk thread; `done` once, with the merged statistics
# (microseconds).
WRK_SCRIPT = r"""
local requests = {}
local counter = 0

function init(args)
  counter = tonumber(args[2]) or 0
  for line in io.lines(args[1]) do
    local htmx, path = line:match("^([01])\t(.+)$")
    local headers = {}
    if htmx == "1" then headers["HX-Request"] = "true" end
    requests[#requests + 1] = wrk.format("GET", path, headers)
  end
end

function request()
  counter = counter % #requests + 1
  return requests[counter]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
"""


# -- the request plan (pure) ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedRequest:
    kind: str
    path: str
    htmx: bool = False


def search_path(rng: random.Random) -> str:
    text = rng.choice([text for text, filters in QUERIES if text and not filters])
    return request_url(text, {}, rng.choices(list(MODE_WEIGHTS), list(MODE_WEIGHTS.values()))[0])


def facet_path(rng: random.Random, departments: list[str]) -> str:
    """One of the search benchmark's filtered queries, or a short query (or none) with one or two facet values."""
    filtered = [(text, filters) for text, filters in QUERIES if filters]
    if rng.random() < 0.4:
        text, filters = rng.choice(filtered)
    else:
        text = rng.choice(["", *[t for t, f in QUERIES if t and not f and len(t.split()) <= 3]])
        choices = {"category": [c.slug for c in CATEGORIES], "department": departments, "label": list(FACET_LABELS),
                   "size": [s.slug for s in SIZE_BANDS]}
        filters = {facet: [rng.choice(choices[facet])] for facet in rng.sample(sorted(choices), rng.choice((1, 2)))}
        if not text and "category" not in filters:  # a browse starts from a category
            filters["category"] = [rng.choice(choices["category"])]
    return request_url(text, filters, rng.choices(list(MODE_WEIGHTS), list(MODE_WEIGHTS.values()))[0])


def request_plan(slugs: list[str], departments: list[str], length: int = PLAN_LENGTH,
                 seed: int = SEED) -> list[PlannedRequest]:
    """`length` requests in the proportions of MIX, in a seeded random order."""
    rng = random.Random(seed)
    total = sum(MIX.values())
    counts = {kind: round(length * weight / total) for kind, weight in MIX.items()}
    pages = (rng.sample(slugs, counts["supplier"]) if len(slugs) >= counts["supplier"]
             else rng.choices(slugs, k=counts["supplier"]))
    plan: list[PlannedRequest] = []
    for _ in range(counts["search"]):
        plan.append(PlannedRequest("search", search_path(rng)))
    for _ in range(counts["facets"]):
        plan.append(PlannedRequest("facets", facet_path(rng, departments)))
    for _ in range(counts["htmx"]):
        path = search_path(rng) if rng.random() < 0.5 else facet_path(rng, departments)
        if rng.random() < NEXT_PAGE_RATE:
            path += "&page=2"
        plan.append(PlannedRequest("htmx", path, htmx=True))
    plan.extend(PlannedRequest("supplier", f"/fournisseurs/{slug}") for slug in pages)
    rng.shuffle(plan)
    return plan


def kind_of(path: str, htmx: bool) -> str:
    """The kind of a request of the plan, from what the access log shows of it."""
    if htmx:
        return "htmx"
    if path.startswith("/fournisseurs/"):
        return "supplier"
    return "facets" if FACET_FIELDS.keys() & parse_qs(urlsplit(path).query).keys() else "search"


def parse_access_log(lines: list[str]) -> tuple[dict[str, list[float]], Counter]:
    """Server-side milliseconds by kind, and the count of each status, from ACCESS_LOG_FORMAT lines."""
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    statuses: Counter = Counter()
    for line in lines:
        status, micros, htmx, request_line = line.rstrip("\n").split(" ", 3)
        path = request_line.split(" ")[1]
        statuses[status] += 1
        times[kind_of(path, htmx == "true")].append(int(micros) / 1000)
    return times, statuses


# -- gunicorn (I/O) ------------------------------------------------------------------------------------------------
def config_value(name: str):
    """A setting of deploy/gunicorn.conf.py as gunicorn reads it (the file is plain Python)."""
    return runpy.run_path(str(CONFIG))[name]


class GunicornServer:
    """gunicorn with deploy/gunicorn.conf.py on loopback, for the load test and tests/test_wsgi.py.

    It binds port 0 and reads the port it got from its log: no other process can take it in between. Entering waits
    until every worker has logged that it is warm; leaving stops the server (SIGTERM, then SIGKILL to its process
    group), also when starting failed."""

    def __init__(self, data_dir: Path, log_dir: Path, workers: int, threads: int | None = None,
                 access_log: Path | None = None, boot_timeout: float = BOOT_TIMEOUT_S):
        self.data_dir, self.workers, self.threads = Path(data_dir), workers, threads
        self.error_log = Path(log_dir) / "gunicorn-error.log"
        self.access_log = access_log
        self.boot_timeout = boot_timeout
        self.process: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "gunicorn", "--config", str(CONFIG), "--bind", f"127.0.0.1:{self.port}",
                   "--workers", str(self.workers), "--error-logfile", str(self.error_log)]
        if self.threads:
            command += ["--threads", str(self.threads)]
        if self.access_log:
            command += ["--access-logfile", str(self.access_log), "--access-logformat", ACCESS_LOG_FORMAT]
        return command

    def __enter__(self) -> "GunicornServer":
        with socket.socket() as probe:  # a free port, known before the start: the base URL names it
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        # A production server needs its public address and a real secret (vivier.config.check_production).
        env = {**os.environ, "VIVIER_DATA_DIR": str(self.data_dir), "VIVIER_BASE_URL": self.url,
               "VIVIER_SECRET_KEY": secrets.token_urlsafe(32)}
        for name in ("DATABASE_URL", "ELASTICSEARCH_URL", "VIVIER_SEARCH_BACKEND", "GUNICORN_CMD_ARGS"):
            env.pop(name, None)  # the data under data_dir, the embedded index, the config's settings
        self.error_log.parent.mkdir(parents=True, exist_ok=True)
        self.error_log.write_text("")
        self.process = subprocess.Popen(self.command(), cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        try:
            deadline = time.monotonic() + self.boot_timeout
            self.port = int(self._wait_for(lambda log: LISTENING.search(log), deadline).group(1))
            self._wait_for(lambda log: len(set(WARM.findall(log))) >= self.workers, deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait_for(self, found, deadline: float):
        while True:
            log = self.error_log.read_text(errors="replace")
            result = found(log)
            if result:
                return result
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with status {self.process.returncode}:\n{log[-4000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"gunicorn not ready after {self.boot_timeout} s:\n{log[-4000:]}")
            time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        """The master's children (the workers), from /proc."""
        pids = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            except OSError:  # the process ended while being read
                continue
            if fields.get("PPid", "").strip() == str(self.process.pid):
                pids.append(int(status.parent.name))
        return sorted(pids)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # graceful: workers finish their requests
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the session started for it: master and workers
            self.process.wait()


def process_cpu_s(pid: int) -> float:
    """User and system CPU seconds a process has used (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_memory_mb(pid: int) -> dict:
    """Resident (VmRSS), peak resident (VmHWM) and proportional (Pss: shared pages divided among the processes
    that map them, such as the index files) memory of a process, MB."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    rollup = Path(f"/proc/{pid}/smaps_rollup")
    pss = next((int(line.split()[1]) for line in rollup.read_text().splitlines() if line.startswith("Pss:")), 0) \
        if rollup.exists() else 0
    return {"rss": int(status["VmRSS"].split()[0]) // 1024, "hwm": int(status["VmHWM"].split()[0]) // 1024,
            "pss": pss // 1024}


# -- one size ------------------------------------------------------------------------------------------------------
def database_sample(data_dir: Path) -> tuple[list[str], list[str]]:
    """Slugs of the searchable suppliers, and the most common departments."""
    from sqlalchemy import func, select

    from vivier.db import Database
    from vivier.models import SEARCHABLE_STATUSES, Supplier

    database = Database(data_settings(data_dir))
    try:
        with database.session() as session:
            slugs = list(session.scalars(select(Supplier.slug).where(Supplier.status.in_(SEARCHABLE_STATUSES))
                                         .order_by(Supplier.id)))
            departments = list(session.scalars(
                select(Supplier.department).where(Supplier.department.is_not(None)).group_by(Supplier.department)
                .order_by(func.count().desc(), Supplier.department).limit(TOP_DEPARTMENTS)))
    finally:
        database.dispose()
    return slugs, departments


def index_ready(data_dir: Path) -> bool:
    """Whether a readable index of this version is live under data_dir (left by an earlier run in --work-dir)."""
    from indexer.backends import make_backend

    return bool(make_backend(data_settings(data_dir)).status().get("ready"))


def run_wrk(url: str, script: Path, plan_file: Path, seconds: int, connections: int, start: int = 0) -> dict:
    """wrk on the plan from position `start`, for `seconds`; its summary (counts, microseconds)."""
    command = ["wrk", "--threads", str(WRK_THREADS), "--connections", str(connections), "--duration", f"{seconds}s",
               "--timeout", f"{WRK_TIMEOUT_S}s", "--script", str(script), url, "--", str(plan_file), str(start)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    lines = [line for line in result.stdout.splitlines() if line.startswith("WRK-RESULT ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return json.loads(lines[-1].removeprefix("WRK-RESULT "))


def load_size(size: int, work: Path, encoder, duration: int, connections: int, workers: int,
              threads: int) -> dict:
    data_dir = work / f"n{size}"
    prepared = prepare(size, data_dir, encoder)
    print(f"{size:,} profiles ready: {json.dumps(prepared)}", flush=True)
    if not index_ready(data_dir):
        print(f"built: {json.dumps(measure_build(data_dir, encoder))}", flush=True)
    slugs, departments = database_sample(data_dir)
    plan = request_plan(slugs, departments)
    if any(kind_of(r.path, r.htmx) != r.kind for r in plan):  # the access log could not be read back by kind
        raise AssertionError("kind_of disagrees with the plan")
    run_dir = Path(tempfile.mkdtemp(prefix="load-", dir=work))
    plan_file, script, access_log = run_dir / "plan.tsv", run_dir / "plan.lua", run_dir / "access.log"
    plan_file.write_text("".join(f"{int(r.htmx)}\t{r.path}\n" for r in plan))
    script.write_text(WRK_SCRIPT)

    started = time.monotonic()
    with GunicornServer(data_dir, run_dir, workers, threads, access_log=access_log) as server:
        boot_s = time.monotonic() - started
        print(f"gunicorn ready on {server.url} in {boot_s:.1f} s ({workers} workers x {threads} threads)",
              flush=True)
        warm = run_wrk(server.url, script, plan_file, WARMUP_S, connections)
        time.sleep(0.5)  # the last warm-up responses reach the access log
        skip = len(access_log.read_text().splitlines())
        load_before = os.getloadavg()[0]
        pids = server.worker_pids()
        cpu_before = sum(process_cpu_s(pid) for pid in pids)
        # From where the warm-up stopped: the measured run asks for supplier pages not asked yet.
        measured = run_wrk(server.url, script, plan_file, duration, connections, start=warm["requests"] % len(plan))
        cpu_s = sum(process_cpu_s(pid) for pid in pids) - cpu_before
        load_after = os.getloadavg()[0]
        if server.worker_pids() != pids:
            raise RuntimeError(f"a worker was replaced during the run:\n{server.error_log.read_text()[-3000:]}")
        memory = [process_memory_mb(pid) for pid in pids]
        server.stop()  # every request is logged once the workers have exited
        log_lines = access_log.read_text().splitlines()[skip:]
        error_log_tail = server.error_log.read_text(errors="replace")[-3000:]
    times, statuses = parse_access_log(log_lines)
    bad_statuses = {status: n for status, n in statuses.items() if not status.startswith(("2", "3"))}
    socket_errors = {k: measured[k] for k in ("connect", "read", "write", "timeout") if measured[k]}
    errors = sum(socket_errors.values()) + max(measured["status"], sum(bad_statuses.values()))
    if not errors:
        shutil.rmtree(run_dir, ignore_errors=True)  # else its logs are kept for a look (under --work-dir)
    seconds = measured["duration_us"] / 1e6
    return {
        "documents": size, "workers": workers, "threads": threads, "connections": connections,
        "duration_s": round(seconds, 1), "requests": measured["requests"],
        "per_s": round(measured["requests"] / seconds, 1),
        "p50": round(measured["p50_us"] / 1000, 1), "p95": round(measured["p95_us"] / 1000, 1),
        "p99": round(measured["p99_us"] / 1000, 1), "max": round(measured["max_us"] / 1000, 1),
        # CPU the workers used per request, and the rate two cores would sustain at that cost: on a shared machine
        # both figures hold where req/s and latency depend on the other jobs.
        "cpu_ms": round(cpu_s * 1000 / len(log_lines), 1),
        "capacity_per_s": round(CORES * len(log_lines) / cpu_s) if cpu_s else 0,
        "errors": errors, "socket_errors": socket_errors, "bad_statuses": bad_statuses,
        "server": {kind: percentiles(samples) for kind, samples in times.items() if samples},
        "logged": len(log_lines), "memory": memory, "boot_s": round(boot_s, 1),
        "load": round((load_before + load_after) / 2, 1),
        "error_log_tail": error_log_tail if errors else "", "kept": str(run_dir) if errors else "",
    }


# -- report --------------------------------------------------------------------------------------------------------
def table(rows: list[dict]) -> str:
    def server(row, kind):
        figures = row["server"].get(kind)
        return f"{figures['p50']} / {figures['p95']}" if figures else "–"

    lines = ["| profiles | workers × threads | connections | requests | req/s | ms p50 / p95 / p99 | errors "
             "| CPU ms / request | req/s on 2 free cores | search ms p50 / p95 | facets | htmx | supplier "
             "| worker RSS MB (peak) | PSS MB, all workers | load |",
             "|---:|---|---:|---:|---:|---|---:|---:|---:|---|---|---|---|---|---:|---:|"]
    for row in rows:
        rss = ", ".join(f"{m['rss']:,} ({m['hwm']:,})" for m in row["memory"])
        pss = sum(m["pss"] for m in row["memory"])
        lines.append(f"| {row['documents']:,} | {row['workers']} × {row['threads']} | {row['connections']} "
                     f"| {row['requests']:,} | {row['per_s']:,} | {row['p50']} / {row['p95']} / {row['p99']} "
                     f"| {row['errors']} | {row['cpu_ms']} | {row['capacity_per_s']:,} | {server(row, 'search')} "
                     f"| {server(row, 'facets')} | {server(row, 'htmx')} | {server(row, 'supplier')} | {rss} | {pss:,} "
                     f"| {row['load']} |")
    return "\n".join(lines)


METHOD = f"""**Method.** gunicorn serves the app with `deploy/gunicorn.conf.py` on a loopback port. wrk (one thread)
keeps a fixed number of connections busy for {DURATION_S} s after a {WARMUP_S} s warm-up, cycling through a seeded
plan of requests: {MIX['search']}% full-page searches (the search benchmark's short and medium French queries,
hybrid 3 times out of 4, else keyword), {MIX['facets']}% facet-filtered searches (category, department, label,
size), {MIX['htmx']}% htmx partials (`HX-Request`, 30% on page 2) and {MIX['supplier']}% supplier pages (slugs
drawn from the database, none asked twice in a run). The corpus is the search benchmark's: 10k and 100k synthetic
profiles, index built through `build_index`. Throughput and p50/p95/p99 are wrk's, client-side, queueing
included; the per-kind columns are server-side times from gunicorn's access log. Errors are non-2xx/3xx
responses and socket errors; a run with any is not recorded. "CPU ms / request" is the workers' CPU time over
the requests they served, and "req/s on 2 free cores" is 2,000 divided by it: on this machine, shared with other
jobs, they hold where req/s and latency follow the other jobs' load ("load" is the 1-minute load average during
the run; wrk runs on the same cores). RSS is per worker (current, then peak); PSS divides the pages the workers
share (libraries, the mapped index files) among them.
"""


def record(rows: list[dict], note: str) -> None:
    """Append this run under the load section of RESULTS.md (append only: others write other sections)."""
    existing = RESULTS_FILE.read_text(encoding="utf-8") if RESULTS_FILE.exists() else ""
    headings = [line for line in existing.splitlines() if line.startswith("## ")]
    block = ""
    if RESULTS_SECTION not in headings:
        block += ("\n" if existing and not existing.endswith("\n\n") else "") + RESULTS_SECTION + "\n\n" + METHOD
        block += "\n"
    elif headings[-1].strip() != RESULTS_SECTION:
        block += ("\n" if existing and not existing.endswith("\n\n") else "") + RESULTS_SECTION + " (continued)\n\n"
    block += f"### {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} — {machine()}"
    block += f" — {note}\n\n" if note else "\n\n"
    block += table(rows) + "\n\n"
    with RESULTS_FILE.open("a", encoding="utf-8") as out:
        out.write(block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="profile counts, comma-separated")
    parser.add_argument("--duration", type=int, default=DURATION_S, help="seconds of measured load per size")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="concurrent client connections")
    parser.add_argument("--workers", type=int, help="override the config's worker count")
    parser.add_argument("--threads", type=int, help="override the config's threads per worker")
    parser.add_argument("--work-dir", type=Path, help="keep the generated databases and indexes here and reuse them")
    parser.add_argument("--note", default="", help="a word on this run for RESULTS.md (what changed)")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: install it (Debian or Ubuntu: `sudo apt-get install wrk`; macOS: "
                         "`brew install wrk`), then run this again.")
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        raise SystemExit("gunicorn is missing: `.venv/bin/pip install -e '.[server]'`") from None
    workers = args.workers or config_value("workers")
    threads = args.threads or config_value("threads")

    from embeddings.encoder import Encoder
    from vivier.config import load_settings

    encoder = Encoder.from_settings(load_settings({}))  # loads only if a corpus must be prepared
    rows = []
    with tempfile.TemporaryDirectory(prefix="vivier-load-") as tmp:
        work = args.work_dir or Path(tmp)
        for size in (int(s) for s in args.sizes.split(",") if s.strip()):
            row = load_size(size, work, encoder, args.duration, args.connections, workers, threads)
            print(f"loaded: {json.dumps({k: v for k, v in row.items() if k != 'error_log_tail'})}", flush=True)
            rows.append(row)
            if row["errors"]:
                print(row["error_log_tail"], file=sys.stderr)
                break
    failed = [row for row in rows if row["errors"]]
    if not failed and not args.no_record:
        record(rows, args.note)
    print()
    print(f"Load — {machine()} — gunicorn {workers} workers × {threads} threads, {args.connections} connections, "
          f"{args.duration} s per size")
    print(table(rows))
    if failed:
        row = failed[0]
        raise SystemExit(f"FAILED: {row['errors']} errors at {row['documents']:,} profiles "
                         f"(statuses {row['bad_statuses']}, socket {row['socket_errors']}); not recorded"
                         + (f"; logs in {row['kept']}" if args.work_dir else ""))


if __name__ == "__main__":
    main()
