"""The retro-planning picture (search_app.purchasing.timeline): one mark per date, in date order, on a proportional
axis, accessible, and escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from search_app.purchasing.timeline import (MARGIN, WIDTH, MARK_DEADLINE, MARK_MILESTONE, MARK_PUBLICATION, render_svg,
                                 timeline_marks, x_positions)

SVG = "{http://www.w3.org/2000/svg}"
PUBLICATION = datetime(2026, 3, 2, 9, 0)
DEADLINE = datetime(2026, 4, 30, 12, 0)
MILESTONES = [(datetime(2026, 6, 1), "Lancement de la consultation"), (datetime(2026, 3, 20), "Réunion d'information"),
              (datetime(2026, 9, 1), "Début du marché")]


def test_marks_are_every_date_in_order_with_their_kind():
    marks = timeline_marks(MILESTONES, PUBLICATION, DEADLINE)
    assert [(m.when, m.kind) for m in marks] == [
        (PUBLICATION, MARK_PUBLICATION), (datetime(2026, 3, 20), MARK_MILESTONE), (DEADLINE, MARK_DEADLINE),
        (datetime(2026, 6, 1), MARK_MILESTONE), (datetime(2026, 9, 1), MARK_MILESTONE)]


def test_same_day_puts_publication_first_and_deadline_last():
    day = datetime(2026, 3, 2)
    marks = timeline_marks([(day, "Étape")], day, day)
    assert [m.kind for m in marks] == [MARK_PUBLICATION, MARK_MILESTONE, MARK_DEADLINE]


def test_positions_are_proportional_to_time():
    marks = timeline_marks([(datetime(2026, 1, 11), "milieu")], datetime(2026, 1, 1), datetime(2026, 1, 21))
    assert x_positions(marks) == [MARGIN, WIDTH / 2, WIDTH - MARGIN]
    single = timeline_marks([], None, datetime(2026, 1, 1))
    assert x_positions(single) == [WIDTH / 2]


def test_svg_has_one_mark_per_date_in_order_and_is_accessible():
    svg = render_svg(timeline_marks(MILESTONES, PUBLICATION, DEADLINE), title="Rétroplanning", svg_id="t")
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "t-title t-desc"
    assert root.find(f"{SVG}title").text == "Rétroplanning"
    assert "20/03/2026 : Réunion d'information" in root.find(f"{SVG}desc").text
    groups = [g for g in root.iter(f"{SVG}g") if "mark" in g.get("class", "").split()]
    assert [g.get("data-date") for g in groups] == ["2026-03-02", "2026-03-20", "2026-04-30", "2026-06-01",
                                                    "2026-09-01"]
    assert [g.get("class") for g in groups] == ["mark mark-publication", "mark mark-milestone", "mark mark-deadline",
                                                "mark mark-milestone", "mark mark-milestone"]
    xs = [float(g.find(f"{SVG}circle").get("cx")) for g in groups]
    assert xs == sorted(xs)
    texts = [g.find(f"{SVG}text").text for g in groups]
    assert texts[1] == "20/03/2026 — Réunion d'information"


def test_labels_are_escaped():
    svg = render_svg(timeline_marks([(PUBLICATION, '<script>alert("x")</script> & co')], None, None))
    assert "<script>" not in svg
    ET.fromstring(svg)  # still well-formed
    assert re.search(r"&lt;script&gt;", svg)
