"""The retro-planning of a purchase project as a picture: an inline SVG time axis, drawn on the server (no
JavaScript), with the milestones, the publication and the response deadline.

Pure functions: `timeline_marks` orders the dates, `render_svg` draws them. Every mark sits on the axis at its
date; its text goes on its own row below, joined to the mark by a leader line, so labels never overlap however
close the dates are. The picture is role="img" with a <title> and a <desc> that says every date in words; the
page lists the milestones as text as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable
from xml.sax.saxutils import escape, quoteattr

MARK_MILESTONE = "milestone"
MARK_PUBLICATION = "publication"
MARK_DEADLINE = "deadline"
# On the same day, the publication comes first and the deadline last: the order a reader expects.
KIND_ORDER = {MARK_PUBLICATION: 0, MARK_MILESTONE: 1, MARK_DEADLINE: 2}
# Geometry, in SVG user units (the picture scales to the page width through its viewBox).
WIDTH = 720
MARGIN = 24  # keeps the first and last dots, and their focus of attention, off the edge
AXIS_Y = 28
FIRST_ROW_Y = 62
ROW_HEIGHT = 22  # a line of 13-unit text with air
BOTTOM_PADDING = 10
DOT_RADIUS = 6
# Labels right of this share of the width are drawn leftwards from their dot, so they stay inside the picture.
ANCHOR_END_FROM = 0.55
# A label longer than this is cut: the text list under the picture gives it in full.
LABEL_MAX_CHARS = 60
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


def x_positions(marks: list[Mark], width: int = WIDTH, margin: int = MARGIN) -> list[float]:
    """Each mark's abscissa, proportional to time between the first and the last date (the middle when they are
    all the same moment)."""
    if not marks:
        return []
    start, end = marks[0].when, marks[-1].when
    span = (end - start).total_seconds()
    usable = width - 2 * margin
    if span <= 0:
        return [width / 2] * len(marks)
    return [round(margin + usable * (m.when - start).total_seconds() / span, 1) for m in marks]


def mark_text(mark: Mark) -> str:
    label = mark.label if len(mark.label) <= LABEL_MAX_CHARS else mark.label[:LABEL_MAX_CHARS - 1] + "…"
    return f"{mark.when:%d/%m/%Y} — {label}"


def describe(marks: list[Mark]) -> str:
    """The picture in words, for its <desc>."""
    if not marks:
        return "Aucune date."
    return " ; ".join(f"{m.when:%d/%m/%Y} : {m.label}" for m in marks) + "."


def render_svg(marks: list[Mark], title: str = "Rétroplanning du projet", svg_id: str = "timeline") -> str:
    """The SVG markup (escaped: labels are the buyer's text)."""
    height = FIRST_ROW_Y + max(len(marks) - 1, 0) * ROW_HEIGHT + BOTTOM_PADDING
    title_id, desc_id = f"{svg_id}-title", f"{svg_id}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" id={quoteattr(svg_id)} role="img" '
        f'aria-labelledby="{title_id} {desc_id}" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" font-family="system-ui, sans-serif" font-size="13">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(describe(marks))}</desc>',
        f'<line class="axis" x1="{MARGIN}" y1="{AXIS_Y}" x2="{WIDTH - MARGIN}" y2="{AXIS_Y}" '
        f'stroke="{AXIS_COLOUR}" stroke-width="2"/>',
    ]
    for row, (mark, x) in enumerate(zip(marks, x_positions(marks))):
        y = FIRST_ROW_Y + row * ROW_HEIGHT
        anchor = "end" if x > WIDTH * ANCHOR_END_FROM else "start"
        text_x = x + (DOT_RADIUS if anchor == "start" else -DOT_RADIUS)
        colour = COLOURS[mark.kind]
        parts.append(
            f'<g class="mark mark-{mark.kind}" data-date="{mark.when:%Y-%m-%d}">'
            f'<line x1="{x}" y1="{AXIS_Y}" x2="{x}" y2="{y - 4}" stroke="{colour}" stroke-dasharray="2 2"/>'
            f'<circle cx="{x}" cy="{AXIS_Y}" r="{DOT_RADIUS}" fill="{colour}" stroke="#fff" stroke-width="1.5"/>'
            f'<text x="{text_x}" y="{y}" text-anchor="{anchor}" fill="{INK}">{escape(mark_text(mark))}</text>'
            f'</g>')
    parts.append("</svg>")
    return "".join(parts)
