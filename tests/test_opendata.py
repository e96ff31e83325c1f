"""Open-data exports: searchable suppliers only, public fields, formulas neutralised, licence and descriptor,
files replaced atomically; written by `vivier export`, after each index build, and served by the site."""

from __future__ import annotations

import csv
import io
import json

from click.testing import CliRunner
from sqlalchemy import select

from vivier import opendata
from vivier_cli.main import main
from vivier.db import Database
from vivier.models import SEARCHABLE_STATUSES, STATUS_HIDDEN, Supplier
from vivier.profiles import upsert_profile


def searchable_ids(settings) -> list[int]:
    database = Database(settings)
    with database.session() as session:
        ids = list(session.scalars(select(Supplier.id).where(Supplier.status.in_(SEARCHABLE_STATUSES))
                                   .order_by(Supplier.id)))
    database.dispose()
    return ids


def change(settings, **profiles) -> dict[str, int]:
    """Store fixture profiles from a test source; returns name -> supplier id."""
    database = Database(settings)
    ids = {}
    with database.session() as session:
        for key, profile in profiles.items():
            ids[key] = upsert_profile(session, profile, "annuaire", f"http://test/{key}").supplier_id
        session.commit()
    database.dispose()
    return ids


def read_csv(path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_export_holds_the_searchable_suppliers_and_their_public_fields(private_settings, tmp_path):
    ids = change(private_settings,
                 formula={"name": "=HYPERLINK(\"http://evil\")", "pitch": "+33 1 23", "keywords": ["@SUM(A1)", "ok"],
                          "commune": "Brest", "postcode": "29200"},
                 hidden={"name": "Société masquée", "commune": "Brest"})
    database = Database(private_settings)
    with database.session() as session:
        session.get(Supplier, ids["hidden"]).status = STATUS_HIDDEN
        session.commit()
    database.dispose()
    report = opendata.export_opendata(private_settings, output=tmp_path)
    expected = searchable_ids(private_settings)
    rows, records = read_csv(tmp_path / "suppliers.csv"), read_jsonl(tmp_path / "suppliers.jsonl")
    assert report.suppliers == len(expected) and ids["hidden"] not in expected
    assert [int(r["id"]) for r in rows] == [r["id"] for r in records] == expected
    assert list(rows[0]) == list(opendata.FIELDS) and set(records[0]) == set(opendata.FIELDS)
    formula = next(r for r in rows if int(r["id"]) == ids["formula"])
    assert formula["name"] == "'=HYPERLINK(\"http://evil\")" and formula["pitch"] == "'+33 1 23"
    assert formula["keywords"] == "'@SUM(A1) | ok"
    assert next(r for r in records if r["id"] == ids["formula"])["name"] == "=HYPERLINK(\"http://evil\")"
    known = next(r for r in records if r["slug"] == "borne-cite")
    assert known["name"] == "Borne & Cité" and known["siren"] == "561454141"
    assert known["url"] == "/fournisseurs/borne-cite"
    assert known["offers"] and known["category_labels"] and known["updated_at"]
    known_row = next(r for r in rows if r["slug"] == "borne-cite")
    assert known_row["categories"] == " | ".join(known["categories"])
    assert "private" not in json.dumps(records) and not any("status" in r or "siret" in r for r in records)


def test_licence_and_datapackage(private_settings, tmp_path):
    opendata.export_opendata(private_settings, output=tmp_path)
    licence = (tmp_path / "LICENCE.txt").read_text(encoding="utf-8")
    assert "Licence Ouverte" in licence and "etalab" in licence and "sources publiques" in licence
    package = json.loads((tmp_path / "datapackage.json").read_text(encoding="utf-8"))
    assert package["licenses"][0]["name"] == "etalab-2.0"
    assert [r["path"] for r in package["resources"]] == ["suppliers.csv", "suppliers.jsonl"]
    assert package["resources"][0]["count"] == len(searchable_ids(private_settings))


def test_files_are_replaced_not_rewritten_in_place(private_settings, tmp_path):
    out = tmp_path / "out"
    opendata.export_opendata(private_settings, output=out)
    with open(out / "suppliers.csv", encoding="utf-8") as reader:  # a download in progress
        change(private_settings, new={"name": "Nouvelle Entreprise", "commune": "Brest"})
        opendata.export_opendata(private_settings, output=out)
        assert "Nouvelle Entreprise" not in reader.read()  # the old file, whole
    assert "Nouvelle Entreprise" in (out / "suppliers.csv").read_text(encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == ["LICENCE.txt", "datapackage.json", "suppliers.csv",
                                                     "suppliers.jsonl"]  # no temporary file left


def test_cli_export(private_settings, tmp_path):
    env = {"VIVIER_DATA_DIR": str(private_settings.data_dir), "DATABASE_URL": None}
    result = CliRunner().invoke(main, ["export", "--format", "csv", "--output", str(tmp_path / "out")], env=env)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["LICENCE.txt", "datapackage.json",
                                                                    "suppliers.csv"]
    default = private_settings.data_dir / "opendata"
    for name in opendata.FORMATS.values():
        (default / name).unlink(missing_ok=True)
    result = CliRunner().invoke(main, ["export"], env=env)
    assert result.exit_code == 0, result.output
    assert len(read_jsonl(default / "suppliers.jsonl")) == len(searchable_ids(private_settings))


def test_index_build_and_update_regenerate_the_exports(private_settings, encoder):
    from indexer.build import build_index, update_index

    directory = private_settings.data_dir / "opendata"
    for path in directory.glob("*"):
        path.unlink()
    build_index(private_settings, encoder)
    assert len(read_csv(directory / "suppliers.csv")) == len(searchable_ids(private_settings))
    change(private_settings, new={"name": "Entreprise Ajoutée", "pitch": "Capteurs", "commune": "Brest"})
    update_index(private_settings, encoder)
    assert any(r["name"] == "Entreprise Ajoutée" for r in read_jsonl(directory / "suppliers.jsonl"))


def test_open_data_page_and_files(private_app):
    client = private_app.test_client()
    page = client.get("/donnees-ouvertes")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Licence Ouverte" in html and 'href="/donnees-ouvertes/suppliers.csv"' in html
    assert f"{len(searchable_ids(private_app.extensions['vivier']['settings']))} fournisseurs" in html
    csv_file = client.get("/donnees-ouvertes/suppliers.csv")
    assert csv_file.status_code == 200 and csv_file.content_type == "text/csv; charset=utf-8"
    assert csv_file.get_data(as_text=True).startswith("id,slug,url,name")
    assert client.get("/donnees-ouvertes/suppliers.jsonl").mimetype == "application/jsonl"
    assert client.get("/donnees-ouvertes/LICENCE.txt").mimetype == "text/plain"
    assert client.get("/donnees-ouvertes/datapackage.json").mimetype == "application/json"
    for name in ("vivier.db", "..%2Fvivier.db", "suppliers.xlsx"):
        assert client.get(f"/donnees-ouvertes/{name}").status_code == 404


def test_open_data_not_generated_yet(private_app):
    directory = private_app.extensions["vivier"]["settings"].data_dir / "opendata"
    for path in directory.glob("*"):
        path.unlink()
    client = private_app.test_client()
    assert "pas encore été générés" in client.get("/donnees-ouvertes").get_data(as_text=True)
    missing = client.get("/donnees-ouvertes/suppliers.csv")
    assert missing.status_code == 404 and "pas encore été généré" in missing.get_data(as_text=True)


def test_numbers_are_plain_numbers_and_text_keeps_the_formula_guard(private_settings, tmp_path):
    """A negative coordinate is a number of the descriptor's number column, not a "'-0.77" text cell; a text
    cell starting with "-" is still neutralised."""
    ids = change(private_settings, west={"name": "Entreprise de l'Ouest", "pitch": "-1 pour les formules",
                                         "commune": "Nantes"})
    database = Database(private_settings)
    with database.session() as session:
        supplier = session.get(Supplier, ids["west"])
        supplier.latitude, supplier.longitude = -21.1151, -0.77
        session.commit()
    database.dispose()
    opendata.export_opendata(private_settings, output=tmp_path)
    rows = read_csv(tmp_path / "suppliers.csv")
    west = next(r for r in rows if int(r["id"]) == ids["west"])
    assert (west["latitude"], west["longitude"]) == ("-21.1151", "-0.77")
    assert west["pitch"] == "'-1 pour les formules"
    package = json.loads((tmp_path / "datapackage.json").read_text(encoding="utf-8"))
    types = {f["name"]: f["type"] for f in package["resources"][0]["schema"]["fields"]}
    for row in rows:  # every cell of a number or integer column reads as one
        for name, kind in types.items():
            if kind in ("number", "integer") and row[name]:
                (float if kind == "number" else int)(row[name])
