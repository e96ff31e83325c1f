"""Storing supplier profiles: find the existing record for a harvested profile, update it, keep provenance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vivier.identifiers import website_domain
from vivier.models import PROVENANCE_FIELDS, FieldProvenance, Supplier, utcnow
from vivier.text import slugify

NEW, UPDATED, UNCHANGED = "new", "updated", "unchanged"


@dataclass(frozen=True)
class UpsertResult:
    outcome: str
    supplier_id: int


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def find_existing(session: Session, profile: dict[str, Any], source_name: str, url: str | None) -> Supplier | None:
    """The stored supplier this profile describes: same SIREN, else same website domain, else same source page."""
    if profile.get("siren"):
        found = session.scalar(select(Supplier).where(Supplier.siren == profile["siren"]).limit(1))
        if found:
            return found
    domain = website_domain(profile.get("website"))
    if domain:
        found = session.scalar(select(Supplier).where(Supplier.website_domain == domain).limit(1))
        if found:
            return found
    if url:
        return session.scalar(
            select(Supplier)
            .join(FieldProvenance)
            .where(FieldProvenance.source_name == source_name, FieldProvenance.url == url,
                   FieldProvenance.field == "name")
            .limit(1)
        )
    return None


def _unique_slug(session: Session, name: str) -> str:
    base = slugify(name)
    slug, n = base, 1
    while session.scalar(select(Supplier.id).where(Supplier.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def upsert_profile(session: Session, profile: dict[str, Any], source_name: str, url: str | None,
                   now: datetime | None = None) -> UpsertResult:
    """Insert or update one normalised profile from a source; empty values never erase stored ones."""
    now = now or utcnow()
    supplier = find_existing(session, profile, source_name, url)
    outcome = UNCHANGED
    if supplier is None:
        supplier = Supplier(slug=_unique_slug(session, profile["name"]), name=profile["name"], created_at=now)
        session.add(supplier)
        outcome = NEW
    provenance = {p.field: p for p in supplier.provenance if p.source_name == source_name}
    for field in PROVENANCE_FIELDS:
        value = profile.get(field)
        if _empty(value):
            continue
        if getattr(supplier, field) != value:
            setattr(supplier, field, value)
            outcome = NEW if outcome == NEW else UPDATED
        record = provenance.get(field)
        if record is None:
            supplier.provenance.append(FieldProvenance(field=field, source_name=source_name, url=url,
                                                       first_seen=now, last_seen=now))
        else:
            record.last_seen, record.url = now, url
    if not _empty(profile.get("region")):
        supplier.region = profile["region"]
    supplier.website_domain = website_domain(supplier.website)
    if outcome != UNCHANGED:
        supplier.updated_at = now
    session.flush()
    return UpsertResult(outcome, supplier.id)
