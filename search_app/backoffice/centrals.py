"""Back-office for purchasing centrals: operators record centrals, the offers they reference and when those end.

Every route needs a signed-in operator (Flask-Login, search_app.backoffice.moderation). The rules live in
vivier.centrals; a refusal (its CentralError message, in French) is shown next to the form with a 400. Nothing is
re-indexed: the catalogues, the supplier pages and the search filter read the referencings from the database with
today's date.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from search_app.context import database
from search_app.backoffice.forms import (CentralForm, ReferencingForm, central_arguments,
                                                 form_data_from_central, referencing_arguments)
from search_app.identity import now
from search_app.extensions import private_headers
from search_app.forms import error_summary
from vivier import centrals
from vivier.models import CENTRAL_KINDS, PurchasingCentral, Referencing

bp = Blueprint("moderation_centrals", __name__, url_prefix="/moderation/centrales")


def _log(action: str, target: str) -> None:
    current_app.logger.info("moderation: %s %s %s", current_user.email, action, target)


bp.after_request(private_headers)  # the back-office's: not for search engines, not for caches


@bp.context_processor
def labels():
    return {"kind_labels": CENTRAL_KINDS, "status_labels": centrals.STATUS_LABELS}


def _central_or_404(session, slug: str) -> PurchasingCentral:
    central = centrals.central_by_slug(session, slug[:120])
    if central is None:
        abort(404)
    return central


def _errors(form, refusal: str | None) -> list[tuple[str, str, str]]:
    """The form's field errors, then the service's refusal (linked to the form itself)."""
    rows = error_summary(form)
    if refusal:
        rows.append(("formulaire", "Enregistrement refusé", refusal))
    return rows


@bp.get("/")
@login_required
def index():
    today = now().date()
    with database().session() as session:
        listed = list(session.scalars(
            select(PurchasingCentral)
            .options(selectinload(PurchasingCentral.referencings).selectinload(Referencing.supplier))
            .order_by(PurchasingCentral.name, PurchasingCentral.id)))
        rows = [(central, centrals.status_counts(central, today),
                 [(r, centrals.status_of(r, today)) for r in central.referencings]) for central in listed]
        return render_template("moderation_centrals/index.html", rows=rows, today=today,
                               active=centrals.ACTIVE, upcoming=centrals.UPCOMING)


# -- centrals -----------------------------------------------------------------------------------------------------
def _central_page(form: CentralForm, central: PurchasingCentral | None, refusal: str | None = None,
                  status: int = 200):
    return render_template("moderation_centrals/central.html", form=form, central=central,
                           errors=_errors(form, refusal)), status


def _save_central(form: CentralForm, slug: str | None):
    with database().session() as session:
        central = _central_or_404(session, slug) if slug else None
        if not form.validate_on_submit():
            return _central_page(form, central, status=400)
        try:
            central = centrals.save_central(session, central=central, **central_arguments(form))
        except centrals.CentralError as error:
            session.rollback()
            return _central_page(form, None if slug is None else _central_or_404(session, slug), str(error), 400)
        name, slug = central.name, central.slug
    _log("saved central", slug)
    flash(f"Centrale « {name} » enregistrée.", "succes")
    return redirect(url_for("moderation_centrals.index", _anchor=f"centrale-{slug}"), code=303)


@bp.get("/nouvelle")
@login_required
def new_central():
    return _central_page(CentralForm(), None)


@bp.post("/nouvelle")
@login_required
def create_central():
    return _save_central(CentralForm(), None)


@bp.get("/<central_slug>/modifier")
@login_required
def edit_central(central_slug: str):
    with database().session() as session:
        central = _central_or_404(session, central_slug)
        return _central_page(CentralForm(data=form_data_from_central(central)), central)


@bp.post("/<central_slug>/modifier")
@login_required
def update_central(central_slug: str):
    return _save_central(CentralForm(), central_slug)


# -- referencings -------------------------------------------------------------------------------------------------
def _referencing_page(form: ReferencingForm, central: PurchasingCentral, refusal: str | None = None,
                      status: int = 200):
    return render_template("moderation_centrals/referencing.html", form=form, central=central,
                           errors=_errors(form, refusal)), status


@bp.get("/<central_slug>/referencements/nouveau")
@login_required
def new_referencing(central_slug: str):
    with database().session() as session:
        return _referencing_page(ReferencingForm(), _central_or_404(session, central_slug))


@bp.post("/<central_slug>/referencements/nouveau")
@login_required
def add_referencing(central_slug: str):
    form = ReferencingForm()
    with database().session() as session:
        central = _central_or_404(session, central_slug)
        if not form.validate_on_submit():
            return _referencing_page(form, central, status=400)
        try:
            supplier = centrals.resolve_supplier(session, form.supplier.data)
        except centrals.CentralError as error:
            form.supplier.errors = [str(error)]
            return _referencing_page(form, central, status=400)
        try:
            referencing = centrals.add_referencing(session, central, supplier, created_by=current_user.email,
                                                  **referencing_arguments(form))
        except centrals.CentralError as error:
            session.rollback()
            return _referencing_page(form, _central_or_404(session, central_slug), str(error), 400)
        supplier_name, referencing_id = supplier.name, referencing.id
    _log("added referencing", f"{central_slug}#{referencing_id}")
    flash(f"{supplier_name} est référencé par la centrale : son offre figure au catalogue pendant le référencement.",
          "succes")
    return redirect(url_for("moderation_centrals.index", _anchor=f"centrale-{central_slug}"), code=303)


@bp.post("/referencements/<int:referencing_id>/terminer")
@login_required
def end_referencing(referencing_id: int):
    with database().session() as session:
        referencing = session.get(Referencing, referencing_id)
        if referencing is None:
            abort(404)
        slug, supplier_name = referencing.central.slug, referencing.supplier.name
        if referencing.ended_at is not None:
            flash(f"Le référencement de {supplier_name} est déjà terminé.", "erreur")
            return redirect(url_for("moderation_centrals.index", _anchor=f"centrale-{slug}"), code=303)
        centrals.end_referencing(session, referencing, now())
    _log("ended referencing", f"{slug}#{referencing_id}")
    flash(f"Référencement de {supplier_name} terminé : son offre ne figure plus au catalogue.", "succes")
    return redirect(url_for("moderation_centrals.index", _anchor=f"centrale-{slug}"), code=303)
