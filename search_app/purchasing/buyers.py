"""Public buyers without a password: a sign-in link sent to their address opens a buyer session (signed cookie,
search_app.identity). An address on an allow-listed public-sector domain is verified at once; any other is
verified by an operator (search_app.backoffice.buyers) and may only prepare drafts until then.

The link request page says the same thing whatever the address, so that it tells nobody who is a buyer.
"""

from __future__ import annotations


from flask import Blueprint, flash, redirect, render_template, url_for

from search_app.extensions import external_url, form_rate_limit, limiter
from search_app.forms import honeypot_filled
from search_app.identity import (buyer_signed_in, current_buyer, end_buyer_session, now,
                                 open_buyer_session)
from search_app.purchasing.forms import BuyerSignInForm
from search_app.context import database, settings
from search_app.forms import error_summary
from search_app.labels import lifetime_text
from search_app.purchasing.projects import STATUS_LABELS
from vivier import projects
from vivier.mail import send_mail

bp = Blueprint("buyers", __name__)

SIGN_IN_SUBJECT = "Vivier : votre lien de connexion acheteur"


@bp.app_context_processor
def buyer_navigation():
    """`buyer_signed_in()` for every template (the header's « Mes projets », the « Publiez un projet » links):
    a function, so that only the pages that show those links read the session."""
    return {"buyer_signed_in": buyer_signed_in}


@bp.route("/acheteurs/connexion", methods=["GET", "POST"])
@limiter.limit(form_rate_limit, methods=["POST"])
def sign_in():
    form = BuyerSignInForm()
    if form.is_submitted() and honeypot_filled(form):  # a bot sees the same page; nothing is stored or sent
        return render_template("buyers/link_sent.html", email=form.email.data)
    if form.validate_on_submit():
        with database().session() as session:
            raw = projects.buyer_sign_in_token(session, form.email.data, form.organisation.data or "", now())
            body = render_template("buyers/mail/sign_in.txt", link=external_url("buyers.access", token=raw),
                                   lifetime=lifetime_text(projects.BUYER_LINK_LIFETIME),
                                   session_lifetime=lifetime_text(projects.BUYER_SESSION_LIFETIME))
            send_mail(session, settings(), form.email.data, SIGN_IN_SUBJECT, body)
        return render_template("buyers/link_sent.html", email=form.email.data)
    status = 400 if form.errors else 200
    with database().session() as session:
        signed_in = current_buyer(session)
        email = signed_in.email if signed_in is not None else None
    return render_template("buyers/sign_in.html", form=form, errors=error_summary(form), signed_in_as=email), status


@bp.get("/acheteurs/acces/<token>")
def access(token: str):
    """Redeem a sign-in link (once): the buyer's session opens and the buyer lands on its projects."""
    with database().session() as session:
        try:
            buyer = projects.open_buyer_session(session, token, now())
        except projects.TokenError as error:
            return _link_error(error)
        open_buyer_session(buyer)
    return redirect(url_for("buyers.projects"), code=303)


def _link_error(error: projects.TokenError):
    """410 for a link that expired or served already, 404 for an unknown one; both offer a new link."""
    pages = {
        "expired": ("Lien expiré", "Ce lien de connexion n'est plus valable : pour votre sécurité, il a une durée "
                                   "limitée."),
        "used": ("Lien déjà utilisé", "Ce lien de connexion a déjà servi : chaque lien ne fonctionne qu'une fois."),
        "unknown": ("Lien inconnu", "Ce lien n'existe pas ou plus. Vérifiez qu'il a été copié en entier."),
    }
    title, message = pages.get(error.reason, pages["unknown"])
    status = 404 if error.reason not in ("expired", "used") else 410
    return render_template("profiles/notice.html", title=title, status=status, paragraphs=[message],
                           links=[(url_for("buyers.sign_in"), "Recevoir un nouveau lien de connexion")]), status


@bp.post("/acheteurs/deconnexion")
def sign_out():
    end_buyer_session()
    flash("Vous êtes déconnecté.")
    return redirect(url_for("projects.index"), code=303)


@bp.get("/acheteurs/projets", endpoint="projects")
def project_list():
    """The buyer's projects, every state (as it stands now: nothing is written), newest first."""
    with database().session() as session:
        buyer = current_buyer(session)
        if buyer is None:
            flash("Connectez-vous pour voir vos projets : nous vous envoyons un lien par courriel.")
            return redirect(url_for("buyers.sign_in"), code=303)
        rows = projects.buyer_projects(session, buyer)
        return render_template("buyers/projects.html", buyer=buyer, projects=rows, status_labels=STATUS_LABELS,
                               statuses={p.id: projects.effective_status(p, now()) for p in rows})
