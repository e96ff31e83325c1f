"""Secrets kept out of the logs, whoever writes them: werkzeug's and gunicorn's access logs (a request line holds the
private link's token), Flask's "Exception on <path>", SQLAlchemy's statement parameters (an e-mail's body holds a
link), a URL with a password, the app's secret key.

Private links (/acces/<token>, /acheteurs/acces/<token>, /revendiquer/<token>) are redeemed once, open a session and
redirect; but the request that redeems one is logged by the server before the app sees it, and the token would
stay valid for as long as the link is unused. So every log record is redacted when it is made: a record factory
(logging.setLogRecordFactory) sees the records of every logger, the libraries' and the servers' included, which a
filter on one logger or one handler would not.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Iterable
from urllib.parse import urlsplit

# What a token, a password or a secret is replaced with.
MASK = "[masqué]"
# A password in a URL's user information: scheme://user:password@host.
URL_PASSWORD = r"(?P<userinfo>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+(?=@)"
# A token segment ends at the next separator of a path, a query, a quoted string or a line.
TOKEN_SEGMENT = r"[^/?#&\s'\"<>\\]+"
# Shorter secrets are too likely to be ordinary words of a message (and too weak to be secrets).
MIN_SECRET_CHARS = 8


class Redactor:
    """The token paths and literal secrets of every app created in this process, as one regular expression."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token_prefixes: set[str] = set()
        self._secrets: set[str] = set()
        self._pattern = self._compile()

    def add(self, token_prefixes: Iterable[str] = (), secrets: Iterable[str | None] = ()) -> None:
        with self._lock:
            self._token_prefixes.update(token_prefixes)
            self._secrets.update(s for s in secrets if s and len(s) >= MIN_SECRET_CHARS)
            self._pattern = self._compile()

    def _compile(self) -> re.Pattern[str]:
        parts = [URL_PASSWORD]
        if self._token_prefixes:  # longest first: /acheteurs/acces/ before /acces/
            prefixes = "|".join(re.escape(p) for p in sorted(self._token_prefixes, key=len, reverse=True))
            parts.append(rf"(?P<prefix>{prefixes}){TOKEN_SEGMENT}")
        if self._secrets:
            parts.append("|".join(re.escape(s) for s in sorted(self._secrets, key=len, reverse=True)))
        return re.compile("|".join(f"(?:{part})" for part in parts))

    def redact(self, text: str) -> str:
        return self._pattern.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    kept = match.group("userinfo") or match.groupdict().get("prefix") or ""
    return kept + MASK


REDACTOR = Redactor()
_install_lock = threading.Lock()
_installed = False


def token_prefixes(url_map) -> set[str]:
    """The paths before a `<token>` segment in the app's routes: every private link, present and future."""
    return {rule.rule.split("<token>")[0] for rule in url_map.iter_rules() if "token" in rule.arguments
            and rule.rule.split("<token>")[0]}


def settings_secrets(settings) -> list[str | None]:
    """The secret key, and the passwords of the URLs the settings hold (database, mail, rate-limit storage)."""
    urls = (settings.database_url, settings.smtp_url, settings.ratelimit_storage, settings.elasticsearch_url)
    return [settings.secret_key, *(_password(url) for url in urls if url)]


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def redact_record(record: logging.LogRecord) -> None:
    """Replace the record's message (and its traceback's text) by their redacted versions, when they differ."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record is logging's to report, not ours
        return
    clean = REDACTOR.redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = REDACTOR.redact(logging.Formatter().formatException(record.exc_info))


def install(app) -> None:
    """Redact the app's private links and secrets from every log record of the process (once per process; each
    app adds its own routes and secrets)."""
    global _installed

    REDACTOR.add(token_prefixes(app.url_map), settings_secrets(app.extensions["vivier"]["settings"]))
    with _install_lock:
        if _installed:
            return
        make_record = logging.getLogRecordFactory()

        def redacting_factory(*args, **kwargs) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            redact_record(record)
            return record

        logging.setLogRecordFactory(redacting_factory)
        _installed = True
