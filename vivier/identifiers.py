"""Legal identifiers and web addresses: validation and canonical forms."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_DIGITS = re.compile(r"\D")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:(?!\d)")


def luhn_valid(number: str) -> bool:
    """Luhn checksum, as used by INSEE for SIREN and SIRET numbers."""
    if not number.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def normalise_siren(raw: str | None) -> str | None:
    """The 9-digit SIREN of a raw SIREN or SIRET ("123 456 789", "12345678900012"), or None if invalid."""
    if not raw:
        return None
    digits = _DIGITS.sub("", raw)
    if len(digits) == 14 and luhn_valid(digits):
        digits = digits[:9]
    if len(digits) != 9 or not luhn_valid(digits):
        return None
    return digits


def canonical_url(raw: str | None) -> str | None:
    """An http(s) URL with lower-case host, no fragment, no default path noise; None when it is not a web URL."""
    if not raw:
        return None
    raw = raw.strip()
    if "://" not in raw:
        if _SCHEME.match(raw):  # mailto:, javascript:, tel: ...
            return None
        raw = "https://" + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or "." not in parts.hostname:
        return None
    if parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    netloc = host if parts.port in (None, 80, 443) else f"{host}:{parts.port}"
    path = parts.path or "/"
    return urlunsplit((parts.scheme, netloc, path, parts.query, ""))


def website_domain(url: str | None) -> str | None:
    """The registrable-looking host of a website, without "www.": the key that identifies a company's site."""
    canonical = canonical_url(url)
    if not canonical:
        return None
    host = urlsplit(canonical).hostname or ""
    return host.removeprefix("www.") or None
