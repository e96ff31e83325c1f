"""Purchase projects on the web: a verified buyer prepares, publishes, closes and archives a project; everyone
reads the published ones, searches them and follows them by Atom feeds.

The rules live in vivier.projects (states, who may publish, the sourcing log, the matching of suppliers, who is
told of a new project); these views parse the forms (search_app.purchasing.forms), call the rule, write the e-mails
and render. A GET writes nothing: a project past its deadline shows as closed (vivier.projects.effective_status)
before anything writes its closure. Time always comes from search_app.identity.now (tests move it across
deadlines).
"""

from __future__ import annotations

import re
from datetime import timezone
from collections.abc import Mapping, Sequence
from typing import Any

from feedgen.feed import FeedGenerator
from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template, request, send_file,
                   url_for)
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from indexer.backends.base import IndexNotReady, SearchUnavailable
from search_app.formatting import clock_time
from search_app.extensions import external_url, form_rate_limit, limiter, site_root
from search_app.identity import current_buyer, now
from search_app.purchasing.forms import (MAX_MILESTONES, ProjectForm, form_data_from_project, is_blank_upload,
                                      milestones_from_form, project_from_form, utc_to_paris)
from search_app.purchasing.timeline import render_svg, timeline_marks
from search_app.context import database, search, settings
from search_app.forms import error_summary
from vivier import geo, projects, taxonomy, textfiles
from vivier.mail import send_mail
from vivier.models import (CONTRACT_MODELS, PROJECT_ARCHIVED, PROJECT_CLOSED, PROJECT_DRAFT, PROJECT_PUBLISHED,
                           Attachment, Buyer, Project)

bp = Blueprint("projects", __name__)

STATUS_LABELS = {PROJECT_DRAFT: "Brouillon", PROJECT_PUBLISHED: "Publié", PROJECT_CLOSED: "Clos",
                 PROJECT_ARCHIVED: "Archivé"}
# Files one form submission may carry, and so the request size it may reach: a few studies at a time (the project
# holds vivier.projects.MAX_ATTACHMENTS in all), each up to its cap, plus the form's text.
FILES_PER_SUBMISSION = 5
FORM_TEXT_BYTES = 256 * 1024
MAX_REQUEST_BYTES = FILES_PER_SUBMISSION * (projects.MAX_ATTACHMENT_BYTES + 1) + FORM_TEXT_BYTES
UPLOAD_ENDPOINTS = ("projects.new", "projects.edit")
# Feeds: the newest published projects; the summary is the need's first characters (a reader's preview).
FEED_ENTRIES = 50
SUMMARY_CHARS = 300
# The feeds' author (an Atom feed names one); each entry names its buying organisation besides.
FEED_AUTHOR = "Vivier, sourcing de solutions pour les territoires"
# Words of the public list's text search, and characters read from the box.
QUERY_MAX_CHARS = 200
NEW_PROJECT_SUBJECT = "Vivier : nouveau projet d'achat « {title} »"


# -- helpers ------------------------------------------------------------------------------------------------------
@bp.url_value_preprocessor
def allow_uploads(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Raise the request size limit of the project form before anything reads the body: the CSRF check (an app
    before_request function) parses the form first, and url value preprocessors run before it."""
    if endpoint in UPLOAD_ENDPOINTS and request.method == "POST":
        request.max_content_length = MAX_REQUEST_BYTES


@bp.app_template_filter("paris")
def paris_filter(moment, with_time: bool = True) -> str:
    """A stored UTC datetime as a French reader reads it: Paris time."""
    if moment is None:
        return ""
    local = utc_to_paris(moment)
    return f"{local:%d/%m/%Y} à {clock_time(local)}" if with_time else f"{local:%d/%m/%Y}"


def _signed_in_buyer(session: Session) -> Buyer:
    """The buyer of this browser, or a redirect to the sign-in page."""
    buyer = current_buyer(session)
    if buyer is None:
        flash("Connectez-vous comme acheteur : nous vous envoyons un lien de connexion par courriel.")
        abort(redirect(url_for("buyers.sign_in"), code=303))
    return buyer


def _project_or_404(session: Session, slug: str) -> Project:
    project = projects.project_by_slug(session, slug)
    if project is None:
        abort(404)
    return project


def _owned_project(session: Session, slug: str) -> tuple[Buyer, Project]:
    """The signed-in buyer and its project; another buyer's project is 403."""
    buyer = _signed_in_buyer(session)
    project = _project_or_404(session, slug)
    if project.buyer_id != buyer.id:
        abort(403)
    return buyer, project


def _visible_project(session: Session, slug: str) -> tuple[Project, bool]:
    """A project anyone may read (published, closed, archived), or a draft its own buyer reads; 404 otherwise
    (a draft's existence is not public)."""
    project = _project_or_404(session, slug)
    buyer = current_buyer(session)
    owner = buyer is not None and buyer.id == project.buyer_id
    if project.status == PROJECT_DRAFT and not owner:
        abort(404)
    return project, owner


def _refused(project: Project, message: str, status: int = 400, title: str = "Action impossible",
             paragraphs: Sequence[str] = ()):
    return render_template("profiles/notice.html", title=title, status=status, paragraphs=[message, *paragraphs],
                           links=[(url_for("projects.detail", slug=project.slug), "Retour au projet"),
                                  (url_for("buyers.projects"), "Mes projets")]), status


# Why an unverified buyer cannot publish yet, and what happens next: on the project page (before any click) and
# on the refusal of a publication posted anyway.
UNVERIFIED_PUBLICATION = ("Votre adresse n'est pas encore vérifiée : notre équipe vérifie qu'elle appartient à un "
                          "acheteur public, puis vous écrit. Vous pourrez publier ce projet dès la vérification "
                          "faite ; d'ici là, vous pouvez le modifier en brouillon.")


# -- uploads ------------------------------------------------------------------------------------------------------
def _uploads(form: ProjectForm) -> list[tuple[str, bytes]]:
    """(name, bytes) of each file posted, read up to one byte past the cap (enough to refuse it)."""
    return [(storage.filename, storage.stream.read(projects.MAX_ATTACHMENT_BYTES + 1))
            for storage in (form.files.data or []) if not is_blank_upload(storage)]


def check_uploads(files: list[tuple[str, bytes]], already: int) -> list[str]:
    """A French message per refused file (its name first); empty when every file may be stored."""
    errors = []
    if len(files) > FILES_PER_SUBMISSION:
        errors.append(f"{FILES_PER_SUBMISSION} fichiers au plus par envoi.")
    if already + len(files) > projects.MAX_ATTACHMENTS:
        errors.append(f"{projects.MAX_ATTACHMENTS} pièces jointes au plus par projet ({already} déjà jointes).")
    for name, data in files:
        try:
            projects.attachment_kind(name, data)
        except projects.ProjectError as error:
            errors.append(f"{name[:120]} : {textfiles.unsafe_reason(name, data) or error}")
    return errors


def _store_uploads(session: Session, project: Project, files: list[tuple[str, bytes]]) -> None:
    for name, data in files:
        projects.store_attachment(session, settings().data_dir, name, data, project=project, now=now())


# -- matching and notifications -----------------------------------------------------------------------------------
def _hybrid_search(text: str, filters, count: int) -> list:
    return search().search(text, filters=dict(filters), per_page=count, mode="hybrid").hits


def matching_hits(project: Project) -> list | None:
    """The directory's best suppliers for the project (vivier.projects.match_suppliers, on the hybrid search), or
    None when the search cannot answer (publication goes on without them)."""
    try:
        return projects.match_suppliers(project, _hybrid_search)
    except (IndexNotReady, SearchUnavailable) as error:
        current_app.logger.warning("matching skipped for project %s: %s", project.slug, error)
        return None


def notify_subscribers(session: Session, project: Project) -> int:
    """One e-mail per subscribed address the project concerns; how many were sent."""
    addresses = projects.subscriber_addresses(session, project)
    link = external_url("projects.detail", slug=project.slug)
    for address in addresses:
        body = render_template("projects/mail/new_project.txt", project=project, link=link,
                               contract_label=CONTRACT_MODELS.get(project.contract_model, ""))
        send_mail(session, settings(), address, NEW_PROJECT_SUBJECT.format(title=project.title[:200]), body)
    return len(addresses)


# -- the buyer's form ---------------------------------------------------------------------------------------------
def number_milestone_labels(form: ProjectForm) -> None:
    """Each row's fields named after their row ("Étape 2 : date"): eight "Date" fields read out alike otherwise."""
    for number, entry in enumerate(form.milestones.entries, start=1):
        entry.form.date.label.text = f"Étape {number} : date"
        entry.form.label.label.text = f"Étape {number} : intitulé"


def _render_form(form: ProjectForm, project: Project | None, status: int, file_errors: Sequence[str] = (),
                 attachments: Sequence[Attachment] = ()):
    number_milestone_labels(form)
    # A row's fields already say their row ("Étape 3 : intitulé"): the summary's block prefix would repeat it.
    errors = [(anchor, re.sub(r"^milestones \d+ : ", "", label), message)
              for anchor, label, message in error_summary(form)]
    errors += [("files", "Documents", message) for message in file_errors]
    return render_template("projects/form.html", form=form, project=project, errors=errors,
                           file_errors=list(file_errors), attachments=list(attachments),
                           max_milestones=MAX_MILESTONES), status


@bp.route("/projets/nouveau", methods=["GET", "POST"])
@limiter.limit(form_rate_limit, methods=["POST"])
def new():
    with database().session() as session:
        buyer = _signed_in_buyer(session)
        form = ProjectForm(deadline_after=now())
        if not form.validate_on_submit():
            return _render_form(form, None, 400 if form.errors else 200)
        files = _uploads(form)
        file_errors = check_uploads(files, 0)
        if file_errors:
            return _render_form(form, None, 400, file_errors)
        project = projects.create_project(session, buyer, project_from_form(form), milestones_from_form(form), now())
        try:
            _store_uploads(session, project, files)
        except projects.StorageUnavailable as error:  # nothing is kept; the form comes back as typed
            session.rollback()
            projects.discard_failed_uploads(session)
            return _render_form(form, None, 503, [str(error)])
        slug = project.slug
    flash("Projet enregistré en brouillon : relisez-le, puis publiez-le.")
    return redirect(url_for("projects.detail", slug=slug), code=303)


@bp.route("/projets/<slug>/modifier", methods=["GET", "POST"])
@limiter.limit(form_rate_limit, methods=["POST"])
def edit(slug: str):
    """A draft is edited freely, a published project with every change logged; a closed one is frozen."""
    with database().session() as session:
        buyer, project = _owned_project(session, slug)
        if projects.effective_status(project, now()) not in (PROJECT_DRAFT, PROJECT_PUBLISHED):
            return _refused(project, "Ce projet est clos : il ne peut plus être modifié.")
        attachments = projects.project_attachments(session, project)
        form = (ProjectForm(deadline_after=now()) if request.method == "POST"
                else ProjectForm(data=form_data_from_project(project), deadline_after=now()))
        if not form.validate_on_submit():
            return _render_form(form, project, 400 if form.errors else 200, attachments=attachments)
        files = _uploads(form)
        file_errors = check_uploads(files, len(attachments))
        if file_errors:
            return _render_form(form, project, 400, file_errors, attachments)
        try:
            projects.update_project(session, project, buyer, project_from_form(form), milestones_from_form(form),
                                   now())
        except projects.ProjectError as error:
            return _refused(project, str(error))
        try:
            _store_uploads(session, project, files)
        except projects.StorageUnavailable as error:
            session.rollback()
            projects.discard_failed_uploads(session)
            return _refused(project, str(error), 503)
    flash("Modifications enregistrées.")
    return redirect(url_for("projects.detail", slug=slug), code=303)


# -- states -------------------------------------------------------------------------------------------------------
@bp.post("/projets/<slug>/publier")
def publish(slug: str):
    """Publish, then find the best-matching suppliers and tell the subscribed ones (after the commit: the
    publication stands whatever the search or the mail does)."""
    with database().session() as session:
        buyer, project = _owned_project(session, slug)
        try:
            projects.publish(session, project, buyer, now())
        except projects.ProjectError as error:
            if not buyer.verified:
                return _refused(project, str(error), 403, "Publication impossible pour l'instant",
                                [UNVERIFIED_PUBLICATION])
            return _refused(project, str(error), title="Publication impossible")
        session.commit()
        hits = matching_hits(project)
        if hits is None:
            flash("Projet publié. La recherche des fournisseurs correspondants n'a pas pu se faire pour l'instant.")
        else:
            projects.record_matches(session, project, hits, now())
            flash(f"Projet publié : {len(project.matches)} fournisseurs correspondants trouvés.")
        session.commit()
        notify_subscribers(session, project)
    return redirect(url_for("projects.detail", slug=slug), code=303)


def _change_state(slug: str, action, done: str):
    with database().session() as session:
        buyer, project = _owned_project(session, slug)
        try:
            action(session, project, buyer, now())
        except projects.ProjectError as error:
            return _refused(project, str(error))
    flash(done)
    return redirect(url_for("projects.detail", slug=slug), code=303)


@bp.post("/projets/<slug>/cloturer")
def close(slug: str):
    return _change_state(slug, projects.close, "Projet clos : plus aucune question ni proposition n'est acceptée.")


@bp.post("/projets/<slug>/archiver")
def archive(slug: str):
    return _change_state(slug, projects.archive, "Projet archivé.")


# -- public pages -------------------------------------------------------------------------------------------------
@bp.get("/projets")
def index():
    text = request.args.get("q", "")[:QUERY_MAX_CHARS]
    category = request.args.get("thematique") or None
    department = request.args.get("departement") or None
    status = request.args.get("etat") or None
    with database().session() as session:
        found = projects.list_public_projects(session, text, category, department, status, now())
        return render_template("projects/index.html", projects=found, text=text, category=category,
                               department=department, status=status, status_labels=STATUS_LABELS,
                               statuses={p.id: projects.effective_status(p, now()) for p in found},
                               public_statuses=projects.PUBLIC_STATUSES)


def project_timeline(project: Project, at) -> Markup:
    """The retro-planning picture: milestones, publication (planned today for a draft) and deadline, Paris time."""
    published = project.published_at
    marks = timeline_marks(
        [(utc_to_paris(m.date), m.label) for m in project.milestones],
        utc_to_paris(published or at), utc_to_paris(project.deadline),
        publication_label="Publication" if published else "Publication (pas encore faite)")
    return Markup(render_svg(marks, title=f"Rétroplanning : {project.title}", svg_id=f"timeline-{project.id}"))


def buyer_links(slug: str) -> list[tuple[str, str]]:
    """Links to the buyer's pages of the participation side (built separately: shown once they exist)."""
    pages = (("participation.proposals", "Propositions reçues"), ("participation.log", "Journal du sourcing"))
    return [(url_for(endpoint, slug=slug), text) for endpoint, text in pages
            if endpoint in current_app.view_functions]


@bp.get("/projets/<slug>")
def detail(slug: str):
    with database().session() as session:
        project, owner = _visible_project(session, slug)
        buyer = session.get(Buyer, project.buyer_id)
        response = render_template(
            "projects/detail.html", project=project, owner=owner, buyer=buyer, status_labels=STATUS_LABELS,
            status=projects.effective_status(project, now()),
            contract_label=CONTRACT_MODELS.get(project.contract_model, project.contract_model),
            attachments=projects.project_attachments(session, project), timeline=project_timeline(project, now()),
            open_now=projects.is_open(project, now()), buyer_links=buyer_links(project.slug) if owner else [],
            unverified_publication=UNVERIFIED_PUBLICATION)
    headers = {"Cache-Control": "private, no-store"} if owner else {}
    return response, 200, headers


@bp.get("/projets/<slug>/pieces/<int:attachment_id>")
def attachment(slug: str, attachment_id: int):
    """A preliminary study's file, always as a download, in a sandbox: a file is never rendered as a page of the
    site (a PDF with scripts, an image that is really HTML)."""
    with database().session() as session:
        project, owner = _visible_project(session, slug)
        row = projects.project_attachment(session, project, attachment_id)
        if row is None:
            abort(404)
        path = projects.attachment_path(settings().data_dir, row)
        if not path.is_file():
            abort(404)
        response = send_file(path, mimetype=row.content_type, as_attachment=True, download_name=row.filename,
                             max_age=0, etag=row.sha256)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"
    if project.status == PROJECT_DRAFT:
        response.headers["Cache-Control"] = "private, no-store"
    return response


# -- Atom feeds ---------------------------------------------------------------------------------------------------
def feed_summary(project: Project) -> str:
    need = " ".join(project.need.split())
    if len(need) > SUMMARY_CHARS:
        need = need[:SUMMARY_CHARS - 1].rstrip() + "…"
    return f"{need}\n\nDate limite de réponse : {paris_filter(project.deadline)} (heure de Paris)."


def build_feed(items: list[Project], title: str, self_url: str, page_url: str,
               organisations: Mapping[int, str] | None = None) -> bytes:
    """An Atom document of the projects, newest first. The feed's author is Vivier (RFC 4287 wants one for the
    feed or for every entry); an entry's author is the buying organisation when its buyer named one
    (`organisations`: buyer id -> name)."""
    feed = FeedGenerator()
    feed.id(self_url)
    feed.title(title)
    feed.author({"name": FEED_AUTHOR, "uri": site_root() + "/"})
    feed.language("fr")
    feed.link(href=self_url, rel="self", type="application/atom+xml")
    feed.link(href=page_url, rel="alternate", type="text/html")
    dates = [p.published_at for p in items if p.published_at] or [now()]
    feed.updated(max(dates).replace(tzinfo=timezone.utc))
    for project in items:
        url = external_url("projects.detail", slug=project.slug)
        published = (project.published_at or project.created_at).replace(tzinfo=timezone.utc)
        entry = feed.add_entry(order="append")
        entry.id(url)
        entry.title(project.title)
        entry.link(href=url, rel="alternate", type="text/html")
        entry.published(published)
        entry.updated(max(published, project.updated_at.replace(tzinfo=timezone.utc)))
        entry.summary(feed_summary(project))
        organisation = (organisations or {}).get(project.buyer_id)
        if organisation:
            entry.author({"name": organisation})
    return feed.atom_str(pretty=True)


def _feed(title: str, category: str | None = None, department: str | None = None) -> Response:
    with database().session() as session:
        found = projects.list_public_projects(session, category=category, department=department,
                                             status=PROJECT_PUBLISHED, now=now())[:FEED_ENTRIES]
        page = external_url("projects.index", thematique=category, departement=department)
        buyer_ids = {p.buyer_id for p in found}
        organisations = {b.id: b.organisation for b in session.scalars(select(Buyer).where(Buyer.id.in_(buyer_ids)))
                         if b.organisation}
        body = build_feed(found, title, site_root() + request.full_path.rstrip("?"), page, organisations)
    return Response(body, content_type="application/atom+xml; charset=utf-8")


@bp.get("/projets/flux.atom")
def feed_all():
    return _feed("Vivier : projets d'achat publiés")


@bp.get("/projets/thematiques/<category>.atom")
def feed_category(category: str):
    label = taxonomy.CATEGORY_LABELS.get(category)
    if label is None:
        abort(404)
    return _feed(f"Vivier : projets d'achat — {label}", category=category)


@bp.get("/projets/departements/<code>.atom")
def feed_department(code: str):
    name = geo.department_name(code)
    if name is None:
        abort(404)
    return _feed(f"Vivier : projets d'achat — {code} {name}", department=code)
