"""Supplier profile -> search document: the one projection both backends index."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from vivier.centrals import interop_facts
from vivier.geo import region_of
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
    # Interoperability facts but the licence (open_source says it): "open_standards", "documented_api",
    # "data_export" (vivier.centrals.interop_facts).
    interop: tuple[str, ...] = field(default=())
    # Themes the index guessed for a profile declaring none (vivier.themes): a facet value, never indexed text.
    inferred_categories: tuple[str, ...] = field(default=())

    @property
    def category_text(self) -> str:
        return " ; ".join(CATEGORY_LABELS.get(c, c) for c in self.categories)

    @property
    def label_text(self) -> str:
        return " ; ".join(LABEL_LABELS.get(label, label) for label in self.labels)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    @property
    def all_categories(self) -> tuple[str, ...]:
        """Declared themes, then guessed ones: the category facet's values."""
        return tuple(dict.fromkeys(self.categories + self.inferred_categories))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchDocument":
        """The inverse of to_dict; a missing or null list field (a document written by an older version) is
        empty."""
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
                                  if not (v is None and k in _LIST_FIELDS)}
        return cls(**fields)


_LIST_FIELDS = frozenset(name for name, spec in SearchDocument.__dataclass_fields__.items()
                         if spec.default == ())


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


def document_passages(name: str, pitch: str, categories: tuple[str, ...], keywords: tuple[str, ...],
                      description: str) -> tuple[str, ...]:
    """The dense passages of a profile: a headline (name, pitch, category labels, keywords), then the description
    cut into passages of at most PASSAGE_MAX_WORDS words (read at call time, so a benchmark can vary it)."""
    headline = ". ".join(x for x in (
        name,
        pitch,
        " ; ".join(CATEGORY_LABELS.get(c, c) for c in categories),
        ", ".join(keywords),
    ) if x)
    return (headline, *split_passages(description, PASSAGE_MAX_WORDS))


class ProfileFields(Protocol):
    """What build_document reads of a profile: a Supplier, or a plain row of its columns (indexer.build)."""

    @property
    def id(self) -> int: ...
    @property
    def slug(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def pitch(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def categories(self) -> list[Any]: ...
    @property
    def keywords(self) -> list[Any]: ...
    @property
    def labels(self) -> list[Any]: ...
    @property
    def department(self) -> str | None: ...
    @property
    def region(self) -> str | None: ...
    @property
    def commune(self) -> str | None: ...
    @property
    def size_band(self) -> str | None: ...
    @property
    def latitude(self) -> float | None: ...
    @property
    def longitude(self) -> float | None: ...
    @property
    def interoperability(self) -> dict[str, Any]: ...


def build_document(supplier: ProfileFields) -> SearchDocument:
    categories = tuple(supplier.categories or ())
    keywords = tuple(supplier.keywords or ())
    licence = (supplier.interoperability or {}).get("licence")
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
        passages=document_passages(supplier.name, supplier.pitch or "", categories, keywords,
                                   supplier.description or ""),
        interop=tuple(f for f in interop_facts(supplier.interoperability) if f != "open_source"),
    )


def document_from_record(record: Mapping[str, Any]) -> SearchDocument:
    """A search document from a plain profile record (the `vivier eval` corpus format, indexer/evaluation.py):
    `id` and `name`, and optionally pitch, description, categories, keywords, labels, department, commune,
    size_band, latitude, longitude, open_source. The id is also the slug; the region follows the department."""
    categories = tuple(record.get("categories") or ())
    keywords = tuple(record.get("keywords") or ())
    pitch = record.get("pitch") or ""
    description = record.get("description") or ""
    department = record.get("department") or None
    return SearchDocument(
        id=str(record["id"]),
        slug=str(record["id"]),
        name=record["name"],
        pitch=pitch,
        description=description,
        categories=categories,
        labels=tuple(record.get("labels") or ()),
        keywords=keywords,
        department=department,
        region=region_of(department),
        commune=record.get("commune") or None,
        size_band=record.get("size_band") or None,
        open_source=bool(record.get("open_source")),
        latitude=record.get("latitude"),
        longitude=record.get("longitude"),
        passages=document_passages(record["name"], pitch, categories, keywords, description),
    )
