"""Pure normalisation of a harvested profile: raw strings in, clean typed values out."""

from __future__ import annotations

import re
from typing import Any

from vivier import geo
from vivier.identifiers import canonical_url, normalise_siren
from vivier.taxonomy import CATEGORIES, LABELS, SIZE_BANDS
from vivier.text import clean_text, fold

# Other names directories give to our categories and labels (folded). The taxonomy label itself always matches.
CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "e-services": ("e-administration", "demarches en ligne", "guichet numerique", "gru"),
    "incident-reporting": ("signalement", "services techniques", "gestion des interventions"),
    "citizen-participation": ("democratie participative", "concertation", "budget participatif"),
    "mobile-app": ("application mobile", "appli citoyenne"),
    "public-space": ("domaine public", "droits de place"),
    "school-services": ("cantine", "restauration scolaire", "periscolaire", "portail famille"),
    "building-energy": ("energie des batiments", "decret tertiaire", "gestion technique du batiment"),
    "waste": ("dechets", "gestion des dechets", "collecte"),
    "green-spaces": ("espaces verts", "arrosage"),
    "illegal-dumping": ("depots sauvages", "decharges sauvages"),
    "parking": ("parking", "stationnement intelligent"),
    "air-quality": ("qualite de l'air", "pollution de l'air"),
    "public-lighting": ("eclairage", "eclairage intelligent"),
    "iot-networks": ("iot", "lora", "lorawan", "internet des objets"),
    "data-platforms": ("open data", "donnees", "tableaux de bord", "hyperviseur"),
    "mobility": ("transport", "mobilites"),
    "tourism-heritage": ("tourisme", "patrimoine"),
    "security": ("videoprotection", "securite", "videosurveillance"),
    "connectivity": ("telephonie", "connectivite", "wifi", "fibre"),
}

LABEL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "ess": ("economie sociale et solidaire", "entreprise de l'ess"),
    "esus": ("entreprise solidaire d'utilite sociale", "agrement esus"),
    "ea-esat": ("entreprise adaptee", "esat", "ea"),
    "siae": ("insertion par l'activite economique", "structure d'insertion"),
    "societe-a-mission": ("societe a mission", "entreprise a mission"),
    "b-corp": ("b corp", "bcorp", "b corporation"),
    "iso-14001": ("iso 14001", "iso14001"),
    "french-tech": ("french tech",),
    "jei": ("jeune entreprise innovante",),
    "rge": ("reconnu garant de l'environnement",),
}

_SIZE_PATTERNS = (
    (re.compile(r"^\s*(1|0)\s*(-|à|a)\s*9\b"), "1-9"),
    (re.compile(r"^\s*10\s*(-|à|a)\s*49\b"), "10-49"),
    (re.compile(r"^\s*50\s*(-|à|a)\s*249\b"), "50-249"),
    (re.compile(r"^\s*250\b"), "250+"),
)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)


def _lookup(term_slugs: dict[str, str], synonyms: dict[str, tuple[str, ...]]) -> dict[str, str]:
    table = dict(term_slugs)
    for slug, names in synonyms.items():
        for name in names:
            table.setdefault(name, slug)
    return table


_CATEGORY_LOOKUP = _lookup({fold(t.label): t.slug for t in CATEGORIES} | {t.slug: t.slug for t in CATEGORIES},
                           CATEGORY_SYNONYMS)
_LABEL_LOOKUP = _lookup({fold(t.label): t.slug for t in LABELS} | {t.slug: t.slug for t in LABELS}, LABEL_SYNONYMS)


def _map_terms(values: list[str] | None, lookup: dict[str, str]) -> list[str]:
    slugs: list[str] = []
    for value in values or []:
        slug = lookup.get(fold(clean_text(value)))
        if slug and slug not in slugs:
            slugs.append(slug)
    return slugs


def map_categories(values: list[str] | None) -> list[str]:
    """Taxonomy slugs for a directory's category names, in their order, unknown names dropped."""
    return _map_terms(values, _CATEGORY_LOOKUP)


def recognise_labels(values: list[str] | None) -> list[str]:
    return _map_terms(values, _LABEL_LOOKUP)


def normalise_size_band(raw: str | None) -> str | None:
    if not raw:
        return None
    if raw in {t.slug for t in SIZE_BANDS}:
        return raw
    for pattern, slug in _SIZE_PATTERNS:
        if pattern.search(raw):
            return slug
    return None


def _year(raw: Any) -> int | None:
    match = _YEAR.search(str(raw or ""))
    return int(match.group(1)) if match else None


def _float(raw: Any) -> float | None:
    try:
        return float(str(raw).replace(",", ".")) if raw not in (None, "") else None
    except ValueError:
        return None


def _clean_list(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        cleaned = clean_text(value)
        if cleaned and cleaned not in out:
            out.append(cleaned)
    return out


def normalise_profile(raw: dict[str, Any]) -> dict[str, Any]:
    """Clean a raw harvested profile. Unknown or invalid values become None/empty, never errors."""
    postcode = re.sub(r"\s", "", raw.get("postcode") or "") or None
    insee = (raw.get("insee_code") or "").strip().upper() or None
    department = geo.department_from_insee(insee) or geo.department_from_postcode(postcode)
    latitude, longitude = _float(raw.get("latitude")), _float(raw.get("longitude"))
    if latitude is None or longitude is None or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        latitude = longitude = None
    email = clean_text(raw.get("contact_email")).removeprefix("mailto:") or None
    return {
        "name": clean_text(raw.get("name")),
        "siren": normalise_siren(raw.get("siren")),
        "website": canonical_url(raw.get("website")),
        "pitch": clean_text(raw.get("pitch")),
        "description": clean_text(raw.get("description")),
        "categories": map_categories(raw.get("categories")),
        "keywords": _clean_list(raw.get("keywords")),
        "address": clean_text(raw.get("address")) or None,
        "postcode": postcode if postcode and len(postcode) == 5 and postcode.isdigit() else None,
        "commune": clean_text(raw.get("commune")) or None,
        "insee_code": insee if geo.department_from_insee(insee) else None,
        "department": department,
        "region": geo.region_of(department),
        "latitude": latitude,
        "longitude": longitude,
        "size_band": normalise_size_band(raw.get("size_band")),
        "founded_year": _year(raw.get("founded_year")),
        "labels": recognise_labels(raw.get("labels")),
        "references": [r for r in raw.get("references") or [] if r.get("client")],
        "offers": [o for o in raw.get("offers") or [] if o.get("name")],
        "interoperability": raw.get("interoperability") or {},
        "contact_email": email if email and _EMAIL.match(email) else None,
        "contact_phone": clean_text(raw.get("contact_phone")) or None,
    }
