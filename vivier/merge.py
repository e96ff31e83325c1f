"""One supplier per real company: which stored supplier a harvested record describes, and which source's value
each field of the profile shows.

Matching, strongest key first (vivier.profiles applies it):
1. the same record seen before (same source, same record key);
2. the same SIREN;
3. the same website, as far as it identifies an organisation (`website_key`): a home page by its host, a page of a
   larger site by its host and path, a forge or site builder by its tenant's path; social networks and shared
   hosts never identify anybody. Unless the SIRENs differ;
4. a very similar name in the same town, unless the SIRENs or websites contradict each other.
When one record's strong keys (SIREN, domain) lead to two stored suppliers that do not contradict each other,
they are one company: the younger supplier is merged into the older one.

Resolution (`resolve`): every record of a supplier gives values; for each field a declared rule picks one.
A profile submitted by the company itself beats every crawled value of a field it gives.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from rapidfuzz import fuzz

from vivier import communes
from vivier.text import fold

# -- matching ---------------------------------------------------------------------------------------------------
# Similarity (0-100, rapidfuzz) of two normalised names at or above which two records located in the same town
# are the same company. Measured on the fixture world (fixtures/world.py): the 528 spellings its sources use
# (capitals, legal forms, "&"/"et", no accents, a dropped letter) all score 90.9 or more against the company's
# name; the closest two distinct companies of one town score 76.9 ("Kaz Numérique"/"Lakaz Numérik"). Distinct
# companies of different towns reach 100 (homonyms), which is why a name only ever matches within a town.
NAME_MATCH_MIN_SCORE = 90
# A normalised name shorter than this ("abc") is too generic to identify a company by name alone.
NAME_MATCH_MIN_LENGTH = 4
# Words that do not tell companies apart: legal forms, structure types, articles, "groupe".
NAME_NOISE_WORDS = frozenset("""
    sa sas sasu sarl eurl snc sci scop scic sapo selarl gie sem spl scp ste societe cie compagnie groupe group
    association asso esat ea entreprise adaptee et le la les l de du des d en france
""".split())
# Hosting and social platforms: many unrelated companies have a page there, so the domain identifies nobody.
SHARED_HOSTING_DOMAINS = frozenset({
    "wixsite.com", "wix.com", "sites.google.com", "google.com", "facebook.com", "fb.com", "linkedin.com",
    "instagram.com", "twitter.com", "x.com", "youtube.com", "wordpress.com", "blogspot.com", "over-blog.com",
    "jimdo.com", "jimdofree.com", "webnode.fr", "e-monsite.com", "github.io", "gitlab.io", "netlify.app",
    "notion.site", "pagesjaunes.fr", "societe.com", "free.fr", "orange.fr", "wanadoo.fr", "gmail.com",
    "github.com", "gitlab.com", "framagit.org", "bitbucket.org", "codeberg.org",
})
# Site builders and page hosts that give each tenant a sub-domain ("acme.wixsite.com"): the tenant's host identifies
# it as a company's own host would (its home page, or a page of it); the platform's own host identifies nobody.
TENANT_SUBDOMAIN_PLATFORMS = frozenset({
    "wixsite.com", "wordpress.com", "blogspot.com", "over-blog.com", "jimdofree.com", "jimdosite.com", "webnode.fr",
    "e-monsite.com", "github.io", "gitlab.io", "netlify.app", "notion.site", "vercel.app", "pages.dev",
})
# Forges and site builders whose paths name the tenant: the segments that identify one ("github.com/etalab/evalap"
# is one project, "github.com/etalab" its organisation; "github.com" alone, nobody).
TENANT_PATH_PLATFORMS: dict[str, int] = {
    "github.com": 2, "gitlab.com": 2, "framagit.org": 2, "bitbucket.org": 2, "codeberg.org": 2,
    "gitlab.adullact.net": 2, "sites.google.com": 2,
}
# Paths that stand for the whole site: its home page ("/", a language "/fr/", an index or welcome page) and the
# pages every organisation's site has about itself ("/contact", "/qui-sommes-nous").
_SITE_PAGES = ("index", "default", "accueil", "home", "contact", "contactez-nous", "nous-contacter", "a-propos",
               "about", "about-us", "qui-sommes-nous", "mentions-legales", "presentation")
_HOME_PATH = re.compile(r"/*(?:(?:fr|en|fr-fr|en-us|en-gb)/*)?(?:(?:" + "|".join(_SITE_PAGES)
                        + r")(?:\.[a-z]{2,5})?/*)?", re.IGNORECASE)

# -- resolution -------------------------------------------------------------------------------------------------
# Trust of a source kind when sources disagree (higher wins); a source may declare its own `priority`.
# The company's own submission beats everything; official open-data registries (SIREN, labels) beat what a
# company says on its site, which beats what a third-party directory or incubator wrote about it.
SUBMITTED_PRIORITY = 100
KIND_PRIORITY: dict[str, int] = {
    "submitted": SUBMITTED_PRIORITY,
    "feed": 70,
    "company-sites": 60,
    "sitemap": 55,
    "directory": 50,
}
DEFAULT_PRIORITY = 40

TRUSTED = "trusted"    # the most trusted source, then the one whose value changed last
FRESHEST = "freshest"  # the value that changed last (contacts, head count move), then trust
RICHEST = "richest"    # the longest text (a fuller description), then trust
UNION = "union"        # every source's values, most trusted first, without repeats
LOCATION = "location"  # the address fields all come from one source, the most trusted that gives a place

FIELD_RULES: dict[str, str] = {
    "name": TRUSTED, "siren": TRUSTED, "website": TRUSTED, "pitch": TRUSTED, "description": RICHEST,
    "categories": UNION, "keywords": UNION, "labels": UNION, "references": UNION, "offers": TRUSTED,
    "interoperability": TRUSTED, "size_band": FRESHEST, "founded_year": TRUSTED, "contact_email": FRESHEST,
    "contact_phone": FRESHEST,
    "address": LOCATION, "postcode": LOCATION, "commune": LOCATION, "insee_code": LOCATION,
    "department": LOCATION, "region": LOCATION, "latitude": LOCATION, "longitude": LOCATION,
}
LOCATION_FIELDS = tuple(f for f, rule in FIELD_RULES.items() if rule == LOCATION)
# Location fields a profile no longer shows when the source that places it does not give them (department and
# region follow from the postcode or INSEE code, which that source gives).
CLEARED_LOCATION_FIELDS = ("address", "postcode", "commune", "insee_code", "latitude", "longitude")
# Fields that say who a company is and how to reach it: a record that joined a profile by SIREN or name alone
# (Observation.identifies false) never replaces them (a directory page listing a company's public SIREN with
# another website would otherwise hand the profile's ownership to that website's owner).
IDENTITY_FIELDS = ("name", "website", "contact_email", "contact_phone")
IDENTIFIES, FILLS, NOT_IDENTITY = "identifies", "fills", "not-identity"
# A union of categories from many sources becomes meaningless past a few themes.
MAX_CATEGORIES = 4
MAX_KEYWORDS = 20


def priority_of(kind: str | None, declared: int | None = None) -> int:
    if declared is not None:
        return declared
    return KIND_PRIORITY.get(kind or "", DEFAULT_PRIORITY)


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


@functools.lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """A company name reduced to the words that identify it: folded, "&" read as "et", noise words removed."""
    words = re.split(r"[^a-z0-9]+", fold(name.replace("&", " et ")))
    kept = [w for w in words if w and w not in NAME_NOISE_WORDS]
    return " ".join(kept) or " ".join(w for w in words if w)


def names_alike(a: str, b: str) -> bool:
    """Whether one name is another's spelling or short form ("ACME" / "Acme Territoires SAS"): a merge between them
    hides nothing a buyer would search for."""
    ka, kb = name_key(a), name_key(b)
    return bool(ka and kb) and max(name_similarity(a, b), fuzz.token_set_ratio(ka, kb)) >= NAME_MATCH_MIN_SCORE


def name_similarity(a: str, b: str) -> float:
    """0-100: word-order-insensitive similarity of two names' keys, also compared without spaces
    ("Ma Commune en Poche" / "MaCommuneEnPoche")."""
    ka, kb = name_key(a), name_key(b)
    if not ka or not kb:
        return 0.0
    return max(fuzz.token_sort_ratio(ka, kb), fuzz.ratio(ka.replace(" ", ""), kb.replace(" ", "")))


@functools.lru_cache(maxsize=65536)
def identifying_domain(domain: str | None) -> str | None:
    """The domain if it can identify one company; None for shared hosting, social platforms and bare addresses."""
    if not domain or domain == "localhost" or re.fullmatch(r"[\d.]+|\[?[0-9a-f:]+\]?", domain):
        return None
    if domain in SHARED_HOSTING_DOMAINS or any(domain.endswith("." + shared) for shared in SHARED_HOSTING_DOMAINS):
        return None
    return domain


@functools.lru_cache(maxsize=65536)
def website_key(url: str | None) -> str | None:
    """What a website says of who runs it, as a matching key; None when it says nothing.

    A home page identifies its host's organisation ("adresse.data.gouv.fr"). Any other page is one organisation's
    page about something it runs, not the organisation: its key is the host and the page's path
    ("anct.gouv.fr/programmes/x", "candidat.francetravail.fr/mobiville"), so two services of one host stay two
    suppliers. On a forge or a site builder the tenant's path is the key ("github.com/etalab/evalap"); social
    networks and shared hosts identify nobody."""
    if not url:
        return None
    if "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().removeprefix("www.")
    except ValueError:
        return None
    if not host or "." not in host:
        return None
    segments = [s.lower() for s in parts.path.split("/") if s]
    if host in TENANT_PATH_PLATFORMS:
        tenant = segments[:TENANT_PATH_PLATFORMS[host]]
        return f"{host}/{'/'.join(tenant)}" if tenant else None
    if any(host.endswith("." + platform) for platform in TENANT_SUBDOMAIN_PLATFORMS):
        pass  # the tenant's own host, read as any company's below
    elif identifying_domain(host) is None:
        return None
    if _HOME_PATH.fullmatch(parts.path or "/"):
        return host
    return f"{host}/{'/'.join(segments)}"


def _website_key_of(record: Mapping[str, Any]) -> str | None:
    """The website key of a record or supplier identity: from its website, else from its domain alone."""
    if record.get("website"):
        return website_key(record["website"])
    return identifying_domain(record.get("website_domain"))


def _within(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + "/")


def websites_agree(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two websites may be one organisation's: the same key, or one the home of the other's page."""
    ka, kb = _website_key_of(a), _website_key_of(b)
    return not (ka and kb) or _within(ka, kb) or _within(kb, ka)


def _town_key(commune: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", " ", fold(commune or "")).replace("saint ", "st ").strip()


def same_town(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Both located, in the same commune: INSEE codes when both have one, else postcodes, else commune names."""
    if a.get("insee_code") and b.get("insee_code"):
        return a["insee_code"] == b["insee_code"]
    if a.get("postcode") and b.get("postcode") and a["postcode"] != b["postcode"]:
        return False
    ta, tb = _town_key(a.get("commune")), _town_key(b.get("commune"))
    if ta and tb:
        return ta == tb
    return bool(a.get("postcode")) and a.get("postcode") == b.get("postcode")


def conflicting(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Two descriptions that cannot be one company: different SIRENs, or websites of different organisations
    (different hosts, different pages of one host, different tenants of a platform)."""
    if a.get("siren") and b.get("siren") and a["siren"] != b["siren"]:
        return True
    return not websites_agree(a, b)


def names_match(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """The fuzzy rule: similar enough names, long enough to mean something, in the same town, no conflict."""
    if not a.get("name") or not b.get("name") or conflicting(a, b):
        return False
    if min(len(name_key(a["name"])), len(name_key(b["name"]))) < NAME_MATCH_MIN_LENGTH:
        return False
    return same_town(a, b) and name_similarity(a["name"], b["name"]) >= NAME_MATCH_MIN_SCORE


def best_name_match(record: Mapping[str, Any], candidates: Iterable[Mapping[Any, Any]]) -> Mapping[Any, Any] | None:
    """The candidate the fuzzy rule accepts with the highest similarity (ties: lowest id), or None."""
    best, best_key = None, None
    for candidate in candidates:
        if names_match(record, candidate):
            key = (-name_similarity(record["name"], candidate["name"]), candidate.get("id", 0))
            if best_key is None or key < best_key:
                best, best_key = candidate, key
    return best


# -- resolution -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """One source record's values, as resolution sees them."""

    source_name: str
    priority: int
    data: Mapping[str, Any]
    changed_at: datetime
    url: str | None = None
    # What the record may say of the company's identity (IDENTITY_FIELDS), from how it joined the profile
    # (vivier.profiles): IDENTIFIES, FILLS (the fields no identifying record gives) or NOT_IDENTITY (like FILLS,
    # but never the website).
    identity: str = "identifies"

    @property
    def submitted(self) -> bool:
        return self.priority >= SUBMITTED_PRIORITY


def _trust_key(o: Observation) -> tuple:
    """Most trusted source first; between sources trusted alike, the one whose record changed on the latest day,
    then by name: records changed the same day (one crawl of several sources) are not told apart by the order in
    which the crawl happened to read their pages, so what a profile shows, and the passages indexed from it, are
    the same from one crawl of the same pages to the next."""
    return (o.priority, o.changed_at.date(), o.source_name)


def _richness(value: Any) -> int:
    return len(str(value).split())


def _union(values: Iterable[list[Any]], limit: int | None) -> list[Any]:
    out: list[Any] = []
    seen: set[str] = set()
    for items in values:
        for item in items:
            marker = repr(sorted(item.items())) if isinstance(item, dict) else fold(str(item))
            if marker not in seen:
                seen.add(marker)
                out.append(item)
    return out[:limit] if limit else out


def resolve(observations: Sequence[Observation]) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """The profile's values and, per field, the sources whose value it shows.

    Fields no observation gives are absent from the result (the stored value is then left alone).
    """
    values: dict[str, Any] = {}
    chosen: dict[str, set[str]] = {}
    for field, rule in FIELD_RULES.items():
        if rule == LOCATION:
            continue
        givers = [o for o in observations if not is_empty(o.data.get(field))]
        if not givers:
            continue
        if field in IDENTITY_FIELDS:
            # Who the company is and how to reach it: from the records that identify it; the others only fill what
            # those leave empty, and a record that only typed the company's SIREN never gives its website (the
            # address that proves who owns the profile, and the link buyers follow).
            identifying = [o for o in givers if o.identity == IDENTIFIES]
            givers = identifying or [o for o in givers if o.identity == FILLS or field != "website"]
            if not givers:
                continue
        if any(o.submitted for o in givers):
            givers = [o for o in givers if o.submitted]
        if rule == UNION:
            # Most trusted source first; not by freshness, so that the merged list (and the passages indexed from
            # it) does not depend on which source a crawl happened to read last.
            ordered = sorted(givers, key=lambda o: (o.priority, o.source_name), reverse=True)
            limit = MAX_CATEGORIES if field == "categories" else MAX_KEYWORDS if field == "keywords" else None
            merged = _union((o.data[field] for o in ordered), limit)
            values[field] = merged
            chosen[field] = {o.source_name for o in ordered}
            continue
        if rule == RICHEST:
            winner = max(givers, key=lambda o: (_richness(o.data[field]), *_trust_key(o)))
        elif rule == FRESHEST:
            winner = max(givers, key=lambda o: (o.changed_at.date(), o.priority, o.source_name))
        else:
            winner = max(givers, key=_trust_key)
        values[field] = winner.data[field]
        chosen[field] = {winner.source_name}

    placed = [o for o in observations if o.data.get("commune") or o.data.get("postcode")]
    if any(o.submitted for o in placed):
        placed = [o for o in placed if o.submitted]
    if placed:
        ranked = sorted(placed, key=_trust_key, reverse=True)
        winner = ranked[0]
        for field in LOCATION_FIELDS:
            if not is_empty(winner.data.get(field)):
                values[field], chosen[field] = winner.data[field], {winner.source_name}
        if "latitude" not in values:
            # Coordinates may come from another source that places the company in the same town.
            other = next((o for o in ranked[1:] if o.data.get("latitude") is not None
                          and o.data.get("longitude") is not None and same_town(o.data, winner.data)), None)
            if other is not None:
                for field in ("latitude", "longitude"):
                    values[field], chosen[field] = other.data[field], {other.source_name}
        if "latitude" not in values and (centre := communes.centroid_for(
                values.get("insee_code"), values.get("postcode"), values.get("commune"))):
            # No source gives coordinates: the commune's centre (town hall), for distance filters and maps.
            values["latitude"], values["longitude"] = centre
            chosen["latitude"] = chosen["longitude"] = {winner.source_name}
        # The rest of the place is the winner's alone: what it does not give is cleared, so that a street or a
        # postcode a previous winner gave (another town, perhaps) does not stay beside the new place.
        for field in CLEARED_LOCATION_FIELDS:
            if field not in values:
                values[field], chosen[field] = None, set()
    return values, chosen
