"""French communes from the packaged table: look-ups by INSEE code, postcode or name, suggestions, distances.

The table (vivier/data/communes.csv.gz, built by scripts/build_geo_data.py from INSEE's 2026 geography) holds
every current commune of the 101 departments and the municipal arrondissements of Paris, Lyon and Marseille,
each with a centre point (its town hall, or its contour's centroid). It is read once, lazily, on first use.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import re
import threading
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources

from rapidfuzz import fuzz, process

from vivier.geo import DEPARTMENTS, department_from_postcode, haversine_km  # noqa: F401 - part of this API

DATA_FILE = "data/communes.csv.gz"
# Fuzzy scores (closeness(), 0-100). Suggestions go lower than a resolution: a list can show near misses, and
# names that sound alike ("Lion": Lyon), but find() must not turn "Lion" into "Clion" (ratio 89) nor Lyon (by
# sound only): "Bordeau" for "Bordeaux" (93) is its kind of slip.
SUGGESTION_MIN_SCORE = 70
RESOLUTION_MIN_SCORE = 90
# closeness() is computed on the FUZZY_POOL names of highest whole-name ratio, down to FUZZY_SLACK points below the
# score asked for: a name that the word-by-word comparison brings closer may start a little lower.
FUZZY_POOL = 40
FUZZY_SLACK = 10
# When a postcode and a commune name are both known, the name may be spelt loosely ("St Jean de Luz").
POSTCODE_NAME_MIN_SCORE = 80
# Abbreviations people write for the words of commune names.
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss"})
_ARTICLES = frozenset({"le", "la", "les", "l"})
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$", re.IGNORECASE)
_CODE_PREFIX = re.compile(r"^(\d+|2[AB]\d*)$", re.IGNORECASE)
_POSTCODE = re.compile(r"^\d{5}$")
# "Saint-Denis (93)", "Saint-Denis 974", "Saint-Denis, 93200", "93200 Saint-Denis"
_TRAILING_HINT = re.compile(r"^(?P<name>.*?\D)[\s,]*[(\[]?\s*(?P<hint>\d{5}|\d{2,3}|2[AB])\s*[)\]]?$", re.IGNORECASE)
_LEADING_POSTCODE = re.compile(r"^(?P<hint>\d{5})[\s,]+(?P<name>\D.*)$")


@dataclass(frozen=True, slots=True)
class Commune:
    insee: str
    name: str
    postcodes: tuple[str, ...]
    department: str
    latitude: float
    longitude: float
    population: int | None
    parent: str | None = None  # the city (75056, 69123, 13055) of a municipal arrondissement
    former_codes: tuple[str, ...] = ()  # INSEE codes of communes merged into this one
    former_names: tuple[str, ...] = ()  # names of its delegated or associated communes

    @property
    def label(self) -> str:
        """ "Saint-Denis (93)": how suggestions name a commune, and an entry find() reads back to this very commune
        (no department holds two communes of one name; tests/test_communes.py checks it)."""
        return f"{self.name} ({self.department})"


def normalise_name(text: str) -> str:
    """The form names are compared in: no case, accents, hyphens or apostrophes; "St" spelt "saint"."""
    ascii_text = unicodedata.normalize("NFKD", text.lower().translate(_LIGATURES)).encode("ascii", "ignore")
    words = _NOT_WORD.split(ascii_text.decode("ascii"))
    return " ".join(_ABBREVIATIONS.get(word, word) for word in words if word)


_SOUNDS = [(re.compile(pattern), sound) for pattern, sound in (
    (r"eau|au", "o"), (r"[ae]in|[ae]im|ym", "in"), (r"ai|ei|e[tz]\b", "e"), (r"y", "i"), (r"ph", "f"),
    (r"qu|ck|c(?=[aou])|k", "k"), (r"(?<![csp])h", ""), (r"(\w)\1", r"\1"), (r"(?<=\w\w)e?[stxd]*\b", ""),
)]


def sound(key: str) -> str:
    """A normalised name as French tends to say it, roughly: "saint nazaire" and "sant nazer" both "san nazer"
    ("ai" and "ei" as "e", "au" and "eau" as "o", doubled letters single, a word's silent end dropped)."""
    for pattern, replacement in _SOUNDS:
        key = pattern.sub(replacement, key)
    return key


def _similarity(key: str, name_key: str) -> float:
    """fuzz.ratio of two normalised names, or, for names of as many words, their words compared one by one
    (weighted by length) when that is higher: a shared "saint" then weighs as one word, not half the name."""
    score = fuzz.ratio(key, name_key)
    words, name_words = key.split(), name_key.split()
    if len(words) == len(name_words) > 1:
        weights = [max(len(a), len(b)) for a, b in zip(words, name_words, strict=True)]
        by_word = sum(fuzz.ratio(a, b) * w for a, b, w in zip(words, name_words, weights, strict=True))
        score = max(score, by_word / sum(weights))
    return score


def closeness(key: str, name_key: str, by_sound: bool = True) -> float:
    """How close an entry is to a commune's name, both normalised (0-100): the better of their spellings'
    similarity and, with `by_sound`, their sounds' (sound()). "sant nazer" is closer to "saint nazaire" (89, by
    sound) than to "saint paer" (80), although its spelling is nearer the second (ratio 80 against 78)."""
    score = _similarity(key, name_key)
    return max(score, _similarity(sound(key), sound(name_key))) if by_sound else score


def _without_article(key: str) -> str | None:
    """ "le havre" -> "havre": people often leave the article out."""
    head, _, rest = key.partition(" ")
    return rest if head in _ARTICLES and rest else None


class CommuneTable:
    """The communes and their indexes. Pure: built from rows, no I/O."""

    def __init__(self, communes: list[Commune]):
        self.communes = tuple(communes)
        self._by_code = {commune.insee: commune for commune in communes}
        self._by_former_code: dict[str, Commune] = {}
        by_postcode: dict[str, list[Commune]] = defaultdict(list)
        by_name: dict[str, list[Commune]] = defaultdict(list)
        by_former_name: dict[str, list[Commune]] = defaultdict(list)
        for commune in communes:
            for code in commune.former_codes:
                self._by_former_code.setdefault(code, commune)
            for postcode in commune.postcodes:
                by_postcode[postcode].append(commune)
            key = normalise_name(commune.name)
            by_name[key].append(commune)
            if short := _without_article(key):
                by_former_name[short].append(commune)
            for name in commune.former_names:
                by_former_name[normalise_name(name)].append(commune)
        self._by_postcode = {key: _ranked(value) for key, value in by_postcode.items()}
        self._by_name = {key: _ranked(value) for key, value in by_name.items()}
        self._by_former_name = {key: _ranked(value) for key, value in by_former_name.items()}
        self._names = sorted(self._by_name)
        by_sound: dict[str, list[str]] = defaultdict(list)
        for key in self._names:
            by_sound[sound(key)].append(key)
        self._by_sound = dict(by_sound)
        self._sounds = sorted(self._by_sound)
        self._postcodes = sorted(self._by_postcode)

    def __len__(self) -> int:
        return len(self.communes)

    def by_insee(self, code: str | None) -> Commune | None:
        code = (code or "").strip().upper()
        return self._by_code.get(code) or self._by_former_code.get(code)

    def by_postcode(self, postcode: str | None) -> list[Commune]:
        """Communes served by a postcode, the most populous first."""
        return list(self._by_postcode.get((postcode or "").strip().replace(" ", ""), ()))

    def by_name(self, name: str, department: str | None = None) -> list[Commune]:
        """Communes of exactly this name (as normalised), then those named so without their article ("Havre")
        or whose former communes had it."""
        key = normalise_name(name)
        found = [*self._by_name.get(key, ()), *self._by_former_name.get(key, ())]
        return _unique([c for c in found if department is None or c.department == department])

    def find(self, text: str | None) -> Commune | None:
        """Resolve what a person typed: a postcode or INSEE code, or a name with or without accents, hyphens or
        case, optionally with a department or postcode ("Saint-Denis (93)", "Saint-Denis 974", "93200
        Saint-Denis"). Several communes of one name: the most populous (homonyms() lists them, for a page that
        asks which one is meant). A five-digit entry is read as a postcode first (what people type), then as an
        INSEE code. Slight misspellings are corrected, wild ones are not."""
        text = (text or "").strip()
        if not text:
            return None
        compact = text.replace(" ", "")
        if _POSTCODE.match(compact) and (served := self.by_postcode(compact)):
            return served[0]
        if _INSEE.match(compact):
            return self.by_insee(compact)
        name, department, postcode = _split_hint(text)
        if postcode:
            return self.in_postcode(name, postcode)
        if department and department not in DEPARTMENTS:
            name, department = text, None
        exact = self.by_name(name, department)
        if exact:
            return exact[0]
        fuzzy = self._fuzzy(normalise_name(name), department, RESOLUTION_MIN_SCORE, 1, by_sound=False)
        return fuzzy[0] if fuzzy else None

    def homonyms(self, text: str | None) -> list[Commune]:
        """The communes sharing the name an entry designates when it does not say which one ("Saint-Denis": four
        communes, most populous first); [] when it designates one commune (a code, a postcode, a department hint,
        a unique name) or none. A slightly misspelt name ("Saint-Deni") stands for the name find() corrects it
        to."""
        text = (text or "").strip()
        compact = text.replace(" ", "")
        if not text or _POSTCODE.match(compact) or _INSEE.match(compact):
            return []
        name, department, postcode = _split_hint(text)
        if postcode or (department and department in DEPARTMENTS):
            return []  # no department holds two communes of one name
        key = normalise_name(text if department else name)
        same = self._by_name.get(key) or self._by_former_name.get(key)
        if not same:
            fuzzy = self._fuzzy(key, None, RESOLUTION_MIN_SCORE, 1, by_sound=False)
            same = self._by_name[normalise_name(fuzzy[0].name)] if fuzzy else []
        return list(same) if len(same) > 1 else []

    def in_postcode(self, name: str | None, postcode: str | None) -> Commune | None:
        """The commune of this name among those of this postcode (loosely spelt), an arrondissement rather than
        its city when the postcode designates one; None when the name fits none of them."""
        served = self.by_postcode(postcode)
        key = normalise_name(name or "")
        if not served or not key:
            return None
        named = [c for c in served if key in (normalise_name(c.name), *map(normalise_name, c.former_names))]
        if not named:
            scores = [(fuzz.ratio(key, normalise_name(c.name)), c) for c in served]
            best = max(scores, key=lambda pair: pair[0])
            named = [best[1]] if best[0] >= POSTCODE_NAME_MIN_SCORE else []
        if not named:
            return None
        city = named[0]
        arrondissement = next((c for c in served if c.parent == city.insee), None)
        return arrondissement or city

    def candidates(self, text: str | None, limit: int = 10) -> list[Commune]:
        """Ranked suggestions for an autocomplete or a "did you mean": exact names, then names starting with the
        text, then close spellings, closest first (see closeness()); digits suggest postcodes and INSEE codes
        starting with them. Among equals, the most populous first (the table's legal population)."""
        text = (text or "").strip()
        if not text or limit <= 0:
            return []
        compact = text.replace(" ", "")
        if _CODE_PREFIX.match(compact):
            return self._code_prefix(compact.upper(), limit)
        name, department, postcode = _split_hint(text)
        if postcode:
            department = department_from_postcode(postcode)
        if department and department not in DEPARTMENTS:
            name, department = text, None
        key = normalise_name(name)
        if not key:
            return []
        found = self.by_name(name, department)
        start = bisect.bisect_left(self._names, key)
        prefixed: list[Commune] = []
        for candidate in self._names[start:]:
            if not candidate.startswith(key):
                break
            prefixed.extend(c for c in self._by_name[candidate] if department is None or c.department == department)
        found = _unique([*found, *_ranked(prefixed)])
        if len(found) < limit:
            found = _unique([*found, *self._fuzzy(key, department, SUGGESTION_MIN_SCORE, limit)])
        return found[:limit]

    def _code_prefix(self, prefix: str, limit: int) -> list[Commune]:
        found: list[Commune] = []
        start = bisect.bisect_left(self._postcodes, prefix)
        for postcode in self._postcodes[start:]:
            if not postcode.startswith(prefix):
                break
            found.extend(self._by_postcode[postcode])
        by_code = [c for c in self.communes if c.insee.startswith(prefix)] if len(prefix) >= 2 else []
        return _unique([*_ranked(found), *_ranked(by_code)])[:limit]

    def _fuzzy(self, key: str, department: str | None, min_score: int, limit: int,
               by_sound: bool = True) -> list[Commune]:
        """Names at least `min_score` close to `key` (closeness(), by sound too unless `by_sound` is false),
        closest first, then the most populous. closeness() is computed only on the FUZZY_POOL names nearest in
        spelling, and as many nearest in sound."""
        if not key:
            return []
        pool = max(limit * 5, FUZZY_POOL)
        cutoff = max(0, min_score - FUZZY_SLACK)
        names = {name for name, _, _ in process.extract(key, self._names, scorer=fuzz.ratio, score_cutoff=cutoff,
                                                         limit=pool)}
        if by_sound:
            for heard, _, _ in process.extract(sound(key), self._sounds, scorer=fuzz.ratio, score_cutoff=cutoff,
                                               limit=pool):
                names.update(self._by_sound[heard])
        ranked: list[tuple[int, int, str, Commune]] = []
        for name in names:
            score = closeness(key, name, by_sound)
            if score < min_score:
                continue
            for commune in self._by_name[name]:
                if department is None or commune.department == department:
                    ranked.append((-round(score), -(commune.population or 0), commune.insee, commune))
        ranked.sort(key=lambda item: item[:3])
        return [item[3] for item in ranked[:limit]]


def _ranked(communes: list[Commune]) -> list[Commune]:
    """Most populous first, ties broken by INSEE code."""
    return sorted(communes, key=lambda c: (-(c.population or 0), c.insee))


def _unique(communes: list[Commune]) -> list[Commune]:
    seen: set[str] = set()
    unique = []
    for commune in communes:
        if commune.insee not in seen:
            seen.add(commune.insee)
            unique.append(commune)
    return unique


def _split_hint(text: str) -> tuple[str, str | None, str | None]:
    """(name, department, postcode) from "Name (93)", "Name 974", "Name 93200" or "93200 Name"."""
    match = _LEADING_POSTCODE.match(text) or _TRAILING_HINT.match(text)
    if not match:
        return text, None, None
    name, hint = match.group("name").strip(" ,-"), match.group("hint").upper()
    return (name, None, hint) if len(hint) == 5 else (name, hint, None)


def parse_table(text: str) -> CommuneTable:
    """The table from the CSV text of communes.csv (see vivier/data/SOURCES.md for the columns)."""
    communes = []
    for row in csv.DictReader(io.StringIO(text)):
        communes.append(Commune(
            insee=row["insee"], name=row["name"], postcodes=tuple(row["postcodes"].split()),
            department=row["department"], latitude=float(row["latitude"]), longitude=float(row["longitude"]),
            population=int(row["population"]) if row["population"] else None, parent=row["parent"] or None,
            former_codes=tuple(row["former_codes"].split()),
            former_names=tuple(name for name in row["former_names"].split("|") if name),
        ))
    return CommuneTable(communes)


_table: CommuneTable | None = None
_table_lock = threading.Lock()


def table() -> CommuneTable:
    """The packaged table, read on first use (about a second), then shared by every thread."""
    global _table
    if _table is None:
        with _table_lock:
            if _table is None:
                data = resources.files("vivier").joinpath(DATA_FILE).read_bytes()
                _table = parse_table(gzip.decompress(data).decode("utf-8"))
    return _table


def by_insee(code: str | None) -> Commune | None:
    """The commune of an INSEE code (a former code leads to the commune it merged into)."""
    return table().by_insee(code)


def find(text: str | None) -> Commune | None:
    """Resolve a person's entry to one commune; see CommuneTable.find."""
    return table().find(text)


def homonyms(text: str | None) -> list[Commune]:
    """The communes an ambiguous name may mean, most populous first; see CommuneTable.homonyms."""
    return table().homonyms(text)


def candidates(text: str | None, limit: int = 10) -> list[Commune]:
    """Ranked suggestions for an autocomplete or a "did you mean"; see CommuneTable.candidates."""
    return table().candidates(text, limit)


def centroid_for(insee_code: str | None = None, postcode: str | None = None,
                 commune: str | None = None) -> tuple[float, float] | None:
    """(latitude, longitude) of a commune's centre from its INSEE code, or from its postcode and name together;
    None when they do not designate a known commune (a postcode alone is not enough: it may serve several)."""
    found = table().by_insee(insee_code) if insee_code else None
    if found is None and postcode and commune:
        found = table().in_postcode(commune, postcode)
    return (found.latitude, found.longitude) if found else None
