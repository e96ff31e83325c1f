"""Long needs kept under a digest, so that a result page's links name the search without repeating its text.

A buyer may paste or upload a whole specification (up to VIVIER_QUERY_MAX_CHARS characters). Repeated in every
link of the result page (pages, filters, map, exports), such a text made multi-megabyte pages and request lines a
production server refuses (414). It is stored once, under the SHA-256 of its text, for KEEP; links carry the digest
(`besoin=`). Nothing else is stored with it: not who asked, nor when beyond the day it is kept.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vivier.models import SearchText, utcnow

# A text of more characters than this is kept and named by its digest in links (a URL stays under ~2 kB).
LINK_MAX_TEXT_CHARS = 1_500
# How long a stored text answers its digest: the time to browse its results, filter them, export them.
KEEP = timedelta(days=1)
DIGEST_CHARS = 64


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def remember(session: Session, text: str, now: datetime | None = None) -> str:
    """Store `text` (once per text) and return its digest; texts older than KEEP are forgotten on the way."""
    now = now or utcnow()
    digest = digest_of(text)
    session.execute(delete(SearchText).where(SearchText.created_at < now - KEEP))
    row = session.get(SearchText, digest)
    if row is None:
        session.add(SearchText(digest=digest, text=text, created_at=now))
    else:
        row.created_at = now  # asked again: kept a day more
    session.flush()
    return digest


def recall(session: Session, digest: str, now: datetime | None = None) -> str | None:
    """The text stored under `digest`, or None when it is unknown or forgotten."""
    now = now or utcnow()
    if len(digest) != DIGEST_CHARS or not all(c in "0123456789abcdef" for c in digest):
        return None
    return session.scalar(select(SearchText.text).where(SearchText.digest == digest,
                                                        SearchText.created_at >= now - KEEP))
