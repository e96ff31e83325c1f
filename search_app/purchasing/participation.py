"""Taking part in a purchase project's sourcing: suppliers' questions and the buyer's published answers, sealed
variant proposals and the buyer's decisions, the sourcing log and its exports, suppliers' alerts.

The rules are vivier.projects' (deadline, equal treatment, sealed proposals, consent to disclose), the queries
and who is e-mailed at each step vivier.sourcing's; these views find who is looking (search_app.identity: a buyer
signed in by a magic link, a supplier's verified editing session), parse the forms
(search_app.purchasing.participation_forms), call one rule, commit, write the e-mails vivier.sourcing asks for and
render.
A GET writes nothing but the sourcing log's line of an export (the log and the summary record who exported).

Access, in one place each:
- a proposal, its files: vivier.projects.may_read (its author and the project's buyer). Anybody else, operators
  included, gets the same 404 as for a proposal that does not exist: the page tells nobody who proposed.
- the list of proposals, the log, its exports, answers and decisions: the project's buyer only (403 otherwise).
- questions, proposals, alerts: a verified supplier (an editing session, issue 6).
The project page (/projets/<slug>, search_app/purchasing/projects.py) includes participation/_project_box.html; the
`participation(project)` template global gives that box what it shows to whoever is looking.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, NoReturn, Sequence
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import (Blueprint, Response, abort, current_app, flash, make_response, redirect, render_template,
                   request, send_file, url_for)
from sqlalchemy.orm import Session
from wtforms import SelectChoice

from search_app.extensions import csrf, external_url, form_rate_limit, limiter
from search_app.identity import current_buyer, current_supplier, now
from search_app.purchasing.participation_forms import (AnswerForm, DecisionForm, ProposalForm, QuestionForm,
                                                       SubscriptionForm, consent_name)
from search_app.context import database, settings
from search_app.public.exports import CSV_DELIMITER, CSV_ENCODING, neutralise
from search_app.forms import error_summary
from vivier import projects, sourcing, taxonomy, textfiles
from vivier.mail import send_mail
from vivier.models import (DECISIONS, PROJECT_DRAFT, Attachment, Buyer, Project, Proposal, Question, SourcingEvent,
                           Supplier)

bp = Blueprint("participation", __name__)

# Dates are stored in naive UTC; buyers, suppliers and auditors read them in French legal time.
TIMEZONE = ZoneInfo("Europe/Paris")
# What a field a supplier did not consent to disclose shows in the summary a buyer shares.
CONFIDENTIAL = "[confidentiel]"
# Files one submission of the proposal form may carry: three at the attachment cap keep a request near 31 MB;
# more are added by editing the proposal again (vivier.projects.MAX_ATTACHMENTS in all).
FILES_PER_SUBMISSION = 3
# The form fields around the files (texts of at most a few thousand characters each) fit in this much.
FORM_FIELDS_BYTES = 1024 * 1024
PROPOSAL_REQUEST_BYTES = FILES_PER_SUBMISSION * projects.MAX_ATTACHMENT_BYTES + FORM_FIELDS_BYTES
# A downloaded attachment is never rendered by the browser: no script of it runs, it cannot sniff its way to HTML.
ATTACHMENT_CSP = "sandbox; default-src 'none'"
# Private pages (sealed proposals, the log) stay out of shared caches and search engines.
PRIVATE_HEADERS = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"}
# The log's events in French words (vivier.projects.log kinds); an unknown kind shows as it was recorded.
EVENT_LABELS: dict[str, str] = {
    "created": "Création du projet", "modified": "Modification du projet", "published": "Publication",
    "matched": "Recherche de fournisseurs correspondants", "closed": "Clôture", "archived": "Archivage",
    "question": "Question reçue", "answer": "Réponse publiée", "answer_modified": "Réponse modifiée",
    "proposal_received": "Proposition reçue", "proposal_updated": "Proposition modifiée",
    "decision": "Décision", "export": "Export",
}
CONSENT_NAMES = [consent_name(name) for name in projects.CONSENT_FIELDS]
# Export formats as the log names them.
EXPORT_LABELS = {"csv": "journal (CSV)", "synthese": "synthèse imprimable"}
CSV_HEADER = ("Date et heure (Europe/Paris)", "Acteur", "Événement", "Détails")
# E-mail subjects by message kind; the body is participation/mail/<kind>.txt (plain text, French).
SUBJECTS = {
    sourcing.QUESTION_RECEIVED: "Vivier : nouvelle question sur votre projet « {title} »",
    sourcing.ANSWER_PUBLISHED: "Vivier : réponse publiée sur le projet « {title} »",
    sourcing.PROPOSAL_RECEIVED: "Vivier : votre proposition sur le projet « {title} » est enregistrée",
    sourcing.DECISION: "Vivier : décision sur votre proposition pour le projet « {title} »",
}


# -- pure helpers -----------------------------------------------------------------------------------------------
def paris(moment: datetime) -> datetime:
    """A stored (naive UTC) time as Paris time."""
    return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(TIMEZONE)


def french_datetime(moment: datetime | None) -> str:
    """« 2 mars 2026 à 10:00 » (Paris time), from CLDR data: independent of the server's locale."""
    if moment is None:
        return ""
    return format_datetime(paris(moment), "d MMMM y 'à' HH:mm", locale="fr_FR")


def log_datetime(moment: datetime) -> str:
    """« 2026-03-02 10:00:00 »: sortable, what a spreadsheet reads as a date."""
    return paris(moment).strftime("%Y-%m-%d %H:%M:%S")


def detail_text(detail: Mapping[str, Any]) -> str:
    """An event's details in French words: « proposition n° 3 ; décision : Retenue »."""
    parts = []
    for key, value in sorted((detail or {}).items()):
        if key == "question_id":
            parts.append(f"question n° {value}")
        elif key == "proposal_id":
            parts.append(f"proposition n° {value}")
        elif key == "decision":
            parts.append(f"décision : {DECISIONS.get(value, value)}")
        elif key == "deadline":
            parts.append(f"date limite : {french_datetime(datetime.fromisoformat(value))}")
        elif key == "format":
            parts.append(f"format : {EXPORT_LABELS.get(value, value)}")
        elif key == "title":
            parts.append(f"titre : {value}")
        elif key == "reason":
            parts.append(str(value))
        elif key == "fields":
            parts.append("champs : " + (", ".join(value) if value else "jalons"))
        elif key == "suppliers":
            parts.append("fournisseurs : " + ", ".join(value))
        else:
            parts.append(f"{key} : {value}")
    return " ; ".join(parts)


@dataclass(frozen=True)
class LogLine:
    at: datetime
    actor: str
    event: str
    details: str


def log_lines(events: Iterable[SourcingEvent]) -> list[LogLine]:
    return [LogLine(e.at, e.actor, EVENT_LABELS.get(e.kind, e.kind), detail_text(e.detail)) for e in events]


def render_log_csv(lines: Sequence[LogLine]) -> bytes:
    """Header then one line per event, oldest first; UTF-8 with a BOM so that Excel reads the accents."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows([neutralise(cell) for cell in (log_datetime(line.at), line.actor, line.event, line.details)]
                     for line in lines)
    return out.getvalue().encode(CSV_ENCODING)


def shared_fields(proposal: Proposal, attachments: Sequence[Attachment]) -> list[tuple[str, str]]:
    """(label, value) of a proposal as the shareable summary shows it: a field its author did not consent to
    disclose is « [confidentiel] »."""
    values = {"text": proposal.text, "varied_requirement": proposal.varied_requirement or "non précisée",
              "price_band": proposal.price_band or "non précisée",
              "attachments": ", ".join(a.filename for a in attachments) or "aucune"}
    return [(label, values[name] if projects.disclosed(proposal, name) else CONFIDENTIAL)
            for name, label in projects.CONSENT_FIELDS.items()]


# -- identity, pages, e-mails -----------------------------------------------------------------------------------
def _send(session: Session, notice: sourcing.Notice, project: Project, **context: Any) -> None:
    """The notice's message to each of its recipients (vivier.sourcing decides who), its body written here."""
    body = render_template(f"participation/mail/{notice.kind}.txt", project=project, **context)
    for to in notice.recipients:
        send_mail(session, settings(), to, SUBJECTS[notice.kind].format(title=project.title), body)


def _is_buyer_of(buyer: Buyer | None, project: Project) -> bool:
    return buyer is not None and buyer.id == project.buyer_id


def _project(session: Session, slug: str) -> Project:
    """The project of this address; a draft exists for its buyer only. Nothing is written: a passed deadline
    closes it for the pages through vivier.projects.is_open and effective_status."""
    project = projects.project_by_slug(session, slug)
    if project is None or (project.status == PROJECT_DRAFT and not _is_buyer_of(current_buyer(session), project)):
        abort(404)
    return project


def _notice(title: str, paragraphs: Sequence[str], status: int, links: Sequence[tuple[str, str]] = ()) -> NoReturn:
    abort(make_response(render_template("profiles/notice.html", title=title, status=status,
                                        paragraphs=list(paragraphs), links=list(links)), status))


def _require_buyer(session: Session, project: Project) -> Buyer:
    buyer = current_buyer(session)
    if not _is_buyer_of(buyer, project):
        _notice("Accès réservé à l'acheteur", ["Cette page est réservée à l'acheteur qui a publié le projet : "
                                               "connectez-vous avec le lien reçu par courriel."], 403)
    return buyer  # type: ignore[return-value]


def _require_supplier(session: Session) -> tuple[Supplier, str]:
    found = current_supplier(session)
    if found is None:
        _notice("Session fournisseur requise", [
            "Pour poser une question, proposer une variante ou recevoir des alertes, ouvrez la session de votre "
            "entreprise : depuis sa fiche, « C'est votre entreprise ? », demandez un lien de modification envoyé "
            "à une adresse vérifiée."], 403, [(url_for("search.index"), "Retrouver la fiche de votre entreprise")])
    return found


def _readable_proposal(session: Session, project: Project, proposal_id: int) -> tuple[Proposal, projects.Viewer]:
    """The proposal if the viewer may read it; 404 for everybody else, as for one that does not exist."""
    proposal = sourcing.project_proposal(session, project, proposal_id)
    buyer, found = current_buyer(session), current_supplier(session)
    viewer = projects.Viewer(buyer.id if buyer else None, found[0].id if found else None)
    if proposal is None or not projects.may_read(proposal, project, viewer):
        abort(404)
    return proposal, viewer


def project_page_url(slug: str) -> str:
    """The public project page (search_app/purchasing/projects.py) when it is there, else the questions page, which
    shows the same participation box."""
    for rule in current_app.url_map.iter_rules():
        if rule.rule == "/projets/<slug>" and "GET" in (rule.methods or ()):
            return url_for(rule.endpoint, slug=slug)
    return url_for("participation.questions", slug=slug)


def _private(response) -> Response:
    response = make_response(response)
    response.headers.update(PRIVATE_HEADERS)
    return response


# -- the box on the project page --------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuestionView:
    """A question as the box shows it: never its author."""

    id: int
    text: str
    asked_at: datetime
    answer: str | None
    answered_at: datetime | None


@dataclass(frozen=True)
class Participation:
    slug: str
    is_open: bool
    variants_allowed: bool
    variant_requirements: str
    deadline: datetime
    published: list[QuestionView]  # answered: everybody sees them
    pending: list[QuestionView] = field(default_factory=list)  # unanswered: the buyer's, and each asker's own
    is_buyer: bool = False
    supplier_name: str | None = None
    supplier_slug: str | None = None  # the supplier of the editing session: its alerts page
    has_proposal: bool = False
    proposal_count: int = 0


def _question_view(question: Question) -> QuestionView:
    return QuestionView(question.id, question.text, question.asked_at, question.answer, question.answered_at)


def participation_for(session: Session, project: Project) -> Participation:
    """What the participation box shows the current viewer of this project."""
    questions = sourcing.project_questions(session, project)
    is_buyer = _is_buyer_of(current_buyer(session), project)
    found = current_supplier(session)
    supplier = found[0] if found else None
    pending = [_question_view(q) for q in questions if q.answer is None
               and (is_buyer or (supplier is not None and q.supplier_id == supplier.id))]
    proposals = sourcing.proposal_supplier_ids(session, project)
    return Participation(
        slug=project.slug, is_open=projects.is_open(project, now()), variants_allowed=project.variants_allowed,
        variant_requirements=project.variant_requirements, deadline=project.deadline,
        published=[_question_view(q) for q in questions if q.answer is not None], pending=pending,
        is_buyer=is_buyer, supplier_name=supplier.name if supplier else None,
        supplier_slug=supplier.slug if supplier else None,
        has_proposal=supplier is not None and supplier.id in proposals,
        proposal_count=len(proposals) if is_buyer else 0)


@bp.app_context_processor
def participation_globals():
    def participation(project: Project) -> Participation:
        with database().session() as session:
            return participation_for(session, session.get_one(Project, project.id))

    return {"participation": participation, "french_datetime": french_datetime}


# -- questions and answers --------------------------------------------------------------------------------------
@bp.get("/projets/<slug>/questions")
def questions(slug: str):
    """The project's questions and answers: the participation box on a page of its own (linked from e-mails)."""
    with database().session() as session:
        project = _project(session, slug)
        return render_template("participation/questions.html", project=project, project_url=project_page_url(slug),
                               question_form=QuestionForm())


@bp.post("/projets/<slug>/questions")
@limiter.limit(form_rate_limit)
def ask(slug: str):
    form = QuestionForm()
    with database().session() as session:
        project = _project(session, slug)
        supplier, email = _require_supplier(session)
        if not form.validate_on_submit():
            return render_template("participation/questions.html", project=project,
                                   project_url=project_page_url(slug), question_form=form), 400
        try:
            question = projects.ask(session, project, supplier, email, form.text.data, now())
        except projects.ProjectError as error:
            _notice("Question refusée", [str(error)], 409, [(project_page_url(slug), "Retour au projet")])
        _send(session, sourcing.question_notice(session, project), project, question=question,
              link=external_url("participation.questions", slug=slug))
    flash("Votre question est envoyée à l'acheteur : sa réponse sera publiée ici, pour tous les participants.")
    return redirect(project_page_url(slug) + "#questions", code=303)


@bp.post("/projets/<slug>/questions/<int:question_id>/reponse")
def answer(slug: str, question_id: int):
    form = AnswerForm()
    with database().session() as session:
        project = _project(session, slug)
        buyer = _require_buyer(session, project)
        question = sourcing.project_question(session, project, question_id)
        if question is None:
            abort(404)
        if not form.validate_on_submit():
            flash("Réponse non publiée : " + " ".join(form.text.errors or ["formulaire invalide."]))
            return redirect(url_for("participation.questions", slug=slug) + "#questions", code=303)
        try:
            projects.answer(session, question, project, buyer, form.text.data, now())
        except projects.ProjectError as error:
            _notice("Réponse refusée", [str(error)], 409)
        _send(session, sourcing.answer_notice(session, project), project, question=question,
              link=external_url("participation.questions", slug=slug))
    flash("La réponse est publiée et envoyée à tous les participants.")
    return redirect(url_for("participation.questions", slug=slug) + "#questions", code=303)


# -- a supplier's proposal --------------------------------------------------------------------------------------
def _proposal_form(proposal: Proposal | None) -> ProposalForm:
    if request.method == "POST" or proposal is None:
        form = ProposalForm()
    else:
        data = {"text": proposal.text, "varied_requirement": proposal.varied_requirement,
                "price_band": proposal.price_band or ""}
        data.update({consent_name(name): projects.disclosed(proposal, name) for name in projects.CONSENT_FIELDS})  # type: ignore[misc]
        form = ProposalForm(data=data)
    return form


def _uploads() -> list[tuple[str, bytes]]:
    """The files posted with the form (their original names and bytes), empty inputs left out."""
    files = []
    for upload in request.files.getlist("attachments"):
        if upload and upload.filename:
            files.append((upload.filename, upload.stream.read(projects.MAX_ATTACHMENT_BYTES + 1)))
            upload.close()
    return files


def file_errors(files: Sequence[tuple[str, bytes]], kept: int) -> list[tuple[str, str, str]]:
    """Error summary rows for the posted files (each file's own French message); `kept` files already stored."""
    if len(files) > FILES_PER_SUBMISSION:
        return [("attachments", "Pièces jointes", f"{FILES_PER_SUBMISSION} fichiers au plus par envoi : "
                                                  "ajoutez les suivants en modifiant votre proposition.")]
    if kept + len(files) > projects.MAX_ATTACHMENTS:
        return [("attachments", "Pièces jointes", f"{projects.MAX_ATTACHMENTS} pièces jointes au plus.")]
    errors = []
    for name, data in files:
        try:
            projects.attachment_kind(name, data)
        except projects.ProjectError as error:
            errors.append(("attachments", f"Pièce jointe « {name[:120]} »",
                           textfiles.unsafe_reason(name, data) or str(error)))
    return errors


def _save_proposal(session: Session, project: Project, supplier: Supplier, email: str, form: ProposalForm,
                   files: Sequence[tuple[str, bytes]]) -> Proposal:
    data = {"text": form.text.data, "varied_requirement": form.varied_requirement.data,
            "price_band": form.price_band.data,
            "consent": {name: getattr(form, consent_name(name)).data for name in projects.CONSENT_FIELDS}}
    proposal = projects.submit_proposal(session, project, supplier, email, data, now())
    projects.remove_attachments(session, proposal, form.remove.data or [])
    for name, content in files:
        projects.store_attachment(session, settings().data_dir, name, content, proposal=proposal, now=now())
    return proposal


@bp.route("/projets/<slug>/proposition", methods=["GET", "POST"])
@csrf.exempt  # checked below, once the body limit is raised for the files (the global check reads the body)
@limiter.limit(form_rate_limit, methods=["POST"])
def proposal_form(slug: str):
    """A verified supplier's variant proposal: created, then replaced, until the deadline; read-only after it."""
    if request.method == "POST":
        request.max_content_length = PROPOSAL_REQUEST_BYTES
        csrf.protect()
    with database().session() as session:
        project = _project(session, slug)
        supplier, email = _require_supplier(session)
        proposal = sourcing.own_proposal(session, project, supplier)
        context = {"project": project, "project_url": project_page_url(slug), "supplier": supplier}
        if not projects.is_open(project, now()) or not project.variants_allowed:
            status = 409 if request.method == "POST" else 200
            attachments = sourcing.proposal_attachments(session, proposal) if proposal else []
            return _private(render_template("participation/proposal_locked.html", proposal=proposal,
                                            attachments=attachments, decisions=DECISIONS,
                                            consent_fields=projects.CONSENT_FIELDS, **context)), status
        form = _proposal_form(proposal)
        kept = sourcing.proposal_attachments(session, proposal) if proposal else []
        form.remove.choices = [SelectChoice(a.id, a.filename) for a in kept]
        errors: list[tuple[str, str, str]] = []
        if form.is_submitted():
            files = _uploads()
            form.validate()
            removed = {a.id for a in kept} & set(form.remove.data or [])
            errors = error_summary(form) + file_errors(files, len(kept) - len(removed))
            if not errors:
                try:
                    proposal = _save_proposal(session, project, supplier, email, form, files)
                except projects.ProjectError as error:
                    session.rollback()
                    errors = [("text", "Proposition", str(error))]
                else:
                    _send(session, sourcing.proposal_notice(proposal), project, proposal=proposal,
                          link=external_url("participation.proposal_form", slug=slug))
                    flash("Votre proposition est enregistrée. Vous pouvez la modifier jusqu'à la date limite.")
                    return redirect(url_for("participation.proposal_form", slug=slug), code=303)
        return _private(render_template("participation/proposal_form.html", form=form, errors=errors,
                                        proposal=proposal, attachments=kept, consent_names=CONSENT_NAMES,
                                        **context)), 400 if errors else 200


# -- the buyer's view of proposals ------------------------------------------------------------------------------
@bp.get("/projets/<slug>/propositions")
def proposals(slug: str):
    with database().session() as session:
        project = _project(session, slug)
        _require_buyer(session, project)
        rows = sourcing.proposals_with_names(session, project)
        return _private(render_template("participation/proposals.html", project=project, rows=rows,
                                        decisions=DECISIONS, is_open=projects.is_open(project, now())))


def _render_proposal(session: Session, project: Project, proposal: Proposal, viewer: projects.Viewer,
                     form: DecisionForm | None = None, status: int = 200):
    is_buyer = viewer.buyer_id == project.buyer_id
    may_decide = is_buyer and not projects.is_open(project, now())
    if may_decide and form is None:
        form = DecisionForm(data={"decision": proposal.decision or "", "message": proposal.decision_message})
    return _private(render_template(
        "participation/proposal.html", project=project, proposal=proposal,
        supplier_name=sourcing.proposal_supplier_name(session, proposal), supplier_removed=proposal.supplier_id is None,
        attachments=sourcing.proposal_attachments(session, proposal), is_buyer=is_buyer,
        form=form if may_decide else None, errors=error_summary(form) if form is not None else [],
        decisions=DECISIONS, consent_fields=projects.CONSENT_FIELDS)), status


@bp.get("/projets/<slug>/propositions/<int:proposal_id>")
def proposal(slug: str, proposal_id: int):
    with database().session() as session:
        project = _project(session, slug)
        found, viewer = _readable_proposal(session, project, proposal_id)
        return _render_proposal(session, project, found, viewer)


@bp.get("/projets/<slug>/propositions/<int:proposal_id>/pieces/<int:attachment_id>")
def attachment(slug: str, proposal_id: int, attachment_id: int):
    """A proposal's file, downloaded (never shown inline), under the same rule as the proposal."""
    with database().session() as session:
        project = _project(session, slug)
        found, _ = _readable_proposal(session, project, proposal_id)
        stored = sourcing.proposal_attachment(session, found, attachment_id)
        if stored is None:
            abort(404)
        path = projects.attachment_path(settings().data_dir, stored)
        if not path.exists():
            abort(404)
        response = send_file(path, mimetype=stored.content_type, as_attachment=True, download_name=stored.filename,
                             max_age=0)
    response.headers["Content-Security-Policy"] = ATTACHMENT_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.update(PRIVATE_HEADERS)
    return response


@bp.post("/projets/<slug>/propositions/<int:proposal_id>/decision")
def decision(slug: str, proposal_id: int):
    form = DecisionForm()
    with database().session() as session:
        project = _project(session, slug)
        buyer = _require_buyer(session, project)
        found, viewer = _readable_proposal(session, project, proposal_id)
        if not form.validate_on_submit():
            return _render_proposal(session, project, found, viewer, form, 400)
        try:
            projects.decide(session, found, project, buyer, form.decision.data, form.message.data, now())
        except projects.ProjectError as error:
            _notice("Décision refusée", [str(error)], 409,
                    [(url_for("participation.proposal", slug=slug, proposal_id=proposal_id), "Retour")])
        _send(session, sourcing.decision_notice(found), project, proposal=found,
              label=DECISIONS[found.decision],  # type: ignore[index]
              link=external_url("participation.proposal_form", slug=slug))
    flash("La décision est enregistrée et envoyée au fournisseur.")
    return redirect(url_for("participation.proposal", slug=slug, proposal_id=proposal_id), code=303)


# -- the sourcing log and its exports ---------------------------------------------------------------------------
@bp.get("/projets/<slug>/journal", endpoint="log")  # the name the project page links to
def journal(slug: str):
    with database().session() as session:
        project = _project(session, slug)
        _require_buyer(session, project)
        return _private(render_template("participation/journal.html", project=project,
                                        lines=log_lines(projects.sourcing_log(session, project, now()))))


@bp.get("/projets/<slug>/journal.csv")
def journal_csv(slug: str):
    """The log as a spreadsheet; the export is logged first, so the file ends with its own line."""
    with database().session() as session:
        project = _project(session, slug)
        buyer = _require_buyer(session, project)
        projects.log(session, project, projects.buyer_actor(buyer), "export", now(), format="csv")
        body = render_log_csv(log_lines(projects.sourcing_log(session, project, now())))
        filename = f"vivier-journal-{project.slug[:60]}-{paris(now()).date().isoformat()}.csv"
    response = Response(body, mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    response.headers.update(PRIVATE_HEADERS)
    return response


@bp.get("/projets/<slug>/synthese")
def summary(slug: str):
    """A printable summary meant to be shared: answered questions, proposals with what their authors consented to
    disclose, decisions."""
    with database().session() as session:
        project = _project(session, slug)
        buyer = _require_buyer(session, project)
        projects.log(session, project, projects.buyer_actor(buyer), "export", now(), format="synthese")
        answered = sourcing.answered_questions(session, project)
        entries = [(proposal, name, shared_fields(proposal, sourcing.proposal_attachments(session, proposal)))
                   for proposal, name in sourcing.proposals_with_names(session, project)]
        return _private(render_template("participation/summary.html", project=project, buyer=buyer,
                                        questions=answered, entries=entries, decisions=DECISIONS,
                                        closed_at=projects.effective_closed_at(project, now()),
                                        event_count=len(projects.sourcing_log(session, project, now())), made_at=now()))


# -- a supplier's alerts ----------------------------------------------------------------------------------------
def _alerts_supplier(session: Session, slug: str) -> tuple[Supplier, str]:
    supplier, email = _require_supplier(session)
    if supplier.slug != slug:
        _notice("Accès refusé", ["Votre session concerne une autre entreprise."], 403)
    return supplier, email


@bp.route("/fournisseurs/<slug>/alertes", methods=["GET", "POST"])
@limiter.limit(form_rate_limit, methods=["POST"])
def alerts(slug: str):
    """New projects by categories, departments or a saved search, mailed to the supplier's verified address."""
    form = SubscriptionForm()
    with database().session() as session:
        supplier, email = _alerts_supplier(session, slug)
        errors: list[tuple[str, str, str]] = []
        if form.validate_on_submit():
            try:
                projects.subscribe(session, supplier, email, form.categories.data or [], form.department_codes(),
                             form.query.data or "", now())
            except projects.ProjectError as error:
                errors = [("categories-0", "Alerte", str(error))]
            else:
                flash("Alerte enregistrée : vous recevrez les nouveaux projets qui y correspondent.")
                return redirect(url_for("participation.alerts", slug=slug), code=303)
        errors = errors or error_summary(form)
        return _private(render_template("participation/alerts.html", supplier=supplier, email=email, form=form,
                                        errors=errors, subscriptions=sourcing.supplier_subscriptions(session, supplier),
                                        category_labels=taxonomy.CATEGORY_LABELS)), 400 if errors else 200


@bp.post("/fournisseurs/<slug>/alertes/<int:subscription_id>/supprimer")
def delete_alert(slug: str, subscription_id: int):
    with database().session() as session:
        supplier, _ = _alerts_supplier(session, slug)
        if not sourcing.delete_subscription(session, supplier, subscription_id):
            abort(404)
    flash("Alerte supprimée.")
    return redirect(url_for("participation.alerts", slug=slug), code=303)
