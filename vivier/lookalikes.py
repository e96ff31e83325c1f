"""Listed suppliers whose name looks like one a company is typing, so that it claims its profile instead of
proposing a duplicate (the "doublons" list of the proposal form, asked again on each debounced keystroke).

The names are kept in memory per process, with their comparison keys (vivier.merge.name_key), and read again only
when the suppliers table changed (a count and the latest update, one small aggregate query per lookup): a keystroke
no longer loads every supplier name.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vivier import merge
from vivier.models import SEARCHABLE_STATUSES, Supplier

# A short list a company reads at a glance.
DUPLICATE_LIMIT = 5
# Fewer characters than this match half the directory ("ma", "e-").
DUPLICATE_MIN_QUERY_CHARS = 3
# rapidfuzz WRatio (0-100) of the typed name's key against listed names' keys (vivier.merge.name_key). WRatio
# scores a typed prefix or a single word of the name high ("Budget" -> "Budget Ouvert" 90, "budjet ouvert" 92,
# "Analytica" -> "Analytica Air" 95); on the fixture directory unrelated names stay under 75, and a near miss
# such as "Ma Commune" -> "Maillage Commun" (81) is worth showing: the company decides.
DUPLICATE_MIN_SCORE = 80


@dataclass(frozen=True)
class Candidate:
    """A listed supplier a new profile might duplicate."""

    slug: str
    name: str
    commune: str | None


def similar_names(query: str, candidates: Iterable[Candidate], limit: int = DUPLICATE_LIMIT,
                  keys: list[str] | None = None) -> list[Candidate]:
    """The candidates whose name is close to `query`, best first (ties by name, for a stable list). `keys`: the
    candidates' name keys, when already computed."""
    key = merge.name_key(query or "")
    if len(key.replace(" ", "")) < DUPLICATE_MIN_QUERY_CHARS:
        return []
    pool = list(candidates)
    keys = keys if keys is not None else [merge.name_key(c.name) for c in pool]
    scored = process.extract(key, keys, scorer=fuzz.WRatio, processor=None, score_cutoff=DUPLICATE_MIN_SCORE,
                             limit=None)
    scored.sort(key=lambda match: (-match[1], pool[match[2]].name))
    return [pool[index] for _, _, index in scored[:limit]]


class _Names:
    """The listed suppliers' names and keys, with the table state they were read at."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: tuple | None = None
        self.candidates: list[Candidate] = []
        self.keys: list[str] = []

    def current(self, session: Session) -> tuple[list[Candidate], list[str]]:
        table = session.execute(select(func.count(Supplier.id), func.max(Supplier.updated_at),
                                       func.max(Supplier.id))).one()
        state = (str(session.get_bind().engine.url), *table)
        with self.lock:
            if state != self.state:
                rows = session.execute(select(Supplier.slug, Supplier.name, Supplier.commune)
                                       .where(Supplier.status.in_(SEARCHABLE_STATUSES)).order_by(Supplier.id))
                self.candidates = [Candidate(slug, name, commune) for slug, name, commune in rows]
                self.keys = [merge.name_key(c.name) for c in self.candidates]
                self.state = state
            return self.candidates, self.keys


_names = _Names()


def possible_duplicates(session: Session, name: str, limit: int = DUPLICATE_LIMIT) -> list[Candidate]:
    """Listed suppliers whose name is close to `name`, best first."""
    if len(merge.name_key(name or "").replace(" ", "")) < DUPLICATE_MIN_QUERY_CHARS:
        return []  # not even the aggregate query
    candidates, keys = _names.current(session)
    return similar_names(name, candidates, limit, keys=keys)
