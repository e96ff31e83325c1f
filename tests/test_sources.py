"""Source files: the demo's file parses; every kind of mistake is refused with a message naming where it is."""

import subprocess
import sys
import textwrap

import pytest

from crawler.sources import SourceFileError, parse_source, parse_source_file
from tests.conftest import REPO, SOURCES_FILE

VARIABLES = {name: f"http://{name}.example" for name in ("annuaire", "reseau-ess", "vitrines", "incubateur",
                                                           "opendata")}
DIRECTORY = {"name": "annuaire", "kind": "directory", "start_urls": ["https://annuaire.example/page-1.html"],
             "listing": {"links": "a.card::attr(href)"}, "detail": {"fields": {"name": "h1"}}}


def test_the_demo_source_file_declares_every_kind():
    specs = {s.name: s for s in parse_source_file(SOURCES_FILE, VARIABLES)}
    assert {s.kind for s in specs.values()} == {"directory", "company-sites", "sitemap", "feed"}
    assert specs["annuaire"].config["start_urls"] == ["http://annuaire.example/fournisseurs/page-1.html"]
    seeds = specs["vitrines"].config["seeds"]
    assert len(seeds) > 100 and all(s["url"].startswith("http://vitrines.example/") for s in seeds)
    assert specs["registre-esus"].priority == 70 and specs["registre-esus"].start_url == "http://opendata.example/esus.csv"


def test_only_the_named_sources_are_read(tmp_path):
    specs = parse_source_file(SOURCES_FILE, {"annuaire": "http://a.example"}, names=["annuaire"])
    assert [s.name for s in specs] == ["annuaire"]
    with pytest.raises(SourceFileError, match=r"unknown variable \{reseau-ess\}"):
        parse_source_file(SOURCES_FILE, {"annuaire": "http://a.example"})


def test_toml_source_files_work_too(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text(textwrap.dedent("""
        [[sources]]
        name = "registre"
        kind = "feed"
        url = "https://data.example/registre.csv"
        key = "siren"
        [sources.fields]
        name = "raison_sociale"
        siren = "siren"
    """), encoding="utf-8")
    (spec,) = parse_source_file(path)
    assert spec.kind == "feed" and spec.config["urls"] == ["https://data.example/registre.csv"]


@pytest.mark.parametrize("change, message", [
    ({"name": "Annuaire!"}, "name: required, lower-case"),
    ({"kind": "rss"}, "kind: one of directory"),
    ({"priority": 100}, "priority: an integer from 0 to 99"),
    ({"settings": {"ROBOTSTXT_OBEY": False}}, "settings: only"),
    ({"settings": {"USER_AGENT": "Mozilla"}}, "settings: only"),
    ({"start_urls": ["ftp://annuaire.example/"]}, r"is not an http\(s\) URL"),
    ({"start_urls": ["{ailleurs}/page-1.html"]}, r"unknown variable \{ailleurs\}"),
    ({"listing": {}}, "needs 'links'"),
    ({"listing": {"links": "a[href"}}, "invalid selector"),
    ({"listing": {"links": "xpath://a["}}, "invalid selector"),
    ({"detail": {"fields": {"name": {"css": "h1", "bogus": 1}}}}, "unknown key"),
    ({"detail": {"fields": {"offers": {"each": "div.offer"}}}}, "'each' needs 'fields'"),
    ({"detail": None}, "detail: required"),
])
def test_directory_mistakes_are_refused_with_their_place(change, message):
    with pytest.raises(SourceFileError, match=message):
        parse_source({**DIRECTORY, **change})


def test_other_kinds_check_their_keys(tmp_path):
    with pytest.raises(SourceFileError, match="seeds: cannot read seed list"):
        parse_source({"name": "v", "kind": "company-sites", "seeds": "missing.csv"}, base_dir=tmp_path)
    with pytest.raises(SourceFileError, match=r"seeds\[0\]: each seed needs a url"):
        parse_source({"name": "v", "kind": "company-sites", "seeds": [{"name": "Acme"}]})
    with pytest.raises(SourceFileError, match="max_pages"):
        parse_source({"name": "v", "kind": "company-sites", "seeds": ["https://a.fr"], "max_pages": 50})
    with pytest.raises(SourceFileError, match="invalid pattern"):
        parse_source({"name": "s", "kind": "sitemap", "sitemap_urls": ["https://a.fr/sitemap.xml"], "rules": ["("]})
    with pytest.raises(SourceFileError, match="with at least 'name'"):
        parse_source({"name": "f", "kind": "feed", "url": "https://a.fr/f.csv", "fields": {"siren": "siren"}})
    with pytest.raises(SourceFileError, match="format: one of"):
        parse_source({"name": "f", "kind": "feed", "url": "https://a.fr/f", "format": "xml", "fields": {"name": "n"}})
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("url,name\nwww.acme.fr,Acme\n", encoding="utf-8")
    spec = parse_source({"name": "v", "kind": "company-sites", "seeds": "seeds.csv"}, base_dir=tmp_path)
    assert spec.config["seeds"] == [{"url": "https://www.acme.fr/", "name": "Acme"}]


def test_file_level_mistakes(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("sources: [", encoding="utf-8")
    with pytest.raises(SourceFileError, match="not valid YAML"):
        parse_source_file(path)
    path.write_text("nothing: here", encoding="utf-8")
    with pytest.raises(SourceFileError, match="top-level 'sources' list"):
        parse_source_file(path)
    path.write_text("sources:\n  - {name: a, kind: feed, url: 'https://x.fr/a.csv', fields: {name: n}}\n"
                    "  - {name: a, kind: feed, url: 'https://x.fr/b.csv', fields: {name: n}}\n", encoding="utf-8")
    with pytest.raises(SourceFileError, match="declared twice"):
        parse_source_file(path)


def test_sources_check_command(tmp_path):
    def check(*args):
        return subprocess.run([sys.executable, "-m", "vivier_cli", "sources", "check", *args], cwd=REPO,
                              capture_output=True, text=True, env={"VIVIER_DATA_DIR": str(tmp_path), "PATH": ""})

    ok = check(str(SOURCES_FILE), *(f"--var={n}={u}" for n, u in VARIABLES.items()))
    assert ok.returncode == 0 and "vitrines: company-sites" in ok.stdout and "valid" in ok.stdout
    bad = check(str(SOURCES_FILE))
    assert bad.returncode == 2 and "unknown variable" in bad.stderr
