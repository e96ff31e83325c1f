"""Inline SVG maps of France: a choropleth of departments and a supplier's position.

Pure functions returning markupsafe.Markup. Their only input besides their arguments is the packaged outline file
(vivier/data/departments.json, built by scripts/build_geo_data.py), read once. No style attribute anywhere (the
site's Content-Security-Policy has style-src 'self'): colours come from class names, styled by static/maps.css.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from importlib import resources

from markupsafe import Markup, escape

from search_app.formatting import suppliers_count

DATA_FILE = "data/departments.json"
# Colour classes of the choropleth (map-c1 .. map-c5 in maps.css); map-c0 is a department without suppliers.
CLASS_COUNT = 5
# Marker radius in map units (the mainland map is about 1,200 units wide): a dot of about 12 px across when the
# map is 300 px wide, inside a ring twice as wide that finds it at a glance (issue 21: the dot was 5 px).
MARKER_RADIUS = 22.0
MARKER_RING_RADIUS = 44.0
DEFAULT_TITLE = "Fournisseurs par département"
# How many departments the text description of a choropleth names, most suppliers first.
DESCRIBED_DEPARTMENTS = 5


@dataclass(frozen=True)
class Transform:
    """x = x0 + (lon - lon0) * kx ; y = y0 - (lat - lat0) * ky, for points within `bounds`."""

    name: str
    lon0: float
    lat0: float
    kx: float
    ky: float
    x0: float
    y0: float
    bounds: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max
    box: tuple[float, float, float, float] | None  # inset frame: x, y, width, height

    def contains(self, latitude: float, longitude: float) -> bool:
        lon_min, lat_min, lon_max, lat_max = self.bounds
        return lon_min <= longitude <= lon_max and lat_min <= latitude <= lat_max

    def __call__(self, latitude: float, longitude: float) -> tuple[float, float]:
        return (self.x0 + (longitude - self.lon0) * self.kx, self.y0 - (latitude - self.lat0) * self.ky)

    @classmethod
    def from_json(cls, data: Mapping) -> Transform:
        return cls(data["name"], data["lon0"], data["lat0"], data["kx"], data["ky"], data["x0"], data["y0"],
                   tuple(data["bounds"]), tuple(data["box"]) if "box" in data else None)


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    path: str
    bbox: tuple[float, float, float, float]  # x_min, y_min, x_max, y_max in map units


@dataclass(frozen=True)
class Outlines:
    width: float
    height: float
    transforms: tuple[Transform, ...]  # overseas insets first, the mainland last
    departments: dict[str, Department]
    zoom_title: str
    zoom: Transform  # Paris and its inner suburbs drawn again, larger
    zoom_paths: dict[str, str]

    def project(self, latitude: float, longitude: float) -> tuple[str, float, float] | None:
        """(transform name, x, y) of a point on the map: on its overseas inset, or on the mainland."""
        for transform in self.transforms:
            if transform.contains(latitude, longitude):
                return (transform.name, *transform(latitude, longitude))
        return None


def parse_outlines(data: Mapping) -> Outlines:
    zoom = data["zoom"]
    return Outlines(
        width=data["width"], height=data["height"],
        transforms=tuple(Transform.from_json(t) for t in data["transforms"]),
        departments={code: Department(code, d["name"], d["path"], tuple(d["bbox"]))
                     for code, d in data["departments"].items()},
        zoom_title=zoom["title"], zoom=Transform.from_json(zoom["transform"]), zoom_paths=dict(zoom["departments"]),
    )


_outlines: Outlines | None = None
_outlines_lock = threading.Lock()


def outlines() -> Outlines:
    """The packaged outlines, read on first use and shared by every thread."""
    global _outlines
    if _outlines is None:
        with _outlines_lock:
            if _outlines is None:
                text = resources.files("vivier").joinpath(DATA_FILE).read_text(encoding="utf-8")
                _outlines = parse_outlines(json.loads(text))
    return _outlines


def project(latitude: float, longitude: float) -> tuple[float, float] | None:
    """Map coordinates (x, y) of a point of France, overseas points on their inset; None outside every map."""
    placed = outlines().project(latitude, longitude)
    return placed[1:] if placed else None


# -- choropleth -------------------------------------------------------------------------------------------------


def suppliers_text(count: int) -> str:
    """French count of suppliers inside a sentence: « aucun fournisseur », « 1 fournisseur », « 1 234 fournisseurs »
    (search_app.formatting.suppliers_count, which starts a sentence with « Aucun »)."""
    return suppliers_count(count) if count else "aucun fournisseur"


def class_breaks(counts: Collection[int]) -> list[int]:
    """Upper bounds of up to CLASS_COUNT classes of the positive counts, by quantiles of their distinct values
    (so that a few large departments do not leave every other one in the first class)."""
    values = sorted({c for c in counts if c > 0})
    if not values:
        return []
    classes = min(CLASS_COUNT, len(values))
    breaks = [values[math.ceil(len(values) * (i + 1) / classes) - 1] for i in range(classes)]
    return sorted(set(breaks))


def colour_class(count: int, breaks: list[int]) -> int:
    """Palette index 0 (none) or 1..CLASS_COUNT; fewer classes than colours are spread over the whole palette."""
    if count <= 0 or not breaks:
        return 0
    index = next((i for i, bound in enumerate(breaks) if count <= bound), len(breaks) - 1)
    if len(breaks) == 1:
        return CLASS_COUNT
    return 1 + round(index * (CLASS_COUNT - 1) / (len(breaks) - 1))


def _legend(breaks: list[int]) -> list[tuple[int, str]]:
    items = [(0, "aucun")]
    lower = 1
    for bound in breaks:
        items.append((colour_class(bound, breaks), f"{lower}" if lower == bound else f"{lower} à {bound}"))
        lower = bound + 1
    return items


def _department_title(department: Department, count: int, selected: bool) -> str:
    text = f"{department.name} ({department.code}) : {suppliers_text(count)}"
    return f"{text} (sélectionné)" if selected else text


def _map_heading(data: Outlines, clean: Mapping[str, int], linked: bool, title: str,
                 map_id: str) -> list[Markup]:
    """The <figure> and <svg> openings with the map's title and a text description of what it shows."""
    title_id, desc_id = f"{map_id}-titre", f"{map_id}-description"
    ranked = sorted(clean.items(), key=lambda item: (-item[1], item[0]))[:DESCRIBED_DEPARTMENTS]
    if ranked:
        named = ", ".join(f"{data.departments[code].name} ({n})" for code, n in ranked)
        description = (f"{suppliers_text(sum(clean.values()))} dans {len(clean)} départements. "
                       f"Les plus nombreux : {named}.")
    else:
        description = "Aucun fournisseur localisé."
    if linked:
        description += " Chaque département qui en compte est un lien qui filtre les résultats."
    # Links inside an SVG with role="img" would be hidden from screen readers: a linked map is a group.
    role = "group" if linked else "img"
    return [Markup('<figure class="map-figure" id="{}">').format(map_id),
            Markup('<svg class="map" viewBox="0 0 {} {}" role="{}" aria-labelledby="{} {}" focusable="false">')
            .format(data.width, data.height, role, title_id, desc_id),
            Markup('<title id="{}">{}</title><desc id="{}">{}</desc>').format(title_id, title, desc_id, description)]


def _map_legend(breaks: list[int]) -> list[Markup]:
    parts = [Markup('<figcaption><span class="map-legend-title">{}</span><ul class="map-legend">').format(
        "Nombre de fournisseurs")]
    for index, label in _legend(breaks):
        parts.append(Markup('<li><span class="map-swatch map-c{}" aria-hidden="true"></span>{}</li>').format(
            index, label))
    parts.append(Markup("</ul></figcaption></figure>"))
    return parts


def department_map(counts: Mapping[str, int], href: Callable[[str], str] | None = None,
                   selected: Collection[str] = frozenset(), title: str = DEFAULT_TITLE,
                   map_id: str = "carte-departements") -> Markup:
    """A choropleth of suppliers per department, every outline inline: each department's path carries a <title>
    ("Gironde (33) : 12 fournisseurs") and, when `href` is given, links to href(code) (a filter on that
    department). Departments in `selected` are outlined. Unknown codes and negative counts are ignored. Returns a
    <figure> with the SVG and its legend. About 130 KB: for a page drawn once (statistics); the search results,
    sent again on every change, use linked_department_map."""
    data = outlines()
    clean = {code: int(n) for code, n in counts.items() if code in data.departments and int(n) > 0}
    breaks = class_breaks(list(clean.values()))
    selected = {code for code in selected if code in data.departments}
    parts = _map_heading(data, clean, href is not None, title, map_id)
    parts.extend(_frames(data))
    order = sorted(data.departments, key=lambda code: (code in selected, code))  # selected last: outline on top
    for code in order:
        parts.append(_department_shape(data.departments[code], data.departments[code].path, clean.get(code, 0),
                                       breaks, href, code in selected))
    parts.append(Markup('<g class="map-zoom">'))
    for code in sorted(data.zoom_paths, key=lambda c: (c in selected, c)):
        parts.append(_department_shape(data.departments[code], data.zoom_paths[code], clean.get(code, 0), breaks,
                                       href, code in selected))
    parts.append(Markup("</g></svg>"))
    parts.extend(_map_legend(breaks))
    return Markup("").join(parts)


def linked_department_map(counts: Mapping[str, int], href: Callable[[str], str], sprite_url: str,
                          selected: Collection[str] = frozenset(), title: str = DEFAULT_TITLE,
                          map_id: str = "carte-departements") -> Markup:
    """The search results' choropleth, small enough to be sent again on every change of the results: the outlines
    come from the outline sprite (outline_sprite(), served at `sprite_url` and cached by the browser) through
    <use> references, France drawn once in the empty colour, then only the departments that have suppliers (or
    are selected), each coloured and linked to href(code). A department without suppliers is no link: it filters
    nothing."""
    data = outlines()
    clean = {code: int(n) for code, n in counts.items() if code in data.departments and int(n) > 0}
    breaks = class_breaks(list(clean.values()))
    selected = {code for code in selected if code in data.departments}
    shown = sorted(set(clean) | selected, key=lambda code: (code in selected, code))  # selected last: on top
    parts = _map_heading(data, clean, True, title, map_id)
    parts.append(Markup('<use class="map-dept map-c0" href="{}#{}" aria-hidden="true"></use>').format(
        sprite_url, SPRITE_BACKGROUND))
    for prefix, codes in (("d", shown), ("z", [code for code in shown if code in data.zoom_paths])):
        for code in codes:
            count = clean.get(code, 0)
            classes = f"map-dept map-c{colour_class(count, breaks)}" + (" is-selected" if code in selected else "")
            parts.append(Markup('<a class="map-link" href="{}"><title>{}</title><use class="{}" href="{}#{}-{}">'
                                '</use></a>').format(href(code),
                                                      _department_title(data.departments[code], count,
                                                                        code in selected),
                                                      classes, sprite_url, prefix, code))
    parts.append(Markup("</svg>"))
    parts.extend(_map_legend(breaks))
    return Markup("").join(parts)


# The outline sprite's ids: the whole background (frames, every department, the Paris zoom), each department
# ("d-33"), each department of the zoom ("z-75").
SPRITE_BACKGROUND = "fond"
_sprite: tuple[str, str] | None = None


def outline_sprite() -> tuple[str, str]:
    """(SVG document, version) of every outline, for linked_department_map's <use> references. Its presentation
    attributes are its own (the page's stylesheet does not reach into it): paths take their fill and stroke from
    the <use> that draws them."""
    global _sprite
    if _sprite is None:
        data = outlines()
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {data.width} {data.height}">',
                 f'<g id="{SPRITE_BACKGROUND}">']
        for (x, y, width, height), name in _framed(data):
            parts.append(f'<rect x="{x}" y="{y}" width="{width}" height="{height}" fill="none" stroke="#999" '
                         f'stroke-width="1" vector-effect="non-scaling-stroke"/>'
                         f'<text x="{round(x + 5, 1)}" y="{round(y + 17, 1)}" font-size="15" fill="#555" '
                         f'stroke="none" font-family="sans-serif">{escape(name)}</text>')
        parts.extend(f'<path id="d-{code}" d="{d.path}"/>' for code, d in sorted(data.departments.items()))
        parts.extend(f'<path id="z-{code}" d="{path}"/>' for code, path in sorted(data.zoom_paths.items()))
        parts.append("</g></svg>")
        text = "".join(parts)
        _sprite = (text, hashlib.sha256(text.encode()).hexdigest()[:12])
    return _sprite


def _department_shape(department: Department, path: str, count: int, breaks: list[int],
                      href: Callable[[str], str] | None, selected: bool) -> Markup:
    label = _department_title(department, count, selected)
    classes = f"map-dept map-c{colour_class(count, breaks)}" + (" is-selected" if selected else "")
    shape = Markup('<path class="{}" d="{}"><title>{}</title></path>').format(classes, path, label)
    if href is None:
        return shape
    return Markup('<a class="map-link" href="{}" aria-label="{}">{}</a>').format(href(department.code), label,
                                                                                 shape)


def _framed(data: Outlines) -> list[tuple[tuple[float, float, float, float], str]]:
    """(box, name) of every inset: the five overseas departments and the Paris zoom."""
    framed = [(t.box, data.departments[t.name].name) for t in data.transforms if t.box and t.name in data.departments]
    if data.zoom.box:
        framed.append((data.zoom.box, data.zoom_title))
    return framed


def _frames(data: Outlines) -> list[Markup]:
    """Frames and names of the insets: the five overseas departments and the Paris zoom."""
    parts = [Markup('<g class="map-frames" aria-hidden="true">')]
    for box, name in _framed(data):
        x, y, width, height = box
        parts.append(Markup('<rect class="map-inset-frame" x="{}" y="{}" width="{}" height="{}"></rect>'
                            '<text class="map-inset-label" x="{}" y="{}">{}</text>')
                     .format(x, y, width, height, round(x + 5, 1), round(y + 17, 1), name))
    parts.append(Markup("</g>"))
    return parts


# -- position -----------------------------------------------------------------------------------------------------


def point_map(latitude: float | None, longitude: float | None, label: str, map_id: str = "carte-position") -> Markup:
    """France's departments with a marker at (latitude, longitude), overseas points on their inset and Paris-area
    points on the zoom too. Empty when the position is unknown or outside every map."""
    if latitude is None or longitude is None or not (math.isfinite(latitude) and math.isfinite(longitude)):
        return Markup("")
    data = outlines()
    placed = data.project(latitude, longitude)
    if placed is None:
        return Markup("")
    inset, x, y = placed
    where = f" (encart {data.departments[inset].name})" if inset in data.departments else ""
    title_id, desc_id = f"{map_id}-titre", f"{map_id}-description"
    parts = [Markup('<svg class="map map-position" viewBox="0 0 {} {}" role="img" aria-labelledby="{} {}" '
                    'focusable="false">').format(data.width, data.height, title_id, desc_id),
             Markup('<title id="{}">Localisation : {}</title><desc id="{}">{}</desc>').format(
                 title_id, label, desc_id, f"Carte de France marquant la position de {label}{where}.")]
    parts.extend(_frames(data))
    for department in data.departments.values():
        parts.append(Markup('<path class="map-dept map-plain" d="{}"></path>').format(department.path))
    for path in data.zoom_paths.values():
        parts.append(Markup('<path class="map-dept map-plain" d="{}"></path>').format(path))
    markers = [(x, y)]
    if data.zoom.contains(latitude, longitude):
        markers.append(data.zoom(latitude, longitude))
    for mx, my in markers:
        parts.append(Markup('<circle class="map-marker-ring" cx="{0}" cy="{1}" r="{2}"></circle>'
                            '<circle class="map-marker" cx="{0}" cy="{1}" r="{3}"></circle>').format(
            round(mx, 1), round(my, 1), MARKER_RING_RADIUS, MARKER_RADIUS))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
