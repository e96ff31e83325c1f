"""Source files: the operator declares what to harvest in YAML or TOML, no Python per source.

    sources:
      - name: annuaire                      # [a-z0-9-], unique
        kind: directory                     # directory | company-sites | sitemap | feed
        priority: 50                        # optional trust when sources disagree (vivier.merge)
        start_urls: ["https://annuaire.example/fournisseurs/page-1.html"]
        listing: {links: "a.card::attr(href)", next_page: "a[rel=next]::attr(href)"}
        detail: {root: "article.profile", fields: {name: "h1", ...}}    # specs: crawler.layouts
      - name: vitrines
        kind: company-sites
        seeds: seeds/vitrines.csv           # CSV (url[,name]) or YAML list, relative to this file; or a list
      - name: incubateur
        kind: sitemap
        sitemap_urls: ["https://incubateur.example/robots.txt"]
        rules: ["/startups/"]               # URL patterns of profile pages
      - name: registre-esus
        kind: feed
        url: "https://data.example/esus.csv"
        key: siren                          # column that identifies a row across downloads
        fields: {name: raison_sociale, siren: siren, postcode: code_postal}
        constants: {labels: ["ESUS"]}

URLs may hold `{variables}` given at load time (the demo and tests serve fixture sites on loopback ports).
Errors name the file, the source and the key.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from crawler.layouts import LayoutError, validate_fields, validate_spec
from vivier.identifiers import canonical_url

KINDS = ("directory", "company-sites", "sitemap", "feed")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_VARIABLE = re.compile(r"\{([A-Za-z0-9_-]+)\}")
# Crawled sources rank below 100, which is reserved for what companies submit themselves.
MAX_CRAWLED_PRIORITY = 99
# Scrapy settings a source may tune. Identity (user agent) and robots.txt obedience are not negotiable.
TUNABLE_SETTINGS = frozenset({
    "DOWNLOAD_DELAY", "CONCURRENT_REQUESTS_PER_DOMAIN", "AUTOTHROTTLE_ENABLED", "AUTOTHROTTLE_START_DELAY",
    "AUTOTHROTTLE_MAX_DELAY", "AUTOTHROTTLE_TARGET_CONCURRENCY", "DOWNLOAD_TIMEOUT", "DOWNLOAD_MAXSIZE",
    "RETRY_TIMES", "CLOSESPIDER_PAGECOUNT", "CLOSESPIDER_TIMEOUT", "DEPTH_LIMIT",
})
# Pages of a company site read besides its home page: links whose address or text matches one of these.
DEFAULT_FOLLOW = ("a-propos", "qui-sommes-nous", "about", "entreprise", "societe", "solutions?", "offres?",
                  "produits?", "services", "nos-", "references")
DEFAULT_MAX_PAGES = 4
FEED_FORMATS = ("csv", "json", "jsonl")
# Where a company or sitemap page's description comes from (crawler.spiders.company_sites.company_profile):
# "structured" (default) the schema.org description when the page has one, else the pages' main text; "text" the
# main text always (the structured description then serves as the pitch); "longest" whichever says more.
DESCRIPTION_SOURCES = ("structured", "text", "longest")


class SourceFileError(ValueError):
    """A source file cannot be used; the message names the file, the source and the key."""


@dataclass(frozen=True)
class SourceSpec:
    name: str
    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    priority: int | None = None

    @property
    def start_url(self) -> str:
        """The address shown for the source: its first start URL, sitemap, feed or seed."""
        c = self.config
        for key in ("start_urls", "sitemap_urls", "urls"):
            if c.get(key):
                return c[key][0]
        if c.get("seeds"):
            return c["seeds"][0]["url"]
        return ""


def _substitute(value: str, variables: Mapping[str, str], where: str) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in variables:
            raise SourceFileError(f"{where}: unknown variable {{{name}}} (give it with --var {name}=URL)")
        return variables[name].rstrip("/")

    return _VARIABLE.sub(replace, value)


def _urls(raw: Any, variables: Mapping[str, str], where: str) -> list[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise SourceFileError(f"{where}: expected one URL or a non-empty list of URLs")
    urls = []
    for i, value in enumerate(raw):
        if not isinstance(value, str):
            raise SourceFileError(f"{where}[{i}]: expected a URL string")
        url = canonical_url(_substitute(value.strip(), variables, f"{where}[{i}]"))
        if url is None or not (url.startswith("http://") or url.startswith("https://")):
            raise SourceFileError(f"{where}[{i}]: {value!r} is not an http(s) URL")
        urls.append(url)
    return urls


def _patterns(raw: Any, where: str) -> list[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
        raise SourceFileError(f"{where}: expected a list of patterns")
    for pattern in raw:
        try:
            re.compile(pattern)
        except re.error as error:
            raise SourceFileError(f"{where}: invalid pattern {pattern!r} ({error})") from None
    return list(raw)


def _read_seeds(raw: Any, base_dir: Path | None, variables: Mapping[str, str], where: str) -> list[dict[str, str]]:
    if isinstance(raw, str):
        path = Path(raw) if Path(raw).is_absolute() or base_dir is None else base_dir / raw
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as error:
            raise SourceFileError(f"{where}: cannot read seed list {path} ({error.strerror})") from None
        if path.suffix.lower() == ".csv":
            raw = list(csv.DictReader(io.StringIO(text)))
        else:
            raw = yaml.safe_load(text)
    if not isinstance(raw, list) or not raw:
        raise SourceFileError(f"{where}: expected a non-empty seed list")
    seeds = []
    for i, entry in enumerate(raw):
        entry = {"url": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, Mapping) or not entry.get("url"):
            raise SourceFileError(f"{where}[{i}]: each seed needs a url")
        seed = {"url": _urls(entry["url"], variables, f"{where}[{i}].url")[0]}
        if entry.get("name"):
            seed["name"] = str(entry["name"]).strip()
        seeds.append(seed)
    return seeds


def _check_layout(config: Mapping[str, Any], where: str) -> None:
    listing = config.get("listing")
    if not isinstance(listing, Mapping):
        raise SourceFileError(f"{where}.listing: required (where the listing pages put profiles)")
    try:
        if "item" in listing:
            validate_spec(listing["item"], f"{where}.listing.item")
            validate_fields(listing.get("fields"), f"{where}.listing.fields")
            if "detail_link" in listing:
                validate_spec(listing["detail_link"], f"{where}.listing.detail_link")
        elif "links" in listing:
            validate_spec(listing["links"], f"{where}.listing.links")
        else:
            raise SourceFileError(f"{where}.listing: needs 'links' (detail pages) or 'item' with 'fields'")
        if "next_page" in listing:
            validate_spec(listing["next_page"], f"{where}.listing.next_page")
        follows_details = "links" in listing or "detail_link" in listing
        detail = config.get("detail")
        if follows_details:
            if not isinstance(detail, Mapping):
                raise SourceFileError(f"{where}.detail: required when the listing links to detail pages")
            if "root" in detail:
                validate_spec(detail["root"], f"{where}.detail.root")
            validate_fields(detail.get("fields"), f"{where}.detail.fields")
    except LayoutError as error:
        raise SourceFileError(str(error)) from None


def parse_source(raw: Any, variables: Mapping[str, str] | None = None, base_dir: Path | None = None,
                 where: str = "source") -> SourceSpec:
    variables = variables or {}
    if not isinstance(raw, Mapping):
        raise SourceFileError(f"{where}: expected a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SourceFileError(f"{where}.name: required, lower-case letters, digits and hyphens (got {name!r})")
    where = f"source {name!r}"
    kind = raw.get("kind")
    if kind not in KINDS:
        raise SourceFileError(f"{where}.kind: one of {', '.join(KINDS)} (got {kind!r})")
    priority = raw.get("priority")
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)
                                 or not 0 <= priority <= MAX_CRAWLED_PRIORITY):
        raise SourceFileError(f"{where}.priority: an integer from 0 to {MAX_CRAWLED_PRIORITY} (got {priority!r})")
    settings = raw.get("settings") or {}
    if not isinstance(settings, Mapping) or set(settings) - TUNABLE_SETTINGS:
        bad = sorted(set(settings) - TUNABLE_SETTINGS) if isinstance(settings, Mapping) else settings
        raise SourceFileError(f"{where}.settings: only {', '.join(sorted(TUNABLE_SETTINGS))} (got {bad})")
    config: dict[str, Any] = {k: v for k, v in raw.items() if k not in ("name", "kind", "priority")}
    config["settings"] = dict(settings)
    if kind == "directory":
        config["start_urls"] = _urls(raw.get("start_urls"), variables, f"{where}.start_urls")
        _check_layout(config, where)
    if kind in ("company-sites", "sitemap"):
        description = raw.get("description", "structured")
        if description not in DESCRIPTION_SOURCES:
            raise SourceFileError(f"{where}.description: one of {', '.join(DESCRIPTION_SOURCES)} (got {description!r})")
        config["description"] = description
    if kind == "company-sites":
        config["seeds"] = _read_seeds(raw.get("seeds"), base_dir, variables, f"{where}.seeds")
        config["follow"] = _patterns(raw.get("follow", list(DEFAULT_FOLLOW)), f"{where}.follow")
        max_pages = raw.get("max_pages", DEFAULT_MAX_PAGES)
        if not isinstance(max_pages, int) or not 1 <= max_pages <= 20:
            raise SourceFileError(f"{where}.max_pages: an integer from 1 to 20 (got {max_pages!r})")
        config["max_pages"] = max_pages
    elif kind == "sitemap":
        config["sitemap_urls"] = _urls(raw.get("sitemap_urls"), variables, f"{where}.sitemap_urls")
        if "rules" in raw:
            config["rules"] = _patterns(raw["rules"], f"{where}.rules")
        if "follow" in raw:
            config["follow"] = _patterns(raw["follow"], f"{where}.follow")
    elif kind == "feed":
        config["urls"] = _urls(raw.get("urls") or raw.get("url"), variables, f"{where}.url")
        config.pop("url", None)
        fmt = raw.get("format")
        if fmt is not None and fmt not in FEED_FORMATS:
            raise SourceFileError(f"{where}.format: one of {', '.join(FEED_FORMATS)} (got {fmt!r})")
        fields = raw.get("fields")
        if not isinstance(fields, Mapping) or "name" not in fields:
            raise SourceFileError(f"{where}.fields: a mapping of profile fields to columns, with at least 'name'")
        for key, column in fields.items():
            if not isinstance(column, (str, list)) or not column:
                raise SourceFileError(f"{where}.fields.{key}: a column name or a list of column names")
        constants = raw.get("constants") or {}
        if not isinstance(constants, Mapping):
            raise SourceFileError(f"{where}.constants: a mapping of profile fields to values")
        if raw.get("key") is not None and not isinstance(raw.get("key"), (str, list)):
            raise SourceFileError(f"{where}.key: a column name or a list of column names")
    return SourceSpec(name=name, kind=kind, config=config, priority=priority)


def parse_source_file(path: Path, variables: Mapping[str, str] | None = None,
                      names: Iterable[str] | None = None) -> list[SourceSpec]:
    """The sources declared in a YAML (.yaml/.yml) or TOML (.toml) file: all of them, or those of them named in
    `names` (the others are not checked, so their variables need not be given)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SourceFileError(f"{path}: cannot read ({error.strerror})") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise SourceFileError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'} ({error})") from None
    raw_sources = data.get("sources") if isinstance(data, Mapping) else None
    if not isinstance(raw_sources, list) or not raw_sources:
        raise SourceFileError(f"{path}: expected a top-level 'sources' list")
    wanted = set(names) if names else None
    specs: list[SourceSpec] = []
    for i, raw in enumerate(raw_sources):
        if wanted is not None and not (isinstance(raw, Mapping) and raw.get("name") in wanted):
            continue
        try:
            spec = parse_source(raw, variables, path.parent, where=f"sources[{i}]")
        except SourceFileError as error:
            raise SourceFileError(f"{path}: {error}") from None
        if any(s.name == spec.name for s in specs):
            raise SourceFileError(f"{path}: source {spec.name!r} is declared twice")
        specs.append(spec)
    return specs
