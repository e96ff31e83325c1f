"""Charts drawn on the server as inline SVG: horizontal bars (groups ranked by count) and columns over time (months,
days). Each comes in a <figure> with its numbers as a table in a <details>: what a screen reader reads (the SVG is
one image with a short summary as its name), and what anyone may copy.

Pure functions returning markupsafe.Markup: every label is escaped, the same data gives the same bytes. No style
attribute anywhere (the site's Content-Security-Policy has style-src 'self'): colours and fonts come from class names,
styled by static/charts.css.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from search_app import formatting

# Geometry, in SVG user units. The SVG scales to its container's width (charts.css), its text with it: 720 units
# drawn 720 px wide on a desktop keep 13-unit labels at 13 px.
WIDTH = 720
# Bar charts: the label column fits the longest theme label ("Services techniques et signalement d'incidents", 46
# characters) at 13 units; longer labels are cut to LABEL_MAX_CHARS, whole in the tooltip and the table.
BAR_LABEL_WIDTH = 320
LABEL_MAX_CHARS = 48
BAR_ROW = 26
BAR_THICKNESS = 18
BAR_PADDING = 6
# Room after the longest bar for its value label (six digits and a separator).
BAR_VALUE_ROOM = 60
# Column charts: room for the tick labels on the left, the value labels on top, two lines of axis labels below.
COLUMN_LEFT, COLUMN_RIGHT, COLUMN_TOP, COLUMN_BOTTOM = 48, 8, 22, 42
COLUMN_PLOT_HEIGHT = 200
# Share of a slot its columns fill: the rest separates one month (or day) from the next.
GROUP_FILL = 0.8
# About how many gridlines above zero: enough to read a value, few enough not to clutter.
TARGET_TICKS = 4
# Width of a digit of the value labels (11 units, charts.css): a value label is drawn only where it fits its
# column; the tooltip and the table always have it.
DIGIT_WIDTH = 6.2
# Series colour classes chart-s1 .. chart-s3 (charts.css).
SERIES_CLASSES = 3
NOTHING = Markup("")


@dataclass(frozen=True)
class Series:
    """One series of a column chart: its name (legend, table header), its values (one per column) and the noun of
    its tooltips, singular and plural ("projet publié", "projets publiés")."""

    name: str
    values: Sequence[int]
    noun: tuple[str, str]


def format_number(number: int) -> str:
    """French digits: 12 345 (narrow no-break space between thousands), as everywhere (search_app.formatting)."""
    return formatting.number(number)


def quantity(number: int, noun: tuple[str, str]) -> str:
    """"0 profil", "1 profil", "2 profils": French takes the singular below two."""
    return f"{format_number(number)} {noun[0] if abs(number) < 2 else noun[1]}"


def nice_scale(maximum: int) -> tuple[int, int]:
    """(top, step) of a value axis from 0 covering `maximum`: a whole step of 1, 2 or 5 times a power of ten giving
    about TARGET_TICKS gridlines. An empty series gets 0..1."""
    if maximum <= 0:
        return 1, 1
    raw = maximum / TARGET_TICKS
    magnitude = 1
    while magnitude * 10 <= raw:
        magnitude *= 10
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return -(-maximum // step) * step, step


def _n(value: float) -> str:
    """A coordinate, two decimals at most and no trailing zeros: the same input gives the same text."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _short(label: str) -> str:
    return label if len(label) <= LABEL_MAX_CHARS else label[:LABEL_MAX_CHARS - 1].rstrip() + "…"


def _series_class(index: int) -> str:
    return f"chart-s{index % SERIES_CLASSES + 1}"


# -- the figure around a chart --------------------------------------------------------------------------------------
def _figure(chart_id: str, title: str, svg: Markup, table: Markup, legend: Markup = NOTHING,
            note: str = "") -> Markup:
    parts = [Markup('<figure class="chart-figure" id="{}">').format(chart_id),
             Markup('<figcaption class="chart-caption">{}</figcaption>').format(title), legend, svg]
    if note:
        parts.append(Markup('<p class="chart-note">{}</p>').format(note))
    parts.append(Markup('<details class="chart-data"><summary>Tableau des données<span class="visually-hidden"> : '
                        '{}</span></summary>').format(title))
    parts += [table, Markup("</details></figure>")]
    return Markup("").join(parts)


def _table(title: str, headers: Sequence[str], rows: Sequence[tuple[str, Sequence[int]]]) -> Markup:
    parts = [Markup('<table class="data-table chart-table"><caption>{}</caption><thead><tr>').format(title)]
    parts += [Markup('<th scope="col">{}</th>').format(header) for header in headers]
    parts.append(Markup("</tr></thead><tbody>"))
    for label, values in rows:
        parts.append(Markup('<tr><th scope="row">{}</th>').format(label))
        parts += [Markup('<td class="chart-number">{}</td>').format(format_number(v)) for v in values]
        parts.append(Markup("</tr>"))
    parts.append(Markup("</tbody></table>"))
    return Markup("").join(parts)


def _svg_open(kind: str, height: float, title: str, summary: str) -> Markup:
    return Markup('<svg class="chart {}" viewBox="0 0 {} {}" role="img" aria-label="{}" focusable="false">'
                  '<title>{}</title>').format(kind, WIDTH, _n(height), f"{title}. {summary}", title)


# -- horizontal bars ------------------------------------------------------------------------------------------------
def bar_chart(rows: Sequence[tuple[str, int]], *, chart_id: str, title: str, label_header: str, value_header: str,
              noun: tuple[str, str], limit: int | None = None, note: str = "") -> Markup:
    """Horizontal bars, one per (label, value) in the order given, the first `limit` only (the table has them all).
    Each bar has a tooltip ("Mobilité : 12 profils") and its value at its end."""
    shown = list(rows if limit is None else rows[:limit])
    table = _table(title, (label_header, value_header), [(label, (value,)) for label, value in rows])
    if not shown:
        return _figure(chart_id, title, Markup('<p class="chart-empty">Aucune donnée pour l\'instant.</p>'), table,
                       note=note)
    leaders = ", ".join(f"{label} ({format_number(value)})" for label, value in shown[:3])
    summary = f"En tête : {leaders}. Toutes les valeurs sont dans le tableau des données qui suit."
    height = 2 * BAR_PADDING + BAR_ROW * len(shown)
    plot = WIDTH - BAR_LABEL_WIDTH - BAR_VALUE_ROOM
    largest = max((value for _, value in shown), default=0) or 1
    parts = [_svg_open("chart-bars", height, title, summary)]
    for index, (label, value) in enumerate(shown):
        top = BAR_PADDING + index * BAR_ROW
        middle = top + BAR_ROW / 2
        length = plot * max(value, 0) / largest
        parts.append(Markup(
            '<g class="chart-item"><title>{}</title>'
            '<text class="chart-label" x="{}" y="{}" dy="0.35em" text-anchor="end">{}</text>'
            '<rect class="chart-bar chart-s1" x="{}" y="{}" width="{}" height="{}"></rect>'
            '<text class="chart-value" x="{}" y="{}" dy="0.35em">{}</text></g>').format(
            f"{label} : {quantity(value, noun)}",
            _n(BAR_LABEL_WIDTH - 8), _n(middle), _short(label),
            _n(BAR_LABEL_WIDTH), _n(top + (BAR_ROW - BAR_THICKNESS) / 2), _n(length), _n(BAR_THICKNESS),
            _n(BAR_LABEL_WIDTH + length + 6), _n(middle), format_number(value)))
    parts.append(Markup('<line class="chart-axis" x1="{0}" y1="{1}" x2="{0}" y2="{2}"></line></svg>').format(
        _n(BAR_LABEL_WIDTH), _n(BAR_PADDING), _n(height - BAR_PADDING)))
    return _figure(chart_id, title, Markup("").join(parts), table, note=note)


# -- columns over time ----------------------------------------------------------------------------------------------
def column_chart(labels: Sequence[str], series: Sequence[Series], *, chart_id: str, title: str, label_header: str,
                 axis_labels: Sequence[tuple[str, str]] | None = None, note: str = "") -> Markup:
    """Columns, one slot per label (a month, a day) holding one column per series, over a value axis with
    gridlines. `labels` name the slots in tooltips and the table ("mars 2026"); `axis_labels` are the two short
    lines under each slot ("mars", "2026"; "" for none), `labels` themselves when not given. A legend names the
    series when there are several."""
    if any(len(s.values) != len(labels) for s in series):
        raise ValueError("every series needs one value per label")
    axis_labels = list(axis_labels) if axis_labels is not None else [(label, "") for label in labels]
    table = _table(title, (label_header, *(s.name for s in series)),
                   [(label, tuple(s.values[i] for s in series)) for i, label in enumerate(labels)])
    legend = NOTHING
    if len(series) > 1:
        legend = Markup('<ul class="chart-legend">') + Markup("").join(
            Markup('<li><span class="chart-swatch {}" aria-hidden="true"></span>{}</li>').format(
                _series_class(i), s.name) for i, s in enumerate(series)) + Markup("</ul>")
    if not labels or not series:
        return _figure(chart_id, title, Markup('<p class="chart-empty">Aucune donnée pour l\'instant.</p>'), table,
                       legend, note)
    summary = " ".join(_series_summary(labels, s) for s in series)
    height = COLUMN_TOP + COLUMN_PLOT_HEIGHT + COLUMN_BOTTOM
    bottom = COLUMN_TOP + COLUMN_PLOT_HEIGHT
    right = WIDTH - COLUMN_RIGHT
    top_value, step = nice_scale(max(max(s.values, default=0) for s in series))

    def y(value: int) -> float:
        return bottom - COLUMN_PLOT_HEIGHT * max(value, 0) / top_value

    parts = [_svg_open("chart-columns", height, title, summary), Markup('<g class="chart-grid">')]
    for tick in range(0, top_value + 1, step):
        parts.append(Markup('<line x1="{}" y1="{}" x2="{}" y2="{}"></line>'
                            '<text class="chart-tick" x="{}" y="{}" dy="0.35em" text-anchor="end">{}</text>').format(
            _n(COLUMN_LEFT), _n(y(tick)), _n(right), _n(y(tick)), _n(COLUMN_LEFT - 6), _n(y(tick)),
            format_number(tick)))
    parts.append(Markup("</g>"))
    slot = (right - COLUMN_LEFT) / len(labels)
    width = slot * GROUP_FILL / len(series)
    for index, label in enumerate(labels):
        start = COLUMN_LEFT + index * slot + slot * (1 - GROUP_FILL) / 2
        for number, one in enumerate(series):
            value = one.values[index]
            x = start + number * width
            parts.append(Markup('<g class="chart-item"><title>{}</title>'
                                '<rect class="chart-bar {}" x="{}" y="{}" width="{}" height="{}"></rect>').format(
                f"{label} : {quantity(value, one.noun)}", _series_class(number), _n(x), _n(y(value)), _n(width),
                _n(bottom - y(value))))
            text = format_number(value)
            if value > 0 and len(text) * DIGIT_WIDTH <= width + 2:
                parts.append(Markup('<text class="chart-value" x="{}" y="{}" text-anchor="middle">{}</text>')
                             .format(_n(x + width / 2), _n(y(value) - 4), text))
            parts.append(Markup("</g>"))
        upper, lower = axis_labels[index]
        centre = COLUMN_LEFT + (index + 0.5) * slot
        for line, text in ((1, upper), (2, lower)):
            if text:
                parts.append(Markup('<text class="chart-tick" x="{}" y="{}" text-anchor="middle">{}</text>').format(
                    _n(centre), _n(bottom + 16 * line), text))
    parts.append(Markup('<line class="chart-axis" x1="{}" y1="{}" x2="{}" y2="{}"></line></svg>').format(
        _n(COLUMN_LEFT), _n(bottom), _n(right), _n(bottom)))
    return _figure(chart_id, title, Markup("").join(parts), table, legend, note)


def _series_summary(labels: Sequence[str], series: Series) -> str:
    total = sum(series.values)
    if not total:
        return f"{series.name} : 0 sur la période."
    peak = max(range(len(labels)), key=lambda i: (series.values[i], -i))  # the earliest of equal peaks
    return (f"{series.name} : {format_number(total)} au total, au plus {format_number(series.values[peak])} "
            f"({labels[peak]}).")
