"""The background worker (vivier.jobs, search_app.jobs): requests only write rows; the worker delivers e-mail over a
real SMTP server on loopback, retries what failed, and never runs a job twice."""

from __future__ import annotations

import socketserver
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from search_app.jobs import run_pending
from tests.conftest import make_settings
from vivier import jobs
from vivier.db import Database
from vivier.mail import MAIL_JOB, deliver, header_text, send_mail
from vivier.models import Job, OutboxMessage, utcnow


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT; messages kept on the server."""

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self.reply("220 test ESMTP")
        while True:
            line = self.rfile.readline().decode(errors="replace").strip()
            verb = line[:4].upper()
            if not line or verb == "QUIT":
                self.reply("221 bye")
                return
            if verb == "EHLO":
                self.reply("250 test")
            elif verb == "DATA":
                self.reply("354 go")
                lines = []
                while (data := self.rfile.readline().decode(errors="replace")) not in (".\r\n", ""):
                    lines.append(data)
                self.server.messages.append("".join(lines))  # type: ignore[attr-defined]
                self.reply("250 queued")
            else:
                self.reply("250 ok")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.messages = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_request_records_the_message_and_the_worker_delivers_it(tmp_path, smtp_server):
    port = smtp_server.server_address[1]
    settings = make_settings(tmp_path).with_overrides(smtp_url=f"smtp://127.0.0.1:{port}")
    database = Database(settings)
    database.migrate()
    with database.session() as s:  # a title typed on two lines: no broken header, nothing lost
        message = send_mail(s, settings, "jeanne@exemple.fr", "Projet « Collecte\nBennes »\r\nBcc: x@y.z", "Corps")
        assert message.subject == "Projet « Collecte Bennes » Bcc: x@y.z" and message.sent_at is None
        [job] = s.scalars(select(Job)).all()
        assert job.kind == MAIL_JOB and smtp_server.messages == []  # nothing sent by the request itself
    with database.session() as s:
        runs = jobs.run_until_idle(s, {MAIL_JOB: lambda session, p: deliver(session, settings, p["outbox_id"])})
        assert [r.ok for r in runs] == [True]
        assert s.scalars(select(OutboxMessage)).one().sent_at is not None
    [sent] = smtp_server.messages
    assert "Subject: =?utf-8?" in sent or "Subject: Projet" in sent
    assert "\nBcc:" not in sent  # the injected header stayed in the subject's text
    database.dispose()


def test_an_unsubscribe_header_reaches_the_smtp_server_and_cannot_carry_another(tmp_path, smtp_server):
    port = smtp_server.server_address[1]
    settings = make_settings(tmp_path).with_overrides(smtp_url=f"smtp://127.0.0.1:{port}")
    database = Database(settings)
    database.migrate()
    link = "<https://vivier.example/recherche/alertes/desabonner/abc/un-clic>"
    with database.session() as s:
        send_mail(s, settings, "jeanne@exemple.fr", "Alerte", "Corps", headers={
            "List-Unsubscribe": link + "\r\nBcc: x@y.z", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    with database.session() as s:
        jobs.run_until_idle(s, {MAIL_JOB: lambda session, p: deliver(session, settings, p["outbox_id"])})
    [sent] = smtp_server.messages
    unfolded = sent.replace("\r\n ", " ")  # a long header is folded on several lines
    assert f"List-Unsubscribe: {link} Bcc: x@y.z" in unfolded and "\nBcc:" not in sent
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in sent
    database.dispose()


def test_a_failed_delivery_is_kept_and_retried_later(tmp_path):
    settings = make_settings(tmp_path).with_overrides(smtp_url="smtp://127.0.0.1:9")  # nobody listens there
    database = Database(settings)
    database.migrate()
    with database.session() as s:
        send_mail(s, settings, "jeanne@exemple.fr", "Sujet", "Corps")
    handlers = {MAIL_JOB: lambda session, p: deliver(session, settings, p["outbox_id"])}
    with database.session() as s:
        [run] = jobs.run_until_idle(s, handlers)
        assert not run.ok and "ConnectionRefusedError" in run.error
        job = s.scalars(select(Job)).one()
        assert job.finished_at is None and job.run_after > utcnow() and job.attempts == 1
        assert s.scalars(select(OutboxMessage)).one().error.startswith("ConnectionRefusedError")
        assert jobs.run_until_idle(s, handlers) == []  # not due yet
    database.dispose()


def test_a_job_is_taken_by_one_worker_only(tmp_path):
    database = Database(make_settings(tmp_path))
    database.migrate()
    with database.session() as s:
        jobs.enqueue(s, "count", {})
    ran = []
    barrier = threading.Barrier(4)

    def work() -> None:
        barrier.wait()
        with database.session() as s:
            jobs.run_until_idle(s, {"count": lambda session, p: ran.append(1)})

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ran == [1]
    database.dispose()


def test_a_job_left_by_a_dead_worker_is_taken_again_later(tmp_path):
    database = Database(make_settings(tmp_path))
    database.migrate()
    with database.session() as s:
        jobs.enqueue(s, "count", {})
        assert jobs.take(s, "dead-worker") is not None  # taken, then the worker was killed
        assert jobs.take(s, "other") is None
        later = utcnow() + jobs.STALE_AFTER + timedelta(seconds=1)
        assert jobs.take(s, "other", now=later).taken_by == "other"
    database.dispose()


def test_header_text_keeps_one_line():
    assert header_text("a\nb\r\nc\td") == "a b c d"


def test_the_app_runs_its_pending_jobs(private_app):
    """run_pending (what `vivier worker --once` does) runs the app's handlers in its context."""
    with private_app.extensions["vivier"]["database"].session() as s:
        jobs.enqueue(s, "edit-link", {"supplier_id": 1, "email": "nobody@nowhere.test"})
    [run] = run_pending(private_app)
    assert run.ok and run.kind == "edit-link"


def test_the_worker_runs_due_jobs_and_forgets_old_finished_ones(tmp_path):
    database = Database(make_settings(tmp_path))
    database.migrate()
    long_ago = utcnow() - jobs.KEEP_FINISHED - timedelta(days=1)
    with database.session() as s:
        old = jobs.enqueue(s, "count", {}, now=long_ago)
        old_failed = jobs.enqueue(s, "count", {}, now=long_ago)
        old.finished_at = old_failed.finished_at = long_ago
        old_failed.error = "SMTPServerDisconnected: gave up"  # kept: someone may want to know what was not sent
        jobs.enqueue(s, "count", {})
        s.commit()
    ran = []
    rounds = iter(range(3))
    jobs.serve(database.session, {"count": lambda session, p: ran.append(1)},
               stop=lambda: next(rounds, None) is None, sleep=lambda seconds: None)
    with database.session() as s:
        left = list(s.scalars(select(Job).order_by(Job.id)))
    assert ran == [1]
    assert [(j.id, j.error is not None, j.finished_at is not None) for j in left] == [
        (old_failed.id, True, True), (old_failed.id + 1, False, True)]
    database.dispose()


def test_the_worker_queues_its_periodic_jobs_once_per_housekeeping(tmp_path):
    database = Database(make_settings(tmp_path))
    database.migrate()
    ran = []
    rounds = iter(range(4))
    jobs.serve(database.session, {"tick": lambda session, p: ran.append(1)}, periodic=("tick",),
               stop=lambda: next(rounds, None) is None, sleep=lambda seconds: None)
    assert ran == [1]  # queued at start, run once: the next housekeeping is an hour away
    database.dispose()


def test_projects_past_their_deadline_are_closed_by_the_worker(private_app):
    from search_app.jobs import PERIODIC_JOBS, handlers
    from vivier.projects import CLOSE_DUE_JOB

    assert CLOSE_DUE_JOB in PERIODIC_JOBS and CLOSE_DUE_JOB in handlers(private_app)
