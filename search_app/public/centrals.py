"""Purchasing centrals' catalogues: who a buyer may order from without a tender of its own (issue 10).

Public pages read vivier.centrals with today's date from the app clock: a referencing past its end date, or ended
early by an operator, is simply not shown; nothing has to run for it to disappear.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from search_app.context import database
from search_app.identity import now
from vivier import centrals
from vivier.models import CENTRAL_KINDS

bp = Blueprint("centrals", __name__)


@bp.context_processor
def labels():
    return {"kind_labels": CENTRAL_KINDS, "tier_labels": centrals.TIERS, "interop_labels": centrals.INTEROP_FACTS}


@bp.get("/centrales")
def index():
    with database().session() as session:
        listed = centrals.centrals(session, now().date())
        return render_template("centrals/index.html", listed=listed)


@bp.get("/centrales/<central_slug>")
def catalogue(central_slug: str):
    today = now().date()
    with database().session() as session:
        central = centrals.central_by_slug(session, central_slug[:120])
        if central is None:
            abort(404)
        themes = centrals.catalogue(session, central, today)
        return render_template("centrals/catalogue.html", central=central, themes=themes, today=today)
