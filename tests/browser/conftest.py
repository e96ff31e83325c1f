"""Browser tests: the real app served on loopback by werkzeug, driven by Playwright through Debian's chromium.

One browser per session, a fresh context and page per test. Each test saves a screenshot of its key step, and one
more when it fails, under $VIVIER_TEST_ARTIFACTS/screenshots/ (default: test-artifacts/ at the repository root).
Playwright's own browser downloads are never used: `scripts/install` installs the `chromium` Debian package.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Left by scripts/install when it could not install chromium; it says why.
BROWSER_NOTE = REPO / ".venv" / ".vivier-browser-missing"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--disable-background-networking",  # nothing may reach the internet
    "--disable-component-update",
    "--no-first-run",
]
# Fail fast: every page here is served from loopback, so an element that takes longer than this is missing.
ACTION_TIMEOUT_MS = 10_000
VIEWPORT = {"width": 1280, "height": 900}


def artifacts_dir() -> Path:
    return Path(os.environ.get("VIVIER_TEST_ARTIFACTS") or REPO / "test-artifacts")


def screenshot_path(test_name: str, step: str | None = None) -> Path:
    """Where a test's screenshot goes; parametrised names keep only file-name-safe characters."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name).strip("-")
    return artifacts_dir() / "screenshots" / f"{name}{'-' + step if step else ''}.png"


def browser_unavailable_reason() -> str | None:
    if not CHROMIUM.exists():
        note = BROWSER_NOTE.read_text(encoding="utf-8").strip() if BROWSER_NOTE.exists() else ""
        return f"Chromium not found at {CHROMIUM} ({note or 'run scripts/install, which installs it with apt-get'})"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (run scripts/install)"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item so the page fixture knows, at teardown, whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def live_server(indexed_settings, encoder):
    """The real app (index built from the crawled fixture directory) on 127.0.0.1, an OS-chosen port, with its
    background worker running in a thread, as `vivier serve` runs it."""
    from werkzeug.serving import make_server

    from search_app import create_app
    from search_app.jobs import start_thread

    app = create_app(settings=indexed_settings, encoder=encoder)
    stop_worker = start_thread(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    stop_worker.set()
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    reason = browser_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(request, browser, live_server):
    """A fresh page (own cookies and localStorage) whose relative URLs resolve against the live server.
    `page.js_errors` collects uncaught script errors and console errors (CSP violations among them)."""
    context = browser.new_context(base_url=live_server, locale="fr-FR", viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page.js_errors.append(message.text))
    yield page
    report = getattr(request.node, "report_call", None)
    failed_path = screenshot_path(request.node.name, "failed")
    if report is not None and report.failed and not page.is_closed():
        failed_path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(failed_path), full_page=True)
    else:
        failed_path.unlink(missing_ok=True)  # from an earlier run: it would tell of a failure that is gone
    context.close()


@pytest.fixture()
def screenshot(request, page):
    """`screenshot()` saves what the window shows as this test's artifact; `screenshot("step")` adds a suffix
    (a failure's screenshot, taken by the page fixture, holds the whole page)."""

    def take(step: str | None = None) -> Path:
        path = screenshot_path(request.node.name, step)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))
        return path

    return take
