"""gunicorn settings for the Vivier web app.

    gunicorn -c deploy/gunicorn.conf.py --bind 0.0.0.0:8000

Sized for a 2-core host, measured by `python -m benchmarks.load` (benchmarks/RESULTS.md, "Load"). Any setting
can be overridden on the command line or in GUNICORN_CMD_ARGS, e.g. `--workers 4` on a 4-core host. The address
is the deployment's: deploy/Dockerfile binds 0.0.0.0:8000; gunicorn's default is 127.0.0.1:8000.
"""

import os
import time

wsgi_app = "search_app.wsgi:app"

# One worker process per core. A request's CPU work runs in one thread: torch embeds the query on one intra-op
# thread (VIVIER_QUERY_THREADS=1), BLAS scores vectors on one thread (indexer/backends/ann.py), and the Python
# parts (SQLAlchemy, fusion, Jinja) hold the GIL. One process therefore keeps about one core busy, and two keep two.
# Each worker holds its own embedding model and its own copy of the index: 0.8 GB of RSS per worker at 10k
# profiles, 1.4 GB at 100k. Memory, not CPU, is what a third worker would cost.
# Measured at 10k profiles on the shared 2-core machine (other jobs running): 1 worker x 4 threads, 2 x 1, 2 x 2 and
# 3 x 1 all used 21 to 28 CPU ms per request and served the same rate within the run-to-run noise; a third worker
# cost 0.5 GB more for nothing. Two workers is the count that can use both cores when they are free.
workers = 2

# Two threads per worker: while one request waits (an upload or a slow client being read, the database, the
# encoder's lock), the worker still answers another. One or two threads made no measurable difference in rate or CPU
# per request. The gthread worker also keeps client connections alive between requests; the sync worker closes
# each one and is only safe behind a buffering proxy.
worker_class = "gthread"
threads = 2

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

# Rate limits (Flask-Limiter) are counted per worker with the default memory:// storage: with 2 workers a limit of
# 10 per hour lets up to 20 through. Set VIVIER_RATELIMIT_STORAGE=redis://... for exact limits.


def post_worker_init(worker):
    """Load the embedding model and the index before the worker accepts requests: otherwise the first searches a
    new worker (start, restart, `kill -HUP`) receives each wait seconds for them."""
    from search_app.wsgi import warm_up

    started = time.monotonic()
    warm_up(worker.wsgi, alive=worker.notify)
    worker.log.info("Worker warm (pid: %s) in %.1f s", worker.pid, time.monotonic() - started)
