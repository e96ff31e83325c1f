"""Statistics: the figures on known rows (themes, departments, zero-filled months and days, projects published and
answered), the search counter through the real app (what counts, when it is written, that nothing but a day and a
number is kept), the page and its JSON, and the charts' escaping and determinism."""

from __future__ import annotations

import io
import re
import sqlite3
import xml.etree.ElementTree as ET
from datetime import date, datetime
from html import unescape

import pytest
from sqlalchemy import delete, inspect, select

from search_app.public import charts, search_counter
from vivier import statistics
from vivier.models import (PROJECT_ARCHIVED, PROJECT_CLOSED, PROJECT_DRAFT, PROJECT_PUBLISHED, STATUS_CRAWLED,
                           STATUS_HIDDEN, STATUS_MERGED, STATUS_SUBMITTED, STATUS_VERIFIED, Buyer, Project, Proposal,
                           SearchDay, Supplier)
from vivier.statistics import Count, DayCount, MonthCount, MonthProjects
from vivier.taxonomy import CATEGORIES

TODAY = date(2026, 3, 15)
CLOCK = datetime(2026, 3, 15, 10, 30)
# (slug, categories, department, status, created_at)
SUPPLIERS = [
    ("a", ["waste", "parking", "waste"], "33", STATUS_CRAWLED, datetime(2026, 3, 2, 8)),
    ("b", ["waste"], "33", STATUS_VERIFIED, datetime(2026, 1, 20)),
    ("c", ["mobility", "waste", "not-a-theme"], "2A", STATUS_SUBMITTED, datetime(2025, 4, 1, 0, 0)),  # first month
    ("d", [], None, STATUS_CRAWLED, datetime(2025, 3, 31, 23, 59)),  # a minute before the window
    ("e", ["parking"], "75", STATUS_HIDDEN, datetime(2026, 3, 1)),  # not published: counted nowhere
    ("f", ["parking"], "75", STATUS_MERGED, datetime(2026, 3, 1)),
    ("g", ["not-a-theme"], "", STATUS_CRAWLED, datetime(2026, 4, 1)),  # after today's month
]
# (slug, status, published_at, proposals)
PROJECTS = [
    ("p1", PROJECT_PUBLISHED, datetime(2026, 3, 10), 2),
    ("p2", PROJECT_CLOSED, datetime(2026, 3, 5), 0),
    ("p3", PROJECT_ARCHIVED, datetime(2025, 12, 1), 1),
    ("p4", PROJECT_DRAFT, None, 0),
    ("p5", PROJECT_CLOSED, datetime(2025, 2, 10), 1),  # before the window: in the totals only
]
# day -> searches recorded (in several calls where a list)
SEARCHES = {date(2026, 3, 15): [3, 2], date(2026, 2, 14): [2], date(2026, 2, 13): [7], date(2026, 3, 16): [4]}


def months(*nonzero: tuple[date, int]) -> list[MonthCount]:
    found = dict(nonzero)
    return [MonthCount(m, found.get(m, 0)) for m in statistics.last_months(TODAY)]


def fill(database) -> None:
    with database.session() as session:
        suppliers = [Supplier(slug=slug, name=f"Entreprise {slug}", categories=categories, department=department,
                              status=status, created_at=created) for slug, categories, department, status, created
                     in SUPPLIERS]
        buyer = Buyer(email="achats@ville.fr", organisation="Ville", verified=True)
        session.add_all([*suppliers, buyer])
        session.flush()
        for slug, status, published_at, proposals in PROJECTS:
            project = Project(slug=slug, buyer_id=buyer.id, title=f"Projet {slug}", contract_model="marche-public",
                              deadline=datetime(2026, 6, 1), status=status, published_at=published_at)
            session.add(project)
            session.flush()
            session.add_all(Proposal(project_id=project.id, supplier_id=suppliers[i].id, email="x@a.fr", text="v")
                            for i in range(proposals))
        for day, counts in SEARCHES.items():
            for count in counts:
                statistics.record_searches(session, day, count)


def test_figures_on_known_profiles_projects_and_searches(db):
    fill(db)
    with db.session() as session:
        report = statistics.report(session, TODAY)
        assert statistics.profiles_by_theme(session) == report.themes
        assert statistics.totals(session, TODAY) == report.totals
    zero_themes = [Count(t.slug, t.label, 0) for t in CATEGORIES if t.slug not in ("waste", "parking", "mobility")]
    assert report.themes == [Count("waste", "Collecte des déchets", 3), Count("parking", "Stationnement", 1),
                             Count("mobility", "Mobilité", 1), *zero_themes]  # ties in the taxonomy's order
    assert report.departments == [Count("33", "Gironde", 2), Count("2A", "Corse-du-Sud", 1)]
    assert report.new_profiles == months((date(2025, 4, 1), 1), (date(2026, 1, 1), 1), (date(2026, 3, 1), 1))
    assert [m.month for m in report.new_profiles][::11] == [date(2025, 4, 1), date(2026, 3, 1)]
    window = statistics.last_months(TODAY)
    assert report.projects == [MonthProjects(m, *{date(2025, 12, 1): (1, 1), date(2026, 3, 1): (2, 1)}.get(m, (0, 0)))
                               for m in window]
    assert len(report.searches) == 30 and report.searches[0] == DayCount(date(2026, 2, 14), 2)
    assert report.searches[-1] == DayCount(TODAY, 5)
    assert sum(d.count for d in report.searches) == 7 and sum(1 for d in report.searches if d.count) == 2
    assert report.totals == statistics.Totals(profiles=5, profiles_without_theme=2, profiles_without_department=2,
                                              projects_published=4, projects_answered=3, searches_30_days=7)


def test_calendar_windows_cross_the_year():
    assert statistics.add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert statistics.add_months(date(2025, 11, 1), 14) == date(2027, 1, 1)
    assert statistics.last_months(date(2026, 1, 31)) == [date(2025, m, 1) for m in range(2, 13)] + [date(2026, 1, 1)]
    assert statistics.last_days(date(2026, 3, 1), 3) == [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)]


def test_record_searches_adds_up_with_the_upsert_and_the_portable_path(db):
    day = date(2026, 5, 4)
    with db.session() as session:
        statistics.record_searches(session, day, 2)  # INSERT ... ON CONFLICT on SQLite
        statistics.record_searches(session, day, 3)
        statistics.record_searches(session, day, 0)
        statistics.add_by_update_then_insert(session, day, 4)  # UPDATE: the row exists
        statistics.add_by_update_then_insert(session, date(2026, 5, 5), 1)  # INSERT: it does not
        with pytest.raises(ValueError):
            statistics.record_searches(session, day, -1)
    with db.session() as session:
        assert session.execute(select(SearchDay.day, SearchDay.searches).order_by(SearchDay.day)).all() == [
            (day, 9), (date(2026, 5, 5), 1)]
    from sqlalchemy.dialects import postgresql

    sql = str(statistics.upsert_statement("postgresql", day, 2).compile(dialect=postgresql.dialect()))
    assert "ON CONFLICT (day) DO UPDATE SET searches = (search_days.searches + excluded.searches)" in sql
    assert statistics.upsert_statement("mysql", day, 2) is None  # the UPDATE-then-INSERT path


def test_the_counter_writes_on_threshold_and_interval_and_keeps_counts_a_failed_write_lost(tmp_path, db):
    from tests.conftest import make_settings
    from vivier.db import Database

    ticks = [0.0]
    counter = search_counter.SearchCounter(db, interval_s=60, threshold=3, clock=lambda: ticks[0])
    day = date(2026, 5, 4)
    assert counter.add(day) is False and counter.add(day) is False
    assert counter.add(day) is True  # the threshold
    assert counter.flush_if_due() == 3 and counter.pending() == {}
    assert counter.add(day) is False and counter.flush_if_due() == 0
    ticks[0] = 61.0
    assert counter.add(date(2026, 5, 5)) is True and counter.flush_if_due() == 2  # the interval
    with db.session() as session:
        assert dict(session.execute(select(SearchDay.day, SearchDay.searches)).all()) == {day: 4, date(2026, 5, 5): 1}
    # A database without the table (not migrated yet): the write fails, the counts wait for the next one.
    unmigrated = Database(make_settings(tmp_path / "later"))
    waiting = search_counter.SearchCounter(unmigrated, threshold=1)
    waiting.add(day, 5)
    assert waiting.flush() == 0 and waiting.pending() == {day: 5}
    unmigrated.migrate()
    assert waiting.flush() == 5 and waiting.pending() == {}
    unmigrated.dispose()


def test_searches_are_counted_in_memory_then_written_as_a_day_and_a_number(private_app):
    app = private_app
    app.extensions["vivier"]["clock"] = lambda: datetime(2031, 5, 4, 9, 30)
    database = app.extensions["vivier"]["database"]
    with database.session() as session:
        session.execute(delete(SearchDay))
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.77"
    counted = [
        client.get("/", query_string={"q": "zorglubien cantine"}),
        client.get("/", query_string={"q": "zorglubien cantine", "page": "2"}, headers={"HX-Request": "true"}),
        client.get("/", query_string={"department": "53"}),
        client.post("/recherche/document", data={"q": "zorglubien " * 40}),
        client.get("/api/v1/search", query_string={"q": "zorglubien"}),
        client.get("/api/v1/search", query_string={"category": "school-services"}),
    ]
    assert [r.status_code for r in counted] == [200] * 6
    assert 'id="results"' not in counted[1].get_data(as_text=True)  # the htmx partial, not the page
    not_counted = [
        client.get("/"),  # the bare page asks for nothing
        client.get("/communes", query_string={"commune": "quimp"}),  # the commune suggestions
        client.head("/", query_string={"q": "zorglubien"}),
        client.get("/api/v1/search", query_string={"q": "zorglubien", "near": "Zorglubville"}),  # 400 after the search
        client.get("/api/v1/search", query_string={"q": "zorglubien", "per_page": "100000"}),  # 400 before it
        client.post("/recherche/document", data={"q": "zorglubien", "document": (io.BytesIO(b""), "vide.txt")}),
    ]
    assert [r.status_code for r in not_counted] == [200, 200, 200, 400, 400, 400]
    counter = search_counter.counter(app)
    assert counter.pending() == {date(2031, 5, 4): 6}
    with database.session() as session:
        assert session.scalars(select(SearchDay)).all() == []  # no write per search
    assert counter.flush() == 6
    with database.session() as session:
        assert session.execute(select(SearchDay.day, SearchDay.searches)).all() == [(date(2031, 5, 4), 6)]
    # Once the threshold is reached, the write happens when the response is closed (after it was sent).
    counter.threshold = 2
    for _ in range(2):
        client.get("/api/v1/search", query_string={"q": "zorglubien"}).close()
    with database.session() as session:
        assert session.scalar(select(SearchDay.searches)) == 8
    # A day and a number, nothing else: no column for more, and neither the query nor the address anywhere.
    assert [c["name"] for c in inspect(database.engine).get_columns("search_days")] == ["day", "searches"]
    database.dispose()
    with sqlite3.connect(app.extensions["vivier"]["settings"].database_url.removeprefix("sqlite:///")) as raw:
        dump = "\n".join(raw.iterdump())
    assert "zorglub" not in dump.lower() and "203.0.113.77" not in dump
    assert "2031-05-04" in dump


@pytest.fixture()
def statistics_app(db, tmp_path):
    """The web app on the `db` database holding the known rows; no search index (the page needs none)."""
    from search_app import create_app
    from tests.conftest import make_settings

    fill(db)
    with db.session() as session:  # a department code that would be markup if not escaped
        session.add(Supplier(slug="h", name="H", categories=["waste"], department="<i>", status=STATUS_CRAWLED,
                             created_at=datetime(2024, 1, 1)))
    app = create_app(settings=make_settings(tmp_path))
    app.config.update(TESTING=True)
    app.extensions["vivier"]["clock"] = lambda: CLOCK
    return app


def test_the_page_shows_the_totals_the_charts_and_their_tables(statistics_app):
    search_counter.counter(statistics_app).add(TODAY, 4)  # not written yet: the page writes it first
    response = statistics_app.test_client().get("/statistiques")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    html = response.get_data(as_text=True)
    assert "<h1>Statistiques</h1>" in html and 'href="/static/charts.css"' in html
    totals = dict(re.findall(r'<dd id="total-([a-z-]+)">([^<]+)</dd>', html))
    assert totals == {"profils": "6", "projets": "4", "projets-repondus": "3", "recherches": "11"}
    svgs = re.findall(r"<svg class=\"chart .*?</svg>", html, re.DOTALL)
    assert len(svgs) == 5 and all('role="img"' in s and "aria-label=" in s for s in svgs)
    for svg in svgs:
        ET.fromstring(svg)  # well-formed
    assert html.count('<details class="chart-data">') == 5
    row = '<tr><th scope="row">{}</th>{}</tr>'.format
    cells = lambda *values: "".join(f'<td class="chart-number">{v}</td>' for v in values)  # noqa: E731
    assert row("Collecte des déchets", cells(4)) in html and row("Éclairage public", cells(0)) in html
    assert row("Gironde (33)", cells(2)) in html and row("Corse-du-Sud (2A)", cells(1)) in html
    assert row("mars 2026", cells(1)) in html  # new profiles
    assert row("mars 2026", cells(2, 1)) in html and row("décembre 2025", cells(1, 1)) in html  # projects
    assert row("avril 2025", cells(0, 0)) in html  # a month without any: zero-filled
    assert row("15 mars 2026", cells(9)) in html and row("14 février 2026", cells(2)) in html
    assert row("1er mars 2026", cells(0)) in html
    assert "<title>mars 2026 : 2 projets publiés</title>" in html
    assert "<title>Collecte des déchets : 4 profils</title>" in html
    # The hostile department code is text, wherever it appears.
    assert "&lt;i&gt;" in html and "<i>" not in html
    assert 'id="carte-statistiques"' in html  # the choropleth
    assert "style=" not in html and "<style" not in html and "<script>" not in html
    assert '<a href="/statistiques">Statistiques</a>' in html  # the footer link


def test_the_json_has_the_same_figures(statistics_app):
    response = statistics_app.test_client().get("/statistiques.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    data = response.get_json()
    assert data["date"] == "2026-03-15"
    assert data["totals"] == {"profiles": 6, "profiles_without_theme": 2, "profiles_without_department": 2,
                              "projects_published": 4, "projects_answered": 3, "searches_30_days": 7}
    assert data["profiles_by_theme"][0] == {"theme": "waste", "label": "Collecte des déchets", "profiles": 4}
    assert data["profiles_by_department"] == [
        {"department": "33", "name": "Gironde", "profiles": 2},
        {"department": "2A", "name": "Corse-du-Sud", "profiles": 1},
        {"department": "<i>", "name": "<i>", "profiles": 1}]
    assert [m["month"] for m in data["new_profiles_by_month"]] == [
        "2025-04", "2025-05", "2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01",
        "2026-02", "2026-03"]
    assert {"month": "2026-03", "published": 2, "answered": 1} in data["projects_by_month"]
    assert data["searches_by_day"][-1] == {"day": "2026-03-15", "searches": 5}


HOSTILE = '<script>alert(1)</script>" onmouseover="x'


def test_charts_escape_every_label_and_are_deterministic():
    bars = charts.bar_chart([(HOSTILE, 3), ("Mobilité", 1)], chart_id='id"x', title=HOSTILE, label_header=HOSTILE,
                            value_header="Profils", noun=("profil", "profils"))
    columns = charts.column_chart(
        [HOSTILE, "avril"],
        [charts.Series(HOSTILE, [1, 2], (HOSTILE, HOSTILE)), charts.Series("B", [0, 5], ("b", "b"))],
        chart_id="c", title=HOSTILE, label_header=HOSTILE, axis_labels=[(HOSTILE, HOSTILE), ("avr.", "")])
    for markup in (bars, columns):
        text = str(markup)
        assert "<script>" not in text and '" onmouseover' not in text and "&lt;script&gt;" in text
        ET.fromstring(re.search(r"<svg.*?</svg>", text, re.DOTALL).group(0))
    assert str(bars) == str(charts.bar_chart([(HOSTILE, 3), ("Mobilité", 1)], chart_id='id"x', title=HOSTILE,
                                             label_header=HOSTILE, value_header="Profils",
                                             noun=("profil", "profils")))
    # The longest bar spans the plot; the other is in proportion; a label too long is cut, whole in its tooltip.
    long_label = "Une thématique au nom beaucoup trop long pour la colonne des étiquettes"
    drawn = str(charts.bar_chart([(long_label, 4), ("Court", 1)], chart_id="b", title="T", label_header="L",
                                 value_header="V", noun=("profil", "profils")))
    plot = charts.WIDTH - charts.BAR_LABEL_WIDTH - charts.BAR_VALUE_ROOM
    bar = rf'class="chart-bar chart-s1" x="{charts.BAR_LABEL_WIDTH}" y="[\d.]+" width="([\d.]+)"'
    assert re.findall(bar, drawn) == [str(plot), str(plot // 4)]
    assert re.findall(r'<text class="chart-label"[^>]*>([^<]*)</text>', drawn) == [
        long_label[:charts.LABEL_MAX_CHARS - 1].rstrip() + "…", "Court"]
    assert f"<title>{long_label} : 4 profils</title>" in unescape(drawn)


def test_value_axis_and_empty_charts():
    assert charts.nice_scale(0) == (1, 1)
    assert charts.nice_scale(3) == (3, 1)
    assert charts.nice_scale(7) == (8, 2)
    assert charts.nice_scale(45) == (60, 20)
    assert charts.nice_scale(1234) == (1500, 500)
    empty = str(charts.bar_chart([], chart_id="e", title="T", label_header="L", value_header="V", noun=("a", "b")))
    assert "Aucune donnée" in empty and "<svg" not in empty and "<tbody></tbody>" in empty
    zeros = str(charts.column_chart(["1", "2"], [charts.Series("Recherches", [0, 0], ("recherche", "recherches"))],
                                    chart_id="z", title="T", label_header="Jour"))
    assert 'aria-label="T. Recherches : 0 sur la période."' in zeros and "chart-value" not in zeros
    assert charts.quantity(0, ("profil", "profils")) == "0 profil" and charts.quantity(12345, ("a", "b")) == \
        "12\u202f345 b"
