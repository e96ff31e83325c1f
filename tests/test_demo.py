"""`vivier demo` end to end: serve the fixture site, crawl, index, serve the app; then search it over HTTP."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_crawls_indexes_and_serves(tmp_path):
    port = free_port()
    env = {**os.environ, "VIVIER_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "vivier_cli", "demo", "--port", str(port)], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Vivier: http://"):
                break
        output = "".join(lines)
        assert f"Vivier: http://127.0.0.1:{port}/" in output, output
        assert "crawl of annuaire" in output and "robots_forbidden 1" in output
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
