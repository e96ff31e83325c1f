"""SVG maps of France: every department drawn, counts and titles escaped, links, projection of points onto the
mainland and the overseas insets, and the integrity of the packaged outline file."""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from pathlib import Path

import pytest
from markupsafe import Markup

from search_app.public import maps
from vivier import communes
from vivier.geo import DEPARTMENTS

CSS = Path(__file__).resolve().parent.parent / "search_app" / "static" / "maps.css"
_PATH_TOKEN = re.compile(r"[Mlz]|-?\d+(?:\.\d+)?")


@functools.cache
def rings_of(path: str) -> list[list[tuple[float, float]]]:
    """Rings of the packaged path data ("M x y l dx dy dx dy ... z", repeated)."""
    rings, ring, command, numbers = [], [], None, []
    for token in _PATH_TOKEN.findall(path):
        if token in "Mlz":
            command = token
            if token == "z":
                rings.append(ring)
                ring = []
            continue
        numbers.append(float(token))
        if len(numbers) == 2:
            dx, dy = numbers
            numbers = []
            if command == "M":
                ring = [(dx, dy)]
            else:
                ring.append((ring[-1][0] + dx, ring[-1][1] + dy))
    return rings


def inside(point: tuple[float, float], path: str) -> bool:
    """Even-odd point in the shape, as the map's fill-rule draws it."""
    x, y = point
    crossings = 0
    for ring in rings_of(path):
        for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                crossings += 1
    return crossings % 2 == 1


def test_every_department_has_a_shape_named_as_in_geo():
    outlines = maps.outlines()
    assert set(outlines.departments) == set(DEPARTMENTS)
    for code, department in outlines.departments.items():
        assert department.name == DEPARTMENTS[code][0]
        rings = rings_of(department.path)
        assert rings and all(len(ring) >= 3 for ring in rings), code
        x0, y0, x1, y1 = department.bbox
        assert 0 <= x0 < x1 <= outlines.width and 0 <= y0 < y1 <= outlines.height, code
    assert set(outlines.zoom_paths) == {"75", "92", "93", "94"}


def test_packaged_outline_file_is_compact_and_documented():
    raw = resources.files("vivier").joinpath("data/departments.json").read_bytes()
    assert len(raw) <= 300_000
    data = json.loads(raw)
    assert [t["name"] for t in data["transforms"]] == ["971", "972", "973", "974", "976", "metropole"]
    assert "x0 + (lon - lon0) * kx" in data["about"]


@pytest.mark.parametrize("text, code, coastal", [
    ("Bordeaux", "33", False), ("Brest", "29", False), ("Strasbourg", "67", False), ("Lille", "59", False),
    ("Nice", "06", False), ("Paris", "75", False), ("Sartène", "2A", False), ("Bastia", "2B", False),
    ("Pointe-à-Pitre", "971", False), ("Fort-de-France", "972", False), ("Maripasoula", "973", False),
    ("Saint-Denis 974", "974", False), ("Mamoudzou", "976", False),
    # Town halls on the shore may fall a simplification step (about a kilometre) out to sea: their box only.
    ("Ajaccio", "2A", True), ("Cayenne", "973", True),
])
def test_a_town_lands_inside_its_department(text, code, coastal):
    commune = communes.find(text)
    point = maps.project(commune.latitude, commune.longitude)
    department = maps.outlines().departments[code]
    x0, y0, x1, y1 = department.bbox
    assert x0 <= point[0] <= x1 and y0 <= point[1] <= y1
    assert coastal or inside(point, department.path)


def test_overseas_points_land_in_their_inset():
    outlines = maps.outlines()
    for code, town in [("971", "Pointe-à-Pitre"), ("974", "Saint-Pierre 974"), ("976", "Mamoudzou")]:
        commune = communes.find(town)
        name, x, y = outlines.project(commune.latitude, commune.longitude)
        bx, by, width, height = next(t.box for t in outlines.transforms if t.name == code)
        assert name == code and bx <= x <= bx + width and by <= y <= by + height


def test_nearly_every_commune_centre_lands_in_its_own_department():
    outlines = maps.outlines()
    table = communes.table().communes
    misplaced = [c for c in table
                 if not inside(maps.project(c.latitude, c.longitude), outlines.departments[c.department].path)]
    # Only coastal or border communes whose town hall sits within a simplification step of the outline.
    assert len(misplaced) / len(table) < 0.01, [(c.insee, c.name) for c in misplaced[:20]]


def test_points_outside_every_map_are_not_placed():
    assert maps.project(0.0, 0.0) is None           # Gulf of Guinea
    assert maps.project(40.4, -3.7) is None         # Madrid
    assert maps.project(51.5, -0.13) is None        # London
    assert maps.project(41.9, 12.5) is None         # Rome
    assert maps.point_map(0.0, 0.0, "Nulle part") == Markup("")
    assert maps.point_map(None, None, "Inconnue") == ""
    assert maps.point_map(float("nan"), 2.0, "Inconnue") == ""


def _titles(svg: str) -> list[str]:
    return re.findall(r"<title>([^<]*)</title>", svg)


def test_department_map_titles_counts_and_colour_classes():
    svg = str(maps.department_map({"33": 12, "29": 1, "75": 40, "974": 3, "69": 0}))
    titles = _titles(svg)
    assert "Gironde (33) : 12 fournisseurs" in titles
    assert "Finistère (29) : 1 fournisseur" in titles
    assert "Rhône (69) : aucun fournisseur" in titles  # never « 0 fournisseur(s) »
    assert "La Réunion (974) : 3 fournisseurs" in titles
    assert len([t for t in titles if t.startswith("Paris (75)")]) == 2  # the mainland and the zoom
    assert len(re.findall(r'<path class="map-dept', svg)) == len(DEPARTMENTS) + 4
    assert re.search(r'class="map-dept map-c5"[^>]*><title>Paris \(75\)', svg)       # the most
    assert re.search(r'class="map-dept map-c0"[^>]*><title>Rhône \(69\)', svg)       # none: neutral
    assert 'role="img"' in svg and "<desc" in svg and "Paris (40), Gironde (12)" in svg
    assert "<a " not in svg
    assert " style=" not in svg                      # the CSP forbids inline styles


def test_department_map_escapes_and_ignores_unknown_codes():
    svg = str(maps.department_map({"33": 2, "<script>": 5, "99": 3}, title="Carte <b>&</b>",
                                  href=lambda code: f'/recherche?q="x"&departement={code}'))
    assert "<script>" not in svg and "Carte &lt;b&gt;&amp;&lt;/b&gt;" in svg
    assert 'href="/recherche?q=&#34;x&#34;&amp;departement=33"' in svg
    assert "Gironde (33) : 2 fournisseurs" in svg and "(99)" not in svg


def test_department_map_links_every_department_and_marks_selection():
    svg = str(maps.department_map({"33": 3, "40": 1}, href=lambda code: f"/recherche?departement={code}",
                                  selected={"33", "nope"}))
    links = re.findall(r'<a class="map-link" href="/recherche\?departement=([0-9AB]+)"', svg)
    assert set(links) == set(DEPARTMENTS) and len(links) == len(DEPARTMENTS) + 4
    assert 'role="group"' in svg                     # links inside role="img" would be hidden from screen readers
    assert 'aria-label="Gironde (33) : 3 fournisseurs (sélectionné)"' in svg
    assert svg.count("is-selected") == 1
    assert 'aria-label="Landes (40) : 1 fournisseur"' in svg


def test_class_breaks_and_legend():
    assert maps.class_breaks([]) == [] and maps.class_breaks([0, 0]) == []
    breaks = maps.class_breaks([1, 2, 3, 4, 5, 8, 13, 21, 34, 55])
    assert breaks == [2, 4, 8, 21, 55]
    assert [maps.colour_class(n, breaks) for n in (0, 1, 3, 6, 21, 55)] == [0, 1, 2, 3, 4, 5]
    assert [maps.colour_class(n, [1, 9]) for n in (1, 9)] == [1, 5]   # two classes use both ends of the palette
    svg = str(maps.department_map({"33": 1, "75": 9}))
    assert re.findall(r'map-swatch map-c(\d)" aria-hidden="true"></span>([^<]*)<', svg) == [
        ("0", "aucun"), ("1", "1"), ("5", "2 à 9")]


def test_point_map_marks_the_position():
    bordeaux = communes.find("Bordeaux")
    svg = str(maps.point_map(bordeaux.latitude, bordeaux.longitude, "Acme <SAS>"))
    assert svg.count('<circle class="map-marker"') == 1 and "Acme &lt;SAS&gt;" in svg and 'role="img"' in svg
    radius = float(re.search(r'<circle class="map-marker" [^>]*r="([\d.]+)"', svg).group(1))
    ring = float(re.search(r'<circle class="map-marker-ring" [^>]*r="([\d.]+)"', svg).group(1))
    # A dot of at least 10 px across on a 300 px wide map (issue 21: it was 5 px), inside a wider ring.
    assert 2 * radius * 300 / maps.outlines().width >= 10 and ring > radius
    cx, cy = map(float, re.search(r'<circle class="map-marker" cx="([\d.]+)" cy="([\d.]+)"', svg).groups())
    assert inside((cx, cy), maps.outlines().departments["33"].path)
    paris = communes.find("Paris")
    paris_map = str(maps.point_map(paris.latitude, paris.longitude, "Paris"))
    assert paris_map.count('<circle class="map-marker"') == 2  # and on the zoom
    reunion = communes.find("Saint-Denis 974")
    assert "encart La Réunion" in str(maps.point_map(reunion.latitude, reunion.longitude, "Run"))
    assert " style=" not in svg


def test_stylesheet_defines_every_class_used():
    css = CSS.read_text(encoding="utf-8")
    svg = str(maps.department_map({"33": 1}, href=str)) + str(maps.point_map(44.84, -0.58, "x"))
    used = set(re.findall(r'class="([^"]+)"', svg))
    hooks = {"map-frames", "map-zoom"}  # groups, left unstyled
    classes = {name for value in used for name in value.split()} - hooks
    assert all(f".{name}" in css for name in classes), classes
    assert all(f".map-c{i}" in css for i in range(maps.CLASS_COUNT + 1))
