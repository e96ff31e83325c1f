"""The WSGI application for production servers, and the warm-up each server process runs before taking requests.

    gunicorn -c deploy/gunicorn.conf.py        (the config names search_app.wsgi:app)

Settings come from the environment (vivier/config.py), read once when a worker imports this module. A production
server refuses to start without VIVIER_BASE_URL and a real VIVIER_SECRET_KEY (vivier.config.check_production).
"""

from __future__ import annotations

from search_app import create_app
from search_app.warmup import warm_up  # noqa: F401 - what deploy/gunicorn.conf.py runs in each worker

app = create_app(production=True)
