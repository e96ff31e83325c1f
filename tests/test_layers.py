"""The one-way flow, beyond what import-linter's layer contracts say (pyproject.toml [tool.importlinter], run by
scripts/check): the web app's package is imported back by no module of its own but the WSGI entry point, so that
the app factory and its parts (the API among them) never import each other in a circle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parent.parent


def test_only_the_wsgi_entry_point_imports_the_app_package():
    graph = grimp.build_graph("search_app")
    assert graph.find_modules_that_directly_import("search_app") == {"search_app.wsgi"}


def test_the_layer_contracts_hold():
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout
