"""The retro-planning of a purchase project as a picture: an inline SVG time line, drawn on the server (no
JavaScript), with the milestones, the publication and the response deadline.

Pure functions: `timeline_marks` orders the dates, `render_svg` draws them. The line runs down the left edge and
every mark sits on it in date order, a longer stretch of line standing for a longer wait; each mark's date and
label go right of its dot, on lines of their own, so no text ever crosses the line or another mark's text however
close the dates are. The picture is narrow (WIDTH) and never drawn wider than that: its text stays at FONT_SIZE
pixels on a wide screen and shrinks by less than a tenth on a 390 px phone. It is role="img" with a <title> and a
<desc> that says every date in words; the page lists the milestones as text as well.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable
from xml.sax.saxutils import escape, quoteattr

from search_app.formatting import date_time, long_date

MARK_MILESTONE = "milestone"
MARK_PUBLICATION = "publication"
MARK_DEADLINE = "deadline"
# On the same day, the publication comes first and the deadline last: the order a reader expects.
KIND_ORDER = {MARK_PUBLICATION: 0, MARK_MILESTONE: 1, MARK_DEADLINE: 2}
# Geometry, in SVG user units, which are CSS pixels up to WIDTH (vivier.css caps .timeline at 21.25rem = WIDTH px).
WIDTH = 340
FONT_SIZE = 14
LINE_HEIGHT = 18
AXIS_X = 14
TEXT_X = 30  # text starts right of the dots (radius DOT_RADIUS around AXIS_X) with air
TOP = 14  # the first dot's centre
ROW_GAP = 12  # between one mark's last line of text and the next mark's dot
BOTTOM_PADDING = 8
DOT_RADIUS = 6
# Characters per line of a label: about WIDTH - TEXT_X units of 14-unit text, with room for wide letters.
LINE_CHARS = 34
# A label longer than this is cut: the text list under the picture gives it in full.
LABEL_MAX_CHARS = 60
# The marks' dots spread over this much more height than their text needs, in proportion to the time between
# them: a long wait shows as a long stretch of line, dates close together stay one under the other.
TIME_STRETCH = 1.6
# Colours: the site's accent for the axis and milestones, a darker orange for the deadline (both above 4.5:1 on
# white, like the text), a green for the publication.
COLOURS = {MARK_MILESTONE: "#000091", MARK_PUBLICATION: "#18753c", MARK_DEADLINE: "#b34000"}
INK = "#1e1e1e"
AXIS_COLOUR = "#555"


@dataclass(frozen=True)
class Mark:
    """One date on the axis (wall-clock time of the page's reader), what it is and what to call it."""

    when: datetime
    label: str
    kind: str = MARK_MILESTONE


def timeline_marks(milestones: Iterable[tuple[datetime, str]], publication: datetime | None,
                   deadline: datetime | None, publication_label: str = "Publication",
                   deadline_label: str = "Date limite de réponse") -> list[Mark]:
    """Every mark of the picture in date order (ties: publication, milestones by label, deadline)."""
    marks = [Mark(when, label, MARK_MILESTONE) for when, label in milestones]
    if publication is not None:
        marks.append(Mark(publication, publication_label, MARK_PUBLICATION))
    if deadline is not None:
        marks.append(Mark(deadline, deadline_label, MARK_DEADLINE))
    return sorted(marks, key=lambda m: (m.when, KIND_ORDER[m.kind], m.label))


def mark_lines(mark: Mark) -> list[str]:
    """The text beside a mark: its date in words (with the time for the deadline), then its label on lines of
    LINE_CHARS at most."""
    label = mark.label if len(mark.label) <= LABEL_MAX_CHARS else mark.label[:LABEL_MAX_CHARS - 1] + "…"
    when = date_time(mark.when) if mark.kind == MARK_DEADLINE else long_date(mark.when)
    return [when, *textwrap.wrap(label, LINE_CHARS, break_long_words=True)]


def row_height(lines: int) -> float:
    return lines * LINE_HEIGHT + ROW_GAP


def y_positions(marks: list[Mark]) -> list[float]:
    """Each mark's ordinate: proportional to time over TIME_STRETCH times the height the texts need, and never
    closer to the previous mark than that mark's text is tall."""
    if not marks:
        return []
    heights = [row_height(len(mark_lines(m))) for m in marks]
    start, end = marks[0].when, marks[-1].when
    span = (end - start).total_seconds()
    length = sum(heights[:-1]) * TIME_STRETCH
    ys: list[float] = []
    for index, mark in enumerate(marks):
        wanted = TOP + (length * (mark.when - start).total_seconds() / span if span > 0 else 0)
        ys.append(round(wanted if not ys else max(wanted, ys[-1] + heights[index - 1]), 1))
    return ys


def describe(marks: list[Mark]) -> str:
    """The picture in words, for its <desc>."""
    if not marks:
        return "Aucune date."
    return " ; ".join(f"{mark_lines(m)[0]} : {m.label}" for m in marks) + "."


def render_svg(marks: list[Mark], title: str = "Rétroplanning du projet", svg_id: str = "timeline") -> str:
    """The SVG markup (escaped: labels are the buyer's text)."""
    ys = y_positions(marks)
    height = round((ys[-1] + row_height(len(mark_lines(marks[-1]))) if marks else TOP * 2) + BOTTOM_PADDING, 1)
    title_id, desc_id = f"{svg_id}-title", f"{svg_id}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" id={quoteattr(svg_id)} role="img" '
        f'aria-labelledby="{title_id} {desc_id}" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'preserveAspectRatio="xMinYMin meet" font-family="system-ui, sans-serif" font-size="{FONT_SIZE}">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(describe(marks))}</desc>',
    ]
    if len(marks) > 1:
        parts.append(f'<line class="axis" x1="{AXIS_X}" y1="{ys[0]}" x2="{AXIS_X}" y2="{ys[-1]}" '
                     f'stroke="{AXIS_COLOUR}" stroke-width="2"/>')
    for mark, y in zip(marks, ys):
        colour = COLOURS[mark.kind]
        first, *rest = mark_lines(mark)
        baseline = round(y + FONT_SIZE * 0.35, 1)  # the date's line is centred on the dot
        lines = "".join(f'<tspan x="{TEXT_X}" dy="{LINE_HEIGHT}">{escape(line)}</tspan>' for line in rest)
        parts.append(
            f'<g class="mark mark-{mark.kind}" data-date="{mark.when:%Y-%m-%d}">'
            f'<circle cx="{AXIS_X}" cy="{y}" r="{DOT_RADIUS}" fill="{colour}" stroke="#fff" stroke-width="1.5"/>'
            f'<text x="{TEXT_X}" y="{baseline}" fill="{INK}"><tspan x="{TEXT_X}" font-weight="700" '
            f'fill="{colour}">{escape(first)}</tspan>{lines}</text>'
            f'</g>')
    parts.append("</svg>")
    return "".join(parts)
