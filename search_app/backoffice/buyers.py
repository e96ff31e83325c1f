"""Back-office for buyers: operators verify the buyers whose address is not on an allow-listed domain, and keep
that allow-list of public-sector domains. Only a verified buyer publishes (vivier.projects.publish).

Every route needs a signed-in operator (Flask-Login, search_app.backoffice.moderation); every decision is made in the
operator's name (Buyer.verified_by, BuyerDomain.added_by) and the buyer is told by e-mail.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from search_app.extensions import external_url
from search_app.identity import now
from search_app.backoffice.forms import BuyerDomainForm
from search_app.context import database, settings
from search_app.extensions import private_headers
from search_app.forms import error_summary
from vivier import projects
from vivier.mail import send_mail
from vivier.models import Buyer

bp = Blueprint("moderation_buyers", __name__, url_prefix="/moderation/acheteurs")

# Unverified buyers listed, oldest first: the page is a work queue, not an archive.
QUEUE_LIMIT = 200
VERIFIED_SUBJECT = "Vivier : votre adresse d'acheteur est vérifiée"


bp.after_request(private_headers)  # buyers' addresses are personal data: not for search engines, not for caches


def _page(form: BuyerDomainForm, status: int = 200):
    with database().session() as session:
        waiting = projects.unverified_buyers(session, QUEUE_LIMIT)
        domains = projects.buyer_domains(session)
        return render_template("moderation_buyers/index.html", waiting=waiting, domains=domains, form=form,
                               errors=error_summary(form)), status


@bp.get("/")
@login_required
def index():
    return _page(BuyerDomainForm())


@bp.post("/<int:buyer_id>/verifier")
@login_required
def verify(buyer_id: int):
    with database().session() as session:
        buyer = session.get(Buyer, buyer_id)
        if buyer is None:
            abort(404)
        if buyer.verified:
            flash(f"{buyer.email} est déjà vérifié.", "erreur")
            return redirect(url_for("moderation_buyers.index"), code=303)
        projects.verify_buyer(session, buyer, current_user.email, now())
        body = render_template("moderation_buyers/mail/verified.txt",
                               link=external_url("buyers.sign_in"), projects=external_url("buyers.projects"))
        send_mail(session, settings(), buyer.email, VERIFIED_SUBJECT, body)
        email = buyer.email
    current_app.logger.info("moderation: %s verified buyer %s", current_user.email, buyer_id)
    flash(f"{email} est vérifié : il peut publier ses projets.", "succes")
    return redirect(url_for("moderation_buyers.index"), code=303)


@bp.post("/domaines")
@login_required
def add_domain():
    form = BuyerDomainForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    with database().session() as session:
        try:
            entry = projects.add_buyer_domain(session, form.domain.data, form.organisation.data, current_user.email,
                                             now())
        except projects.ProjectError as error:
            form.domain.errors = [str(error)]
            session.rollback()
            return _page(form, 400)
        domain = entry.domain
    current_app.logger.info("moderation: %s allow-listed %s", current_user.email, domain)
    flash(f"Domaine {domain} ajouté : ses adresses sont des acheteurs vérifiés dès leur prochaine connexion.",
          "succes")
    return redirect(url_for("moderation_buyers.index"), code=303)
