"""Purchase projects (projets d'achat): buyers publish a need for sourcing, suppliers ask questions and propose
variants, buyers decide; every step is logged.

The rules of the French public-procurement code this follows (sourcing before a tender, art. R2111-1): the
sourcing must not distort competition, so every participant gets the same answers (questions are published
anonymised, with their answers, to all); proposals are sealed: only their author and the project's buyer ever
read them, business secrets stay protected unless the supplier consents to disclose a field; a variant is allowed
only when the project says so, and must meet its minimum requirements; nothing is accepted after the deadline,
and the buyer's decisions come after it. The sourcing log (SourcingEvent) records who did what and when, so that
the buyer can show it to an auditor.

Time is always passed in (`now`), so deadlines are tested without waiting. Callers commit, send the e-mails and
render; this module reads and writes the database and raises ProjectError (a French message for the page) when a
step is not allowed.
"""

from __future__ import annotations

import hashlib
import secrets
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from vivier import jobs, textfiles
from vivier.models import (BUYER_BY_DOMAIN, CONTRACT_MODELS, DECISIONS, PROJECT_ARCHIVED, PROJECT_CLOSED,
                           PROJECT_DRAFT, PROJECT_PUBLISHED, SEARCHABLE_STATUSES, AccessToken, Attachment, Buyer,
                           BuyerDomain, Milestone, Project, Proposal, Question, SourcingEvent, Subscription,
                           Supplier, utcnow)
from vivier.submissions import TokenError, hash_token, issue_token, redeem_token  # noqa: F401 - TokenError for callers

TOKEN_BUYER = "buyer"  # AccessToken purpose: a buyer's sign-in link
# A sign-in link: an hour, once; the session it opens lasts a working day.
BUYER_LINK_LIFETIME = timedelta(hours=1)
BUYER_SESSION_LIFETIME = timedelta(hours=8)
# Allowed state changes; anything else is refused.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    PROJECT_DRAFT: (PROJECT_PUBLISHED,),
    PROJECT_PUBLISHED: (PROJECT_CLOSED,),
    PROJECT_CLOSED: (PROJECT_ARCHIVED,),
    PROJECT_ARCHIVED: (),
}
# Slugs that would collide with the pages under /projets/ (search_app.purchasing.projects).
RESERVED_SLUGS = frozenset({"nouveau", "flux", "thematiques", "departements"})
# A published project is listed publicly; drafts are their buyer's only.
PUBLIC_STATUSES = (PROJECT_PUBLISHED, PROJECT_CLOSED, PROJECT_ARCHIVED)
# Best-matching suppliers found at publication and shown to the buyer.
MATCH_COUNT = 10
# Proposal fields a supplier may consent to disclose beyond the buyer (a summary shared with elected officials, an
# auditor): anything not consented to stays sealed.
CONSENT_FIELDS: dict[str, str] = {"text": "Texte de la proposition", "varied_requirement": "Exigence modifiée",
                                  "price_band": "Fourchette de prix", "attachments": "Pièces jointes"}
# Attachments: the kinds accepted and their content types (checked on the bytes, not on the name).
ATTACHMENT_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "odt": "application/vnd.oasis.opendocument.text",
    "png": "image/png",
    "jpg": "image/jpeg",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
MAX_ATTACHMENT_BYTES = textfiles.MAX_UPLOAD_BYTES
MAX_ATTACHMENTS = 10
REFUSED_TYPE = "Type de fichier refusé : joignez un PDF, un document .docx ou .odt, ou une image PNG ou JPEG."


class ProjectError(ValueError):
    """A step the rules do not allow now; the message is French, for the page."""


# -- log ----------------------------------------------------------------------------------------------------------
def log(session: Session, project: Project, actor: str, kind: str, now: datetime,
        **detail: Any) -> SourcingEvent:
    event = SourcingEvent(project_id=project.id, at=now, actor=actor, kind=kind, detail=detail)
    session.add(event)
    session.flush()
    return event


def buyer_actor(buyer: Buyer) -> str:
    return f"acheteur : {buyer.email}"


def supplier_actor(supplier: Supplier, email: str) -> str:
    return f"fournisseur : {supplier.name} ({email})"


def events(session: Session, project: Project) -> list[SourcingEvent]:
    return list(session.scalars(select(SourcingEvent).where(SourcingEvent.project_id == project.id)
                                .order_by(SourcingEvent.at, SourcingEvent.id)))


# -- buyers -------------------------------------------------------------------------------------------------------
def email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def allowed_domain(session: Session, email: str) -> BuyerDomain | None:
    """The allow-list entry covering this address: its domain or a parent domain (mairie.ville.fr under ville.fr)."""
    domain = email_domain(email)
    parts = domain.split(".")
    candidates = [".".join(parts[i:]) for i in range(len(parts) - 1)]
    return session.scalar(select(BuyerDomain).where(BuyerDomain.domain.in_(candidates))
                          .order_by(func.length(BuyerDomain.domain).desc()).limit(1))


def buyer_sign_in_token(session: Session, email: str, organisation: str = "", now: datetime | None = None) -> str:
    """A sign-in link's token for this address; the buyer is created on first use, verified at once when its
    domain is allow-listed (otherwise an operator verifies it, and until then it may prepare drafts only).

    The organisation typed with the request is only applied when the link is opened, by whoever reads the
    address's mail: anybody may ask a link for any address, nobody but its owner may name its organisation."""
    now = now or utcnow()
    email = email.strip().lower()
    buyer = session.scalar(select(Buyer).where(Buyer.email == email))
    if buyer is None:
        buyer = Buyer(email=email, organisation="", created_at=now)
        session.add(buyer)
        session.flush()
    entry = allowed_domain(session, email)
    if entry is not None and not buyer.verified:
        buyer.verified, buyer.verified_by, buyer.verified_at = True, BUYER_BY_DOMAIN, now
        buyer.organisation = buyer.organisation or entry.organisation
    raw = issue_token(session, TOKEN_BUYER, email, BUYER_LINK_LIFETIME, now=now)
    if organisation.strip():
        token = session.scalar(select(AccessToken).where(AccessToken.token_hash == hash_token(raw)))
        token.pending_value = " ".join(organisation.split())[:200]  # type: ignore[union-attr]
    return raw


def open_buyer_session(session: Session, raw: str, now: datetime | None = None) -> Buyer:
    """Redeem a sign-in link; the organisation typed when it was asked for becomes the buyer's (the link proves the
    address)."""
    token: AccessToken = redeem_token(session, raw, TOKEN_BUYER, now)
    buyer = session.scalar(select(Buyer).where(Buyer.email == token.email))
    if buyer is None:  # pragma: no cover - a token is only issued with its buyer
        raise ProjectError("Ce lien ne correspond à aucun acheteur.")
    if token.pending_value:
        buyer.organisation = token.pending_value
    return buyer


def verify_buyer(session: Session, buyer: Buyer, operator: str, now: datetime | None = None) -> None:
    buyer.verified, buyer.verified_by, buyer.verified_at = True, operator, now or utcnow()
    session.flush()


def add_buyer_domain(session: Session, domain: str, organisation: str, operator: str,
                     now: datetime | None = None) -> BuyerDomain:
    domain = domain.strip().lower().lstrip("@")
    if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
        raise ProjectError("Domaine invalide : par exemple ville-exemple.fr")
    existing = session.scalar(select(BuyerDomain).where(BuyerDomain.domain == domain))
    if existing is not None:
        return existing
    entry = BuyerDomain(domain=domain, organisation=organisation.strip()[:200], added_by=operator,
                        created_at=now or utcnow())
    session.add(entry)
    session.flush()
    return entry


def unverified_buyers(session: Session, limit: int) -> list[Buyer]:
    """Buyers waiting for an operator's verification, oldest first."""
    return list(session.scalars(select(Buyer).where(Buyer.verified.is_(False))
                                .order_by(Buyer.created_at, Buyer.id).limit(limit)))


def buyer_domains(session: Session) -> list[BuyerDomain]:
    """The allow-listed domains, alphabetically."""
    return list(session.scalars(select(BuyerDomain).order_by(BuyerDomain.domain)))


# -- projects -----------------------------------------------------------------------------------------------------
PROJECT_FIELDS = ("title", "need", "context", "studies", "social_criteria", "environmental_criteria",
                  "variants_allowed", "variant_requirements", "budget_band", "show_budget", "contract_model",
                  "departments", "categories", "deadline")


def _slug(session: Session, title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_title).strip("-")[:120] or "projet"
    slug, n = base, 1
    while slug in RESERVED_SLUGS or session.scalar(select(Project.id).where(Project.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def _apply(project: Project, data: Mapping[str, Any], milestones: Sequence[tuple[datetime, str]] | None) -> None:
    for name in PROJECT_FIELDS:
        if name in data:
            setattr(project, name, data[name])
    if project.contract_model not in CONTRACT_MODELS:
        raise ProjectError("Modèle de contrat inconnu.")
    if milestones is not None:
        project.milestones = [Milestone(date=date, label=label[:200]) for date, label in sorted(milestones)]


def create_project(session: Session, buyer: Buyer, data: Mapping[str, Any],
                   milestones: Sequence[tuple[datetime, str]] = (), now: datetime | None = None) -> Project:
    now = now or utcnow()
    project = Project(buyer_id=buyer.id, slug=_slug(session, data["title"]), status=PROJECT_DRAFT, created_at=now,
                      updated_at=now)
    _apply(project, data, milestones)
    session.add(project)
    session.flush()
    log(session, project, buyer_actor(buyer), "created", now, title=project.title)
    return project


def update_project(session: Session, project: Project, buyer: Buyer, data: Mapping[str, Any],
                   milestones: Sequence[tuple[datetime, str]] | None = None, now: datetime | None = None) -> None:
    """Edit a draft freely; a published project's changes are logged field by field (everyone sees the same
    project); a closed or archived one is frozen."""
    now = now or utcnow()
    refresh_status(session, project, now)
    if project.status not in (PROJECT_DRAFT, PROJECT_PUBLISHED):
        raise ProjectError("Ce projet est clos : il ne peut plus être modifié.")
    if project.status == PROJECT_PUBLISHED and "deadline" in data and data["deadline"] <= now:
        raise ProjectError("La nouvelle date limite doit être dans le futur.")
    before = {name: getattr(project, name) for name in PROJECT_FIELDS}
    _apply(project, data, milestones)
    project.updated_at = now
    changed = sorted(name for name in PROJECT_FIELDS if getattr(project, name) != before[name])
    if project.status == PROJECT_PUBLISHED and (changed or milestones is not None):
        log(session, project, buyer_actor(buyer), "modified", now, fields=changed)
    session.flush()


def closed_by_deadline(project: Project, now: datetime) -> bool:
    """Whether the project is published in the database while its deadline has passed: closed in fact, written so
    by the next step on it (refresh_status) or by close_due_projects."""
    return project.status == PROJECT_PUBLISHED and project.deadline <= now


def effective_status(project: Project, now: datetime) -> str:
    """The project's state now, read without writing: a published project whose deadline has passed is closed.
    What every page shows and decides with (a GET never writes the closure)."""
    return PROJECT_CLOSED if closed_by_deadline(project, now) else project.status


def effective_closed_at(project: Project, now: datetime) -> datetime | None:
    """When the project was closed, its deadline when it closed by itself and nothing has written it yet."""
    return project.deadline if closed_by_deadline(project, now) else project.closed_at


def _deadline_closure(project: Project) -> SourcingEvent:
    """The log line of a closure by the deadline (actor Vivier, at the deadline)."""
    return SourcingEvent(project_id=project.id, at=project.deadline, actor="Vivier", kind="closed",
                         detail={"reason": "date limite atteinte"})


def refresh_status(session: Session, project: Project, now: datetime) -> None:
    """A published project whose deadline has passed is closed (logged at its deadline). Written by the steps that
    change a project (POST requests) and by close_due_projects; pages read effective_status instead."""
    if closed_by_deadline(project, now):
        project.status, project.closed_at = PROJECT_CLOSED, project.deadline
        event = _deadline_closure(project)
        session.add(event)
        session.flush()


# The background job that writes the closure of every project whose deadline has passed (close_due_projects).
CLOSE_DUE_JOB = "projects-close-due"


def close_due_projects(session: Session, now: datetime | None = None) -> int:
    """Write the closure of every published project whose deadline has passed (the background worker's job: pages
    show it already, through effective_status); how many were closed."""
    now = now or utcnow()
    due = list(session.scalars(select(Project).where(Project.status == PROJECT_PUBLISHED, Project.deadline <= now)
                               .order_by(Project.id)))
    for project in due:
        refresh_status(session, project, now)
    return len(due)


def sourcing_log(session: Session, project: Project, now: datetime) -> list[SourcingEvent]:
    """The project's log as it stands now, read without writing: the stored events, and the closure by the deadline
    when nothing has written it yet (the line refresh_status will write, at the same place)."""
    stored = events(session, project)
    if not closed_by_deadline(project, now):
        return stored
    return sorted([*stored, _deadline_closure(project)], key=lambda e: e.at)


def _transition(project: Project, target: str) -> None:
    if target not in TRANSITIONS[project.status]:
        raise ProjectError(f"Passage impossible de l'état « {project.status} » à « {target} ».")


def publish(session: Session, project: Project, buyer: Buyer, now: datetime | None = None) -> None:
    now = now or utcnow()
    if not buyer.verified:
        raise ProjectError("Seuls les acheteurs vérifiés publient : votre adresse n'est pas encore vérifiée.")
    _transition(project, PROJECT_PUBLISHED)
    if project.deadline <= now:
        raise ProjectError("La date limite de réponse doit être dans le futur.")
    if not project.need.strip():
        raise ProjectError("Décrivez le besoin avant de publier.")
    project.status, project.published_at, project.updated_at = PROJECT_PUBLISHED, now, now
    log(session, project, buyer_actor(buyer), "published", now, deadline=project.deadline.isoformat())


def close(session: Session, project: Project, buyer: Buyer, now: datetime | None = None) -> None:
    """Close before the deadline (the buyer ends the sourcing); no proposal or question is accepted after."""
    now = now or utcnow()
    refresh_status(session, project, now)
    _transition(project, PROJECT_CLOSED)
    project.status, project.closed_at = PROJECT_CLOSED, now
    log(session, project, buyer_actor(buyer), "closed", now, reason="clôture par l'acheteur")


def archive(session: Session, project: Project, buyer: Buyer, now: datetime | None = None) -> None:
    now = now or utcnow()
    refresh_status(session, project, now)
    _transition(project, PROJECT_ARCHIVED)
    project.status = PROJECT_ARCHIVED
    log(session, project, buyer_actor(buyer), "archived", now)


def is_open(project: Project, now: datetime) -> bool:
    """Whether questions and proposals are accepted now."""
    return project.status == PROJECT_PUBLISHED and now < project.deadline


def search_text(project: Project) -> str:
    """What the matching searches with: the need in the buyer's words."""
    return "\n\n".join(x for x in (project.title, project.need, project.context) if x)


def record_matches(session: Session, project: Project, hits: Iterable[Any], now: datetime) -> None:
    """Keep the suppliers the search found for the project (Hit objects of indexer.backends.base) and log it."""
    project.matches = [{"id": hit.id, "slug": hit.document.slug, "name": hit.document.name,
                        "score": round(float(hit.score), 6)} for hit in hits][:MATCH_COUNT]
    log(session, project, "Vivier", "matched", now, suppliers=[m["name"] for m in project.matches])


def subscribers(session: Session, project: Project) -> list[Subscription]:
    """Subscriptions a newly published project concerns: a shared category or department, or a saved search all
    of whose words (analysed: plural, accents) are in the project's text."""
    from vivier.analysis import analyze

    project_terms = set(analyze(search_text(project)))
    found = []
    for subscription in session.scalars(select(Subscription).order_by(Subscription.id)):
        by_facet = (set(subscription.categories) & set(project.categories)
                    or set(subscription.departments) & set(project.departments))
        query_terms = set(analyze(subscription.query)) if subscription.query.strip() else set()
        if by_facet or (query_terms and query_terms <= project_terms):
            found.append(subscription)
    return found


def subscribe(session: Session, supplier: Supplier, email: str, categories: Sequence[str],
              departments: Sequence[str], query: str, now: datetime | None = None) -> Subscription:
    if not (categories or departments or query.strip()):
        raise ProjectError("Choisissez au moins une thématique, un département ou une recherche.")
    subscription = Subscription(supplier_id=supplier.id, email=email, categories=list(categories),
                                departments=list(departments), query=query.strip()[:500], created_at=now or utcnow())
    session.add(subscription)
    session.flush()
    return subscription


# -- questions ----------------------------------------------------------------------------------------------------
def ask(session: Session, project: Project, supplier: Supplier, email: str, text: str,
        now: datetime | None = None) -> Question:
    now = now or utcnow()
    refresh_status(session, project, now)
    if not is_open(project, now):
        raise ProjectError("Les questions sont closes : la date limite est passée ou le projet n'est pas publié.")
    if not text.strip():
        raise ProjectError("Écrivez votre question.")
    question = Question(project_id=project.id, supplier_id=supplier.id, email=email, text=text.strip(),
                        asked_at=now)
    session.add(question)
    session.flush()
    log(session, project, supplier_actor(supplier, email), "question", now, question_id=question.id)
    return question


def answer(session: Session, question: Question, project: Project, buyer: Buyer, text: str,
           now: datetime | None = None) -> None:
    """Publish the answer to everyone (the question shown without its author). Allowed until the project is
    archived: a late answer still helps every participant equally."""
    now = now or utcnow()
    if project.buyer_id != buyer.id or question.project_id != project.id:
        raise ProjectError("Seul l'acheteur du projet répond aux questions.")
    if project.status == PROJECT_ARCHIVED:
        raise ProjectError("Ce projet est archivé.")
    if not text.strip():
        raise ProjectError("Écrivez la réponse.")
    first = question.answer is None
    question.answer, question.answered_at = text.strip(), now
    log(session, project, buyer_actor(buyer), "answer" if first else "answer_modified", now,
        question_id=question.id)


def participants(session: Session, project: Project) -> list[str]:
    """Addresses of every supplier that asked or proposed: each answer goes to all of them."""
    asked = session.scalars(select(Question.email).where(Question.project_id == project.id))
    proposed = session.scalars(select(Proposal.email).where(Proposal.project_id == project.id))
    return sorted(set(asked) | set(proposed))


# -- proposals ----------------------------------------------------------------------------------------------------
def submit_proposal(session: Session, project: Project, supplier: Supplier, email: str, data: Mapping[str, Any],
                    now: datetime | None = None) -> Proposal:
    """Create or replace the supplier's sealed proposal, until the deadline."""
    now = now or utcnow()
    refresh_status(session, project, now)
    if not is_open(project, now):
        raise ProjectError("Les propositions sont closes : la date limite est passée ou le projet n'est pas publié.")
    if not project.variants_allowed:
        raise ProjectError("Ce projet n'admet pas de variantes.")
    if supplier.status not in SEARCHABLE_STATUSES:
        raise ProjectError("Seul un fournisseur référencé peut proposer une variante.")
    if not str(data.get("text") or "").strip():
        raise ProjectError("Décrivez votre proposition.")
    consent = {name: bool((data.get("consent") or {}).get(name)) for name in CONSENT_FIELDS}
    proposal = session.scalar(select(Proposal).where(Proposal.project_id == project.id,
                                                     Proposal.supplier_id == supplier.id))
    kind = "proposal_updated"
    if proposal is None:
        proposal = Proposal(project_id=project.id, supplier_id=supplier.id, created_at=now)
        session.add(proposal)
        kind = "proposal_received"
    proposal.email = email
    proposal.supplier_name = supplier.name[:200]  # kept with the project's record should the profile go
    proposal.text = str(data["text"]).strip()
    proposal.varied_requirement = str(data.get("varied_requirement") or "").strip()
    proposal.price_band = str(data.get("price_band") or "").strip()[:80] or None
    proposal.consent, proposal.updated_at = consent, now
    session.flush()
    log(session, project, supplier_actor(supplier, email), kind, now, proposal_id=proposal.id)
    return proposal


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a signed-in buyer, a supplier's editing session, or nobody (anonymous)."""

    buyer_id: int | None = None
    supplier_id: int | None = None


def may_read(proposal: Proposal, project: Project, viewer: Viewer) -> bool:
    """A proposal is sealed: its author and the project's buyer read it, nobody else (no operator either)."""
    return ((viewer.buyer_id is not None and viewer.buyer_id == project.buyer_id)
            or (viewer.supplier_id is not None and viewer.supplier_id == proposal.supplier_id))


def decide(session: Session, proposal: Proposal, project: Project, buyer: Buyer, decision: str, message: str,
           now: datetime | None = None) -> None:
    """The buyer's decision on a proposal, after the deadline (sealed until then: no early judgement)."""
    now = now or utcnow()
    refresh_status(session, project, now)
    if project.buyer_id != buyer.id or proposal.project_id != project.id:
        raise ProjectError("Seul l'acheteur du projet décide.")
    if now < project.deadline and project.status == PROJECT_PUBLISHED:
        raise ProjectError("Les décisions se prennent après la date limite de réponse.")
    if decision not in DECISIONS:
        raise ProjectError("Décision inconnue.")
    proposal.decision, proposal.decision_message, proposal.decided_at = decision, message.strip(), now
    log(session, project, buyer_actor(buyer), "decision", now, proposal_id=proposal.id, decision=decision)


def disclosed(proposal: Proposal, field_name: str) -> bool:
    return bool((proposal.consent or {}).get(field_name))


# -- attachments --------------------------------------------------------------------------------------------------
def attachment_kind(filename: str, data: bytes) -> str:
    """The accepted kind of a file from its bytes (ProjectError otherwise): PDF, DOCX, ODT, PNG or JPEG."""
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise ProjectError(f"Fichier trop volumineux : {MAX_ATTACHMENT_BYTES // (1024 * 1024)} Mo au plus.")
    if not data:
        raise ProjectError("Le fichier est vide.")
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(JPEG_MAGIC):
        return "jpg"
    try:
        kind = textfiles.detect_kind(filename, data)
    except textfiles.UnreadableDocument:  # its messages speak of searching by document (.txt is fine there)
        kind = None
    if kind not in ATTACHMENT_TYPES:
        raise ProjectError(REFUSED_TYPE)
    return kind


def safe_filename(filename: str, kind: str) -> str:
    """A download name: the original name's letters and digits, and the extension of what the file really is."""
    stem = Path(filename or "document").stem
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-")[:80] or "document"
    return f"{stem}.{kind}"


def store_attachment(session: Session, data_dir: Path, filename: str, data: bytes, *,
                     project: Project | None = None, proposal: Proposal | None = None,
                     now: datetime | None = None) -> Attachment:
    """Check and store a file under data_dir/attachments/<sha256> (never under a name it chose)."""
    kind = attachment_kind(filename, data)
    if proposal is not None:
        owner = Attachment.proposal_id == proposal.id
    elif project is not None:
        owner = Attachment.project_id == project.id
    else:
        raise ValueError("an attachment belongs to a project or a proposal")
    owner_count = session.scalar(select(func.count(Attachment.id)).where(owner)) or 0
    if owner_count >= MAX_ATTACHMENTS:
        raise ProjectError(f"{MAX_ATTACHMENTS} pièces jointes au plus.")
    digest = hashlib.sha256(data).hexdigest()
    folder = data_dir / "attachments"
    path = folder / digest
    if not path.exists():
        tmp = folder / f".{digest}.{secrets.token_hex(4)}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError as error:  # a full disk, a read-only volume: nothing half-written is kept
            tmp.unlink(missing_ok=True)
            raise StorageUnavailable("Le serveur ne peut pas enregistrer ce fichier pour le moment (espace de "
                                     "stockage indisponible) : rien n'a été perdu de ce qui était déjà "
                                     "enregistré ; réessayez plus tard ou sans ce fichier.") from error
    attachment = Attachment(project_id=project.id if project is not None and proposal is None else None,
                            proposal_id=proposal.id if proposal is not None else None,
                            filename=safe_filename(filename, kind), content_type=ATTACHMENT_TYPES[kind],
                            size=len(data), sha256=digest, uploaded_at=now or utcnow())
    session.add(attachment)
    session.flush()
    return attachment


def attachment_path(data_dir: Path, attachment: Attachment) -> Path:
    return data_dir / "attachments" / attachment.sha256


class StorageUnavailable(ProjectError):
    """A file could not be written (full disk): the form says so, with what was typed, and keeps nothing."""


# Files stored (or being stored) this recently are left alone by the sweep: an upload in flight has its file before
# its database row.
ORPHAN_GRACE = timedelta(hours=1)
# The background job that deletes attachment files no attachment row refers to any more (a removed attachment, a
# deleted proposal or project, an upload whose transaction failed).
SWEEP_JOB = "attachments-sweep"


def sweep_attachment_files(session: Session, data_dir: Path, now: datetime | None = None) -> int:
    """Delete the files under data_dir/attachments that no attachment refers to, and temporary files left by failed
    writes, older than ORPHAN_GRACE; how many were deleted. Files are stored by content (SHA-256): one referred to
    by any attachment stays."""
    folder = data_dir / "attachments"
    if not folder.is_dir():
        return 0
    cutoff = ((now or utcnow()) - ORPHAN_GRACE).replace(tzinfo=timezone.utc).timestamp()
    referred = set(session.scalars(select(Attachment.sha256)))
    deleted = 0
    for path in folder.iterdir():
        if path.name in referred or not path.is_file():
            continue
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except FileNotFoundError:  # another sweep took it
            continue
    return deleted


def remove_attachments(session: Session, proposal: Proposal, attachment_ids: Iterable[int]) -> int:
    """Delete those of the proposal's attachments (other ids are ignored); their files go once no attachment refers
    to them, by the sweep job queued here (files are stored by content: another proposal may share one). How many
    were deleted."""
    wanted = set(attachment_ids)
    if not wanted:
        return 0
    removed = [a for a in session.scalars(select(Attachment).where(Attachment.proposal_id == proposal.id))
               if a.id in wanted]
    for attachment in removed:
        session.delete(attachment)
    jobs.enqueue(session, SWEEP_JOB, delay=ORPHAN_GRACE)
    session.flush()
    return len(removed)


def discard_failed_uploads(session: Session) -> None:
    """After a failed store (rolled back): the files already written for it go with the next sweep."""
    jobs.enqueue(session, SWEEP_JOB)


# -- listing ------------------------------------------------------------------------------------------------------
def list_public_projects(session: Session, text: str = "", category: str | None = None,
                         department: str | None = None, status: str | None = None,
                         now: datetime | None = None) -> list[Project]:
    """Published, closed and archived projects, newest first, filtered by words of the title or need, a category,
    a department or a state (the state now: effective_status). Reads only."""
    now = now or utcnow()
    state = case((closed_by_deadline_clause(now), PROJECT_CLOSED), else_=Project.status)
    query = select(Project).where(Project.status.in_(PUBLIC_STATUSES))
    if status in PUBLIC_STATUSES:
        query = query.where(state == status)
    for word in re.findall(r"\w+", text)[:8]:
        pattern = f"%{word}%"
        query = query.where(or_(Project.title.ilike(pattern), Project.need.ilike(pattern)))
    projects = list(session.scalars(query.order_by(Project.published_at.desc(), Project.id.desc())))
    if category:
        projects = [p for p in projects if category in (p.categories or [])]
    if department:
        projects = [p for p in projects if department in (p.departments or [])]
    return projects


def closed_by_deadline_clause(now: datetime) -> Any:
    """closed_by_deadline as an SQL condition."""
    return (Project.status == PROJECT_PUBLISHED) & (Project.deadline <= now)


def buyer_projects(session: Session, buyer: Buyer) -> list[Project]:
    """A buyer's projects, every state, newest first."""
    return list(session.scalars(select(Project).where(Project.buyer_id == buyer.id)
                                .order_by(Project.created_at.desc(), Project.id.desc())))


def project_by_slug(session: Session, slug: str) -> Project | None:
    return session.scalar(select(Project).where(Project.slug == slug[:140]))


def project_attachments(session: Session, project: Project) -> list[Attachment]:
    """The preliminary studies' files (never a proposal's: those are sealed)."""
    return list(session.scalars(select(Attachment).where(Attachment.project_id == project.id,
                                                         Attachment.proposal_id.is_(None))
                                .order_by(Attachment.uploaded_at, Attachment.id)))


def project_attachment(session: Session, project: Project, attachment_id: int) -> Attachment | None:
    """One of the project's own files (None for a proposal's, another project's, or none)."""
    row = session.get(Attachment, attachment_id)
    if row is None or row.project_id != project.id or row.proposal_id is not None:
        return None
    return row


# -- matching -----------------------------------------------------------------------------------------------------
# Matching: the directory searched with the project's categories and departments; with fewer hits than this the
# territory is dropped (a good supplier elsewhere beats no supplier), the categories kept.
MIN_LOCAL_MATCHES = 3

# A search of the directory: (text, filters, how many) -> hits (objects with an `id`), best first.
SupplierSearch = Callable[[str, Mapping[str, list[str]], int], Sequence[Any]]


def match_suppliers(project: Project, search: SupplierSearch) -> list[Any]:
    """The directory's best suppliers for the project: searched with its words, categories and departments; when
    the territory gives fewer than MIN_LOCAL_MATCHES, the search is widened to every department (categories kept)
    and its new suppliers follow the local ones. The search's own errors go to the caller."""
    text = search_text(project)
    filters = {"category": list(project.categories or []), "department": list(project.departments or [])}
    hits = list(search(text, filters, MATCH_COUNT))
    if len(hits) < MIN_LOCAL_MATCHES and filters["department"]:
        wider = search(text, {"category": filters["category"]}, MATCH_COUNT)
        seen = {hit.id for hit in hits}
        hits += [hit for hit in wider if hit.id not in seen]
    return hits[:MATCH_COUNT]


def subscriber_addresses(session: Session, project: Project) -> list[str]:
    """Who is told of a newly published project: each subscribed address it concerns, once, oldest subscription
    first."""
    return list(dict.fromkeys(s.email for s in subscribers(session, project)))
