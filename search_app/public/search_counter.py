"""Searches counted per day for the statistics page, with nothing about who searched or what: a day and a number.

Each web process counts in memory and adds its counts to the database (vivier.statistics.record_searches) now and
then: when FLUSH_INTERVAL_S have passed since its last write, when FLUSH_THRESHOLD searches are waiting, and when the
process exits. A search never waits for that write: it runs once the response has been sent (WSGI close). A write
that fails (database locked or full) keeps its counts for the next one.

The search views call `count_search(args)` with the search's arguments; the search counts only if it has a query,
a filter or a place, and only once its response is a success (2xx): a refused or failed search is not a search.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from flask import Flask, after_this_request, current_app, g, request

from vivier.db import Database

log = logging.getLogger(__name__)

# At most one short write a minute per web process: nothing next to the searches themselves, and a process killed
# without warning (SIGKILL, power cut) loses at most a minute of counts.
FLUSH_INTERVAL_S = 60.0
# A burst of searches is written before the minute is over, so that the page is not too far behind under load.
FLUSH_THRESHOLD = 100
# app.config keys that override the two values above (tests, a deployment that wants other trade-offs).
INTERVAL_CONFIG_KEY = "SEARCH_COUNTER_FLUSH_SECONDS"
THRESHOLD_CONFIG_KEY = "SEARCH_COUNTER_FLUSH_COUNT"
EXTENSION_KEY = "search_counter"


class SearchCounter:
    """Searches per day waiting to be written to one database; safe to share between a process's threads."""

    def __init__(self, database: Database, interval_s: float = FLUSH_INTERVAL_S, threshold: int = FLUSH_THRESHOLD,
                 clock: Callable[[], float] = time.monotonic):
        self.database = database
        self.interval_s = interval_s
        self.threshold = threshold
        self._clock = clock
        self._lock = threading.Lock()  # guards _pending and _last_write
        self._write_lock = threading.Lock()  # one write at a time
        self._pending: Counter[date] = Counter()
        self._last_write = clock()
        _counters.add(self)

    def add(self, day: date, count: int = 1) -> bool:
        """Count `count` searches on `day`; True when a write is due (see `flush_if_due`)."""
        with self._lock:
            self._pending[day] += count
            return self._due()

    def _due(self) -> bool:
        total = sum(self._pending.values())
        return total > 0 and (total >= self.threshold or self._clock() - self._last_write >= self.interval_s)

    def pending(self) -> dict[date, int]:
        """The counts not written yet, by day."""
        with self._lock:
            return dict(self._pending)

    def flush_if_due(self) -> int:
        """Write the waiting counts if a write is due and no other thread is writing; the number written."""
        with self._lock:
            if not self._due():
                return 0
        return self.flush(wait=False)

    def flush(self, wait: bool = True) -> int:
        """Write the waiting counts now; the number of searches written (0 when there were none, when the write
        failed and the counts were kept for the next one, or when another thread is writing and `wait` is False)."""
        if not self._write_lock.acquire(blocking=wait):
            return 0
        try:
            with self._lock:
                taken, self._pending = self._pending, Counter()
                self._last_write = self._clock()
            if not taken:
                return 0
            try:
                self._write(taken)
            except Exception:  # a locked or full database: the counts wait for the next write
                log.warning("search counts not written, kept for the next write", exc_info=True)
                with self._lock:
                    self._pending.update(taken)
                return 0
            return sum(taken.values())
        finally:
            self._write_lock.release()

    def _write(self, counts: Mapping[date, int]) -> None:
        from vivier.statistics import record_searches

        with self.database.session() as session:  # one transaction: all the days or none
            for day in sorted(counts):
                record_searches(session, day, counts[day])


# Every live counter, written at exit. Weak: a counter goes with its app (tests make many).
_counters: weakref.WeakSet[SearchCounter] = weakref.WeakSet()
_create_lock = threading.Lock()


@atexit.register
def flush_all() -> None:
    """Write every counter's waiting counts (the process is exiting)."""
    for counter in list(_counters):
        try:
            counter.flush()
        except Exception:  # pragma: no cover - flush already logs and keeps; nothing else may stop the exit
            log.exception("search counts lost at exit")


def counter(app: Flask | None = None) -> SearchCounter:
    """The app's counter, made on first use."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    extensions = app.extensions["vivier"]
    found = extensions.get(EXTENSION_KEY)
    if found is None:
        with _create_lock:
            found = extensions.get(EXTENSION_KEY)
            if found is None:
                found = SearchCounter(extensions["database"],
                                      float(app.config.get(INTERVAL_CONFIG_KEY, FLUSH_INTERVAL_S)),
                                      int(app.config.get(THRESHOLD_CONFIG_KEY, FLUSH_THRESHOLD)))
                extensions[EXTENSION_KEY] = found
    return found


def is_search(args: Mapping[str, Any]) -> bool:
    """Whether search arguments (search_app.public.search.parse_search_args's shape) ask for something: text, a
    filter value or a place. The bare search page is not a search."""
    filters = args.get("filters") or {}
    return bool(str(args.get("text") or "").strip() or any(filters.values()) or str(args.get("place") or "").strip()
                or any(args.get("central") or ()))


def count_search(args: Mapping[str, Any]) -> None:
    """Count the current request as one search once its response is a success. Called by the search views with
    the search's arguments; a request counts once however many times it is called. Nothing of the request is kept:
    only the day, from the app's clock."""
    if request.method == "HEAD" or g.get("_search_counted") or not is_search(args):
        return
    g._search_counted = True

    @after_this_request
    def _count(response):
        if 200 <= response.status_code < 300:
            from search_app.identity import now

            searches = counter()
            if searches.add(now().date()):
                response.call_on_close(searches.flush_if_due)
        return response
