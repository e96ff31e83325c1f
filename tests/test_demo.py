"""`vivier demo` end to end: serve the fixture site, crawl, index, serve the app; then search it over HTTP."""

import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Seconds the demo may take to crawl, index and start serving (under pytest-timeout's limit, so that a hung demo
# fails with its output).
START_TIMEOUT_S = 240


def line_reader(stream) -> queue.Queue:
    """The lines of `stream`, read by a thread of their own into a queue (None at the end): the test waits on
    the queue with a time limit, never on a read that may block for ever."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, name="demo-output", daemon=True).start()
    return lines


def test_demo_crawls_indexes_and_serves(tmp_path):
    port = free_port()
    env = {**os.environ, "VIVIER_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "vivier_cli", "demo", "--port", str(port)], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        reader = line_reader(process.stdout)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (lines and lines[-1].startswith("Vivier: http://")):
            try:
                line = reader.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the demo did not serve within {START_TIMEOUT_S} s; its output:\n"
                                     + "".join(lines)) from None
            if line is None:
                break
            lines.append(line)
        output = "".join(lines)
        assert f"Vivier: http://127.0.0.1:{port}/" in output, output
        assert "crawl of annuaire" in output and "robots_forbidden 1" in output
        html = ""
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/?q=cantine", timeout=30) as response:
                    html = response.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert 'class="hit"' in html and "cantine" in html.lower()
    finally:
        process.terminate()
        process.wait(timeout=30)
