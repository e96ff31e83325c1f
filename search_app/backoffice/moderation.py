"""Moderation back-office: operators sign in, review what companies submitted, claims made by addresses off the
company's domain, hide profiles, and see where every field came from.

Every decision goes through vivier.submissions (the rules live there, and they queue the search index's update for
the background worker); these views commit, tell the company by e-mail (queued too, vivier.mail) and log the
operator's address.
Nothing here is for search engines or caches: every response says noindex and no-store.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.exceptions import HTTPException
from wtforms import EmailField, PasswordField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from indexer.backends.base import IndexNotReady, SearchUnavailable
from search_app import context
from search_app.extensions import OperatorUser, external_url, limiter, private_headers
from search_app.forms import FrenchFlaskForm, without_controls
from search_app.public import suppliers as public_pages
from vivier import submissions
from vivier.identifiers import website_domain
from vivier.mail import send_mail
from vivier.models import (CLAIM_BY_OPERATOR, CLAIM_PENDING, PROVENANCE_FIELDS, REVIEW_APPROVED, REVIEW_PENDING,
                           REVIEW_REJECTED, SEARCHABLE_STATUSES, SUBMISSION_DELETION, SUBMISSION_KINDS,
                           SUBMISSION_NEW, SUBMISSION_UPDATE, Claim, Operator, Submission, Supplier)
from vivier.operators import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, authenticate, end_sessions
from vivier.profiles import find_matches

bp = Blueprint("moderation", __name__, url_prefix="/moderation")

# Sign-in attempts per client address: enough for typos, far too few to guess a 12-character password.
LOGIN_RATE_LIMIT = "5 per minute"
# The same words whatever failed (unknown address, wrong password, disabled account): it tells nothing away.
LOGIN_ERROR = "Adresse ou mot de passe incorrect."
# A refusal's reason is read by the company in an e-mail: a few paragraphs at most.
MAX_REASON_LENGTH = 2000
# The queue shows this many of each list, oldest first; the counts say how many wait in all.
QUEUE_LIMIT = 200
# Latest decisions shown under the queue (the log operators read back).
RECENT_DECISIONS = 20
# Listed suppliers a new profile may duplicate, from the search index (by what it does, not only its name).
SIMILAR_COUNT = 5
# Results of the supplier lookup by name.
LOOKUP_LIMIT = 20
LOOKUP_MAX_CHARS = 100

# The public page's field names, and the region a submission's postcode gives.
FIELD_LABELS = {**public_pages.FIELD_LABELS, "region": "Région"}
# Fields are listed in the profile's order (name first, contacts last), not alphabetically by identifier.
FIELD_RANK = {field: rank for rank, field in enumerate((*PROVENANCE_FIELDS, "region"))}
# French names of the keys inside offers, references and interoperability, in the order they are shown (the pages
# showed « client : … ; object : … ; year »).
ENTRY_LABELS = {
    "name": "Nom", "client": "Client", "object": "Objet", "year": "Année", "scope": "Périmètre",
    "price_band": "Fourchette de prix", "equipment": "Matériel", "tiers": "Paliers", "basic": "Basique",
    "medium": "Intermédiaire", "complex": "Complexe", "standards": "Standards", "api": "API",
    "data_export": "Export des données", "licence": "Licence libre",
}
ENTRY_RANK = {key: rank for rank, key in enumerate(ENTRY_LABELS)}
KIND_LABELS = {SUBMISSION_NEW: "Nouvelle fiche", SUBMISSION_UPDATE: "Modification", SUBMISSION_DELETION: "Suppression"}
REVIEW_LABELS = {REVIEW_PENDING: "en attente", REVIEW_APPROVED: "approuvée", REVIEW_REJECTED: "refusée"}
STATUS_LABELS = {"crawled": "collectée", "submitted": "proposée", "verified": "vérifiée", "hidden": "masquée",
                 "merged": "fusionnée"}
CLAIM_STATUS_LABELS = {"pending": "en attente", "verified": "vérifiée", "rejected": "refusée"}
CLAIM_METHOD_LABELS = {"domain": "lien envoyé sur le domaine du site", "operator": "décision d'un opérateur"}
# Why find_matches paired a new profile with a listed supplier (approval attaches the profile to it).
MATCH_REASONS = {"siren": "même SIREN", "domain": "même domaine de site internet",
                 "name": "nom proche dans la même commune"}
# E-mail subjects, by decision; the bodies are the templates moderation/mail/*.txt.
APPROVED_SUBJECTS = {SUBMISSION_NEW: "Votre fiche est publiée sur Vivier",
                     SUBMISSION_UPDATE: "Vos modifications sont en ligne sur Vivier",
                     SUBMISSION_DELETION: "Votre fiche a été supprimée de Vivier"}
REJECTED_SUBJECT = "Votre demande sur Vivier n'a pas été acceptée"
CLAIM_SUBJECTS = {True: "Votre adresse peut modifier la fiche sur Vivier",
                  False: "Votre demande de gestion de fiche sur Vivier n'a pas été acceptée"}
# The public page where a verified address asks for an editing link (search_app/companies/editing.py).
REQUEST_LINK_ENDPOINT = "profiles.request_link"


class LoginForm(FrenchFlaskForm):
    email = EmailField("Adresse électronique", validators=[
        DataRequired("Indiquez votre adresse électronique."), Length(max=MAX_EMAIL_LENGTH)])
    password = PasswordField("Mot de passe", validators=[
        DataRequired("Indiquez votre mot de passe."), Length(max=MAX_PASSWORD_LENGTH)])


class RejectForm(FrenchFlaskForm):
    reason = TextAreaField("Motif du refus (envoyé à l'entreprise)", validators=[
        DataRequired("Indiquez le motif du refus : il est envoyé à l'entreprise."),
        Length(max=MAX_REASON_LENGTH, message=f"Le motif dépasse {MAX_REASON_LENGTH} caractères.")])


class ClaimRefuseForm(FrenchFlaskForm):
    reason = TextAreaField("Motif (facultatif, envoyé à la personne)", validators=[
        Optional(), Length(max=MAX_REASON_LENGTH, message=f"Le motif dépasse {MAX_REASON_LENGTH} caractères.")])


# -- plumbing ---------------------------------------------------------------------------------------------------
def _get_or_404(db: Session, model, row_id: int):
    row = db.get(model, row_id)
    if row is None:
        abort(404)
    return row


def _log(action: str, target: str) -> None:
    current_app.logger.info("moderation: %s %s %s", current_user.email, action, target)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: the page asked for if it is a back-office page one may GET, else the queue
    (never another site, never a POST-only action)."""
    fallback = url_for("moderation.queue")
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(bp.url_prefix + "/") or "\\" in target:  # type: ignore[operator]
        return fallback
    try:
        current_app.url_map.bind("localhost").match(parts.path, method="GET")
    except HTTPException:
        return fallback
    return target


def edit_link_request_url(slug: str) -> str:
    """The public page where a verified address asks for an editing link, as an absolute address for an e-mail."""
    if REQUEST_LINK_ENDPOINT in current_app.view_functions:
        return external_url(REQUEST_LINK_ENDPOINT, slug=slug)
    base = context.settings().base_url or request.url_root.rstrip("/")
    return f"{base}/fournisseurs/{slug}/modifier/lien"


bp.after_request(private_headers)  # personal data (submitters' addresses): not for search engines, not for caches


@bp.context_processor
def labels():
    return {"kind_labels": KIND_LABELS, "review_labels": REVIEW_LABELS, "status_labels": STATUS_LABELS,
            "claim_status_labels": CLAIM_STATUS_LABELS, "claim_method_labels": CLAIM_METHOD_LABELS,
            "field_labels": FIELD_LABELS, "in_display_order": in_display_order, "entry_labels": ENTRY_LABELS,
            "entries_in_order": entries_in_order}


def in_display_order(by_field: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(field, value) pairs in the profile's order; unknown fields last, by name."""
    return sorted(by_field.items(), key=lambda pair: (FIELD_RANK.get(pair[0], len(FIELD_RANK)), pair[0]))


def entries_in_order(entry: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """An offer's or a reference's (key, value) pairs in ENTRY_LABELS' order; unknown keys last, by name."""
    return sorted(entry.items(), key=lambda pair: (ENTRY_RANK.get(pair[0], len(ENTRY_RANK)), pair[0]))


# -- what the pages show ----------------------------------------------------------------------------------------
def requested_changes(current: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, list[Any]]:
    """field -> [public value, submitted value] for the fields the submission gives and changes. A field it
    leaves empty is not a change: empty values never erase (the other sources' value stays)."""
    return submissions.changes_between({field: current.get(field) for field in data}, data)


def provenance_by_field(supplier: Supplier | None) -> dict[str, list]:
    provenance: dict[str, list] = {}
    for record in supplier.provenance if supplier is not None else []:
        provenance.setdefault(record.field, []).append(record)
    return provenance


def supplier_history(db: Session, supplier_id: int | None, exclude: int | None = None) -> list[Submission]:
    """The supplier's submissions, newest first: what was asked, what changed, who decided, why."""
    if supplier_id is None:
        return []
    query = select(Submission).where(Submission.supplier_id == supplier_id)
    if exclude is not None:
        query = query.where(Submission.id != exclude)
    return list(db.scalars(query.order_by(Submission.created_at.desc(), Submission.id.desc())))


def identity_matches(db: Session, data: Mapping[str, Any]) -> list[tuple[Supplier, str]]:
    """Listed suppliers a new profile would be attached to on approval (vivier.profiles.find_matches), with why:
    approving then completes that profile and lets the submitter edit it."""
    found: dict[int, tuple[Supplier, str]] = {}
    record = {**data, "website_domain": website_domain(data.get("website"))}
    for key, supplier in find_matches(db, record).items():
        found.setdefault(supplier.id, (supplier, MATCH_REASONS[key]))
    return sorted(found.values(), key=lambda pair: pair[0].id)


def similar_in_search(data: Mapping[str, Any], exclude: set[str]) -> list:
    """Listed suppliers that do something close (the public search on the name and pitch); none if the search is
    not available, the page still works."""
    text = " ".join(str(data.get(field) or "") for field in ("name", "pitch")).strip()
    if not text:
        return []
    try:
        response = current_app.extensions["vivier"]["search"].search(text, per_page=SIMILAR_COUNT + len(exclude))
    except (IndexNotReady, SearchUnavailable):
        return []
    return [hit.document for hit in response.hits if hit.id not in exclude][:SIMILAR_COUNT]


def submission_context(db: Session, submission: Submission) -> dict[str, Any]:
    supplier = db.get(Supplier, submission.supplier_id) if submission.supplier_id else None
    context: dict[str, Any] = {"submission": submission, "supplier": supplier, "matches": [], "similar": [],
                               "provenance": provenance_by_field(supplier),
                               "history": supplier_history(db, submission.supplier_id, exclude=submission.id)}
    if submission.status == REVIEW_APPROVED:
        context["diff"] = submission.changes
    elif submission.kind == SUBMISSION_UPDATE and supplier is not None:
        context["diff"] = requested_changes(submissions.public_fields(supplier), submission.data)
    else:
        context["diff"] = {}
    context["identity"] = submissions.identity_changes(db, submission) if submission.status == REVIEW_PENDING else []
    context["proposals"] = (submissions.received_proposals(db, supplier)
                            if supplier is not None and submission.kind == SUBMISSION_DELETION else 0)
    if submission.kind == SUBMISSION_NEW and submission.status == REVIEW_PENDING:
        context["matches"] = identity_matches(db, submission.data)
        context["similar"] = similar_in_search(submission.data, {str(s.id) for s, _ in context["matches"]})
    return context


def render_submission(db: Session, submission: Submission, reject_form: RejectForm | None = None, status: int = 200):
    return render_template("moderation/submission.html", reject_form=reject_form or RejectForm(),
                           **submission_context(db, submission)), status


# -- sign-in ----------------------------------------------------------------------------------------------------
@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit(LOGIN_RATE_LIMIT, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("moderation/login.html", form=form, error=None), status
    with context.database().session() as db:
        operator = authenticate(db, form.email.data, form.password.data)
        user = OperatorUser(operator.id, operator.email, operator.session_token) if operator is not None else None
    if user is None:
        current_app.logger.info("moderation: failed sign-in from %s", request.remote_addr)
        return render_template("moderation/login.html", form=form, error=LOGIN_ERROR), 200
    login_user(user)
    current_app.logger.info("moderation: %s signed in", user.email)
    return redirect(safe_next(request.args.get("next")))


@bp.post("/deconnexion")
@login_required
def logout():
    _log("signed out", "")
    with context.database().session() as db:  # every copy of this operator's session cookie stops working
        operator = db.get(Operator, current_user.id)
        if operator is not None:
            end_sessions(operator)
    logout_user()
    flash("Vous êtes déconnecté.", "succes")
    return redirect(url_for("moderation.login"))


# -- queue ------------------------------------------------------------------------------------------------------
@bp.get("/")
@login_required
def queue():
    with context.database().session() as db:
        pending = list(db.scalars(select(Submission).where(Submission.status == REVIEW_PENDING)
                                  .order_by(Submission.created_at, Submission.id).limit(QUEUE_LIMIT)))
        counts = dict(db.execute(select(Submission.kind, func.count(Submission.id))
                                 .where(Submission.status == REVIEW_PENDING).group_by(Submission.kind)).all())
        claim_filter = (Claim.status == CLAIM_PENDING, Claim.method == CLAIM_BY_OPERATOR)
        claims = list(db.execute(select(Claim, Supplier).join(Supplier, Supplier.id == Claim.supplier_id)
                                 .where(*claim_filter).order_by(Claim.created_at, Claim.id).limit(QUEUE_LIMIT)))
        claim_count = db.scalar(select(func.count(Claim.id)).where(*claim_filter))
        decided = list(db.scalars(select(Submission).where(Submission.status != REVIEW_PENDING)
                                  .order_by(Submission.decided_at.desc(), Submission.id.desc())
                                  .limit(RECENT_DECISIONS)))
    return render_template("moderation/queue.html", pending=pending, claims=claims, decided=decided,
                           counts={kind: counts.get(kind, 0) for kind in SUBMISSION_KINDS},
                           claim_count=claim_count)


# -- submissions ------------------------------------------------------------------------------------------------
@bp.get("/soumissions/<int:submission_id>")
@login_required
def submission(submission_id: int):
    with context.database().session() as db:
        return render_submission(db, _get_or_404(db, Submission, submission_id))


@bp.post("/soumissions/<int:submission_id>/approuver")
@login_required
def approve(submission_id: int):
    # A deleted supplier leaves the index through its suppression record (indexer.build.update_index).
    settings = context.settings()
    with context.database().session() as db:
        row = _get_or_404(db, Submission, submission_id)
        identity = submissions.identity_changes(db, row)
        try:
            supplier = submissions.approve(db, row, current_user.email,
                                       confirm_identity=request.form.get("confirmer_identite") == "1")
        except submissions.ModerationError as error:
            flash(f"Impossible d'approuver : {error}.", "erreur")
            return redirect(url_for("moderation.submission", submission_id=submission_id))
        links = {}
        if supplier is not None:
            links = {"profile": external_url("suppliers.detail", slug=supplier.slug),
                     "edit": edit_link_request_url(supplier.slug)}
        body = render_template("moderation/mail/submission_approved.txt", submission=row, supplier=supplier,
                               links=links)
        send_mail(db, settings, row.email, APPROVED_SUBJECTS[row.kind], body)
        db.commit()
        kind = row.kind
    _log("approved", f"submission {submission_id} ({kind})")
    if identity:  # a merge or a change of who a profile is: in the operators' log, with what was confirmed
        _log("confirmed an identity change", f"submission {submission_id}: {' ; '.join(identity)}")
    flash(f"Demande n° {submission_id} approuvée ; l'entreprise en est informée.", "succes")
    return redirect(url_for("moderation.queue"))


@bp.post("/soumissions/<int:submission_id>/refuser")
@login_required
def reject(submission_id: int):
    form = RejectForm()
    settings = context.settings()
    with context.database().session() as db:
        row = _get_or_404(db, Submission, submission_id)
        if not form.validate():
            return render_submission(db, row, reject_form=form, status=400)
        try:
            submissions.reject(db, row, current_user.email, form.reason.data)
        except submissions.ModerationError as error:
            flash(f"Impossible de refuser : {error}.", "erreur")
            return redirect(url_for("moderation.submission", submission_id=submission_id))
        body = render_template("moderation/mail/submission_rejected.txt", submission=row)
        send_mail(db, settings, row.email, REJECTED_SUBJECT, body)
        db.commit()
        kind = row.kind
    _log("rejected", f"submission {submission_id} ({kind})")
    flash(f"Demande n° {submission_id} refusée ; le motif est envoyé à l'entreprise.", "succes")
    return redirect(url_for("moderation.queue"))


# -- claims -----------------------------------------------------------------------------------------------------
def _claim_page(db: Session, claim: Claim, refuse_form: ClaimRefuseForm | None = None, status: int = 200):
    supplier = db.get(Supplier, claim.supplier_id)
    others = list(db.scalars(select(Claim).where(Claim.supplier_id == claim.supplier_id, Claim.id != claim.id)
                             .order_by(Claim.created_at.desc())))
    return render_template("moderation/claim.html", claim=claim, supplier=supplier, others=others,
                           email_domain=submissions.email_domain(claim.email),
                           refuse_form=refuse_form or ClaimRefuseForm()), status


@bp.get("/revendications/<int:claim_id>")
@login_required
def claim(claim_id: int):
    with context.database().session() as db:
        return _claim_page(db, _get_or_404(db, Claim, claim_id))


def _decide_claim(claim_id: int, accept: bool, reason: str = "", form: ClaimRefuseForm | None = None):
    settings = context.settings()
    with context.database().session() as db:
        row = _get_or_404(db, Claim, claim_id)
        if form is not None and not form.validate():
            return _claim_page(db, row, refuse_form=form, status=400)
        try:
            submissions.decide_claim(db, row, current_user.email, accept)
        except submissions.ModerationError as error:
            flash(f"Impossible de décider : {error}.", "erreur")
            return redirect(url_for("moderation.claim", claim_id=claim_id))
        supplier = db.get(Supplier, row.supplier_id)
        if supplier is None:  # removed while the claim waited: nothing to decide on
            abort(404)
        body = render_template("moderation/mail/claim_decided.txt", claim=row, supplier=supplier, accepted=accept,
                               reason=reason.strip(), edit_url=edit_link_request_url(supplier.slug))
        send_mail(db, settings, row.email, CLAIM_SUBJECTS[accept], body)
        db.commit()
    _log("accepted" if accept else "refused", f"claim {claim_id}")
    flash(f"Revendication n° {claim_id} {'acceptée' if accept else 'refusée'} ; la personne en est informée.",
          "succes")
    return redirect(url_for("moderation.queue"))


@bp.post("/revendications/<int:claim_id>/accepter")
@login_required
def accept_claim(claim_id: int):
    return _decide_claim(claim_id, accept=True)


@bp.post("/revendications/<int:claim_id>/refuser")
@login_required
def refuse_claim(claim_id: int):
    form = ClaimRefuseForm()
    return _decide_claim(claim_id, accept=False, reason=form.reason.data or "", form=form)


# -- suppliers --------------------------------------------------------------------------------------------------
@bp.get("/fournisseurs")
@login_required
def suppliers():
    """Find a profile by name (any status, hidden ones too) to open its moderation page."""
    text = without_controls(request.args.get("q", "")).strip()[:LOOKUP_MAX_CHARS]
    found: list[Supplier] = []
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with context.database().session() as db:
            found = list(db.scalars(select(Supplier).where(Supplier.name.ilike(pattern, escape="\\"))
                                    .order_by(Supplier.name, Supplier.id).limit(LOOKUP_LIMIT)))
    return render_template("moderation/suppliers.html", text=text, found=found, limit=LOOKUP_LIMIT)


@bp.get("/fournisseurs/<slug>")
@login_required
def supplier(slug: str):
    with context.database().session() as db:
        row = db.scalar(select(Supplier).options(selectinload(Supplier.provenance), selectinload(Supplier.records))
                        .where(Supplier.slug == slug[:120]))
        if row is None:
            abort(404)
        claims = list(db.scalars(select(Claim).where(Claim.supplier_id == row.id).order_by(Claim.created_at.desc())))
        return render_template("moderation/supplier.html", supplier=row, provenance=provenance_by_field(row),
                               history=supplier_history(db, row.id), claims=claims,
                               searchable=row.status in SEARCHABLE_STATUSES)


@bp.post("/fournisseurs/<slug>/masquer")
@login_required
def hide(slug: str):
    with context.database().session() as db:
        row = db.scalar(select(Supplier).where(Supplier.slug == slug[:120]))
        if row is None:
            abort(404)
        if row.status not in SEARCHABLE_STATUSES:  # hidden already, or merged (its address must keep redirecting)
            flash("Cette fiche n'apparaît déjà pas dans la recherche.", "erreur")
            return redirect(url_for("moderation.supplier", slug=slug))
        submissions.hide(db, row)
        db.commit()
    _log("hid", f"supplier {slug}")
    flash("La fiche est masquée : elle n'apparaît plus dans la recherche.", "succes")
    return redirect(url_for("moderation.supplier", slug=slug))
