"""Small text helpers shared by the crawler, the indexer and the web app."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u202f]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def clean_text(raw: str | None) -> str:
    """Unicode NFC, no control characters, single spaces, paragraphs separated by one blank line."""
    if not raw:
        return ""
    text = unicodedata.normalize("NFC", raw)
    if not text.replace("\n", "").replace("\t", "").isprintable():  # rare: most texts skip the slow scan
        text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    paragraphs = [_SPACES.sub(" ", p).strip() for p in _BLANK_LINES.split(text)]
    paragraphs = [" ".join(line.strip() for line in p.splitlines() if line.strip()) for p in paragraphs]
    return "\n\n".join(p for p in paragraphs if p)


def fold(text: str) -> str:
    """Lower case without accents: the form used to compare labels typed by people."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip()


def slugify(text: str, max_length: int = 80) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")
    return slug[:max_length].rstrip("-") or "fournisseur"
