"""The crawler on sources shaped like real ones (issue 19), each defect reproduced on a loopback site or feed:
unchanged re-crawls that read nothing again, organisations sharing one host kept apart and merges of other names
reported, JSON Lines split on "\\n" only with every unreadable row listed, markup and entities read as text in every
source kind, and feed rows that keep their identity when the file moves."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, text, update

from tests.conftest import FIXTURE_SITES, make_settings, run_cli
from tests.test_harvest import write_sources
from vivier.db import Database
from vivier_cli.devserver import StaticSite
from vivier.models import STATUS_MERGED, CrawlRun, FieldProvenance, SourceRecord, Supplier, utcnow


def read(data_dir: Path, statement):
    database = Database(make_settings(data_dir))
    with database.session() as s:
        rows = s.execute(statement).all()
    database.dispose()
    return rows


def last_run(data_dir: Path) -> dict:
    ((stats,),) = read(data_dir, select(CrawlRun.stats).order_by(CrawlRun.id.desc()).limit(1))
    return stats


def feed_sources(path: Path, feeds: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"sources": feeds}, allow_unicode=True), encoding="utf-8")
    return path


# -- 2. unchanged re-crawls ---------------------------------------------------------------------------------------
def test_an_unchanged_recrawl_reads_no_page_again_and_marks_every_record_seen(tmp_path):
    site, data = tmp_path / "site", tmp_path / "data"
    shutil.copytree(FIXTURE_SITES / "annuaire", site)
    sources = write_sources(tmp_path / "s.yaml", ["annuaire"])
    with StaticSite(site) as served:
        args = ["crawl", "--sources", str(sources), f"--var=annuaire={served.url}", "--loopback-fixture",
                "--no-index"]
        first = run_cli(args, data)
        assert "new 164" in first.stdout
        long_ago = utcnow() - timedelta(days=30)
        database = Database(make_settings(data))
        with database.session() as s:
            s.execute(update(SourceRecord).values(last_seen=long_ago))
            s.execute(update(FieldProvenance).values(last_seen=long_ago))
        database.dispose()

        again = run_cli(args, data)
        stats = last_run(data)
        # Every page answered 304 and none went through extraction and the pipeline: no item at all.
        assert stats["not_modified"] == stats["pages"] and stats["items"] == 0 and stats["unchanged"] == 164
        assert stats["skipped_unchanged"] is True and "unchanged 164" in again.stdout
        assert read(data, select(SourceRecord.id).where(SourceRecord.last_seen <= long_ago)) == []
        assert read(data, select(FieldProvenance.id).where(FieldProvenance.last_seen <= long_ago)) == []

        page = site / "fournisseurs" / "watteo.html"
        page.write_text(page.read_text(encoding="utf-8").replace("décret tertiaire", "décret tertiaire et l'eau"),
                        encoding="utf-8")
        changed = run_cli(args, data)
        assert "items 1," in changed.stdout and "updated 1" in changed.stdout and "unchanged 163" in changed.stdout

        # --full reads every page again (an operator who doubts the cache), as does a changed declaration.
        full = run_cli([*args, "--full"], data)
        assert "items 164" in full.stdout and "unchanged 164" in full.stdout
        edited = write_sources(tmp_path / "s.yaml", ["annuaire"], {"annuaire": {"settings": {"DOWNLOAD_TIMEOUT": 25}}})
        assert edited == sources
        reread = run_cli(args, data)
        assert "items 164" in reread.stdout and last_run(data)["skipped_unchanged"] is False


# -- 3. organisations sharing a host; merges of other names reported ---------------------------------------------
SHARED_HOSTS_ROWS = [
    # Two services of one agency, at two paths of the agency's host: two suppliers.
    {"nom": "Mobilité Facile", "site": "https://services.agence-exemple.fr/mobilite/", "siren": ""},
    {"nom": "Compétences Validées", "site": "https://services.agence-exemple.fr/competences", "siren": ""},
    # Two projects of one organisation on a forge: two suppliers; the forge itself identifies nobody.
    {"nom": "Outil Évaluation", "site": "https://github.com/collectif-exemple/evaluation", "siren": ""},
    {"nom": "Notifications Locales", "site": "https://github.com/collectif-exemple/notifications", "siren": ""},
    # A service at its own host's home page, and a programme at a path of that host: two suppliers.
    {"nom": "Base Adresses Exemple", "site": "https://adresses.exemple.fr", "siren": ""},
    {"nom": "Programme Adresses Locales", "site": "https://adresses.exemple.fr/programme", "siren": ""},
    # The same home page under http and https, same name: one supplier, nothing to report.
    {"nom": "Transition Écologique Exemple", "site": "https://transition.exemple.fr/", "siren": ""},
    {"nom": "Transition Ecologique Exemple", "site": "http://transition.exemple.fr", "siren": ""},
    # One SIREN under two names: merged, and the run says which name no longer shows.
    {"nom": "Atelier Dupont", "site": "https://atelier-dupont.example/", "siren": "732829320"},
    {"nom": "Menuiserie Bernard", "site": "", "siren": "732829320"},
]


def test_organisations_sharing_a_host_stay_apart_and_a_merge_of_another_name_is_reported(tmp_path):
    feed_dir = tmp_path / "feed"
    feed_dir.mkdir()
    (feed_dir / "services.json").write_text(json.dumps(SHARED_HOSTS_ROWS, ensure_ascii=False), encoding="utf-8")
    sources = feed_sources(tmp_path / "s.yaml", [{
        "name": "services", "kind": "feed", "url": "{feed}/services.json",
        "fields": {"name": "nom", "website": "site", "siren": "siren"}}])
    data = tmp_path / "data"
    with StaticSite(feed_dir) as served:
        result = run_cli(["crawl", "--sources", str(sources), f"--var=feed={served.url}", "--loopback-fixture",
                          "--no-index"], data)
    live = read(data, select(Supplier.name, Supplier.website).where(Supplier.status != STATUS_MERGED)
                .order_by(Supplier.id))
    names = [name for name, _ in live]
    assert names == ["Mobilité Facile", "Compétences Validées", "Outil Évaluation", "Notifications Locales",
                     "Base Adresses Exemple", "Programme Adresses Locales", "Transition Écologique Exemple",
                     "Atelier Dupont"]
    ((key,),) = read(data, select(SourceRecord.record_key).where(SourceRecord.name == "Menuiserie Bernard"))
    notice = (f"record {key!r} named 'Menuiserie Bernard' merged into 'Atelier Dupont' (atelier-dupont) by the same "
              "SIREN (732829320)")
    assert "merged 2" in result.stdout and "merged_other_names 1" in result.stdout  # the http/https twin is silent
    assert f"notice: {notice}" in result.stdout
    stats = last_run(data)
    assert stats["notices"] == [notice] and stats["merged_other_names"] == 1
    report = run_cli(["sources", "report", "services"], data)
    assert f"notice: {notice}" in report.stdout


# -- 4. JSON Lines: records holding U+2028, U+2029 and U+0085; every unreadable row listed --------------------------
def test_json_lines_split_on_newlines_only_and_every_unreadable_row_is_listed(tmp_path):
    feed_dir = tmp_path / "feed"
    feed_dir.mkdir()
    lines = [
        json.dumps({"id": "a1", "nom": "Ateliers du Lien", "mission": "Premier point\u2028second point"},
                   ensure_ascii=False),
        json.dumps({"id": "a2", "nom": "Cantine Ouverte", "mission": "Réservation\u2029des repas"},
                   ensure_ascii=False),
        json.dumps({"id": "a3", "nom": "Relais\u0085Numérique", "mission": "Médiation"}, ensure_ascii=False),
        '{"id": "a4", "nom": "Ligne coupée", ',
        "",
        '["a5", "Une liste"]',
        json.dumps({"id": "a6", "nom": "Capteurs du Port", "mission": "Qualité de l'air"}, ensure_ascii=False),
    ]
    (feed_dir / "services.jsonl").write_bytes(("\r\n".join(lines) + "\n").encode("utf-8"))
    sources = feed_sources(tmp_path / "s.yaml", [{
        "name": "services", "kind": "feed", "url": "{feed}/services.jsonl", "key": "id",
        "fields": {"name": "nom", "pitch": "mission"}}])
    data = tmp_path / "data"
    with StaticSite(feed_dir) as served:
        result = run_cli(["crawl", "--sources", str(sources), f"--var=feed={served.url}", "--loopback-fixture",
                          "--no-index"], data)
    keys = sorted(key for (key,) in read(data, select(SourceRecord.record_key)))
    assert keys == ["a1", "a2", "a3", "a6"]
    assert "new 4" in result.stdout and "invalid 2" in result.stdout
    notices = last_run(data)["notices"]
    try:
        json.loads(lines[3])
    except ValueError as error:
        reason = f"invalid JSON ({error})"
    assert len(notices) == 2 and notices[0].endswith(f"/services.jsonl line 4: {reason}")
    assert notices[1].endswith("/services.jsonl line 6: a JSON list, not an object")
    assert all(f"notice: {n}" in result.stdout for n in notices)


def test_csv_rows_with_missing_or_extra_cells_are_listed_with_their_line():
    from crawler.spiders.feed import BrokenRow, read_rows

    rows, broken = read_rows('nom;ville\n"Alpha; et fils";Brest\nBeta\nGamma;Quimper;en trop\n', "csv",
                             {"delimiter": ";"})
    assert [r["nom"] for r in rows] == ["Alpha; et fils"]
    assert broken == [BrokenRow(3, "1 cells for 2 columns"), BrokenRow(4, "3 cells for 2 columns")]


# -- 5. markup and entities --------------------------------------------------------------------------------------
def test_markup_and_entities_in_a_feed_are_read_as_text(tmp_path):
    feed_dir = tmp_path / "feed"
    feed_dir.mkdir()
    rows = [{"key": "1", "name": "Delta &amp; Fils",
             "description": "<p>Un <b>atelier</b> de réparation.</p><p>Deux &eacute;quipes &amp; un camion.</p>",
             "url": "https:&#x2F;&#x2F;delta-fils.example&#x2F;", "keywords": "r&eacute;emploi; <i>vélos</i>",
             "pitch": "PME < 50 salariés"}]
    (feed_dir / "ateliers.json").write_text(json.dumps({"data": rows}), encoding="utf-8")
    sources = feed_sources(tmp_path / "s.yaml", [{
        "name": "ateliers", "kind": "feed", "url": "{feed}/ateliers.json", "records": "data", "key": "key",
        "fields": {"name": "name", "description": "description", "website": "url", "keywords": "keywords",
                   "pitch": "pitch"}}])
    data = tmp_path / "data"
    with StaticSite(feed_dir) as served:
        run_cli(["crawl", "--sources", str(sources), f"--var=feed={served.url}", "--loopback-fixture", "--no-index"],
                data)
    ((name, slug, description, website, keywords, pitch),) = read(data, select(
        Supplier.name, Supplier.slug, Supplier.description, Supplier.website, Supplier.keywords, Supplier.pitch))
    assert (name, slug) == ("Delta & Fils", "delta-fils")
    assert description == "Un atelier de réparation.\n\nDeux équipes & un camion."
    assert website == "https://delta-fils.example/" and keywords == ["réemploi", "vélos"]
    assert pitch == "PME < 50 salariés"  # a "<" that opens no tag is text


def test_every_source_kind_is_cleaned_the_same_way():
    from vivier.normalise import normalise_profile, plain_text

    # What JSON-LD, OpenGraph or a declared layout may hand over, as a feed would.
    raw = {"name": "Lumi&egrave;re <span>&amp;</span> Ville", "pitch": "<!-- x -->Éclairage <br>public",
           "contact_email": "mailto:contact&#64;lumiere-ville.example", "address_text": "3 rue &Eacute;mile Zola, "
           "29200 Brest"}
    profile = normalise_profile(raw)
    assert profile["name"] == "Lumière & Ville" and profile["pitch"] == "Éclairage public"
    assert profile["contact_email"] == "contact@lumiere-ville.example"
    assert (profile["address"], profile["postcode"], profile["commune"]) == ("3 rue Émile Zola", "29200", "Brest")
    assert plain_text("Paragraphe un\n\nParagraphe deux &amp; fin") == "Paragraphe un\n\nParagraphe deux & fin"
    assert plain_text("a < b et c > d") == "a < b et c > d"


# -- 6. a feed that moves ----------------------------------------------------------------------------------------
def test_a_feed_uploaded_again_under_a_new_address_brings_back_the_same_records(tmp_path):
    feed_dir = tmp_path / "feed"
    (feed_dir / "2025").mkdir(parents=True)
    csv_text = ("SIREN;RAISON SOCIALE;CODE POSTAL;COMMUNE\n732829320;Atelier Dupont;29000;Quimper\n"
                ";Café Solidaire;35000;Rennes\n")
    (feed_dir / "2025" / "esus.csv").write_text(csv_text, encoding="utf-8")
    declaration = {"name": "registre", "kind": "feed", "key": "SIREN",
                   "fields": {"siren": "SIREN", "name": "RAISON SOCIALE", "postcode": "CODE POSTAL",
                              "commune": "COMMUNE"}, "constants": {"labels": ["ESUS"]}}
    data = tmp_path / "data"
    with StaticSite(feed_dir) as served:
        run_cli(["crawl", "--sources", str(feed_sources(tmp_path / "a.yaml", [
            {**declaration, "url": "{feed}/2025/esus.csv"}])), f"--var=feed={served.url}", "--loopback-fixture",
            "--no-index"], data)
        (feed_dir / "2026").mkdir()
        shutil.move(feed_dir / "2025" / "esus.csv", feed_dir / "2026" / "esus-v2.csv")
        moved = run_cli(["crawl", "--sources", str(feed_sources(tmp_path / "b.yaml", [
            {**declaration, "url": "{feed}/2026/esus-v2.csv"}])), f"--var=feed={served.url}", "--loopback-fixture",
            "--no-index"], data)
    assert "new 0" in moved.stdout and "unchanged 2" in moved.stdout
    records = read(data, select(SourceRecord.record_key, SourceRecord.url).order_by(SourceRecord.record_key))
    assert len(records) == 2 and records[0][0] == "732829320" and records[1][0].startswith("row:")
    assert all(url.endswith("/2026/esus-v2.csv") for _, url in records)
    assert len(read(data, select(Supplier.id))) == 2


def test_feed_records_stored_under_their_files_address_are_migrated_to_their_row_key(tmp_path):
    from alembic import command

    from vivier.db import alembic_config

    settings = make_settings(tmp_path)
    command.upgrade(alembic_config(settings.database_url), "0008")
    database = Database(settings)
    now = "2026-01-01 00:00:00"
    with database.engine.begin() as connection:
        connection.execute(text("INSERT INTO sources (id, name, kind, start_url, config, created_at) VALUES "
                                "(1, 'registre', 'feed', 'u', '{}', :now), "
                                "(2, 'annuaire', 'directory', 'u', '{}', :now)"),
                           {"now": now})
        connection.execute(text(
            "INSERT INTO suppliers (id, slug, name, pitch, description, categories, keywords, labels, "
            "\"references\", offers, interoperability, status, created_at, updated_at) VALUES "
            "(1, 'a', 'A', '', '', '[]', '[]', '[]', '[]', '[]', '{}', 'crawled', :now, :now)"), {"now": now})
        for key, source, seen in (("http://old.example/esus.csv#732829320", "registre", "2026-01-02 00:00:00"),
                                  ("http://new.example/esus.csv#732829320", "registre", "2026-01-03 00:00:00"),
                                  ("http://old.example/esus.csv#row:abc", "registre", "2026-01-02 00:00:00"),
                                  ("http://annuaire.example/fiche#Acme", "annuaire", "2026-01-02 00:00:00")):
            connection.execute(text(
                "INSERT INTO source_records (source_name, record_key, supplier_id, url, name, data, content_hash, "
                "first_seen, last_seen, changed_at, joined_by) VALUES (:source, :key, 1, 'u', 'A', '{}', '', :now, "
                ":seen, :now, 'new')"), {"source": source, "key": key, "now": now, "seen": seen})
    database.migrate()
    with database.engine.connect() as connection:
        keys = sorted(k for (k,) in connection.execute(text("SELECT record_key FROM source_records")))
    database.dispose()
    # The row seen last takes its key; the older copy of the same row keeps its old key (it is no longer
    # refreshed); directory records are not feed records and keep theirs.
    assert keys == ["732829320", "http://annuaire.example/fiche#Acme", "http://old.example/esus.csv#732829320",
                    "row:abc"]


# -- 7. the page's body when its JSON-LD has a description ----------------------------------------------------------
def test_a_source_chooses_where_a_pages_description_comes_from():
    from crawler.extract import PageData
    from crawler.sources import SourceFileError, parse_source
    from crawler.spiders.company_sites import company_profile

    body = "Nous installons des capteurs de remplissage sur les colonnes de tri et publions les données ouvertes."
    page = PageData(url="https://tri.example/", organization={"name": "Tri Malin", "description": "Capteurs."},
                    main_text=body)
    by_default = company_profile([page], {"url": page.url})
    assert by_default["description"] == "Capteurs."  # the structured description wins, the body is not read
    text = company_profile([page], {"url": page.url}, description="text")
    assert (text["description"], text["pitch"]) == (body, "Capteurs.")
    assert company_profile([page], {"url": page.url}, description="longest")["description"] == body
    short = PageData(url=page.url, organization=page.organization, main_text="Accueil.")
    assert company_profile([short], {"url": page.url}, description="longest")["description"] == "Capteurs."

    declared = {"name": "pages", "kind": "sitemap", "sitemap_urls": ["https://tri.example/sitemap.xml"]}
    assert parse_source({**declared, "description": "text"}).config["description"] == "text"
    with pytest.raises(SourceFileError, match=r"description: one of structured, text, longest \(got 'body'\)"):
        parse_source({**declared, "description": "body"})
