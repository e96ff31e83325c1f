"""Supplier profile -> search document: the one projection both backends index."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vivier.models import Supplier
from vivier.taxonomy import CATEGORY_LABELS, LABEL_LABELS

# A dense passage holds at most this many words: all-MiniLM-L6-v2 reads 256 word pieces, and French text takes
# about two pieces per word, so longer passages would be silently truncated.
PASSAGE_MAX_WORDS = 90


@dataclass(frozen=True)
class SearchDocument:
    id: str
    slug: str
    name: str
    pitch: str
    description: str
    categories: tuple[str, ...]
    labels: tuple[str, ...]
    keywords: tuple[str, ...]
    department: str | None
    region: str | None
    commune: str | None
    size_band: str | None
    open_source: bool
    latitude: float | None = None
    longitude: float | None = None
    passages: tuple[str, ...] = field(default=())

    @property
    def category_text(self) -> str:
        return " ; ".join(CATEGORY_LABELS.get(c, c) for c in self.categories)

    @property
    def label_text(self) -> str:
        return " ; ".join(LABEL_LABELS.get(label, label) for label in self.labels)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchDocument":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def split_passages(text: str, max_words: int = PASSAGE_MAX_WORDS) -> list[str]:
    """Paragraphs, merged while they fit and split when too long, each at most `max_words` words."""
    passages: list[str] = []
    current: list[str] = []
    for paragraph in (p.strip() for p in text.split("\n\n")):
        words = paragraph.split()
        while len(words) > max_words:
            if current:
                passages.append(" ".join(current))
                current = []
            passages.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if current and len(current) + len(words) > max_words:
            passages.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        passages.append(" ".join(current))
    return passages


def build_document(supplier: Supplier) -> SearchDocument:
    categories = tuple(supplier.categories or ())
    keywords = tuple(supplier.keywords or ())
    licence = (supplier.interoperability or {}).get("licence")
    headline = ". ".join(x for x in (
        supplier.name,
        supplier.pitch,
        " ; ".join(CATEGORY_LABELS.get(c, c) for c in categories),
        ", ".join(keywords),
    ) if x)
    return SearchDocument(
        id=str(supplier.id),
        slug=supplier.slug,
        name=supplier.name,
        pitch=supplier.pitch or "",
        description=supplier.description or "",
        categories=categories,
        labels=tuple(supplier.labels or ()),
        keywords=keywords,
        department=supplier.department,
        region=supplier.region,
        commune=supplier.commune,
        size_band=supplier.size_band,
        open_source=bool(licence),
        latitude=supplier.latitude,
        longitude=supplier.longitude,
        passages=(headline, *split_passages(supplier.description or "")),
    )
