"""A company's own profile: submissions, claims, private links, moderation decisions, removal.

Nothing a company submits is public before an operator approves it. An approved submission becomes the
"submitted" source's record of the supplier (vivier.profiles.upsert_profile, priority SUBMITTED_PRIORITY): its
values beat crawled ones field by field, crawled values fill what it leaves empty, and provenance says so. The
Submission rows stay as the profile's history (what was asked, what changed, who decided, why).

Private links carry a random token; only its SHA-256 is stored. A link expires, works once, and then opens an
editing session (search_app). Anyone may ask for a new link at any time; links go only to verified addresses.

The callers (web views, CLI) commit, re-index (indexer.build.update_index) and send the e-mails; this module only
reads and writes the database.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from vivier.normalise import normalise_profile
from vivier import jobs, merge
from vivier.identifiers import website_domain
from vivier.models import (CLAIM_BY_DOMAIN, CLAIM_BY_OPERATOR, CLAIM_PENDING, CLAIM_REJECTED, CLAIM_VERIFIED,
                           REVIEW_APPROVED, REVIEW_PENDING, REVIEW_REJECTED, SEARCHABLE_STATUSES, STATUS_HIDDEN,
                           STATUS_MERGED, STATUS_VERIFIED, SUBMISSION_DELETION, SUBMISSION_NEW, SUBMISSION_UPDATE,
                           TOKEN_CLAIM, TOKEN_EDIT, AccessToken, Claim, SourceRecord, Submission, Supplier,
                           Suppression, utcnow)
from vivier.profiles import (IDENTIFYING_JOINS, JOINED_KEY, JOINED_OPERATOR, MERGED, NEW, SourceInfo, UpsertResult,
                             find_matches, resolve_supplier, upsert_profile)

# The source every approved submission is recorded under (its kind gives it merge.SUBMITTED_PRIORITY).
SUBMITTED_SOURCE = SourceInfo("submitted", kind="submitted")
# Fields a company may submit: the public profile (merge.FIELD_RULES) less what is derived from the address.
SUBMITTED_FIELDS = ("name", "siren", "website", "contact_email", "contact_phone", "pitch", "description",
                    "categories", "keywords", "address", "postcode", "commune", "size_band", "founded_year",
                    "labels", "offers", "references", "interoperability")
# The fields of the place a company types: one block (changed_fields).
PLACE_FIELDS = ("address", "postcode", "commune")
# A claim link proves an address: a day to open it. An editing link is a door: an hour, and once.
CLAIM_LINK_LIFETIME = timedelta(days=1)
EDIT_LINK_LIFETIME = timedelta(hours=1)
# How long an editing session opened by a link lasts.
EDIT_SESSION_LIFETIME = timedelta(hours=2)

# An editing link asked for on /fournisseurs/<slug>/modifier/lien: the request only records the ask (a job), so that
# it answers in the same time whether the address may edit the profile or not (payload: supplier_id, email).
EDIT_LINK_JOB = "edit-link"


class TokenError(ValueError):
    """A private link that is unknown, expired or already used; `reason` says which, for the page."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ModerationError(ValueError):
    """A decision that cannot be taken (already decided, the supplier is gone, no reason for a rejection)."""


# -- tokens -----------------------------------------------------------------------------------------------------
def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def issue_token(session: Session, purpose: str, email: str, lifetime: timedelta, supplier_id: int | None = None,
                claim_id: int | None = None, now: datetime | None = None) -> str:
    """A new private link's token (the raw value, to put in the link; the database keeps its hash)."""
    now = now or utcnow()
    raw = secrets.token_urlsafe(32)
    session.add(AccessToken(token_hash=hash_token(raw), purpose=purpose, email=email, supplier_id=supplier_id,
                            claim_id=claim_id, created_at=now, expires_at=now + lifetime))
    session.flush()
    return raw


def redeem_token(session: Session, raw: str, purpose: str, now: datetime | None = None) -> AccessToken:
    """The token's row, marked used; TokenError("unknown" | "expired" | "used") otherwise.

    Marking is one conditional UPDATE (still unused, not expired), committed at once: of several requests opening
    the same link together (a double click, a mail scanner, an attacker racing the owner), exactly one updates the
    row and gets it; the others find it used."""
    now = now or utcnow()
    digest = hash_token(raw or "")
    claimed = session.execute(
        update(AccessToken).where(AccessToken.token_hash == digest, AccessToken.purpose == purpose,
                                  AccessToken.used_at.is_(None), AccessToken.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False))
    session.commit()
    token = session.scalar(select(AccessToken).where(AccessToken.token_hash == digest,
                                                     AccessToken.purpose == purpose))
    if claimed.rowcount == 1 and token is not None:  # type: ignore[attr-defined]
        return token
    if token is None:
        raise TokenError("unknown")
    if token.used_at is None and token.expires_at <= now:
        raise TokenError("expired")
    raise TokenError("used")  # before, or by a request that won the race


# -- profiles ---------------------------------------------------------------------------------------------------
def clean_profile(data: Mapping[str, Any]) -> dict[str, Any]:
    """The submitted fields, cleaned the way crawled profiles are (vivier.normalise): department and region from
    the postcode, canonical website, known labels and categories only."""
    profile = normalise_profile({k: v for k, v in data.items() if k in SUBMITTED_FIELDS}, markup=False)
    return {k: v for k, v in profile.items() if not merge.is_empty(v)}


def public_fields(supplier: Supplier) -> dict[str, Any]:
    return {field: getattr(supplier, field) for field in SUBMITTED_FIELDS}


def changed_fields(supplier: Supplier, profile: Mapping[str, Any], whole_form: bool = False) -> dict[str, Any]:
    """The fields of a cleaned profile (clean_profile) that differ from the supplier's public values, cleaned the
    same way: what an editing form changed, every pre-filled field being posted again. The place is one block: a
    changed address, postcode or commune carries the whole submitted place (and what follows from it), an
    unchanged one is left out, so that the profile keeps its coordinates (vivier.merge.resolve would otherwise
    place it at the commune's centre)."""
    public = clean_profile(public_fields(supplier))
    changed = {field: value for field, value in profile.items()
               if field in SUBMITTED_FIELDS and field not in PLACE_FIELDS and value != public.get(field)}
    if whole_form:  # every field was posted: one left empty that the profile shows, the company removed (None)
        changed.update({field: None for field in public
                        if field in SUBMITTED_FIELDS and field not in PLACE_FIELDS and field not in profile})
    if any(profile.get(field) != public.get(field) for field in PLACE_FIELDS if not merge.is_empty(profile.get(field))):
        changed.update({field: value for field, value in profile.items() if field in merge.LOCATION_FIELDS})
    return changed


def changes_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """field -> [before, after] for the fields that differ."""
    return {f: [before.get(f), after.get(f)] for f in SUBMITTED_FIELDS if before.get(f) != after.get(f)}


def submit_new(session: Session, data: Mapping[str, Any], email: str, now: datetime | None = None) -> Submission:
    profile = clean_profile(data)
    submission = Submission(kind=SUBMISSION_NEW, name=profile.get("name", "")[:200], email=email, data=profile,
                            created_at=now or utcnow())
    session.add(submission)
    session.flush()
    return submission


def submit_update(session: Session, supplier: Supplier, data: Mapping[str, Any], email: str,
                  now: datetime | None = None, whole_form: bool = False) -> Submission:
    """Changes to a listed profile by a verified address, for moderation. A newer pending update from the same
    address replaces the older one: moderators review what the company wants now. Only the fields the company
    changed are recorded (changed_fields): an approval then changes nothing else. `whole_form`: `data` holds
    every field (the editing form), so an emptied one is a removal."""
    profile = changed_fields(supplier, clean_profile(data), whole_form)
    session.execute(delete(Submission).where(Submission.supplier_id == supplier.id, Submission.email == email,
                                             Submission.kind == SUBMISSION_UPDATE,
                                             Submission.status == REVIEW_PENDING))
    submission = Submission(kind=SUBMISSION_UPDATE, supplier_id=supplier.id, name=supplier.name, email=email,
                            data=profile, created_at=now or utcnow())
    session.add(submission)
    session.flush()
    return submission


def request_deletion(session: Session, supplier: Supplier, email: str, reason: str = "",
                     now: datetime | None = None) -> Submission:
    """Hide the profile at once and queue its deletion for an operator to confirm; the search index follows in the
    background (an index-update job)."""
    previous = supplier.status
    if supplier.status in SEARCHABLE_STATUSES:
        supplier.status = STATUS_HIDDEN
    submission = Submission(kind=SUBMISSION_DELETION, supplier_id=supplier.id, name=supplier.name, email=email,
                            data={"previous_status": previous}, reason=reason, created_at=now or utcnow())
    session.add(submission)
    session.flush()
    jobs.enqueue_once(session, jobs.INDEX_UPDATE_JOB)
    return submission


def _submitted_record(session: Session, supplier: Supplier, now: datetime) -> str:
    """The key of the supplier's "submitted" record, created empty if the company never submitted before, so
    that upsert_profile attaches the submission to this supplier rather than matching it anew."""
    key = f"supplier:{supplier.id}"
    exists = session.scalar(select(SourceRecord.id).where(SourceRecord.source_name == SUBMITTED_SOURCE.name,
                                                          SourceRecord.record_key == key))
    if exists is None:
        session.add(SourceRecord(source_name=SUBMITTED_SOURCE.name, record_key=key, supplier=supplier, name="",
                                 data={}, content_hash="", first_seen=now, last_seen=now, changed_at=now))
        session.flush()
    return key


def identity_changes(session: Session, submission: Submission) -> list[str]:
    """What approving this submission would do to who a profile is, in French, for the operator: attach it to
    another listed company (same SIREN, website domain or name), or give a listed profile another SIREN or website.
    Empty for a submission that only describes the company it comes from."""
    if submission.kind == SUBMISSION_DELETION:
        return []
    data = submission.data or {}
    supplier = session.get(Supplier, submission.supplier_id) if submission.supplier_id else None
    if supplier is not None:  # an update records its changes only: the profile they would make
        data = {**clean_profile(public_fields(supplier)), **data}
    warnings = []
    record = {**data, "website_domain": website_domain(data.get("website"))}
    reasons = {"siren": "le même SIREN", "domain": "le même site internet",
               "name": "un nom proche dans la même commune"}
    for key, other in find_matches(session, record).items():
        if supplier is not None and other.id == supplier.id:
            continue
        if supplier is None and key == "name":
            continue  # a new profile like a listed one: shown to the operator as a possible duplicate
        action = "rattacherait cette demande à" if supplier is None else "fusionnerait cette fiche avec"
        warnings.append(f"Valider {action} la fiche « {other.name} » (n° {other.id}), qui a {reasons[key]}")
    if supplier is not None:
        if data.get("siren") and supplier.siren and data["siren"] != supplier.siren:
            warnings.append(f"Le SIREN de la fiche passerait de {supplier.siren} à {data['siren']}")
        before = merge.identifying_domain(ownership_domain(session, supplier))
        after = merge.identifying_domain(record["website_domain"])
        if before and after and before != after:
            warnings.append(f"Le site qui prouve l'identité de l'entreprise passerait de {before} à {after}")
    return list(dict.fromkeys(warnings))


def _updated_record(session: Session, supplier: Supplier, key: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The company's "submitted" record once an update is applied: what it said before, with the fields the update
    changes (changed_fields, again: an update submitted with every field keeps only the changed ones). A new place
    replaces the whole previous place."""
    record = session.scalars(select(SourceRecord).where(SourceRecord.source_name == SUBMITTED_SOURCE.name,
                                                        SourceRecord.record_key == key)).one()
    changes = changed_fields(supplier, {k: v for k, v in data.items() if not merge.is_empty(v)})
    changes.update({field: None for field, value in data.items() if value is None})  # removals recorded before
    kept = dict(record.data or {})
    if any(field in changes for field in merge.LOCATION_FIELDS):
        kept = {k: v for k, v in kept.items() if k not in merge.LOCATION_FIELDS}
    return {k: v for k, v in {**kept, **changes}.items() if v is not None}


def _matched_supplier(session: Session, data: Mapping[str, Any]) -> Supplier | None:
    """The listed supplier a new profile's data designates, in upsert_profile's order (SIREN, domain, name)."""
    matches = find_matches(session, {**data, "website_domain": website_domain(data.get("website"))})
    return matches.get("siren") or matches.get("domain") or matches.get("name")


def approve(session: Session, submission: Submission, operator: str, now: datetime | None = None,
            confirm_identity: bool = False) -> Supplier | None:
    """Apply a pending submission: publish or update the profile (status verified), or delete it. Returns the
    supplier (None after a deletion). The search index follows in the background (an index-update job);
    the caller tells the company.

    A submission that would merge profiles or change who a profile is (identity_changes) is applied only when the
    operator confirms it (`confirm_identity`), and the change is kept in the submission's recorded changes."""
    now = now or utcnow()
    if submission.status != REVIEW_PENDING:
        raise ModerationError("cette demande a déjà été traitée")
    supplier = session.get(Supplier, submission.supplier_id) if submission.supplier_id else None
    if submission.kind != SUBMISSION_NEW and supplier is None:
        raise ModerationError("le fournisseur concerné n'existe plus")
    identity = identity_changes(session, submission)
    if identity and not confirm_identity:
        raise ModerationError("cette demande change l'identité d'une fiche (" + " ; ".join(identity)
                              + ") : confirmez-le explicitement pour la valider")
    result: Supplier | None
    if submission.kind == SUBMISSION_DELETION:
        assert supplier is not None
        delete_supplier(session, supplier)
        submission.supplier_id = None  # as the database's ON DELETE SET NULL did
        result = None
    else:
        before = public_fields(supplier) if supplier is not None else {}
        if supplier is None:
            # A listed company it matches (the operator confirmed the attachment, identity_changes) keeps one
            # "submitted" record: this submission updates it rather than adding a second one.
            matched = _matched_supplier(session, submission.data)
            key = (_submitted_record(session, matched, now) if matched is not None
                   else f"submission:{submission.id}")
            outcome = upsert_profile(session, submission.data, SUBMITTED_SOURCE, url=None, record_key=key, now=now)
            supplier = session.get_one(Supplier, outcome.supplier_id)
            record = session.scalars(select(SourceRecord).where(SourceRecord.source_name == SUBMITTED_SOURCE.name,
                                                                SourceRecord.record_key == key)).one()
            record.record_key = f"supplier:{supplier.id}"  # its later updates find it by supplier
            if matched is not None:
                outcome = UpsertResult(MERGED, supplier.id)
            if record.joined_by != JOINED_OPERATOR:  # the company's own description, approved by an operator
                record.joined_by = JOINED_OPERATOR
                resolve_supplier(session, supplier, now=now)
            if outcome.outcome == NEW:  # the submitter created this profile: it may edit it
                _verified_claim(session, supplier, submission.email, CLAIM_BY_OPERATOR, operator, now)
            else:
                # The submission matched a listed company (same SIREN, domain, or name in the same town): editing
                # rights over a profile others' data built still need a verified claim.
                start_claim(session, supplier, submission.email, "Fiche proposée comme nouvelle, rattachée à une "
                            "fiche existante lors de la validation.", now)
        else:
            key = _submitted_record(session, supplier, now)
            outcome = upsert_profile(session, _updated_record(session, supplier, key, submission.data),
                                     SUBMITTED_SOURCE, url=None, record_key=key, now=now)
            supplier = session.get_one(Supplier, outcome.supplier_id)  # merged into another profile, it lives there
        assert supplier is not None
        session.refresh(supplier)
        # A value the company removed from its form and that no other source gives goes (resolution keeps a field
        # no record speaks of: a source that stops saying something does not erase it, the company itself does).
        for field in [f for f, v in (submission.data or {}).items() if v is None and f in SUBMITTED_FIELDS]:
            if not any(not merge.is_empty((r.data or {}).get(field)) for r in supplier.records):
                setattr(supplier, field, None)
        if supplier.status != STATUS_MERGED:
            supplier.status = STATUS_VERIFIED
        supplier.updated_at = now
        submission.supplier_id = supplier.id
        submission.changes = changes_between(before, public_fields(supplier))
        if identity:  # what the operator confirmed, kept with the decision
            submission.changes["identité"] = [None, " ; ".join(identity)]
        result = supplier
    submission.status, submission.decided_at, submission.decided_by = REVIEW_APPROVED, now, operator
    session.flush()
    jobs.enqueue_once(session, jobs.INDEX_UPDATE_JOB)
    return result


def reject(session: Session, submission: Submission, operator: str, reason: str,
           now: datetime | None = None) -> None:
    """Refuse a pending submission, with the reason the company will read. A refused deletion shows the profile
    again."""
    if submission.status != REVIEW_PENDING:
        raise ModerationError("cette demande a déjà été traitée")
    if not reason.strip():
        raise ModerationError("indiquez le motif du refus : il est envoyé à l'entreprise")
    now = now or utcnow()
    if submission.kind == SUBMISSION_DELETION and submission.supplier_id:
        supplier = session.get(Supplier, submission.supplier_id)
        previous = submission.data.get("previous_status")
        if supplier is not None and supplier.status == STATUS_HIDDEN and previous in SEARCHABLE_STATUSES:
            supplier.status = previous
            supplier.updated_at = now
            jobs.enqueue_once(session, jobs.INDEX_UPDATE_JOB)
    submission.status, submission.reason = REVIEW_REJECTED, reason.strip()
    submission.decided_at, submission.decided_by = now, operator
    session.flush()


def hide(session: Session, supplier: Supplier, now: datetime | None = None) -> None:
    """Take a profile out of search (an operator's decision); the index follows in the background."""
    supplier.status = STATUS_HIDDEN
    supplier.updated_at = now or utcnow()
    session.flush()
    jobs.enqueue_once(session, jobs.INDEX_UPDATE_JOB)


def received_proposals(session: Session, supplier: Supplier) -> int:
    """Proposals this supplier sent to purchase projects: they stay in the projects' records if the profile goes."""
    from sqlalchemy import func

    from vivier.models import Proposal

    return int(session.scalar(select(func.count(Proposal.id)).where(Proposal.supplier_id == supplier.id)) or 0)


def delete_supplier(session: Session, supplier: Supplier) -> Suppression:
    """Delete the profile with its source records, provenance, claims and links, and remember the company so
    that future crawls drop what they find about it. Its proposals to purchase projects stay with the projects
    (the buyers received them), under the name it had."""
    from vivier.models import Proposal

    session.execute(update(Proposal).where(Proposal.supplier_id == supplier.id, Proposal.supplier_name == "")
                    .values(supplier_name=supplier.name[:200]).execution_options(synchronize_session=False))
    suppression = Suppression(supplier_id=supplier.id, name_key=merge.name_key(supplier.name),
                              commune=supplier.commune, siren=supplier.siren,
                              website_domain=merge.identifying_domain(supplier.website_domain), created_at=utcnow())
    session.add(suppression)
    session.delete(supplier)
    session.flush()
    return suppression


def is_suppressed(session: Session, profile: Mapping[str, Any]) -> bool:
    """Whether a crawled profile is about a company removed at its request: same SIREN, same identifying website
    domain, or same name in the same town."""
    siren = profile.get("siren")
    domain = merge.identifying_domain(website_domain(profile.get("website")))
    key = merge.name_key(profile.get("name") or "")
    conditions = [Suppression.name_key == key]
    if siren:
        conditions.append(Suppression.siren == siren)
    if domain:
        conditions.append(Suppression.website_domain == domain)
    for row in session.scalars(select(Suppression).where(or_(*conditions))):
        if (siren and row.siren == siren) or (domain and row.website_domain == domain):
            return True
        if row.name_key == key and merge.same_town({"commune": row.commune}, {"commune": profile.get("commune")}):
            return True
    return False


# -- claims -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClaimStart:
    claim: Claim
    # The claim link's token when the address is on the company's website domain (send it there); otherwise None
    # and an operator decides.
    token: str | None


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def ownership_domain(session: Session, supplier: Supplier) -> str | None:
    """The website domain an address must be on to prove it speaks for the company: the one every identifying
    record of the profile gives (its creating source, the company's approved submission, sources matched by that
    same domain; vivier.profiles.IDENTIFYING_JOINS), never the website a record matched by SIREN or name alone
    brought, nor the latest value shown. None when they disagree or give none: an operator decides."""
    domains = set()
    for website, joined_by in session.execute(select(SourceRecord.data["website"].as_string(), SourceRecord.joined_by)
                                              .where(SourceRecord.supplier_id == supplier.id)):
        if website and (joined_by or JOINED_KEY) in IDENTIFYING_JOINS:
            domain = merge.identifying_domain(website_domain(website))
            if domain:
                domains.add(domain)
    return domains.pop() if len(domains) == 1 else None


def start_claim(session: Session, supplier: Supplier, email: str, message: str = "",
                now: datetime | None = None) -> ClaimStart:
    now = now or utcnow()
    domain = ownership_domain(session, supplier)
    on_domain = bool(domain) and (email_domain(email) == domain or email_domain(email).endswith(f".{domain}"))
    claim = Claim(supplier_id=supplier.id, email=email, method=CLAIM_BY_DOMAIN if on_domain else CLAIM_BY_OPERATOR,
                  status=CLAIM_PENDING, message=message, created_at=now)
    session.add(claim)
    session.flush()
    token = (issue_token(session, TOKEN_CLAIM, email, CLAIM_LINK_LIFETIME, supplier.id, claim.id, now)
             if on_domain else None)
    return ClaimStart(claim, token)


def confirm_claim(session: Session, raw: str, now: datetime | None = None) -> Claim:
    """The claim whose link this is, now verified (TokenError otherwise)."""
    now = now or utcnow()
    token = redeem_token(session, raw, TOKEN_CLAIM, now)
    claim = session.get(Claim, token.claim_id) if token.claim_id else None
    if claim is None or claim.status == CLAIM_REJECTED:
        raise TokenError("unknown")
    claim.status, claim.verified_at = CLAIM_VERIFIED, now
    session.flush()
    return claim


def decide_claim(session: Session, claim: Claim, operator: str, accept: bool, now: datetime | None = None) -> None:
    if claim.status != CLAIM_PENDING:
        raise ModerationError("cette revendication a déjà été traitée")
    now = now or utcnow()
    claim.status = CLAIM_VERIFIED if accept else CLAIM_REJECTED
    claim.verified_at = now if accept else None
    claim.decided_by = operator
    session.flush()


def _verified_claim(session: Session, supplier: Supplier, email: str, method: str, operator: str | None,
                    now: datetime) -> Claim:
    claim = Claim(supplier_id=supplier.id, email=email, method=method, status=CLAIM_VERIFIED, created_at=now,
                  verified_at=now, decided_by=operator)
    session.add(claim)
    session.flush()
    return claim


def may_edit(session: Session, supplier_id: int, email: str) -> bool:
    return session.scalar(select(Claim.id).where(Claim.supplier_id == supplier_id, Claim.email == email,
                                                 Claim.status == CLAIM_VERIFIED).limit(1)) is not None


def edit_link_token(session: Session, supplier: Supplier, email: str, now: datetime | None = None) -> str | None:
    """A new editing link's token for a verified address of this supplier; None for any other address (the page
    says the same either way, so it tells nobody which addresses are verified)."""
    if not may_edit(session, supplier.id, email):
        return None
    return issue_token(session, TOKEN_EDIT, email, EDIT_LINK_LIFETIME, supplier.id, now=now)


def open_edit_session(session: Session, raw: str, now: datetime | None = None) -> AccessToken:
    """Redeem an editing link (once); the caller opens a session for token.supplier_id and token.email."""
    token = redeem_token(session, raw, TOKEN_EDIT, now)
    if token.supplier_id is None or not may_edit(session, token.supplier_id, token.email):
        raise TokenError("unknown")
    return token
