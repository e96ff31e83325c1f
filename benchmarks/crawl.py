"""Crawler benchmark: speed on a large generated directory, extraction and merging accuracy on the fixtures.

    .venv/bin/python -m benchmarks.crawl [--profiles 3000] [--corpus ../shared/data/betagouv_startups.jsonl]
                                         [--skip-speed] [--skip-accuracy] [--no-record]

1. Speed: a directory of N generated profiles (the annuaire's layout, profiles cloned from the fixture world)
   served on loopback, crawled with throttling off (the --loopback-fixture settings), through the whole pipeline
   (extraction, normalisation, matching, SQLite upserts). Prints pages/s over Scrapy's elapsed time, then crawls it
   again unchanged (every page answers 304 Not Modified) and prints that re-crawl's speed. Twice: the directory
   declaring themes, then declaring none (most real directories).
   With --corpus PATH, a directory generated from real texts (one JSON-LD and OpenGraph page per record of a JSON
   Lines corpus, a sitemap), in a temporary folder, crawled twice the same way.
2. Accuracy: the five fixture sites crawled together; every stored record is compared with what the fixture world
   says that source shows (fixtures/world.py): fields right / fields expected, per source and per field; then
   merging: fixture companies split over several suppliers, suppliers holding several fixture companies.
The figures are printed last and appended to benchmarks/RESULTS.md (--no-record: not).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from rapidfuzz import fuzz

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import results as results_file  # noqa: E402
from fixtures import world  # noqa: E402
from fixtures.build_sites import render_site  # noqa: E402
from vivier_cli.devserver import FixtureSites, StaticSite  # noqa: E402
from vivier.identifiers import canonical_url, website_domain  # noqa: E402
from vivier.text import clean_text  # noqa: E402

SOURCES_FILE = REPO / "fixtures" / "sources.yaml"
RESULTS_SECTION = "## Crawl (`python -m benchmarks.crawl`)"
# A description counts as right when it holds the expected text or is this similar to it (0-100): extraction
# from main text may add a heading or the "solutions" page.
TEXT_MIN_SIMILARITY = 90


def run_vivier(args: list[str], data_dir: Path) -> str:
    env = {**os.environ, "VIVIER_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "vivier_cli", *args], cwd=REPO, env=env, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise SystemExit(f"vivier {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def generated_profiles(count: int, categories: bool = True) -> list[dict]:
    """`count` profiles cloned from the fixture world under new names and websites; without `categories`, none
    declares a theme (the directories of real life that list no sectors)."""
    base = world.load_world()
    profiles = []
    for i in range(count):
        source = dict(base[i % len(base)])
        source.update(slug=f"{source['slug']}-{i}", name=f"{source['name']} {i}",
                      website=f"https://www.gen{i}-{website_domain(source['website'])}", siren=None)
        if not categories:
            source["categories"] = []
        source.setdefault("siren_invalid", False)
        profiles.append(source)
    return profiles


def _run_figures(stats: dict, suppliers: int, wall: float) -> dict:
    return {"pages": stats["pages"], "items": stats["items"], "not_modified": stats["not_modified"],
            "unchanged": stats["unchanged"], "stored": suppliers, "seconds": stats["seconds"],
            "wall_seconds": round(wall, 1), "pages_per_s": round(stats["pages"] / stats["seconds"], 1)}


def _crawl_twice(args: list[str], data_dir: Path) -> tuple[dict, dict]:
    """The figures of a first crawl and of a second, unchanged one (every page answers 304)."""
    runs = []
    for _ in range(2):
        started = time.perf_counter()
        run_vivier([*args, "--loopback-fixture", "--no-index"], data_dir)
        wall = time.perf_counter() - started
        db = sqlite3.connect(data_dir / "vivier.db")
        stats = json.loads(db.execute("SELECT stats FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone()[0])
        suppliers = db.execute("SELECT count(*) FROM suppliers WHERE status != 'merged'").fetchone()[0]
        db.close()
        runs.append(_run_figures(stats, suppliers, wall))
    return runs[0], runs[1]


def measure_speed(count: int, categories: bool = True) -> dict:
    """A first crawl of a generated directory, then a re-crawl of it unchanged (every page answers 304)."""
    with tempfile.TemporaryDirectory() as tmp:
        site_dir, data_dir = Path(tmp) / "site", Path(tmp) / "data"
        render_site(site_dir, generated_profiles(count, categories))
        sources = Path(tmp) / "sources.yaml"
        sources.write_text(SOURCES_FILE.read_text(encoding="utf-8"), encoding="utf-8")
        (Path(tmp) / "seeds").mkdir()
        (Path(tmp) / "seeds" / "vitrines.csv").write_text("url\nhttp://127.0.0.1/\n", encoding="utf-8")
        with StaticSite(site_dir) as site:
            first, again = _crawl_twice(["crawl", "annuaire", "--sources", str(sources), *(
                f"--var={name}={site.url}" for name in ("annuaire", "reseau-ess", "vitrines", "incubateur",
                                                         "opendata"))], data_dir)
    return {"profiles": count, "categories": categories, **first, "recrawl": again,
            "recrawl_speedup": round(first["seconds"] / again["seconds"], 1)}


# -- a real directory's text -------------------------------------------------------------------------------------
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def render_corpus_site(corpus: Path, target: Path) -> int:
    """A directory site generated, at run time and in a temporary folder, from a JSON Lines corpus of real public
    texts (the beta.gouv.fr startups of ../shared/data, given by path: nothing of it is kept): one page per record
    with schema.org JSON-LD and OpenGraph, its mission and body as the page's text, a sitemap listing them. No
    theme is declared anywhere, as on the real directories. Returns the number of pages."""
    (target / "services").mkdir(parents=True)
    urls = []
    for line in corpus.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        record = json.loads(line)
        slug = re.sub(r"[^a-z0-9-]+", "-", str(record.get("id") or len(urls)).lower()).strip("-") or str(len(urls))
        title = _EMAIL.sub("", str(record.get("title") or record.get("name") or slug))
        mission = _EMAIL.sub("", str(record.get("mission") or record.get("description") or ""))
        body = _EMAIL.sub("", str(record.get("body_markdown") or record.get("body") or ""))
        organization = {"@context": "https://schema.org", "@type": "Organization", "name": title,
                        "description": mission}
        if record.get("link"):
            organization["url"] = record["link"]
        paragraphs = "".join(f"<p>{html.escape(p.strip())}</p>" for p in body.split("\n\n") if p.strip())
        page = (f"<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
                f"<meta property=\"og:title\" content=\"{html.escape(title)}\">"
                f"<meta property=\"og:description\" content=\"{html.escape(mission)}\">"
                f"<script type=\"application/ld+json\">{json.dumps(organization, ensure_ascii=False)}</script></head>"
                f"<body><header><nav><a href=\"/\">Annuaire</a></nav></header><main><h1>{html.escape(title)}</h1>"
                f"<p>{html.escape(mission)}</p>{paragraphs}</main><footer>Annuaire de services</footer></body></html>")
        (target / "services" / f"{slug}.html").write_text(page, encoding="utf-8")
        urls.append(f"/services/{slug}.html")
    (target / "sitemap.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{u}</loc></url>" for u in urls) + "</urlset>", encoding="utf-8")
    (target / "robots.txt").write_text("User-agent: *\nDisallow: /brouillons/\nSitemap: /sitemap.xml\n",
                                       encoding="utf-8")
    return len(urls)


def measure_corpus(corpus: Path) -> dict:
    """The real-text directory crawled as a sitemap source (JSON-LD, OpenGraph, main text), then again unchanged."""
    with tempfile.TemporaryDirectory() as tmp:
        site_dir, data_dir = Path(tmp) / "site", Path(tmp) / "data"
        pages = render_corpus_site(corpus, site_dir)
        sources = Path(tmp) / "sources.yaml"
        sources.write_text('sources:\n  - name: services\n    kind: sitemap\n    sitemap_urls: ["{site}/sitemap.xml"]\n'
                           '    rules: ["/services/"]\n', encoding="utf-8")
        with StaticSite(site_dir) as site:
            first, again = _crawl_twice(["crawl", "services", "--sources", str(sources), f"--var=site={site.url}"],
                                        data_dir)
    return {"corpus": corpus.name, "records": pages, **first, "recrawl": again,
            "recrawl_speedup": round(first["seconds"] / again["seconds"], 1)}


# -- accuracy ----------------------------------------------------------------------------------------------------
def _text(value) -> str:
    return " ".join(clean_text(str(value or "")).split())


def field_right(field: str, expected, got) -> bool:
    if got in (None, "", [], {}):
        return False
    if field in ("description",):
        e, g = _text(expected), _text(got)
        return e in g or fuzz.ratio(e, g) >= TEXT_MIN_SIMILARITY
    if field in ("name", "pitch", "address", "contact_phone", "contact_email"):
        return _text(expected) == _text(got)
    if field == "commune":
        return _text(expected).casefold() == _text(got).casefold()
    if field == "website":
        return canonical_url(expected) == canonical_url(got)
    if field in ("latitude", "longitude"):
        return abs(float(expected) - float(got)) < 1e-3
    if field == "categories":
        # Themes a source declares, maps by meaning or that the text suggests must be themes of the company.
        return set(got) <= set(expected)
    if field in ("labels", "keywords"):
        return set(map(_text, expected)) == set(map(_text, got))
    return str(expected) == str(got)


def measure_accuracy() -> dict:
    companies = world.load_world()
    expected = world.expected_records(companies)
    themes = {c["slug"]: c["categories"] for c in companies}
    with tempfile.TemporaryDirectory() as tmp, FixtureSites(REPO / "fixtures" / "sites") as sites:
        data_dir = Path(tmp)
        run_vivier(["crawl", "--sources", str(SOURCES_FILE), "--loopback-fixture", "--no-index",
                    *(f"--var={n}={u}" for n, u in sites.urls.items())], data_dir)
        db = sqlite3.connect(data_dir / "vivier.db")
        records = db.execute("SELECT source_name, record_key, supplier_id, data FROM source_records").fetchall()
        live = db.execute("SELECT count(*) FROM suppliers WHERE status != 'merged'").fetchone()[0]
    right, total = Counter(), Counter()
    by_field_right, by_field_total = Counter(), Counter()
    suppliers_of: dict[str, set[int]] = defaultdict(set)
    companies_of: dict[int, set[str]] = defaultdict(set)
    unmatched = 0
    for source, key, supplier_id, raw in records:
        data = json.loads(raw)
        slug, view = expected[source].get(world.locate(source, key, data), (None, None))
        if slug is None:
            unmatched += 1
            continue
        suppliers_of[slug].add(supplier_id)
        companies_of[supplier_id].add(slug)
        view = {**view, "categories": themes[slug]}
        for field, value in view.items():
            if value in (None, "", []):
                continue
            got = data.get(field) or (data.get("inferred_categories") if field == "categories" else None)
            ok = field_right(field, value, got)
            right[source] += ok
            total[source] += 1
            by_field_right[field] += ok
            by_field_total[field] += 1
    expected_records_count = sum(len(v) for v in expected.values())
    return {
        "records": len(records), "records_expected": expected_records_count, "records_unmatched": unmatched,
        "fields_right": sum(right.values()), "fields_expected": sum(total.values()),
        "by_source": {s: f"{right[s]}/{total[s]} ({right[s] / total[s]:.1%})" for s in sorted(total)},
        "by_field": {f: f"{by_field_right[f]}/{by_field_total[f]} ({by_field_right[f] / by_field_total[f]:.1%})"
                     for f in sorted(by_field_total)},
        "companies": len(companies), "live_suppliers": live,
        "companies_split": sum(1 for ids in suppliers_of.values() if len(ids) > 1),
        "suppliers_merging_companies": sum(1 for slugs in companies_of.values() if len(slugs) > 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=3000, help="profiles in the generated directory")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--corpus", type=Path,
                        help="a JSON Lines corpus of real texts (../shared/data/betagouv_startups.jsonl) served as a "
                             "JSON-LD directory and crawled twice")
    parser.add_argument("--note", default="", help="a word on this run for RESULTS.md")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    results = {"cpus": os.cpu_count()}
    if not args.skip_accuracy:
        results["accuracy"] = measure_accuracy()
    if not args.skip_speed:
        results["speed"] = measure_speed(args.profiles)
        results["speed_no_categories"] = measure_speed(args.profiles, categories=False)
    if args.corpus:
        results["corpus"] = measure_corpus(args.corpus)
    print(json.dumps(results, indent=1, ensure_ascii=False))
    lines = []
    if "accuracy" in results:
        a = results["accuracy"]
        lines.append(f"extraction accuracy: {a['fields_right']}/{a['fields_expected']} fields right "
                     f"({a['fields_right'] / a['fields_expected']:.1%}); merging: {a['companies']} companies -> "
                     f"{a['live_suppliers']} suppliers, {a['companies_split']} split, "
                     f"{a['suppliers_merging_companies']} false merges")
    for key, what in (("speed", "themes declared"), ("speed_no_categories", "no theme declared"),
                      ("corpus", "real texts (JSON-LD and OpenGraph pages from a sitemap, no theme declared)")):
        if key not in results:
            continue
        s, r = results[key], results[key]["recrawl"]
        lines.append(f"crawl speed, {what}: {s['pages_per_s']} pages/s ({s['pages']} pages, {s['stored']} suppliers "
                     f"stored, {s['seconds']} s); unchanged re-crawl {r['pages_per_s']} pages/s ({r['seconds']} s, "
                     f"{r['not_modified']} pages not modified, {s['recrawl_speedup']}x faster); {results['cpus']} "
                     f"CPUs, load {results_file.load_average()}")
    if not args.no_record:
        results_file.append(RESULTS_SECTION, "\n".join(f"- {line}" for line in lines), args.note)
    print(f"\nCrawl — {results_file.machine()}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
