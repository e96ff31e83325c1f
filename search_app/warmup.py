"""What a server process loads before taking requests, so that no first request waits for it: the embedding model,
the embedded index's live generation and the communes table. Run by each gunicorn worker (deploy/gunicorn.conf.py,
through search_app.wsgi) and by `vivier serve`, which prints each step's time."""

from __future__ import annotations

import time
from typing import Callable

from flask import Flask

from vivier import communes

# A short hybrid query: embedding it loads the model, as a buyer's first search would.
WARM_UP_QUERY = "éclairage public"


def warm_up(flask_app: Flask, alive: Callable[[], None] = lambda: None,
            report: Callable[[str, float, str], None] | None = None) -> None:
    """Load the model, the index and the communes table (each 3 to 12 s at 100k profiles for the first two, 0.7 s
    for the last). `alive` is called after each step: a server that kills silent workers then sees this one making
    progress. `report(step, seconds, note)` is told each step's time. An Elasticsearch cluster is not asked: a
    worker must not wait on it to start serving supplier pages, which come from the database."""
    service = flask_app.extensions["vivier"]["search"]

    def step(name: str, load: Callable[[], str]) -> None:
        started = time.monotonic()
        note = load()
        if report is not None:
            report(name, time.monotonic() - started, note)
        alive()

    def model() -> str:
        service.embed_query(WARM_UP_QUERY)
        return ""

    def index() -> str:
        if service.settings.backend != "embedded":
            return "served by Elasticsearch"
        status = service.backend.status()  # reads the live generation into memory once, when there is one
        if status.get("ready"):
            return ""
        flask_app.logger.warning("no search index yet under %s: run `vivier index build`", status.get("root"))
        return "none yet: searches say so until `vivier index build`"

    def commune_table() -> str:
        communes.table()
        return ""

    alive()
    step(f"the embedding model {service.encoder.model_name}", model)
    step("the search index", index)
    step("the communes table", commune_table)
