"""Storing harvested profiles: match each source record to one supplier (merging duplicates across sources),
keep the record, then recompute the supplier's fields and their provenance (rules in vivier.merge)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Collection, Mapping

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.orm import Session

from vivier import merge
from vivier.identifiers import website_domain
from vivier.models import (PROVENANCE_FIELDS, STATUS_MERGED, FieldProvenance, Source, SourceRecord, Supplier,
                           utcnow)
from vivier.text import slugify

NEW, MERGED, UPDATED, UNCHANGED = "new", "merged", "updated", "unchanged"
# Fields a record may carry beyond the provenance-tracked ones. (Themes guessed from a profile's text are the
# index's, vivier.themes: records written before kept them as "inferred_categories", which nothing reads.)
DERIVED_FIELDS = ("region",)
# How a source record came to its supplier (SourceRecord.joined_by).
JOINED_NEW = "new"  # it created the supplier
JOINED_KEY = "key"  # its source's same record (same URL or key) was already there
JOINED_OPERATOR = "operator"  # a company's submission an operator approved
JOINED_DOMAIN = "domain"  # the same identifying website domain
JOINED_SIREN = "siren"  # the same SIREN, and nothing else the profile's own sources confirm
JOINED_NAME = "name"  # a similar name in the same town
# Records that say who the company is (vivier.merge.IDENTITY_FIELDS: name, website, contacts). The others only fill
# those nobody else gives, and one matched by SIREN alone never gives the website (anybody can type a company's
# public SIREN). Only identifying records' websites prove who owns the profile.
IDENTIFYING_JOINS = frozenset({JOINED_NEW, JOINED_KEY, JOINED_OPERATOR, JOINED_DOMAIN})


def identity_of(joined_by: str | None) -> str:
    """What a record joined this way may say of the company's identity (vivier.merge.Observation.identity)."""
    joined_by = joined_by or JOINED_KEY
    if joined_by in IDENTIFYING_JOINS:
        return merge.IDENTIFIES
    return merge.FILLS if joined_by == JOINED_NAME else merge.NOT_IDENTITY
# Guard against a chain of merged suppliers that loops (it cannot, but a corrupt database must not hang a crawl).
MAX_MERGE_CHAIN = 20


@dataclass(frozen=True)
class SourceInfo:
    """The source a record comes from, as matching and resolution need it."""

    name: str
    kind: str = "directory"
    priority: int | None = None

    @property
    def trust(self) -> int:
        return merge.priority_of(self.kind, self.priority)


@dataclass(frozen=True)
class UpsertResult:
    outcome: str
    supplier_id: int
    # Suppliers folded into supplier_id by this record (they leave the search index).
    absorbed: tuple[int, ...] = field(default=())
    # Merges the operator should look at: a record, or a supplier, of another name that joined this one by its
    # website or SIREN (its name no longer shows, and no longer finds it). In English, for the crawl's report.
    merge_notes: tuple[str, ...] = field(default=())


def record_hash(profile: Mapping[str, Any]) -> str:
    payload = json.dumps({k: profile.get(k) for k in (*PROVENANCE_FIELDS, *DERIVED_FIELDS)}, sort_keys=True,
                         ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _clean_record(profile: Mapping[str, Any]) -> dict[str, Any]:
    return {k: profile[k] for k in (*PROVENANCE_FIELDS, *DERIVED_FIELDS) if not merge.is_empty(profile.get(k))}


def _follow(session: Session, supplier: Supplier | None) -> Supplier | None:
    for _ in range(MAX_MERGE_CHAIN):
        if supplier is None or supplier.status != STATUS_MERGED or supplier.merged_into_id is None:
            return supplier
        supplier = session.get(Supplier, supplier.merged_into_id)
    return supplier


def _identity(supplier: Supplier) -> dict[str, Any]:
    return {"id": supplier.id, "name": supplier.name, "siren": supplier.siren, "website": supplier.website,
            "website_domain": supplier.website_domain, "postcode": supplier.postcode,
            "insee_code": supplier.insee_code, "commune": supplier.commune}


def find_matches(session: Session, record: Mapping[str, Any]) -> dict[str, Supplier]:
    """Stored suppliers this record's keys point to: by "siren", "domain" and "name" (fuzzy name + town)."""
    matches: dict[str, Supplier] = {}
    live = Supplier.status != STATUS_MERGED
    if record.get("siren"):
        found = session.scalar(select(Supplier).where(Supplier.siren == record["siren"], live)
                               .order_by(Supplier.id).limit(1))
        if found is not None:
            matches["siren"] = found
    key = merge.website_key(record.get("website"))
    if key:
        # The same website as far as it identifies an organisation (vivier.merge.website_key): the same home page,
        # the same page of a larger site, the same tenant of a platform; not any page of the same host.
        host = key.split("/", 1)[0]
        candidates = session.scalars(select(Supplier).where(Supplier.website_domain == host, live)
                                     .order_by(Supplier.id)).all()
        found = next((s for s in candidates if merge.website_key(s.website) == key
                      and not merge.conflicting(record, _identity(s))), None)
        if found is not None:
            matches["domain"] = found
    if record.get("department") and record.get("name"):
        # Every name each supplier of the department is known by, with the supplier's keys and town.
        rows = session.execute(
            select(Supplier.id, SourceRecord.name, Supplier.siren, Supplier.website, Supplier.website_domain,
                   Supplier.postcode, Supplier.insee_code, Supplier.commune)
            .join(SourceRecord, SourceRecord.supplier_id == Supplier.id)
            .where(Supplier.department == record["department"], live)
        ).mappings().all()
        best = merge.best_name_match(record, rows)
        if best is not None:
            matches["name"] = session.get_one(Supplier, best["id"])
    return matches


def _unique_slug(session: Session, name: str) -> str:
    base = slugify(name)
    slug, n = base, 1
    while session.scalar(select(Supplier.id).where(Supplier.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def source_priorities(session: Session) -> dict[str, int]:
    """Trust of every registered source (vivier.merge.priority_of)."""
    return {name: merge.priority_of(kind, priority)
            for name, kind, priority in session.execute(select(Source.name, Source.kind, Source.priority))}


def _provenance_fields(data: Mapping[str, Any]) -> list[str]:
    """The provenance-tracked fields a record gives."""
    return [name for name in PROVENANCE_FIELDS if name in data]


def resolve_supplier(session: Session, supplier: Supplier, priorities: Mapping[str, int] | None = None,
                     now: datetime | None = None) -> tuple[bool, dict[str, set[str]]]:
    """Recompute the supplier's fields from its records. Returns whether a shown value changed, and per field
    the sources whose value is shown (for FieldProvenance.chosen, see `mark_chosen`)."""
    priorities = source_priorities(session) if priorities is None else priorities
    observations = [merge.Observation(r.source_name, priorities.get(r.source_name, merge.DEFAULT_PRIORITY), r.data,
                                      r.changed_at, r.url, identity=identity_of(r.joined_by))
                    for r in supplier.records]
    values, chosen = merge.resolve(observations)
    changed = False
    for name in (*PROVENANCE_FIELDS, "region"):
        if name in values and getattr(supplier, name) != values[name]:
            setattr(supplier, name, values[name])
            changed = True
    supplier.website_domain = website_domain(supplier.website)
    if changed:
        supplier.updated_at = now or utcnow()
    return changed, chosen


def mark_chosen(session: Session, supplier_id: int, chosen: Mapping[str, set[str]]) -> None:
    """Flag the provenance rows whose value the profile shows (two statements, whatever the number of fields)."""
    session.execute(update(FieldProvenance).where(FieldProvenance.supplier_id == supplier_id)
                    .values(chosen=False).execution_options(synchronize_session=False))
    pairs = [(name, source) for name, sources in chosen.items() for source in sources]
    if pairs:
        session.execute(update(FieldProvenance)
                        .where(FieldProvenance.supplier_id == supplier_id,
                               tuple_(FieldProvenance.field, FieldProvenance.source_name).in_(pairs))
                        .values(chosen=True).execution_options(synchronize_session=False))


def _record_provenance(session: Session, supplier_id: int, source_name: str, fields: list[str], url: str | None,
                       now: datetime, known: set[str] | None = None,
                       chosen: Mapping[str, set[str]] | None = None) -> None:
    """Insert or refresh the provenance rows of the fields this source gives (bulk statements, not one ORM object
    per field: a new profile has twenty of them)."""
    if known is None:
        known = set(session.scalars(select(FieldProvenance.field).where(
            FieldProvenance.supplier_id == supplier_id, FieldProvenance.source_name == source_name)))
    seen = [f for f in fields if f in known]
    if seen:
        session.execute(update(FieldProvenance)
                        .where(FieldProvenance.supplier_id == supplier_id, FieldProvenance.source_name == source_name,
                               FieldProvenance.field.in_(seen))
                        .values(last_seen=now, url=url).execution_options(synchronize_session=False))
    fresh = [f for f in fields if f not in known]
    if fresh:
        session.execute(insert(FieldProvenance), [
            {"supplier_id": supplier_id, "field": f, "source_name": source_name, "url": url, "first_seen": now,
             "last_seen": now, "chosen": source_name in (chosen or {}).get(f, ())} for f in fresh])


def _absorb(session: Session, keep: Supplier, gone: Supplier, now: datetime, joined_by: str = JOINED_DOMAIN) -> None:
    """Fold `gone` into `keep`: records and provenance move, `gone` stays as a pointer for old links. Its records
    joined `keep` by `joined_by` (what linked the two): joined by SIREN, they no longer say who the company is."""
    for record in list(gone.records):
        record.supplier = keep
        if joined_by not in IDENTIFYING_JOINS:
            record.joined_by = joined_by
    kept = {(p.field, p.source_name): p for p in keep.provenance}
    for moved in list(gone.provenance):
        existing = kept.get((moved.field, moved.source_name))
        if existing is None:
            moved.supplier = keep
        else:
            existing.first_seen = min(existing.first_seen, moved.first_seen)
            if moved.last_seen > existing.last_seen:
                existing.last_seen, existing.url = moved.last_seen, moved.url
            gone.provenance.remove(moved)
    gone.status, gone.merged_into_id, gone.updated_at = STATUS_MERGED, keep.id, now
    # The absorbed supplier no longer owns the keys: matching must not find it again.
    gone.siren = None
    gone.website_domain = None
    session.flush()


# Record keys per query when records are touched in bulk (SQLite allows 32,766 parameters).
TOUCH_CHUNK = 500


def touch_records(session: Session, source_name: str, keys: Collection[str] = (), urls: Collection[str] = (),
                  now: datetime | None = None) -> int:
    """Records of `source_name` seen again unchanged, by record key or by the address they were read at (a feed
    file): last seen now, as their fields' provenance; a record whose supplier was merged since follows it. What
    `upsert_profile` does for an unchanged record, a few queries per TOUCH_CHUNK records. How many were found."""
    now = now or utcnow()
    found: list[tuple[int, int, str]] = []
    for column, values in ((SourceRecord.record_key, list(keys)), (SourceRecord.url, list(urls))):
        for start in range(0, len(values), TOUCH_CHUNK):
            found += session.execute(
                select(SourceRecord.id, SourceRecord.supplier_id, Supplier.status)
                .join(Supplier, Supplier.id == SourceRecord.supplier_id)
                .where(SourceRecord.source_name == source_name, column.in_(values[start:start + TOUCH_CHUNK]))
            ).tuples().all()
    record_ids, supplier_ids = sorted({r for r, _, _ in found}), {s for _, s, _ in found}
    for record_id, _, status in found:
        if status == STATUS_MERGED:  # rare: merged since the last crawl
            record = session.get_one(SourceRecord, record_id)
            followed = _follow(session, record.supplier)
            if followed is not None:
                record.supplier = followed
                supplier_ids.add(followed.id)
    session.flush()
    for start in range(0, len(record_ids), TOUCH_CHUNK):
        session.execute(update(SourceRecord).where(SourceRecord.id.in_(record_ids[start:start + TOUCH_CHUNK]))
                        .values(last_seen=now).execution_options(synchronize_session=False))
    ordered = sorted(supplier_ids)
    for start in range(0, len(ordered), TOUCH_CHUNK):
        session.execute(update(FieldProvenance)
                        .where(FieldProvenance.source_name == source_name,
                               FieldProvenance.supplier_id.in_(ordered[start:start + TOUCH_CHUNK]))
                        .values(last_seen=now).execution_options(synchronize_session=False))
    return len(record_ids)


def known_record_keys(session: Session, source_name: str) -> set[str]:
    """The record keys stored for a source (a crawl skips the unchanged pages of these)."""
    return set(session.scalars(select(SourceRecord.record_key).where(SourceRecord.source_name == source_name)))


def known_record_urls(session: Session, source_name: str) -> set[str]:
    return set(session.scalars(select(SourceRecord.url).where(SourceRecord.source_name == source_name,
                                                              SourceRecord.url.is_not(None)).distinct()))


def _lead_name_cluster(supplier: Supplier, priorities: Mapping[str, int]) -> None:
    """Records tied to each other by a similar name alone say equally little of who the company is: which of them
    created the profile is only which one a crawl of several sources at once happened to read first. While nothing
    stronger (a website domain, an operator's approval) backs any of them, the one that gives a website, then the
    most trusted, identifies the profile and the others only fill, whatever the order they came in: the profile
    and the passages indexed from it are the same from one crawl of the same pages to the next."""
    cluster = [r for r in supplier.records if r.joined_by in (JOINED_NEW, JOINED_NAME)]
    if len(cluster) < 2 or any(r.joined_by not in (JOINED_NEW, JOINED_NAME, JOINED_SIREN) for r in supplier.records):
        return
    leader = max(cluster, key=lambda r: (not merge.is_empty((r.data or {}).get("website")),
                                         priorities.get(r.source_name, merge.DEFAULT_PRIORITY), r.source_name,
                                         r.record_key))
    for record in cluster:
        record.joined_by = JOINED_NEW if record is leader else JOINED_NAME


def upsert_profile(session: Session, profile: Mapping[str, Any], source: SourceInfo | str, url: str | None,
                   record_key: str | None = None, now: datetime | None = None,
                   priorities: Mapping[str, int] | None = None) -> UpsertResult:
    """Store one normalised profile from a source; empty values never erase stored ones.

    `record_key` identifies the record within its source across crawls (default: the URL). `priorities` (source
    name -> trust) saves a query per record when the caller stores many.
    """
    now = now or utcnow()
    source = SourceInfo(source) if isinstance(source, str) else source
    key = record_key or url or f"name:{profile.get('name')}"
    data = _clean_record(profile)
    digest = record_hash(data)
    record = session.scalar(select(SourceRecord).where(SourceRecord.source_name == source.name,
                                                       SourceRecord.record_key == key))
    if record is not None and record.content_hash == digest:
        record.last_seen = now
        if url and record.url != url:  # the same record read at a new address (a feed file moved)
            record.url = url
        supplier = _follow(session, record.supplier)
        assert supplier is not None, "a source record always belongs to a supplier"
        if supplier is not record.supplier:  # merged since: the record follows its company
            record.supplier = supplier
        session.flush()
        session.execute(update(FieldProvenance)
                        .where(FieldProvenance.supplier_id == supplier.id, FieldProvenance.source_name == source.name,
                               FieldProvenance.field.in_(_provenance_fields(data)))
                        .values(last_seen=now).execution_options(synchronize_session=False))
        return UpsertResult(UNCHANGED, supplier.id)

    # Every read first, so that the writes go to the database in one flush at the end.
    priorities = dict(source_priorities(session) if priorities is None else priorities)
    priorities.setdefault(source.name, source.trust)
    identity = {**data, "website_domain": website_domain(data.get("website"))}
    matches = find_matches(session, identity)
    supplier = _follow(session, record.supplier) if record is not None else None
    joined_by = JOINED_KEY
    if supplier is None:
        supplier = matches.get("siren") or matches.get("domain") or matches.get("name")
        joined_by = (JOINED_NEW if supplier is None
                     else JOINED_DOMAIN if matches.get("domain") is supplier
                     else JOINED_SIREN if matches.get("siren") is supplier else JOINED_NAME)
    absorbed: list[int] = []
    notes: list[tuple[str, str, str]] = []  # (name that may vanish, what carried it, why it merged)
    if joined_by in (JOINED_DOMAIN, JOINED_SIREN):
        notes.append((data.get("name", ""), f"record {key!r}", _merge_reason(joined_by, identity)))
    if supplier is None:
        # Empty collections given up front: a new supplier has nothing to load from the database.
        supplier = Supplier(slug=_unique_slug(session, data["name"]), name=data["name"], created_at=now,
                            updated_at=now, records=[])
        session.add(supplier)
        outcome = NEW
    else:
        outcome = UPDATED if record is not None else MERGED
        for strong in ("siren", "domain"):
            other = matches.get(strong)
            if other is None or other.id == supplier.id or merge.conflicting(_identity(supplier), _identity(other)):
                continue
            keep, gone = (supplier, other) if supplier.id < other.id else (other, supplier)
            gone_name = gone.name
            _absorb(session, keep, gone, now, JOINED_DOMAIN if strong == "domain" else JOINED_SIREN)
            absorbed.append(gone.id)
            supplier = keep
            notes.append((gone_name, f"supplier {gone.slug!r}", _merge_reason(strong, identity)))

    if record is None:
        record = SourceRecord(source_name=source.name, record_key=key, first_seen=now, joined_by=joined_by)
        session.add(record)
    record.supplier = supplier
    record.url, record.name, record.data, record.content_hash = url, data.get("name", "")[:200], data, digest
    record.last_seen = record.changed_at = now
    if joined_by == JOINED_NAME:
        _lead_name_cluster(supplier, priorities)

    _, chosen = resolve_supplier(session, supplier, priorities, now)
    session.flush()
    if outcome == NEW:  # nothing stored yet: the rows go in with their flags
        _record_provenance(session, supplier.id, source.name, _provenance_fields(data), url, now, known=set(),
                           chosen=chosen)
    else:
        _record_provenance(session, supplier.id, source.name, _provenance_fields(data), url, now)
        mark_chosen(session, supplier.id, chosen)
    return UpsertResult(outcome, supplier.id, tuple(absorbed), tuple(
        f"{what} named {name!r} merged into {supplier.name!r} ({supplier.slug}) by {why}"
        for name, what, why in notes if not merge.names_alike(name, supplier.name)))


def _merge_reason(joined_by: str, identity: Mapping[str, Any]) -> str:
    if joined_by == JOINED_DOMAIN:  # also the "domain" of find_matches' strong keys
        return f"the same website ({merge.website_key(identity.get('website'))})"
    return f"the same SIREN ({identity.get('siren')})"
