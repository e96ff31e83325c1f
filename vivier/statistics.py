"""Public statistics: published profiles by theme and department, new profiles and purchase projects per month,
searches per day. Pure queries returning plain data; the day they are counted up to (`today`) is always passed in.

Only what the site publishes is counted: profiles in SEARCHABLE_STATUSES, projects in PUBLIC_STATUSES. Searches are
day totals (SearchDay), written by search_app.public.search_counter through `record_searches`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vivier.geo import department_name
from vivier.models import SEARCHABLE_STATUSES, Project, Proposal, SearchDay, Supplier
from vivier.projects import PUBLIC_STATUSES
from vivier.taxonomy import CATEGORIES

# A year of months: enough to see a trend and a season, short enough for twelve readable columns.
MONTHS = 12
# A month of days: the searches chart's thirty columns still fit a phone's width with their day numbers.
DAYS = 30


@dataclass(frozen=True)
class Count:
    """A group and how many published profiles are in it: a theme (taxonomy slug) or a department (code)."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class MonthCount:
    month: date  # the month's first day
    count: int


@dataclass(frozen=True)
class MonthProjects:
    """Projects first published in `month`, and how many of those have received at least one proposal."""

    month: date
    published: int
    answered: int


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int


@dataclass(frozen=True)
class Totals:
    profiles: int
    profiles_without_theme: int
    profiles_without_department: int
    projects_published: int
    projects_answered: int
    searches_30_days: int


@dataclass(frozen=True)
class Report:
    """Every figure of the statistics page, as of `today`."""

    today: date
    totals: Totals
    themes: list[Count]
    departments: list[Count]
    new_profiles: list[MonthCount]
    projects: list[MonthProjects]
    searches: list[DayCount]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: dates ISO 8601, months as YYYY-MM."""
        return {
            "date": self.today.isoformat(),
            "totals": vars(self.totals).copy(),
            "profiles_by_theme": [{"theme": c.key, "label": c.label, "profiles": c.count} for c in self.themes],
            "profiles_by_department": [{"department": c.key, "name": c.label, "profiles": c.count}
                                       for c in self.departments],
            "new_profiles_by_month": [{"month": month_key(m.month), "profiles": m.count} for m in self.new_profiles],
            "projects_by_month": [{"month": month_key(m.month), "published": m.published, "answered": m.answered}
                                  for m in self.projects],
            "searches_by_day": [{"day": d.day.isoformat(), "searches": d.count} for d in self.searches],
        }


# -- calendar -----------------------------------------------------------------------------------------------------
def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, months: int) -> date:
    """The first day of the month `months` after (or before, when negative) `month`'s."""
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_key(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def last_months(today: date, count: int = MONTHS) -> list[date]:
    """First days of the `count` months ending with today's, oldest first."""
    current = month_start(today)
    return [add_months(current, i - count + 1) for i in range(count)]


def _month_window(today: date, count: int) -> tuple[list[date], datetime, datetime]:
    months = last_months(today, count)
    return months, datetime.combine(months[0], time()), datetime.combine(add_months(months[-1], 1), time())


# -- profiles -----------------------------------------------------------------------------------------------------
def _published_profiles():
    return Supplier.status.in_(SEARCHABLE_STATUSES)


def _theme_tally(session: Session) -> tuple[Counter[str], int]:
    """Published profiles per taxonomy theme (a profile counts once in each of its themes), and how many have none
    of the taxonomy's themes: one pass over the profiles' category lists (JSON, so counted here, not in SQL)."""
    known = {term.slug for term in CATEGORIES}
    counts: Counter[str] = Counter()
    without = 0
    for categories in session.scalars(select(Supplier.categories).where(_published_profiles())):
        themes = known.intersection(categories or ())
        counts.update(themes)
        without += not themes
    return counts, without


def _theme_rows(counts: Counter[str]) -> list[Count]:
    order = {term.slug: index for index, term in enumerate(CATEGORIES)}
    rows = [Count(term.slug, term.label, counts[term.slug]) for term in CATEGORIES]
    return sorted(rows, key=lambda c: (-c.count, order[c.key]))


def profiles_by_theme(session: Session) -> list[Count]:
    """Every theme of the taxonomy with its published profiles, most first, ties in the taxonomy's order. Codes
    outside the taxonomy are not counted."""
    return _theme_rows(_theme_tally(session)[0])


def profiles_without_theme(session: Session) -> int:
    return _theme_tally(session)[1]


def profiles_by_department(session: Session) -> list[Count]:
    """Departments with at least one published profile, most first, ties by code."""
    rows = session.execute(
        select(Supplier.department, func.count()).where(_published_profiles(), Supplier.department.is_not(None),
                                                        Supplier.department != "")
        .group_by(Supplier.department))
    counts = [Count(str(code), department_name(code) or str(code), n) for code, n in rows]
    return sorted(counts, key=lambda c: (-c.count, c.key))


def new_profiles_by_month(session: Session, today: date, months: int = MONTHS) -> list[MonthCount]:
    """Published profiles by the month they were created, over the `months` months ending with today's, months
    without any included (zero)."""
    window, start, end = _month_window(today, months)
    created = session.scalars(select(Supplier.created_at).where(
        _published_profiles(), Supplier.created_at >= start, Supplier.created_at < end))
    counts = Counter(month_start(moment.date()) for moment in created)
    return [MonthCount(month, counts[month]) for month in window]


# -- projects -----------------------------------------------------------------------------------------------------
def _answered():
    """A project has been answered when at least one supplier submitted a proposal (a Proposal row exists only once
    submitted: there are no draft proposals)."""
    return exists().where(Proposal.project_id == Project.id)


def projects_by_month(session: Session, today: date, months: int = MONTHS) -> list[MonthProjects]:
    """Projects by the month of their publication (published, closed or archived since), and how many of them
    have been answered, over the `months` months ending with today's, zero-filled."""
    window, start, end = _month_window(today, months)
    rows = session.execute(select(Project.published_at, _answered()).where(
        Project.status.in_(PUBLIC_STATUSES), Project.published_at >= start, Project.published_at < end))
    published: Counter[date] = Counter()
    answered: Counter[date] = Counter()
    for published_at, has_proposal in rows:
        month = month_start(published_at.date())
        published[month] += 1
        answered[month] += bool(has_proposal)
    return [MonthProjects(month, published[month], answered[month]) for month in window]


# -- searches -----------------------------------------------------------------------------------------------------
def last_days(today: date, count: int = DAYS) -> list[date]:
    return [today - timedelta(days=count - 1 - i) for i in range(count)]


def searches_by_day(session: Session, today: date, days: int = DAYS) -> list[DayCount]:
    """Searches of each of the `days` days ending with today, days without any included (zero)."""
    window = last_days(today, days)
    rows = session.execute(select(SearchDay.day, SearchDay.searches).where(SearchDay.day >= window[0],
                                                                          SearchDay.day <= today))
    counts = {day: searches for day, searches in rows}
    return [DayCount(day, counts.get(day, 0)) for day in window]


def record_searches(session: Session, day: date, count: int = 1) -> None:
    """Add `count` searches to `day`'s total, creating the day's row if needed. Concurrent writers (several web
    workers) add up: SQLite and PostgreSQL get one INSERT ... ON CONFLICT DO UPDATE; other databases an UPDATE,
    then an INSERT when no row was there. The caller commits."""
    if count < 0:
        raise ValueError(f"a number of searches cannot be negative: {count}")
    if count == 0:
        return
    statement = upsert_statement(session.get_bind().dialect.name, day, count)
    if statement is not None:
        session.execute(statement)
    else:
        add_by_update_then_insert(session, day, count)


def upsert_statement(dialect: str, day: date, count: int) -> Any:
    """INSERT ... ON CONFLICT (day) DO UPDATE adding `count`, for SQLite (3.24+) and PostgreSQL; None elsewhere."""
    if dialect not in ("sqlite", "postgresql"):
        return None
    insert: Any = sqlite.insert if dialect == "sqlite" else postgresql.insert
    statement = insert(SearchDay).values(day=day, searches=count)
    return statement.on_conflict_do_update(index_elements=[SearchDay.day],
                                           set_={"searches": SearchDay.searches + statement.excluded.searches})


def add_by_update_then_insert(session: Session, day: date, count: int) -> None:
    """record_searches for any database: UPDATE; when no row was there, INSERT in a savepoint; when another writer
    inserted the row in between (unique day), UPDATE again."""
    def add() -> bool:
        statement = update(SearchDay).where(SearchDay.day == day).values(searches=SearchDay.searches + count)
        result = session.execute(statement, execution_options={"synchronize_session": False})
        return bool(cast(CursorResult[Any], result).rowcount)

    if add():
        return
    try:
        with session.begin_nested():
            session.add(SearchDay(day=day, searches=count))
    except IntegrityError:
        add()


# -- all together ---------------------------------------------------------------------------------------------------
def totals(session: Session, today: date, searches: list[DayCount] | None = None,
           without_theme: int | None = None) -> Totals:
    """Published profiles, public projects and answered ones (all time), searches of the last DAYS days.
    `searches` and `without_theme`, when the caller has them already, are not counted again."""
    public = Project.status.in_(PUBLIC_STATUSES)
    searches = searches if searches is not None else searches_by_day(session, today)
    return Totals(
        profiles=session.scalar(select(func.count()).select_from(Supplier).where(_published_profiles())) or 0,
        profiles_without_theme=without_theme if without_theme is not None else profiles_without_theme(session),
        profiles_without_department=session.scalar(select(func.count()).select_from(Supplier).where(
            _published_profiles(), (Supplier.department.is_(None)) | (Supplier.department == ""))) or 0,
        projects_published=session.scalar(select(func.count()).select_from(Project).where(public)) or 0,
        projects_answered=session.scalar(select(func.count()).select_from(Project).where(public, _answered()))
        or 0,
        searches_30_days=sum(d.count for d in searches),
    )


def report(session: Session, today: date) -> Report:
    """Every figure of the statistics page."""
    searches = searches_by_day(session, today)
    themes, without_theme = _theme_tally(session)
    return Report(today=today, totals=totals(session, today, searches, without_theme), themes=_theme_rows(themes),
                  departments=profiles_by_department(session), new_profiles=new_profiles_by_month(session, today),
                  projects=projects_by_month(session, today), searches=searches)
