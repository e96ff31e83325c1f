"""What the participation pages read, and who is told of each step: a project's questions, its sealed proposals
and their files, a supplier's alerts, and the e-mails each step of the sourcing sends.

The rules themselves (deadline, equal treatment, sealed proposals, consent) are vivier.projects'; this module
names every query the pages run (search_app.purchasing.participation runs none of its own) and decides, for each
event, which addresses get which message (the web app writes the bodies from its templates and sends them).
Reads only, except delete_subscription.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vivier.models import Attachment, Buyer, Project, Proposal, Question, Subscription, Supplier
from vivier.projects import participants

# Message kinds (each has a subject and a body template in the web app: participation/mail/<kind>.txt).
QUESTION_RECEIVED = "question_received"
ANSWER_PUBLISHED = "answer_published"
PROPOSAL_RECEIVED = "proposal_received"
DECISION = "decision"


# -- questions ----------------------------------------------------------------------------------------------------
def project_questions(session: Session, project: Project) -> list[Question]:
    """Every question of the project, oldest first (answered or not: the page decides who sees which)."""
    return list(session.scalars(select(Question).where(Question.project_id == project.id)
                                .order_by(Question.asked_at, Question.id)))


def answered_questions(session: Session, project: Project) -> list[Question]:
    """The questions whose answer is published, oldest first."""
    return list(session.scalars(select(Question).where(Question.project_id == project.id,
                                                       Question.answer.is_not(None))
                                .order_by(Question.asked_at, Question.id)))


def project_question(session: Session, project: Project, question_id: int) -> Question | None:
    """The project's question of this id (None for another project's)."""
    question = session.get(Question, question_id)
    return question if question is not None and question.project_id == project.id else None


# -- proposals ----------------------------------------------------------------------------------------------------
def proposal_supplier_ids(session: Session, project: Project) -> list[int | None]:
    """The suppliers that proposed (None for a profile since removed), one per proposal."""
    return list(session.scalars(select(Proposal.supplier_id).where(Proposal.project_id == project.id)))


def proposals_with_names(session: Session, project: Project) -> list[tuple[Proposal, str]]:
    """The project's proposals, oldest first, each with its supplier's name (the name kept with the proposal when
    the profile is gone)."""
    rows = session.execute(select(Proposal, func.coalesce(Supplier.name, Proposal.supplier_name))
                           .outerjoin(Supplier, Supplier.id == Proposal.supplier_id)
                           .where(Proposal.project_id == project.id)
                           .order_by(Proposal.created_at, Proposal.id)).all()
    return [(proposal, name) for proposal, name in rows]


def own_proposal(session: Session, project: Project, supplier: Supplier) -> Proposal | None:
    """The supplier's proposal on the project, if any (one per supplier)."""
    return session.scalar(select(Proposal).where(Proposal.project_id == project.id,
                                                 Proposal.supplier_id == supplier.id))


def project_proposal(session: Session, project: Project, proposal_id: int) -> Proposal | None:
    """The project's proposal of this id (None for another project's); who may read it is vivier.projects.may_read."""
    proposal = session.get(Proposal, proposal_id)
    return proposal if proposal is not None and proposal.project_id == project.id else None


def proposal_supplier_name(session: Session, proposal: Proposal) -> str:
    """Its supplier's current name, or the name kept with the proposal when the profile is gone."""
    supplier = session.get(Supplier, proposal.supplier_id or 0)
    return supplier.name if supplier is not None else proposal.supplier_name


def proposal_attachments(session: Session, proposal: Proposal) -> list[Attachment]:
    return list(session.scalars(select(Attachment).where(Attachment.proposal_id == proposal.id)
                                .order_by(Attachment.id)))


def proposal_attachment(session: Session, proposal: Proposal, attachment_id: int) -> Attachment | None:
    """The proposal's file of this id (None for another's)."""
    stored = session.get(Attachment, attachment_id)
    return stored if stored is not None and stored.proposal_id == proposal.id else None


# -- alerts -------------------------------------------------------------------------------------------------------
def supplier_subscriptions(session: Session, supplier: Supplier) -> list[Subscription]:
    return list(session.scalars(select(Subscription).where(Subscription.supplier_id == supplier.id)
                                .order_by(Subscription.created_at, Subscription.id)))


def delete_subscription(session: Session, supplier: Supplier, subscription_id: int) -> bool:
    """Delete one of the supplier's alerts; False when it has none of this id (another supplier's included)."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or subscription.supplier_id != supplier.id:
        return False
    session.delete(subscription)
    session.flush()
    return True


# -- who is told --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Notice:
    """A message to send: its kind (subject and body template) and its recipients, each sent their own copy."""

    kind: str
    recipients: tuple[str, ...]


def question_notice(session: Session, project: Project) -> Notice:
    """A supplier asked: the project's buyer is told (never the other suppliers: the answer goes to all)."""
    buyer = session.get(Buyer, project.buyer_id)
    return Notice(QUESTION_RECEIVED, (buyer.email,) if buyer is not None else ())


def answer_notice(session: Session, project: Project) -> Notice:
    """An answer is published: every supplier that asked or proposed gets it (equal treatment)."""
    return Notice(ANSWER_PUBLISHED, tuple(participants(session, project)))


def proposal_notice(proposal: Proposal) -> Notice:
    """A proposal was saved: its author gets the receipt, at the address of the session that sent it."""
    return Notice(PROPOSAL_RECEIVED, (proposal.email,))


def decision_notice(proposal: Proposal) -> Notice:
    """The buyer decided on a proposal: its author is told."""
    return Notice(DECISION, (proposal.email,))
