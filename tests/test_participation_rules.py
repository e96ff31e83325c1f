"""The rules the project and participation pages call (vivier.projects, vivier.sourcing), and the promise that a
page read (GET) writes nothing: a project past its deadline shows as closed everywhere before anything writes its
closure, which the next step on it or the worker's close_due_projects writes, with the same log line."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event, select

from tests.test_participation import (BUYER_EMAIL, DEADLINE, NOW, PDF, PNG, PROJECT, Clock, at, buyer_client, db,
                                      make_project, page, post, propose, proposal_row, supplier_client,
                                      suppliers_with_domain)
from vivier import projects, sourcing
from vivier.models import (PROJECT_CLOSED, PROJECT_DRAFT, PROJECT_PUBLISHED, Attachment, Job, Project, Question,
                           SourcingEvent)

AFTER = DEADLINE + timedelta(hours=1)


@pytest.fixture
def app(private_app):
    private_app.extensions["vivier"]["clock"] = Clock(NOW)
    return private_app


@contextlib.contextmanager
def writes(app):
    """The INSERT, UPDATE and DELETE statements the database receives meanwhile."""
    engine = app.extensions["vivier"]["database"].engine
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE", "REPLACE"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def stored_project(app, slug: str) -> Project:
    with db(app) as s:
        return s.scalar(select(Project).where(Project.slug == slug))


def log_rows(app, slug: str) -> list[tuple]:
    with db(app) as s:
        project = s.scalar(select(Project).where(Project.slug == slug))
        return [(e.at, e.actor, e.kind, e.detail) for e in projects.sourcing_log(s, project, AFTER)]


# -- GET writes nothing -------------------------------------------------------------------------------------------
def test_pages_of_a_project_past_its_deadline_write_nothing_and_show_it_closed(app):
    buyer_id, slug = make_project(app)
    [supplier] = suppliers_with_domain(app, 1)
    client, _ = supplier_client(app, supplier)
    assert propose(client, slug).status_code == 303
    assert post(client, f"/projets/{slug}/questions", {"text": "Les colonnes enterrées ?"}).status_code == 303
    proposal_id = proposal_row(app, supplier.id).id
    buyer = buyer_client(app, buyer_id)
    anonymous = app.test_client()
    at(app, AFTER)

    reads = [(anonymous, f"/projets/{slug}"), (buyer, f"/projets/{slug}"), (client, f"/projets/{slug}"),
             (anonymous, f"/projets/{slug}/questions"), (buyer, f"/projets/{slug}/propositions"),
             (buyer, f"/projets/{slug}/propositions/{proposal_id}"),
             (client, f"/projets/{slug}/propositions/{proposal_id}"), (client, f"/projets/{slug}/proposition"),
             (buyer, f"/projets/{slug}/journal"), (buyer, f"/projets/{slug}/modifier"), (buyer, "/acheteurs/projets"),
             (anonymous, "/projets"), (anonymous, "/projets?etat=closed"), (anonymous, "/projets/flux.atom"),
             (anonymous, "/projets/thematiques/waste.atom")]
    pages = {}
    with writes(app) as written:
        for who, path in reads:
            response = who.get(path)
            assert response.status_code in (200, 400), (path, response.status_code)
            pages[(id(who), path)] = page(response)
    assert written == []
    assert stored_project(app, slug).status == PROJECT_PUBLISHED  # nothing wrote the closure

    detail = pages[(id(buyer), f"/projets/{slug}")]
    assert "Clos" in detail and "Archiver" in detail and "Clore le sourcing" not in detail
    assert "Clos" in pages[(id(buyer), "/acheteurs/projets")]
    assert "ne peut plus être modifié" in pages[(id(buyer), f"/projets/{slug}/modifier")]
    assert "date limite atteinte" in pages[(id(buyer), f"/projets/{slug}/journal")]
    assert "Proposition verrouillée" in pages[(id(client), f"/projets/{slug}/proposition")]
    assert PROJECT["title"] in pages[(id(anonymous), "/projets?etat=closed")]
    assert PROJECT["title"] not in pages[(id(anonymous), "/projets/flux.atom")]  # the feeds list open projects

    shown = log_rows(app, slug)
    with db(app) as s:
        assert projects.close_due_projects(s, AFTER) == 1
        assert projects.close_due_projects(s, AFTER) == 0
    closed = stored_project(app, slug)
    assert (closed.status, closed.closed_at) == (PROJECT_CLOSED, DEADLINE)
    assert log_rows(app, slug) == shown  # the log written is the log shown


def test_a_step_after_the_deadline_writes_the_closure_before_its_own_line(app):
    buyer_id, slug = make_project(app)
    buyer = buyer_client(app, buyer_id)
    at(app, AFTER)
    with writes(app) as written:  # an export is logged (its own line): the counting above sees writes
        assert buyer.get(f"/projets/{slug}/journal.csv").status_code == 200
    assert [w.split(None, 2)[:2] for w in written] == [["INSERT", "INTO"]]
    assert stored_project(app, slug).status == PROJECT_PUBLISHED
    assert [row[2] for row in log_rows(app, slug)] == ["created", "published", "closed", "export"]
    assert post(buyer, f"/projets/{slug}/archiver").status_code == 303
    assert stored_project(app, slug).status == "archived"
    assert [row[2] for row in log_rows(app, slug)] == ["created", "published", "closed", "export", "archived"]


# -- status read without writing ----------------------------------------------------------------------------------
def test_effective_status_closes_a_published_project_at_its_deadline_only():
    published = Project(status=PROJECT_PUBLISHED, deadline=DEADLINE, closed_at=None)
    assert projects.effective_status(published, DEADLINE - timedelta(seconds=1)) == PROJECT_PUBLISHED
    assert projects.effective_closed_at(published, DEADLINE - timedelta(seconds=1)) is None
    assert projects.effective_status(published, DEADLINE) == PROJECT_CLOSED
    assert projects.effective_closed_at(published, DEADLINE) == DEADLINE
    assert published.status == PROJECT_PUBLISHED  # read, not written
    draft = Project(status=PROJECT_DRAFT, deadline=DEADLINE)
    assert projects.effective_status(draft, AFTER) == PROJECT_DRAFT
    early = Project(status=PROJECT_CLOSED, deadline=DEADLINE, closed_at=NOW)
    assert (projects.effective_status(early, AFTER), projects.effective_closed_at(early, AFTER)) == (
        PROJECT_CLOSED, NOW)


# -- matching -----------------------------------------------------------------------------------------------------
class FakeSearch:
    def __init__(self, local: list[int], everywhere: list[int]):
        self.local, self.everywhere, self.calls = local, everywhere, []

    def __call__(self, text, filters, count):
        self.calls.append((text, dict(filters), count))
        ids = self.local if filters.get("department") else self.everywhere
        return [SimpleNamespace(id=i) for i in ids][:count]


def _project(**changes) -> Project:
    return Project(**{"title": "Capteurs", "need": "Colonnes de tri", "context": "", "categories": ["waste"],
                      "departments": ["29"], **changes})


def test_matching_widens_to_every_department_when_the_territory_gives_too_few_suppliers():
    search = FakeSearch(local=[7], everywhere=[3, 7, 9])
    hits = projects.match_suppliers(_project(), search)
    assert [h.id for h in hits] == [7, 3, 9]  # local first, then the others, once each
    assert search.calls == [("Capteurs\n\nColonnes de tri", {"category": ["waste"], "department": ["29"]},
                             projects.MATCH_COUNT),
                            ("Capteurs\n\nColonnes de tri", {"category": ["waste"]}, projects.MATCH_COUNT)]


def test_matching_stays_local_with_enough_suppliers_or_without_departments():
    enough = FakeSearch(local=list(range(projects.MIN_LOCAL_MATCHES)), everywhere=[99])
    assert [h.id for h in projects.match_suppliers(_project(), enough)] == list(range(projects.MIN_LOCAL_MATCHES))
    assert len(enough.calls) == 1
    nowhere = FakeSearch(local=[1], everywhere=[1, 2])
    assert [h.id for h in projects.match_suppliers(_project(departments=[]), nowhere)] == [1, 2]
    assert len(nowhere.calls) == 1
    many = FakeSearch(local=[], everywhere=list(range(40)))
    assert len(projects.match_suppliers(_project(), many)) == projects.MATCH_COUNT


# -- who is told --------------------------------------------------------------------------------------------------
def test_each_step_tells_the_right_addresses(app):
    _, slug = make_project(app)
    first, second = suppliers_with_domain(app, 2)
    with db(app) as s:
        project = s.scalar(select(Project).where(Project.slug == slug))
        asker, proposer = s.get(type(first), first.id), s.get(type(second), second.id)
        assert sourcing.question_notice(s, project) == sourcing.Notice(sourcing.QUESTION_RECEIVED, (BUYER_EMAIL,))
        assert sourcing.answer_notice(s, project).recipients == ()  # nobody took part yet
        projects.ask(s, project, asker, "a@asker.test", "Une question ?", NOW)
        proposal = projects.submit_proposal(s, project, proposer, "b@proposer.test", {"text": "Une variante"}, NOW)
        assert sourcing.answer_notice(s, project) == sourcing.Notice(
            sourcing.ANSWER_PUBLISHED, ("a@asker.test", "b@proposer.test"))
        assert sourcing.proposal_notice(proposal) == sourcing.Notice(sourcing.PROPOSAL_RECEIVED, ("b@proposer.test",))
        assert sourcing.decision_notice(proposal) == sourcing.Notice(sourcing.DECISION, ("b@proposer.test",))
        assert [q.text for q in sourcing.project_questions(s, project)] == ["Une question ?"]
        assert sourcing.answered_questions(s, project) == []
        assert sourcing.proposals_with_names(s, project) == [(proposal, proposer.name)]
        assert sourcing.own_proposal(s, project, asker) is None
        assert sourcing.own_proposal(s, project, proposer) == proposal
        question_id = s.scalar(select(Question.id))
        assert sourcing.project_question(s, project, question_id) is not None
        assert sourcing.project_question(s, project, question_id + 1000) is None


# -- attachments --------------------------------------------------------------------------------------------------
def test_removing_attachments_deletes_the_proposals_own_rows_and_queues_the_file_sweep(app, tmp_path):
    _, slug = make_project(app)
    first, second = suppliers_with_domain(app, 2)
    with db(app) as s:
        project = s.scalar(select(Project).where(Project.slug == slug))
        mine = projects.submit_proposal(s, project, s.get(type(first), first.id), "a@x.test", {"text": "A"}, NOW)
        theirs = projects.submit_proposal(s, project, s.get(type(second), second.id), "b@x.test", {"text": "B"}, NOW)
        kept = projects.store_attachment(s, tmp_path, "a.pdf", PDF, proposal=mine, now=NOW)
        gone = projects.store_attachment(s, tmp_path, "b.png", PNG, proposal=mine, now=NOW)
        other = projects.store_attachment(s, tmp_path, "c.png", PNG, proposal=theirs, now=NOW)
        assert projects.remove_attachments(s, mine, []) == 0
        assert s.scalars(select(Job).where(Job.kind == projects.SWEEP_JOB)).all() == []
        assert projects.remove_attachments(s, mine, [gone.id, other.id]) == 1  # another's file is not its to remove
        assert [a.id for a in sourcing.proposal_attachments(s, mine)] == [kept.id]
        assert s.get(Attachment, other.id) is not None
        [sweep] = s.scalars(select(Job).where(Job.kind == projects.SWEEP_JOB)).all()
        assert sweep.run_after >= sweep.created_at + projects.ORPHAN_GRACE
        assert sourcing.proposal_attachment(s, theirs, other.id) is not None
        assert sourcing.proposal_attachment(s, mine, other.id) is None


# -- the sourcing log ---------------------------------------------------------------------------------------------
def test_the_log_read_after_the_deadline_has_the_closure_where_it_will_be_written(app):
    _, slug = make_project(app)
    with db(app) as s:
        project = s.scalar(select(Project).where(Project.slug == slug))
        before = projects.sourcing_log(s, project, DEADLINE - timedelta(minutes=1))
        assert [e.kind for e in before] == ["created", "published"]
        read = projects.sourcing_log(s, project, AFTER)
        assert [(e.kind, e.at, e.actor, e.detail) for e in read[2:]] == [
            ("closed", DEADLINE, "Vivier", {"reason": "date limite atteinte"})]
        assert s.scalar(select(SourcingEvent).where(SourcingEvent.kind == "closed")) is None  # only read
        assert not s.new and not s.dirty


def test_the_project_list_filters_by_the_state_now_without_writing(app):
    _, slug = make_project(app)
    with db(app) as s:
        assert [p.slug for p in projects.list_public_projects(s, status=PROJECT_PUBLISHED, now=NOW)] == [slug]
        assert projects.list_public_projects(s, status=PROJECT_CLOSED, now=NOW) == []
        assert projects.list_public_projects(s, status=PROJECT_PUBLISHED, now=AFTER) == []
        assert [p.slug for p in projects.list_public_projects(s, status=PROJECT_CLOSED, now=AFTER)] == [slug]
        assert not s.dirty
    assert stored_project(app, slug).status == PROJECT_PUBLISHED
