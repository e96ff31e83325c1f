"""Engine, sessions and migrations. SQLite file by default; any SQLAlchemy URL through DATABASE_URL."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from vivier.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Seconds a writer waits for a SQLite lock before failing: crawls, index builds and the web app may write at the
# same time, and a batch job would rather wait than stop.
SQLITE_BUSY_TIMEOUT_S = 30
# The web app's wait, shorter: a request blocked longer than this answers 503 "réessayez" (search_app) instead of
# holding a worker until the server's own timeout kills it (gunicorn's default is 30 s). Every write of the app and
# of a crawl is a short transaction; a lock held this long is a long job or a stuck process.
WEB_BUSY_TIMEOUT_S = 5


def make_engine(database_url: str, busy_timeout: float = SQLITE_BUSY_TIMEOUT_S) -> Engine:
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(database_url, connect_args={"timeout": busy_timeout})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL never corrupts the database; a power cut may lose the last transactions only.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(database_url, pool_pre_ping=True)


def alembic_config(database_url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Bring the schema to the latest migration (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


class Database:
    """One engine and session factory per process, created lazily from settings. `busy_timeout`: seconds a SQLite
    write waits for another connection's lock before failing with "database is locked"."""

    def __init__(self, settings: Settings, busy_timeout: float = SQLITE_BUSY_TIMEOUT_S):
        self.settings = settings
        self.busy_timeout = busy_timeout
        self._engine: Engine | None = None
        self._sessionmaker: sessionmaker[Session] | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url, self.busy_timeout)
            self._sessionmaker = sessionmaker(self._engine, expire_on_commit=False)
        return self._engine

    def migrate(self) -> None:
        _ = self.engine  # creates the SQLite file's directory first
        upgrade(self.settings.database_url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        _ = self.engine  # creates the session factory with it
        assert self._sessionmaker is not None
        session = self._sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
