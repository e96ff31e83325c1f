"""Background jobs: a table in the database is the queue, `vivier worker` the consumer (no extra server).

A web request only writes rows: it enqueues what is slow or must not depend on the request (delivering an e-mail
over SMTP, sending a private link, updating the search index), commits, and answers. The worker takes the oldest
due job with one UPDATE that only one worker can win (several workers, or a worker per web server, never run a job
twice), runs the handler registered for its kind, and marks it done; a failure is recorded and retried later with
a growing delay, MAX_ATTEMPTS times at most. A job taken by a worker that died (killed mid-job) is taken again
after STALE_AFTER.

Handlers are given by the caller (vivier_cli's worker: the mail delivery here in the core, the app's handlers that
need its templates): the core imports none of the other packages.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from vivier.models import Job, utcnow

logger = logging.getLogger(__name__)

# Attempts before a job is left failed (its error kept): SMTP servers and search servers come back within minutes.
MAX_ATTEMPTS = 6
# Delay before the n-th retry: 30 s, 1 min, 2 min... (doubling), at most an hour.
RETRY_BASE = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)
# A job started this long ago and not finished belongs to a worker that died: another may take it.
STALE_AFTER = timedelta(minutes=15)
# Seconds the worker sleeps when no job is due.
IDLE_SLEEP_S = 1.0
# Finished jobs are deleted after this long (the outbox and the index keep what they did), by the worker once per
# HOUSEKEEPING_EVERY.
KEEP_FINISHED = timedelta(days=7)
HOUSEKEEPING_EVERY = timedelta(hours=1)

Handler = Callable[[Session, Mapping[str, Any]], None]

# Apply what changed in the database to the live search index (an approval, a hidden or removed profile). One
# pending job is enough: it applies every change committed before it runs (search_app.jobs runs it).
INDEX_UPDATE_JOB = "index-update"


@dataclass(frozen=True)
class JobRun:
    id: int
    kind: str
    ok: bool
    error: str | None = None


def enqueue(session: Session, kind: str, payload: Mapping[str, Any] | None = None,
            now: datetime | None = None, delay: timedelta = timedelta(0)) -> Job:
    """Add a job (flushed with the caller's transaction: it exists once the request's changes are committed)."""
    now = now or utcnow()
    job = Job(kind=kind, payload=dict(payload or {}), created_at=now, run_after=now + delay, attempts=0)
    session.add(job)
    session.flush()
    return job


def enqueue_once(session: Session, kind: str, now: datetime | None = None) -> Job:
    """Add a job of `kind` unless one is already waiting that no worker has taken (its run will see this request's
    changes too). Two requests racing may both add one: the second run then finds little or nothing to do."""
    waiting = session.scalar(select(Job).where(Job.kind == kind, Job.started_at.is_(None),
                                               Job.finished_at.is_(None)).limit(1))
    return waiting if waiting is not None else enqueue(session, kind, now=now)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def take(session: Session, worker: str, kinds: Collection | None = None, now: datetime | None = None) -> Job | None:
    """The oldest due job, now taken by `worker` (committed), or None. Taking is one conditional UPDATE: when two
    workers race for a job, one updates a row and the other none, and tries the next."""
    now = now or utcnow()
    for _ in range(5):
        query = (select(Job.id).where(Job.finished_at.is_(None), Job.run_after <= now,
                                      (Job.started_at.is_(None)) | (Job.started_at < now - STALE_AFTER))
                 .order_by(Job.run_after, Job.id).limit(1))
        if kinds is not None:
            query = query.where(Job.kind.in_(list(kinds)))
        job_id = session.scalar(query)
        if job_id is None:
            return None
        taken = session.execute(
            update(Job).where(Job.id == job_id, Job.finished_at.is_(None),
                              (Job.started_at.is_(None)) | (Job.started_at < now - STALE_AFTER))
            .values(started_at=now, taken_by=worker, attempts=Job.attempts + 1)
            .execution_options(synchronize_session=False))
        session.commit()
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return session.get(Job, job_id)
    return None


def retry_delay(attempts: int) -> timedelta:
    return min(RETRY_MAX, RETRY_BASE * (2 ** max(0, attempts - 1)))


def run_one(session: Session, handlers: Mapping[str, Handler], worker: str, kinds: Collection | None = None,
            now: datetime | None = None) -> JobRun | None:
    """Take one due job and run it; None when none is due. The handler's writes and the job's completion are
    committed together; a failure rolls the handler's writes back and schedules a retry."""
    job = take(session, worker, kinds, now)
    if job is None:
        return None
    job_id, kind, payload, attempts = job.id, job.kind, dict(job.payload or {}), job.attempts
    handler = handlers.get(kind)
    try:
        if handler is None:
            raise LookupError(f"no handler for jobs of kind {kind!r}")
        handler(session, payload)
        session.execute(update(Job).where(Job.id == job_id).values(finished_at=utcnow(), error=None)
                        .execution_options(synchronize_session=False))
        session.commit()
        return JobRun(job_id, kind, True)
    except Exception as error:  # a job's failure must not stop the worker: it is recorded and retried
        session.rollback()
        message = f"{type(error).__name__}: {error}"[:2000]
        logger.warning("job %s (%s) failed, attempt %s: %s", job_id, kind, attempts, message)
        values: dict[str, Any] = {"error": message, "started_at": None, "taken_by": None}
        if attempts >= MAX_ATTEMPTS:
            values["finished_at"] = utcnow()  # given up: kept with its error
        else:
            values["run_after"] = utcnow() + retry_delay(attempts)
        session.execute(update(Job).where(Job.id == job_id).values(**values)
                        .execution_options(synchronize_session=False))
        session.commit()
        return JobRun(job_id, kind, False, message)


def run_until_idle(session: Session, handlers: Mapping[str, Handler], worker: str | None = None,
                   kinds: Collection | None = None, limit: int = 10_000) -> list[JobRun]:
    """Run every due job (tests, `vivier worker --once`); the runs, in order."""
    worker = worker or worker_name()
    runs = []
    for _ in range(limit):
        run = run_one(session, handlers, worker, kinds)
        if run is None:
            break
        runs.append(run)
    return runs


def forget_finished(session: Session, now: datetime | None = None) -> int:
    """Delete jobs finished more than KEEP_FINISHED ago (failed ones are kept with their error); how many."""
    now = now or utcnow()
    result = session.execute(delete(Job).where(Job.finished_at.is_not(None), Job.finished_at < now - KEEP_FINISHED,
                                               Job.error.is_(None)))
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def serve(session_factory: Callable[[], Any], handlers: Mapping[str, Handler],
          stop: Callable[[], bool] = lambda: False, idle_sleep: float = IDLE_SLEEP_S,
          sleep: Callable[[float], Any] = time.sleep, periodic: Collection[str] = ()) -> None:
    """Run jobs until `stop()`: one session per job, a short `sleep` when none is due (an event's wait, to stop at
    once); once per HOUSEKEEPING_EVERY (and at start), finished jobs are forgotten and a job of each `periodic`
    kind is queued (unless one is waiting already)."""
    worker = worker_name()
    logger.info("worker %s started", worker)
    housekept: datetime | None = None
    while not stop():
        with session_factory() as session:
            if housekept is None or utcnow() - housekept >= HOUSEKEEPING_EVERY:
                housekept = utcnow()
                forget_finished(session, housekept)
                for kind in periodic:
                    enqueue_once(session, kind, now=housekept)
                session.commit()
            run = run_one(session, handlers, worker)
        if run is None:
            sleep(idle_sleep)
    logger.info("worker %s stopped", worker)
