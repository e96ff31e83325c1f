"""Pure normalisation of a harvested profile: raw strings in, clean typed values out."""

from __future__ import annotations

import html
import re
from typing import Any

import html_text

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
    "ea-esat": ("entreprise adaptee", "esat", "ea",
                # Kinds of the inclusion registries (emplois de l'inclusion, data·inclusion); ESAT were renamed
                # "accompagnement par le travail" in 2025.
                "eatt", "entreprise adaptee de travail temporaire", "etablissement et service d'aide par le travail",
                "etablissement et service d'accompagnement par le travail"),
    "siae": ("insertion par l'activite economique", "structure d'insertion",
             # SIAE kinds as the inclusion registries name them. "AI" (association intermédiaire) is left out on
             # purpose: as a word inside longer label wording it is far more often "artificial intelligence".
             "aci", "ei", "etti", "eiti", "atelier chantier d'insertion", "ateliers et chantiers d'insertion",
             "association intermediaire", "entreprise d'insertion", "entreprise de travail temporaire d'insertion",
             "entreprise d'insertion par le travail independant"),
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
    (re.compile(r"^\s*moins de 10\b", re.IGNORECASE), "1-9"),
    (re.compile(r"^\s*(plus de|au moins) 250\b", re.IGNORECASE), "250+"),
)
# Upper head count of each size band, for sources that give a number ("numberOfEmployees": 35).
_SIZE_LIMITS = ((9, "1-9"), (49, "10-49"), (249, "50-249"))
_HEAD_COUNT = re.compile(r"^\s*(\d{1,6})\s*(?:salariés?|employés?|personnes?)?\s*$", re.IGNORECASE)
_RANGE = re.compile(r"^\s*(\d{1,6})\s*(?:-|à|a)\s*(\d{1,6})\b")
# "12 rue de la Paix, 29000 Quimper" and "12 rue de la Paix 29000 QUIMPER CEDEX 9".
_POSTAL_LINE = re.compile(r"^(?P<street>.*?)[,\s]*\b(?P<postcode>\d{5})\s+(?P<commune>[^\d,;]+?)"
                          r"(?:\s+cedex(?:\s*\d+)?)?\s*(?:,.*)?$", re.IGNORECASE)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)


# Markup and character references left in a source's values: feeds and JSON-LD often carry a CMS's HTML ("<p>",
# "Delta &amp; Fils", "https:&#x2F;&#x2F;..."). Only a real tag counts: "PME < 50 salariés" is text.
_TAG = re.compile(r"<(?:/?[a-zA-Z][a-zA-Z0-9:-]*(?:\s[^<>]*)?/?|!--.*?--)>", re.DOTALL)
_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")


def plain_text(value: str) -> str:
    """The text a value shows once its markup is read as HTML: tags become paragraph and line breaks (html_text,
    scripts and styles dropped), character references their characters. A value without either is returned as
    is, its line breaks kept."""
    if "<" in value and _TAG.search(value):
        return html_text.extract_text(value, guess_layout=True)
    if "&" in value and _REFERENCE.search(value):
        return html.unescape(value)
    return value


def _plain_values(value: Any) -> Any:
    if isinstance(value, str):
        return plain_text(value)
    if isinstance(value, list):
        return [_plain_values(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_values(v) for k, v in value.items()}
    return value


def _lookup(term_slugs: dict[str, str], synonyms: dict[str, tuple[str, ...]]) -> dict[str, str]:
    table = dict(term_slugs)
    for slug, names in synonyms.items():
        for name in names:
            table.setdefault(name, slug)
    return table


_CATEGORY_LOOKUP = _lookup({fold(t.label): t.slug for t in CATEGORIES} | {t.slug: t.slug for t in CATEGORIES},
                           CATEGORY_SYNONYMS)
_LABEL_LOOKUP = _lookup({fold(t.label): t.slug for t in LABELS} | {t.slug: t.slug for t in LABELS}, LABEL_SYNONYMS)
# Names searched inside longer wording, longest first ("entreprise adaptee" before "ea"), folded to words.
_CONTAINED = {
    id(lookup): sorted(((re.sub(r"[^a-z0-9]+", " ", name).strip(), slug) for name, slug in lookup.items()),
                       key=lambda pair: -len(pair[0]))
    for lookup in (_LABEL_LOOKUP, _CATEGORY_LOOKUP)
}


def as_list(values: list[str] | str | None) -> list[str]:
    """A list of names from a list, or from one string separated by ";", "," or "|" (feeds, meta keywords)."""
    if values is None:
        return []
    if isinstance(values, str):
        return [v for v in re.split(r"\s*[;,|]\s*", values) if v.strip()]
    return [str(v) for v in values if v is not None]


def _map_terms(values: list[str] | str | None, lookup: dict[str, str]) -> list[str]:
    slugs: list[str] = []
    for value in as_list(values):
        slug = lookup.get(fold(clean_text(value)))
        if slug and slug not in slugs:
            slugs.append(slug)
    return slugs


def map_categories(values: list[str] | None) -> list[str]:
    """Taxonomy slugs for a directory's category names, in their order, unknown names dropped."""
    return _map_terms(values, _CATEGORY_LOOKUP)


def unmapped_categories(values: list[str] | None) -> list[str]:
    """The category names `map_categories` does not know (the embedding step maps them by meaning)."""
    return [clean_text(v) for v in as_list(values) if clean_text(v) and not map_categories([v])]


def _contained_terms(values: list[str] | None, lookup: dict[str, str]) -> list[str]:
    """Slugs whose name appears as whole words inside longer wording ("Label B Corp depuis 2021")."""
    slugs: list[str] = []
    for value in as_list(values):
        folded = " " + re.sub(r"[^a-z0-9]+", " ", fold(clean_text(value))) + " "
        for name, slug in _CONTAINED[id(lookup)]:
            if f" {name} " in folded and slug not in slugs:
                slugs.append(slug)
    return slugs


def recognise_labels(values: list[str] | None) -> list[str]:
    """Label slugs of a source's label names: exact names first, then names found inside longer wording."""
    slugs = _map_terms(values, _LABEL_LOOKUP)
    return slugs + [s for s in _contained_terms(values, _LABEL_LOOKUP) if s not in slugs]


def _band_of(count: int) -> str:
    return next((slug for limit, slug in _SIZE_LIMITS if count <= limit), "250+")


def normalise_size_band(raw: str | int | None) -> str | None:
    """A size band slug from a band's wording ("10 à 49 salariés"), a range ("10-49") or a head count ("35")."""
    if raw is None or raw == "":
        return None
    raw = str(raw)
    if raw in {t.slug for t in SIZE_BANDS}:
        return raw
    for pattern, slug in _SIZE_PATTERNS:
        if pattern.search(raw):
            return slug
    count = _HEAD_COUNT.match(raw)
    if count:
        return _band_of(int(count.group(1)))
    span = _RANGE.match(raw)
    if span:
        low, high = int(span.group(1)), int(span.group(2))
        band = _band_of(high)
        return band if _band_of(max(low, 1)) == band else None
    return None


def split_postal_address(text: str | None) -> dict[str, str]:
    """Street, postcode and commune of a one-line French address; {} when no postcode is found."""
    match = _POSTAL_LINE.match(clean_text(text).replace("\n", " ")) if text else None
    if not match:
        return {}
    parts = {"postcode": match.group("postcode"), "commune": match.group("commune").strip(" .-")}
    street = match.group("street").strip(" ,-–")
    if street:
        parts["address"] = street
    return parts


def _year(raw: Any) -> int | None:
    match = _YEAR.search(str(raw or ""))
    return int(match.group(1)) if match else None


def _float(raw: Any) -> float | None:
    try:
        return float(str(raw).replace(",", ".")) if raw not in (None, "") else None
    except ValueError:
        return None


def _clean_list(values: list[str] | str | None) -> list[str]:
    out: list[str] = []
    for value in as_list(values):
        cleaned = clean_text(value)
        if cleaned and cleaned not in out:
            out.append(cleaned)
    return out


def _clean_references(raw: Any) -> list[dict[str, Any]]:
    references = []
    for ref in raw if isinstance(raw, list) else []:
        if isinstance(ref, dict) and clean_text(ref.get("client")):
            references.append({"client": clean_text(ref.get("client")), "object": clean_text(ref.get("object")) or None,
                               "year": _year(ref.get("year"))})
    return references


def _clean_offers(raw: Any) -> list[dict[str, Any]]:
    offers = []
    for offer in raw if isinstance(raw, list) else []:
        if not isinstance(offer, dict) or not clean_text(offer.get("name")):
            continue
        tiers = offer.get("tiers") if isinstance(offer.get("tiers"), dict) else None
        offers.append({
            "name": clean_text(offer.get("name")), "scope": clean_text(offer.get("scope")) or None,
            "price_band": clean_text(offer.get("price_band")) or None,
            "tiers": {str(k): clean_text(v) for k, v in tiers.items() if clean_text(v)} or None if tiers else None,
        })
    return offers


def _clean_interoperability(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    standards = _clean_list(raw.get("standards")) if isinstance(raw.get("standards"), list) else []
    cleaned = {"standards": standards, "api": clean_text(raw.get("api")) or None,
               "licence": clean_text(raw.get("licence")) or None}
    return cleaned if standards or cleaned["api"] or cleaned["licence"] else {}


def normalise_profile(raw: dict[str, Any], markup: bool = True) -> dict[str, Any]:
    """Clean a raw harvested profile. Unknown or invalid values become None/empty, never errors. Every source kind
    goes through the same steps: markup read as text, entities decoded (`plain_text`), then each field's rule.
    `markup=False` for what a person typed in a form: text, never read as HTML ("R&amp;D" stays as typed)."""
    if markup:
        raw = _plain_values(raw)
    if not (raw.get("postcode") or raw.get("commune")) and raw.get("address_text"):
        raw = {**raw, **split_postal_address(raw["address_text"])}
    postcode = re.sub(r"\s", "", str(raw.get("postcode") or "")) or None
    insee = str(raw.get("insee_code") or "").strip().upper() or None
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
        "references": _clean_references(raw.get("references")),
        "offers": _clean_offers(raw.get("offers")),
        "interoperability": _clean_interoperability(raw.get("interoperability")),
        "contact_email": email if email and _EMAIL.match(email) else None,
        "contact_phone": clean_text(raw.get("contact_phone")) or None,
    }
