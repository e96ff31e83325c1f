"""What every view reads from the app: the database, the settings, the clock. One accessor each, over
current_app.extensions["vivier"] (set up by search_app.create_app), instead of a copy in each view module."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from flask import current_app

from vivier.config import Settings
from vivier.db import Database
from vivier.models import utcnow


def _extension() -> dict[str, Any]:
    return current_app.extensions["vivier"]


def database() -> Database:
    return _extension()["database"]


def settings() -> Settings:
    return _extension()["settings"]


def clock() -> Callable[[], datetime]:
    """The app's clock (tests replace it to move across deadlines); search_app.identity.now calls it."""
    return _extension().get("clock", utcnow)


def search() -> Any:
    """The directory's search backend (indexer.backends)."""
    return _extension()["search"]
