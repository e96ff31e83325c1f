"""The WSGI application for production servers, and the warm-up each server process runs before taking requests.

    gunicorn -c deploy/gunicorn.conf.py        (the config names search_app.wsgi:app)

Settings come from the environment (vivier/config.py), read once when a worker imports this module. A production
server refuses to start without VIVIER_BASE_URL and a real VIVIER_SECRET_KEY (vivier.config.check_production).
"""

from __future__ import annotations

from typing import Callable

from flask import Flask

from search_app import create_app

# A short hybrid query: embedding it loads the model, as a buyer's first search would.
WARM_UP_QUERY = "éclairage public"

app = create_app(production=True)


def warm_up(flask_app: Flask, alive: Callable[[], None] = lambda: None) -> None:
    """Load what a first search would otherwise wait for: the embedding model, and the embedded index's files
    (each 3 to 12 s at 100k profiles, depending on the machine's load). `alive` is called after each step: a server
    that kills silent workers then sees this one making progress. An Elasticsearch cluster is not asked: a worker
    must not wait on it to start serving supplier pages, which come from the database."""
    service = flask_app.extensions["vivier"]["search"]
    alive()
    service.embed_query(WARM_UP_QUERY)
    alive()
    if service.settings.backend == "embedded":
        status = service.backend.status()  # reads the live generation into memory once, when there is one
        if not status.get("ready"):
            flask_app.logger.warning("no search index yet under %s: run `vivier index build`", status.get("root"))
        alive()
