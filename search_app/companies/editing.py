"""A company's own profile, without an account: propose one, claim a listed one, edit it through a private link,
ask for its removal.

The views parse the forms (search_app.forms) and call vivier.submissions, which holds the rules; they commit, send
the e-mails (vivier.mail: recorded in the outbox, sent by the background worker); the rules queue the index
update. Nothing submitted here is public before an operator approves it (search_app.backoffice.moderation).

An editing link (/acces/<token>) works once and opens an editing session: the Flask session (signed cookie) holds
the supplier's id, the verified address and an expiry; each request checks the address is still verified.
A confirmed claim opens the same session at once: following the claim link proved the address, just as following
an editing link would, so a second e-mail would only add a step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from flask import (Blueprint, abort, flash, make_response, redirect, render_template, request,
                   url_for)
from flask import session as web_session
from sqlalchemy import select
from sqlalchemy.orm import Session

from search_app.context import database, settings
from search_app.extensions import external_url, form_rate_limit, limiter
from search_app.identity import SUPPLIER_SESSION_KEY, now, supplier_in_session
from search_app.companies.forms import (ClaimForm, DeletionForm, EditLinkForm, NewProfileForm, ProfileForm,
                                        form_data_from_profile, profile_from_form)
from search_app.forms import NAME_MAX_CHARS, error_summary, honeypot_filled
from search_app.labels import lifetime_text
from search_app.public.suppliers import merged_target
from vivier import lookalikes
from vivier import submissions
from vivier import jobs
from vivier.mail import send_mail
from vivier.models import (REVIEW_PENDING, SEARCHABLE_STATUSES, STATUS_MERGED, SUBMISSION_UPDATE, AccessToken,
                           Submission, Supplier)

bp = Blueprint("profiles", __name__)

# Where the Flask session keeps the editing session opened by a private link (read by search_app.identity too).
EDIT_SESSION_KEY = SUPPLIER_SESSION_KEY
# The last editing submissions shown to the company on its editing page (its history with the moderators).
HISTORY_LENGTH = 10

# E-mail subjects by message kind; the body is the template profiles/mail/<kind>.txt (plain text, French).
SUBJECTS = {
    "submitted": "Vivier : votre proposition de fiche est enregistrée",
    "claim_link": "Vivier : confirmez votre adresse pour gérer la fiche {name}",
    "claim_pending": "Vivier : votre demande pour gérer la fiche {name} est enregistrée",
    "edit_link": "Vivier : votre lien pour modifier la fiche {name}",
    "update_received": "Vivier : vos modifications de la fiche {name} sont enregistrées",
    "deletion_received": "Vivier : demande de suppression de la fiche {name}",
}


# -- pure helpers -----------------------------------------------------------------------------------------------
# -- database and session helpers -------------------------------------------------------------------------------
def _listed_supplier(session: Session, slug: str) -> Supplier:
    """The searchable supplier of this address; a merged one's old address redirects to the same page of the
    supplier it joined; anything else is 404 (a hidden profile is edited again once an operator shows it)."""
    supplier = session.scalar(select(Supplier).where(Supplier.slug == slug[:120]))
    if supplier is not None and supplier.status == STATUS_MERGED:
        target = merged_target(session, supplier)
        if target is not None:
            abort(redirect(url_for(request.endpoint, slug=target.slug)))  # type: ignore[arg-type]
    if supplier is None or supplier.status not in SEARCHABLE_STATUSES:
        abort(404)
    return supplier


def _mail(session: Session, to: str, kind: str, supplier_name: str = "", **context: Any) -> None:
    body = render_template(f"profiles/mail/{kind}.txt", supplier_name=supplier_name, **context)
    send_mail(session, settings(), to, SUBJECTS[kind].format(name=supplier_name), body)


def _open_edit_session(supplier_id: int, email: str) -> None:
    web_session[EDIT_SESSION_KEY] = {"supplier_id": supplier_id, "email": email,
                                     "expires": (now() + submissions.EDIT_SESSION_LIFETIME).isoformat()}


@bp.app_context_processor
def supplier_navigation():
    """`supplier_in_session(id)` for every template (the supplier page's link to the company's alerts)."""
    return {"supplier_in_session": supplier_in_session}


def _end_edit_session() -> None:
    web_session.pop(EDIT_SESSION_KEY, None)


def _to_link_request(slug: str, message: str) -> NoReturn:
    _end_edit_session()
    flash(message)
    abort(redirect(url_for("profiles.request_link", slug=slug)))


def _editor_email(session: Session, supplier: Supplier) -> str:
    """The verified address editing this supplier in this browser. No session, an expired one or a revoked claim
    lead to the link request page; a session for another supplier is refused (403)."""
    state = web_session.get(EDIT_SESSION_KEY)
    if not isinstance(state, dict):
        _to_link_request(supplier.slug, "Pour modifier cette fiche, demandez un lien de modification : il est "
                                        "envoyé aux adresses autorisées.")
    if datetime.fromisoformat(state.get("expires") or "1970-01-01") <= now():
        _to_link_request(supplier.slug, "Votre session de modification a expiré : demandez un nouveau lien.")
    if state.get("supplier_id") != supplier.id:
        abort(make_response(render_template(
            "profiles/notice.html", title="Accès refusé", status=403,
            paragraphs=["Votre session de modification concerne la fiche d'une autre entreprise : elle ne permet "
                        "pas de modifier celle-ci.", "Demandez un lien pour cette fiche depuis une adresse "
                                                     "autorisée."],
            links=[(url_for("profiles.request_link", slug=supplier.slug), "Demander un lien de modification")]),
            403))
    if not submissions.may_edit(session, supplier.id, state.get("email") or ""):
        _to_link_request(supplier.slug, "Cette adresse n'est plus autorisée à modifier la fiche.")
    return state["email"]


def _link_error(session: Session, raw: str, error: submissions.TokenError):
    """A clear page for a link that does not work: 410 when it expired or was used (with a way to get a new one),
    404 when it is unknown."""
    token = session.scalar(select(AccessToken).where(AccessToken.token_hash == submissions.hash_token(raw)))
    supplier = session.get(Supplier, token.supplier_id) if token is not None and token.supplier_id else None
    links = [(url_for("profiles.request_link", slug=supplier.slug), "Recevoir un nouveau lien de modification")] \
        if supplier is not None else []
    links.append((url_for("search.index"), "Retrouver la fiche de votre entreprise dans la recherche"))
    pages = {
        "expired": ("Lien expiré", "Ce lien n'est plus valable : pour votre sécurité, il a une durée limitée."),
        "used": ("Lien déjà utilisé", "Ce lien a déjà servi : chaque lien ne fonctionne qu'une fois."),
        "unknown": ("Lien inconnu", "Ce lien n'existe pas ou plus. Vérifiez qu'il a été copié en entier."),
    }
    title, message = pages.get(error.reason, pages["unknown"])
    status = 404 if error.reason == "unknown" else 410
    paragraphs = [message, "Vous pouvez demander un nouveau lien à tout moment depuis la fiche de votre entreprise "
                           "(« C'est votre entreprise ? »)."]
    return render_template("profiles/notice.html", title=title, status=status, paragraphs=paragraphs,
                           links=links), status


def _pending_update(session: Session, supplier: Supplier, email: str) -> Submission | None:
    return session.scalar(select(Submission).where(
        Submission.supplier_id == supplier.id, Submission.email == email, Submission.kind == SUBMISSION_UPDATE,
        Submission.status == REVIEW_PENDING).order_by(Submission.id.desc()).limit(1))


def _history(session: Session, supplier: Supplier) -> list[Submission]:
    return list(session.scalars(select(Submission).where(Submission.supplier_id == supplier.id)
                                .order_by(Submission.created_at.desc(), Submission.id.desc()).limit(HISTORY_LENGTH)))


def _render_form(template: str, form, status: int, **context):
    return render_template(template, form=form, errors=error_summary(form), **context), status


# -- propose a new profile --------------------------------------------------------------------------------------
@bp.route("/fournisseurs/proposer", methods=["GET", "POST"])
@limiter.limit(form_rate_limit, methods=["POST"])
def propose():
    form = NewProfileForm(data={"name": request.args.get("nom", "")[:NAME_MAX_CHARS]})
    if form.is_submitted():
        if honeypot_filled(form):  # a bot: it sees the same success, nothing is stored or sent
            return redirect(url_for("profiles.proposed"), code=303)
        if form.validate():
            with database().session() as session:
                submission = submissions.submit_new(session, profile_from_form(form), form.contact_email.data, now())
                _mail(session, submission.email, "submitted", submission.name)
            return redirect(url_for("profiles.proposed"), code=303)
    with database().session() as session:
        duplicates = lookalikes.possible_duplicates(session, form.name.data or "")
    return _render_form("profiles/propose.html", form, 400 if form.errors else 200, duplicates=duplicates,
                        query=form.name.data or "")


@bp.get("/fournisseurs/proposer/merci")
def proposed():
    return render_template("profiles/proposed.html")


@bp.get("/fournisseurs/proposer/doublons")
def duplicates():
    """Listed profiles named like the company being proposed. htmx asks with the form's `name` field as the
    company types; the page without JavaScript asks with `nom`."""
    query = (request.args.get("nom") or request.args.get("name") or "").strip()[:NAME_MAX_CHARS]
    with database().session() as session:
        matches = lookalikes.possible_duplicates(session, query)
    template = "profiles/_duplicates.html" if request.headers.get("HX-Request") else "profiles/duplicates.html"
    return render_template(template, duplicates=matches, query=query)


# -- claim a listed profile -------------------------------------------------------------------------------------
@bp.route("/fournisseurs/<slug>/revendiquer", methods=["GET", "POST"])
@limiter.limit(form_rate_limit, methods=["POST"])
def claim(slug: str):
    form = ClaimForm()
    with database().session() as session:
        supplier = _listed_supplier(session, slug)
        if form.is_submitted() and honeypot_filled(form):
            return render_template("profiles/claim_sent.html", supplier=supplier, by_link=False,
                                   email=form.email.data)
        if form.validate_on_submit():
            start = submissions.start_claim(session, supplier, form.email.data, form.message.data or "", now())
            if start.token:
                _mail(session, start.claim.email, "claim_link", supplier.name,
                      link=external_url("profiles.confirm_claim", token=start.token),
                      lifetime=lifetime_text(submissions.CLAIM_LINK_LIFETIME))
            else:
                _mail(session, start.claim.email, "claim_pending", supplier.name)
            return render_template("profiles/claim_sent.html", supplier=supplier, by_link=bool(start.token),
                                   email=start.claim.email)
        return _render_form("profiles/claim.html", form, 400 if form.errors else 200, supplier=supplier)


@bp.get("/revendiquer/<token>")
def confirm_claim(token: str):
    """Verify the claim's address, then open an editing session for it (see the module's docstring)."""
    with database().session() as session:
        try:
            claim = submissions.confirm_claim(session, token, now())
        except submissions.TokenError as error:
            return _link_error(session, token, error)
        supplier = session.get(Supplier, claim.supplier_id)
        if supplier is None:  # removed since the claim was made
            abort(404)
        token_ = submissions.edit_link_token(session, supplier, claim.email, now())
        edit = submissions.open_edit_session(session, token_, now())  # type: ignore[arg-type]
        _open_edit_session(edit.supplier_id, edit.email)  # type: ignore[arg-type]
        slug = supplier.slug
    flash("Votre adresse est confirmée : vous pouvez modifier la fiche de votre entreprise.")
    return redirect(url_for("profiles.edit", slug=slug), code=303)


# -- private editing links --------------------------------------------------------------------------------------
@bp.route("/fournisseurs/<slug>/modifier/lien", methods=["GET", "POST"])
@limiter.limit(form_rate_limit, methods=["POST"])
def request_link(slug: str):
    """Send an editing link to a verified address. The page is the same whatever the address, so that it tells
    nobody which addresses may edit the profile."""
    form = EditLinkForm()
    with database().session() as session:
        supplier = _listed_supplier(session, slug)
        if form.is_submitted() and honeypot_filled(form):
            return render_template("profiles/link_sent.html", supplier=supplier, email=form.email.data)
        if form.validate_on_submit():
            # Whether the address may edit the profile is decided by the worker (search_app.jobs): the request
            # does the same work, and takes the same time, for any address.
            jobs.enqueue(session, submissions.EDIT_LINK_JOB, {"supplier_id": supplier.id, "email": form.email.data})
            return render_template("profiles/link_sent.html", supplier=supplier, email=form.email.data)
        return _render_form("profiles/request_link.html", form, 400 if form.errors else 200, supplier=supplier)


@bp.get("/acces/<token>")
def access(token: str):
    """Redeem an editing link (once) and open the editing session."""
    with database().session() as session:
        try:
            edit = submissions.open_edit_session(session, token, now())
        except submissions.TokenError as error:
            return _link_error(session, token, error)
        _open_edit_session(edit.supplier_id, edit.email)  # type: ignore[arg-type]
        supplier = session.get(Supplier, edit.supplier_id)
        if supplier is None:  # removed since the link was sent
            abort(404)
        slug = supplier.slug
    return redirect(url_for("profiles.edit", slug=slug), code=303)


# -- edit, delete -----------------------------------------------------------------------------------------------
@bp.route("/fournisseurs/<slug>/modifier", methods=["GET", "POST"])
@limiter.limit(form_rate_limit, methods=["POST"])
def edit(slug: str):
    """The profile's form, filled with the company's pending changes if any, else with the public values. Changes
    are submitted for moderation (a newer submission replaces the pending one)."""
    with database().session() as session:
        supplier = _listed_supplier(session, slug)
        email = _editor_email(session, supplier)
        pending = _pending_update(session, supplier, email)
        # A pending update records only what it changes (vivier.submissions.changed_fields): over the public values.
        initial = {**submissions.public_fields(supplier), **(pending.data if pending is not None else {})}
        # A post is exactly what was posted: initial values would fill the fields it left out.
        form = ProfileForm() if request.method == "POST" else ProfileForm(data=form_data_from_profile(initial))
        if form.validate_on_submit():
            submissions.submit_update(session, supplier, profile_from_form(form), email, now(), whole_form=True)
            _mail(session, email, "update_received", supplier.name,
                  page=external_url("suppliers.detail", slug=supplier.slug))
            return render_template("profiles/update_received.html", supplier=supplier, email=email)
        return _render_form("profiles/edit.html", form, 400 if form.errors else 200, supplier=supplier,
                            email=email, pending=pending, history=_history(session, supplier))


@bp.route("/fournisseurs/<slug>/supprimer", methods=["GET", "POST"])
@limiter.limit(form_rate_limit, methods=["POST"])
def delete(slug: str):
    """Ask for the profile's removal (after a confirmation): it leaves search at once, and the database once an
    operator confirms. The editing session ends: there is nothing left to edit."""
    form = DeletionForm()
    with database().session() as session:
        supplier = _listed_supplier(session, slug)
        email = _editor_email(session, supplier)
        if not form.validate_on_submit():
            return _render_form("profiles/delete.html", form, 400 if form.errors else 200, supplier=supplier,
                                email=email)
        submissions.request_deletion(session, supplier, email, form.reason.data or "", now())
        _mail(session, email, "deletion_received", supplier.name)
        name = supplier.name
    _end_edit_session()
    return render_template("profiles/deletion_received.html", name=name, email=email)
