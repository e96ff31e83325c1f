"""The retro-planning picture (search_app.purchasing.timeline): one mark per date, in date order, on a proportional
axis, accessible, and escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from pathlib import Path

from search_app.purchasing.timeline import (FONT_SIZE, LINE_CHARS, MARK_DEADLINE, MARK_MILESTONE, MARK_PUBLICATION,
                                            TEXT_X, TOP, WIDTH, mark_lines, render_svg, row_height, timeline_marks,
                                            y_positions)

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


def test_positions_follow_time_and_never_bring_texts_together():
    marks = timeline_marks([(datetime(2026, 1, 11), "milieu")], datetime(2026, 1, 1), datetime(2026, 12, 21))
    ys = y_positions(marks)
    assert ys[0] == TOP and ys == sorted(ys)
    assert ys[2] - ys[1] > ys[1] - ys[0]  # eleven months take more line than ten days
    close = timeline_marks([(datetime(2026, 1, 1, 10), "x" * 60)], datetime(2026, 1, 1, 9), datetime(2026, 1, 1, 11))
    ys = y_positions(close)
    for index in range(1, len(close)):  # one under the other, with room for the text of the one above
        assert ys[index] - ys[index - 1] >= row_height(len(mark_lines(close[index - 1])))
    single = timeline_marks([], None, datetime(2026, 1, 1))
    assert y_positions(single) == [TOP]


def test_text_is_legible_on_a_390_px_phone_and_stays_inside_the_picture():
    """The picture is never drawn wider than WIDTH px (vivier.css), so its text is FONT_SIZE px on a wide screen;
    on a 390 px phone the page's content box (main's padding 2rem each side) scales it down a little."""
    css = (Path(__file__).resolve().parents[1] / "search_app" / "static" / "vivier.css").read_text(encoding="utf-8")
    max_width = float(re.search(r"\.timeline \{[^}]*max-width: ([\d.]+)rem", css).group(1)) * 16
    assert max_width == WIDTH
    content = 390 - 2 * 32
    assert FONT_SIZE * min(1, content / WIDTH) >= 12
    svg = render_svg(timeline_marks([(PUBLICATION, "Un très long intitulé d'étape " * 4)], PUBLICATION, DEADLINE))
    root = ET.fromstring(svg)
    assert root.get("font-size") == str(FONT_SIZE) and root.get("width") == str(WIDTH)
    for text in root.iter(f"{SVG}tspan"):  # the widest glyphs are about 0.62 em
        assert TEXT_X + len(text.text) * 0.62 * FONT_SIZE <= WIDTH + 40 and len(text.text) <= max(LINE_CHARS, 30)


def test_no_dotted_leader_line_crosses_the_labels():
    """Issue 21: the labels crossed the dotted lines that joined them to their dots. The text sits beside its dot
    now, right of the one vertical line: nothing is drawn across it."""
    svg = render_svg(timeline_marks(MILESTONES, PUBLICATION, DEADLINE))
    root = ET.fromstring(svg)
    assert "stroke-dasharray" not in svg
    [axis] = list(root.iter(f"{SVG}line"))
    assert axis.get("x1") == axis.get("x2") and float(axis.get("x1")) < TEXT_X
    assert all(float(t.get("x")) >= TEXT_X for t in root.iter(f"{SVG}text"))


def test_svg_has_one_mark_per_date_in_order_and_is_accessible():
    svg = render_svg(timeline_marks(MILESTONES, PUBLICATION, DEADLINE), title="Rétroplanning", svg_id="t")
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "t-title t-desc"
    assert root.find(f"{SVG}title").text == "Rétroplanning"
    assert "20 mars 2026 : Réunion d'information" in root.find(f"{SVG}desc").text
    assert "30 avril 2026 à 12:00 : Date limite de réponse" in root.find(f"{SVG}desc").text
    groups = [g for g in root.iter(f"{SVG}g") if "mark" in g.get("class", "").split()]
    assert [g.get("data-date") for g in groups] == ["2026-03-02", "2026-03-20", "2026-04-30", "2026-06-01",
                                                    "2026-09-01"]
    assert [g.get("class") for g in groups] == ["mark mark-publication", "mark mark-milestone", "mark mark-deadline",
                                                "mark mark-milestone", "mark mark-milestone"]
    ys = [float(g.find(f"{SVG}circle").get("cy")) for g in groups]
    assert ys == sorted(ys)
    texts = [" | ".join(t.text for t in g.iter(f"{SVG}tspan")) for g in groups]
    assert texts[1] == "20 mars 2026 | Réunion d'information"


def test_labels_are_escaped():
    svg = render_svg(timeline_marks([(PUBLICATION, '<script>alert("x")</script> & co')], None, None))
    assert "<script>" not in svg
    ET.fromstring(svg)  # still well-formed
    assert re.search(r"&lt;script&gt;", svg)
