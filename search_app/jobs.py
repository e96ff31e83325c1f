"""The background jobs that need the web app (its templates, its links), and the worker that runs every job.

A request enqueues (vivier.jobs) and answers; the worker (`vivier worker`, or the thread `vivier serve` starts)
runs the jobs inside the app's context, so that handlers render the same templates and build the same absolute
links (on VIVIER_BASE_URL) as the pages.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from flask import Flask, render_template
from sqlalchemy.orm import Session

from vivier import jobs
from vivier import submissions
from vivier.alerts import ALERTS_JOB
from vivier.mail import MAIL_JOB, deliver, send_mail
from vivier.models import Supplier, utcnow
from vivier.projects import CLOSE_DUE_JOB, SWEEP_JOB, close_due_projects, sweep_attachment_files

EDIT_LINK_SUBJECT = "Vivier : votre lien pour modifier la fiche {name}"


def handlers(app: Flask) -> dict[str, jobs.Handler]:
    settings = app.extensions["vivier"]["settings"]

    def mail(session: Session, payload: Mapping[str, Any]) -> None:
        deliver(session, settings, int(payload["outbox_id"]))

    def edit_link(session: Session, payload: Mapping[str, Any]) -> None:
        from search_app.extensions import external_url
        from search_app.labels import lifetime_text

        supplier = session.get(Supplier, int(payload["supplier_id"]))
        if supplier is None:
            return
        raw = submissions.edit_link_token(session, supplier, str(payload["email"]), utcnow())
        if raw is None:  # not a verified address of this company: nothing is sent, and nobody is told
            return
        body = render_template("profiles/mail/edit_link.txt", supplier_name=supplier.name,
                               link=external_url("profiles.access", token=raw),
                               lifetime=lifetime_text(submissions.EDIT_LINK_LIFETIME),
                               session_lifetime=lifetime_text(submissions.EDIT_SESSION_LIFETIME))
        send_mail(session, settings, str(payload["email"]), EDIT_LINK_SUBJECT.format(name=supplier.name), body)

    def sweep(session: Session, payload: Mapping[str, Any]) -> None:
        sweep_attachment_files(session, settings.data_dir)

    def index_update(session: Session, payload: Mapping[str, Any]) -> None:
        update_search_index(app)

    def close_due(session: Session, payload: Mapping[str, Any]) -> None:
        close_due_projects(session)  # pages already show them closed (effective_status): this writes it down

    def search_alerts(session: Session, payload: Mapping[str, Any]) -> None:
        from search_app.public.alerts import send_digests

        send_digests(session)  # e-mail alerts on searches: what matches anew since each one's last e-mail

    return {MAIL_JOB: mail, submissions.EDIT_LINK_JOB: edit_link, SWEEP_JOB: sweep, jobs.INDEX_UPDATE_JOB: index_update,
            CLOSE_DUE_JOB: close_due, ALERTS_JOB: search_alerts}


# Queued by the worker once an hour (vivier.jobs.serve): projects whose deadline passed are closed in the database;
# search alerts mail their news.
PERIODIC_JOBS = (CLOSE_DUE_JOB, ALERTS_JOB)


def update_search_index(app: Flask) -> bool:
    """Apply what changed in the database to the live search index (embedding only the changed profiles' texts),
    then rewrite the open-data files. False when there is no index yet (the next build includes the changes); a
    search server that does not answer raises, so that the job is retried later."""
    from indexer.backends.base import IndexNotReady
    from indexer.build import update_index

    ext = app.extensions["vivier"]
    try:
        if not ext["search"].backend.status().get("ready"):
            return False
        update_index(ext["settings"], ext["search"].encoder)  # the open-data files follow it
        ext["search"].backend.refresh()  # this process's searches see it at once; others reload it in background
    except IndexNotReady as error:
        app.logger.warning("index update skipped: %s", error)
        return False
    return True


def run_pending(app: Flask) -> list[jobs.JobRun]:
    """Run every due job now, in this thread (tests, `vivier worker --once`)."""
    with app.app_context():
        with app.extensions["vivier"]["database"].session() as session:
            return jobs.run_until_idle(session, _in_context(app, handlers(app)))


def _in_context(app: Flask, table: Mapping[str, jobs.Handler]) -> dict[str, jobs.Handler]:
    """Handlers run within a request context on the base URL: templates and url_for work as in a page."""
    base = app.extensions["vivier"]["settings"].base_url or "http://localhost"

    def wrap(handler: jobs.Handler) -> jobs.Handler:
        def run(session: Session, payload: Mapping[str, Any]) -> None:
            with app.test_request_context("/", base_url=base):
                handler(session, payload)
        return run

    return {kind: wrap(handler) for kind, handler in table.items()}


def serve(app: Flask, stop: threading.Event | None = None) -> None:
    """Run jobs until `stop` is set (a `vivier worker` process, or a thread of `vivier serve`)."""
    stop = stop or threading.Event()
    database = app.extensions["vivier"]["database"]
    jobs.serve(database.session, _in_context(app, handlers(app)), stop=stop.is_set, sleep=stop.wait,
               periodic=PERIODIC_JOBS)


def start_thread(app: Flask) -> threading.Event:
    """A daemon thread running the jobs of this process's app (the development server); set the event to stop."""
    stop = threading.Event()
    threading.Thread(target=serve, args=(app, stop), name="vivier-worker", daemon=True).start()
    return stop
