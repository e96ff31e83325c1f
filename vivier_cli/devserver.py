"""Serve folders of static files on loopback, in background threads (fixture sites for the demo and tests).

Faults can be injected per path, to show how the crawler copes with a bad web: {"/slow.html": "delay:5",
"/down.html": "status:503", "/cut.html": "reset"}.
"""

from __future__ import annotations

import functools
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Mapping


class _FixtureHandler(SimpleHTTPRequestHandler):
    faults: Mapping[str, str] = {}
    # Connections kept open between requests, as real web servers do (the standard library's default, HTTP/1.0,
    # closes each one: a crawl then spent more on TCP set-up than on pages).
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - signature from the standard library
        pass

    def _fault(self) -> bool:
        """Apply the fault declared for this path; True when the request has been answered."""
        fault = self.faults.get(self.path.split("?", 1)[0])
        if fault is None:
            return False
        kind, _, value = fault.partition(":")
        if kind == "delay":
            time.sleep(float(value))
            return False
        if kind == "status":
            self.send_error(int(value))
            return True
        if kind == "reset":
            self.close_connection = True
            self.connection.close()
            return True
        raise ValueError(f"unknown fault {fault!r}")

    def do_GET(self):  # noqa: N802 - name from the standard library
        if not self._fault():
            super().do_GET()

    def do_HEAD(self):  # noqa: N802
        if not self._fault():
            super().do_HEAD()


class _Server(ThreadingHTTPServer):
    # The standard library listens with a backlog of 5: a crawler opening 16 connections at once saw the others'
    # SYNs dropped and retried a second later, a pause no real site makes.
    request_queue_size = 128


class StaticSite:
    """`with StaticSite(path) as site: site.url` — a port-0 HTTP server that stops on exit."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, faults: Mapping[str, str] | None = None):
        handler_class = type("Handler", (_FixtureHandler,), {"faults": dict(faults or {})})
        handler = functools.partial(handler_class, directory=str(root))
        self.server = _Server((host, port), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="static-site", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> "StaticSite":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "StaticSite":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class FixtureSites:
    """Every sub-folder of `root` served as its own site: `with FixtureSites(root) as sites: sites.urls`."""

    def __init__(self, root: Path, faults: Mapping[str, Mapping[str, str]] | None = None):
        folders = sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))
        self.sites = {p.name: StaticSite(p, faults=(faults or {}).get(p.name)) for p in folders}

    @property
    def urls(self) -> dict[str, str]:
        return {name: site.url for name, site in self.sites.items()}

    def __enter__(self) -> "FixtureSites":
        for site in self.sites.values():
            site.start()
        return self

    def __exit__(self, *exc) -> None:
        for site in self.sites.values():
            site.stop()
