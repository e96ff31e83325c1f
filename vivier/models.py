"""Domain model: the relational database is the source of truth; every search index is derived from it."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


# Profile statuses. Only these are visible in search; "hidden" is kept in the database but never indexed.
STATUS_CRAWLED = "crawled"
STATUS_SUBMITTED = "submitted"
STATUS_VERIFIED = "verified"
STATUS_HIDDEN = "hidden"
# Folded into another supplier found to be the same company; kept so that its old address can redirect.
STATUS_MERGED = "merged"
SEARCHABLE_STATUSES = (STATUS_CRAWLED, STATUS_SUBMITTED, STATUS_VERIFIED)

# Fields whose origin is tracked in FieldProvenance (the profile's public content).
PROVENANCE_FIELDS = (
    "name", "siren", "website", "pitch", "description", "categories", "keywords", "address", "postcode",
    "commune", "insee_code", "department", "latitude", "longitude", "size_band", "founded_year", "labels",
    "references", "offers", "interoperability", "contact_email", "contact_phone",
)


class Supplier(Base):
    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    siren: Mapped[str | None] = mapped_column(String(9), index=True)
    siret: Mapped[str | None] = mapped_column(String(14))
    website: Mapped[str | None] = mapped_column(String(500))
    website_domain: Mapped[str | None] = mapped_column(String(255), index=True)
    pitch: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[list[Any]] = mapped_column(default=list)
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    address: Mapped[str | None] = mapped_column(String(300))
    postcode: Mapped[str | None] = mapped_column(String(5))
    commune: Mapped[str | None] = mapped_column(String(150))
    insee_code: Mapped[str | None] = mapped_column(String(5))
    department: Mapped[str | None] = mapped_column(String(3), index=True)
    region: Mapped[str | None] = mapped_column(String(80))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    size_band: Mapped[str | None] = mapped_column(String(10))
    founded_year: Mapped[int | None] = mapped_column(Integer)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    references: Mapped[list[Any]] = mapped_column(default=list)
    offers: Mapped[list[Any]] = mapped_column(default=list)
    interoperability: Mapped[dict[str, Any]] = mapped_column(default=dict)
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default=STATUS_CRAWLED, index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    provenance: Mapped[list["FieldProvenance"]] = relationship(
        back_populates="supplier", cascade="all, delete-orphan", order_by="FieldProvenance.field"
    )
    records: Mapped[list["SourceRecord"]] = relationship(
        back_populates="supplier", cascade="all, delete-orphan", order_by="SourceRecord.id"
    )

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Supplier {self.id} {self.slug}>"


class SourceRecord(Base):
    """What one source says about one company (one directory page, one company site, one feed row).

    A supplier's fields are resolved from all its records (vivier.merge); keeping them lets a later crawl of any
    source, a change of source priority or a merge recompute the profile without harvesting again.
    """

    __tablename__ = "source_records"
    __table_args__ = (UniqueConstraint("source_name", "record_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_name: Mapped[str] = mapped_column(String(80))
    # Stable identity of the record within its source: the page URL, the site's seed URL, the feed row's key.
    record_key: Mapped[str] = mapped_column(String(1000))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"), index=True)
    url: Mapped[str | None] = mapped_column(String(1000))
    # The name this source gives: a company is matched by any of its names (brand on its site, legal name in a
    # registry), not only by the one its profile shows.
    name: Mapped[str] = mapped_column(String(200), default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # How the record came to this supplier (vivier.profiles.JOINED_*): it created it, it was seen before, the
    # company's own submission approved by an operator, or matched by website domain, SIREN or name. A record joined
    # by SIREN or name alone never replaces the name, website or contacts others give (vivier.merge.resolve) and
    # never proves who owns the profile (vivier.submissions.ownership_domain): a third party can type anyone's SIREN.
    joined_by: Mapped[str] = mapped_column(String(20), default="key", server_default="key")

    supplier: Mapped[Supplier] = relationship(back_populates="records")


class FieldProvenance(Base):
    """Where one field of a profile came from: which source, which page, first and last seen, and whether the
    profile shows this source's value (`chosen`) or another source's."""

    __tablename__ = "field_provenance"
    __table_args__ = (UniqueConstraint("supplier_id", "field", "source_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(40))
    source_name: Mapped[str] = mapped_column(String(80))
    url: Mapped[str | None] = mapped_column(String(1000))
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    chosen: Mapped[bool] = mapped_column(Boolean, default=False)

    supplier: Mapped[Supplier] = relationship(back_populates="provenance")


class Source(Base):
    """A place the crawler harvests: a directory site, a company site list, a sitemap, a feed."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(30), default="directory")
    start_url: Mapped[str] = mapped_column(String(1000))
    # Trust when sources disagree on a field (vivier.merge); None means the default of the source's kind.
    priority: Mapped[int | None] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    runs: Mapped[list["CrawlRun"]] = relationship(back_populates="source", cascade="all, delete-orphan")


class CrawlRun(Base):
    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="running")
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)

    source: Mapped[Source] = relationship(back_populates="runs")


class EmbeddingCache(Base):
    """A text's vector under one model, keyed by the text's content hash: a rebuild re-embeds only what changed."""

    __tablename__ = "embedding_cache"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- submissions, claims, moderation (a company's own profile, issue 6) ------------------------------------------
SUBMISSION_NEW = "new"  # a profile for a company Vivier does not list yet
SUBMISSION_UPDATE = "update"  # changes to a listed profile, by someone its claim verified
SUBMISSION_DELETION = "deletion"  # the company asks to be removed (hidden at once, deleted once an operator confirms)
SUBMISSION_KINDS = (SUBMISSION_NEW, SUBMISSION_UPDATE, SUBMISSION_DELETION)
REVIEW_PENDING = "pending"
REVIEW_APPROVED = "approved"
REVIEW_REJECTED = "rejected"

CLAIM_BY_DOMAIN = "domain"  # verified by a link sent to an address on the company's website domain
CLAIM_BY_OPERATOR = "operator"  # verified by an operator (the address is on another domain)
CLAIM_PENDING = "pending"
CLAIM_VERIFIED = "verified"
CLAIM_REJECTED = "rejected"

TOKEN_CLAIM = "claim"  # proves the address of a claim
TOKEN_EDIT = "edit"  # opens an editing session on one supplier


class Submission(Base):
    """What a company submitted, as submitted, and what moderation decided. Approved submissions are applied as the
    "submitted" source's record of the supplier (vivier.submissions); the rows stay as the profile's history."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="SET NULL"), index=True)
    # The supplier's name when submitted: the history stays readable after a deletion.
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default=REVIEW_PENDING, index=True)
    # Moderation's reason, sent to the company (required for a rejection).
    reason: Mapped[str] = mapped_column(Text, default="")
    # Applied changes: field -> [value before, value after].
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(String(254))


class Claim(Base):
    """An address allowed (once verified) to request editing links for a supplier."""

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    method: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=CLAIM_PENDING, index=True)
    message: Mapped[str] = mapped_column(Text, default="")  # what the claimant told the operator
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(String(254))


class AccessToken(Base):
    """A private link's token, stored hashed (SHA-256): the database never holds a usable link. Expires, and is
    used once (it then opens a session)."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(254))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"), index=True)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    # What the link's requester typed and may only apply by opening it (a buyer's organisation): whoever asks a link
    # for an address cannot change what that address's account says.
    pending_value: Mapped[str] = mapped_column(String(200), default="", server_default="")


class OutboxMessage(Base):
    """Every e-mail the site sends, kept: the SMTP server's copy may be lost, this one is the record (and, without
    SMTP settings, in development and tests, the only delivery)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # Extra headers the message carries (vivier.mail.EXTRA_HEADERS: a digest's List-Unsubscribe), or None.
    headers: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)


class Operator(Base):
    """A back-office account (created with `vivier operator create`); the password is stored as an Argon2 hash."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()
    # Part of every session cookie of this operator (search_app.extensions): a new value on sign-out, a password
    # change or a disabled account makes every copy of an older cookie worthless.
    session_token: Mapped[str] = mapped_column(String(64), default="", server_default="")


class SearchText(Base):
    """A long need (a pasted or uploaded specification) a search was asked with, kept for a day under its digest:
    the result page's links (pages, filters, exports) carry the digest, never the text (a 30,000-character query in
    every link made 4 MB pages and URLs servers refuse). Anonymous: no address, no session, no user is kept."""

    __tablename__ = "search_texts"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Job(Base):
    """Slow work a web request leaves to the background worker (vivier.jobs): an e-mail to deliver, a private link
    to send, an index update. A request only writes the row; `vivier worker` runs it, retries it, records errors."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_after: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Which worker runs it (host:pid:random): a job is taken by one UPDATE that only one worker can win.
    taken_by: Mapped[str | None] = mapped_column(String(120))
    error: Mapped[str | None] = mapped_column(Text)


class Suppression(Base):
    """A company removed at its request: crawled records matching it (SIREN, website domain, or name in the same
    town) are dropped by future crawls."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The deleted supplier's id (not a foreign key: the row is gone): index updates remove it from search.
    supplier_id: Mapped[int | None] = mapped_column(Integer)
    name_key: Mapped[str] = mapped_column(String(200), index=True)
    commune: Mapped[str | None] = mapped_column(String(150))
    siren: Mapped[str | None] = mapped_column(String(9), index=True)
    website_domain: Mapped[str | None] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# -- purchase projects (projets d'achat), questions, variant proposals, sourcing log (issue 7) -------------------
BUYER_BY_DOMAIN = "domain"  # an address on an allow-listed public-sector domain
BUYER_BY_OPERATOR = "operator"  # validated by hand

PROJECT_DRAFT = "draft"
PROJECT_PUBLISHED = "published"
PROJECT_CLOSED = "closed"
PROJECT_ARCHIVED = "archived"
PROJECT_STATUSES = (PROJECT_DRAFT, PROJECT_PUBLISHED, PROJECT_CLOSED, PROJECT_ARCHIVED)

# The contract models of the French public-procurement code a project may lead to.
CONTRACT_MODELS: dict[str, str] = {
    "accord-cadre": "Accord-cadre",
    "marche-public": "Marché public",
    "mpgp": "Marché public global de performance (MPGP)",
    "concession": "Concession / délégation de service public",
    "centrale-achat": "Centrale d'achat",
    "groupement": "Groupement de commandes",
}

DECISION_RETAINED = "retenue"
DECISION_NOT_RETAINED = "non-retenue"
DECISION_FURTHER = "a-approfondir"
DECISIONS: dict[str, str] = {DECISION_RETAINED: "Retenue", DECISION_NOT_RETAINED: "Non retenue",
                             DECISION_FURTHER: "À approfondir"}


class Buyer(Base):
    """A public buyer, known by its address (magic links, no password). Only a verified buyer publishes."""

    __tablename__ = "buyers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    organisation: Mapped[str] = mapped_column(String(200), default="")
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_by: Mapped[str | None] = mapped_column(String(254))  # BUYER_BY_DOMAIN or an operator's address
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column()


class BuyerDomain(Base):
    """An operator-maintained allow-list of public-sector e-mail domains (a town's, a region's...): an address on
    one of them is a verified buyer at once."""

    __tablename__ = "buyer_domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    organisation: Mapped[str] = mapped_column(String(200), default="")
    added_by: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Project(Base):
    """A buyer's purchase project, published for sourcing before any tender."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(140), unique=True, index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    need: Mapped[str] = mapped_column(Text, default="")
    context: Mapped[str] = mapped_column(Text, default="")
    studies: Mapped[str] = mapped_column(Text, default="")  # preliminary studies, in words (files are attachments)
    social_criteria: Mapped[str] = mapped_column(Text, default="")
    environmental_criteria: Mapped[str] = mapped_column(Text, default="")
    variants_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    variant_requirements: Mapped[str] = mapped_column(Text, default="")  # minimum requirements of a variant
    budget_band: Mapped[str | None] = mapped_column(String(80))
    show_budget: Mapped[bool] = mapped_column(Boolean, default=False)
    contract_model: Mapped[str] = mapped_column(String(30))
    departments: Mapped[list[Any]] = mapped_column(default=list)
    categories: Mapped[list[Any]] = mapped_column(default=list)
    deadline: Mapped[datetime] = mapped_column()  # responses until then (UTC)
    status: Mapped[str] = mapped_column(String(20), default=PROJECT_DRAFT, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # Best-matching suppliers found at publication: [{"id", "slug", "name", "score"}].
    matches: Mapped[list[Any]] = mapped_column(default=list)

    milestones: Mapped[list["Milestone"]] = relationship(cascade="all, delete-orphan", order_by="Milestone.date")


class Milestone(Base):
    """A dated step of the project's retro-planning."""

    __tablename__ = "milestones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    date: Mapped[datetime] = mapped_column()
    label: Mapped[str] = mapped_column(String(200))


class Attachment(Base):
    """A file of a project (preliminary studies) or of a proposal, stored under the data directory by its
    SHA-256 (never by the name it came with)."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Question(Base):
    """A supplier's question on a project; published with the buyer's answer, without the asker's name."""

    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="SET NULL"))
    email: Mapped[str] = mapped_column(String(254))
    text: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column()


class Proposal(Base):
    """A supplier's variant proposal: sealed (its author and the project's buyer only), editable until the
    deadline, then decided by the buyer."""

    __tablename__ = "proposals"
    __table_args__ = (UniqueConstraint("project_id", "supplier_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    # None once the supplier's profile is deleted at its request: a received proposal belongs to the project's
    # record (the buyer received it, the log says so), and stays there under supplier_name.
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="SET NULL"), index=True)
    supplier_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    email: Mapped[str] = mapped_column(String(254))  # the verified address that submitted it
    text: Mapped[str] = mapped_column(Text)
    varied_requirement: Mapped[str] = mapped_column(Text, default="")  # which requirement the variant changes
    price_band: Mapped[str | None] = mapped_column(String(80))
    # Field -> whether the supplier consents to its disclosure (business secrets stay sealed otherwise).
    consent: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(20))
    decision_message: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column()


class SourcingEvent(Base):
    """One line of a project's sourcing log: what happened, when, who did it. Written by vivier.projects only,
    never updated: the log a buyer shows an auditor."""

    __tablename__ = "sourcing_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(300))  # "acheteur : x@ville.fr", "fournisseur : Tri Connect", ...
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Subscription(Base):
    """A supplier's wish to hear of new projects: by categories and departments, or a saved search."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    categories: Mapped[list[Any]] = mapped_column(default=list)
    departments: Mapped[list[Any]] = mapped_column(default=list)
    query: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Kinds of purchasing bodies whose referenced offers a buyer may order without a tender of its own.
CENTRAL_KINDS = {
    "centrale": "Centrale d'achat",
    "accord-cadre": "Accord-cadre",
    "catalogue": "Catalogue de services",
}


class PurchasingCentral(Base):
    """A purchasing central, a framework-agreement holder or a public body selling service packs from a catalogue:
    its members order the offers it references without running a tender of their own."""

    __tablename__ = "purchasing_centrals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # a key of CENTRAL_KINDS
    description: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str | None] = mapped_column(String(500))
    # Who may order: its members in words ("les communes membres de l'intercommunale") and the departments it serves.
    members: Mapped[str] = mapped_column(Text, default="")
    departments: Mapped[list[Any]] = mapped_column(default=list)
    # How ordering works: lead time, minimum order, membership fee ("commande sous 20 jours").
    ordering: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    referencings: Mapped[list["Referencing"]] = relationship(
        back_populates="central", cascade="all, delete-orphan", order_by="Referencing.id")


class Referencing(Base):
    """One supplier offer referenced by a central for a lot or theme, between two dates. Active while today lies
    between start and end (inclusive) and no operator ended it early: expiry needs no job, it is read with the
    clock (vivier.centrals)."""

    __tablename__ = "referencings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    central_id: Mapped[int] = mapped_column(ForeignKey("purchasing_centrals.id", ondelete="CASCADE"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"), index=True)
    theme: Mapped[str] = mapped_column(String(40))  # a taxonomy category code
    lot: Mapped[str] = mapped_column(String(200), default="")  # "Lot 3 : capteurs de remplissage"
    contract_type: Mapped[str] = mapped_column(String(60))  # "accord-cadre multi-attributaires", "catalogue", ...
    # The offer as referenced: its name (one of the supplier's offers, or a pack of the central's catalogue), scope,
    # price band, equipment, tiers {"basic", "medium", "complex"} and interoperability facts.
    offer: Mapped[dict[str, Any]] = mapped_column(default=dict)
    start_date: Mapped[date] = mapped_column()
    end_date: Mapped[date] = mapped_column(index=True)
    conditions: Mapped[str] = mapped_column(Text, default="")
    # Who may order under this referencing when narrower than the central's members: words and departments.
    eligible: Mapped[str] = mapped_column(Text, default="")
    eligible_departments: Mapped[list[Any]] = mapped_column(default=list)
    ended_at: Mapped[datetime | None] = mapped_column()  # ended early by an operator
    created_by: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    central: Mapped[PurchasingCentral] = relationship(back_populates="referencings")
    supplier: Mapped[Supplier] = relationship()


class SearchDay(Base):
    """How many searches were made on one day (UTC): a count, nothing about who searched or what."""

    __tablename__ = "search_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    searches: Mapped[int] = mapped_column(Integer, default=0)


class SearchAlert(Base):
    """An e-mail alert on a saved search (issue 21): no account, double opt-in. The address confirms it by a one-time
    link (its token stored hashed); unconfirmed alerts are deleted after a few days; every e-mail carries a link that
    removes it (vivier.alerts). The background worker mails the suppliers that newly match, or whose profile changed,
    since the last e-mail."""

    __tablename__ = "search_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    # The search as vivier.alerts.SavedSearch normalises it; `search_key` is its digest (one alert per address and
    # search).
    query: Mapped[str] = mapped_column(String(1500), default="")
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    place: Mapped[str] = mapped_column(String(100), default="")
    radius_km: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(10), default="hybrid")
    exact: Mapped[bool] = mapped_column(Boolean, default=False)
    include_weak: Mapped[bool] = mapped_column(Boolean, default=False)
    search_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(index=True)
    # Random, part of the unsubscribe link's HMAC: a link made for a deleted alert never removes a later one that got
    # the same id.
    unsubscribe_nonce: Mapped[str] = mapped_column(String(32))
    # What was mailed: when (or, before the first e-mail, when the buyer saw the results), and the suppliers already
    # matched (None until the worker's first run: those matching then were on the page the buyer saw).
    last_notified_at: Mapped[datetime] = mapped_column(default=utcnow)
    notified_ids: Mapped[list[Any] | None] = mapped_column(default=None)
    last_checked_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (UniqueConstraint("email", "search_key", name="uq_search_alerts_email_search"),)
