"""Open-data exports of the public supplier profiles: CSV and JSON Lines, a licence notice and a Frictionless
`datapackage.json`, written to `data_dir/opendata/` after each index build and by `vivier export`.

Only searchable suppliers (what the site shows) and only the fields their page shows are exported. Every file is
written to a temporary file in the same directory and moved into place (os.replace), so that a reader (the web
app serving the files, a download in progress) never sees a half-written file.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

from sqlalchemy import select

from vivier import taxonomy
from vivier.config import Settings
from vivier.db import Database
from vivier.models import SEARCHABLE_STATUSES, Supplier, utcnow

log = logging.getLogger(__name__)

OPENDATA_DIRNAME = "opendata"
CSV_NAME = "suppliers.csv"
JSONL_NAME = "suppliers.jsonl"
LICENCE_NAME = "LICENCE.txt"
DATAPACKAGE_NAME = "datapackage.json"
FORMATS = {"csv": CSV_NAME, "jsonl": JSONL_NAME}
# The files the web app may serve, with their content types; any other name is a 404.
CONTENT_TYPES = {
    CSV_NAME: "text/csv; charset=utf-8",
    JSONL_NAME: "application/jsonl; charset=utf-8",
    LICENCE_NAME: "text/plain; charset=utf-8",
    DATAPACKAGE_NAME: "application/json",
}
# The usual licence of French public open data: reuse free, even commercial, with attribution.
LICENCE_ID = "etalab-2.0"
LICENCE_TITLE = "Licence Ouverte / Open Licence version 2.0 (Etalab)"
LICENCE_URL = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
# Lists in a CSV cell: a separator no category label, keyword or offer name of the corpus contains.
LIST_SEPARATOR = " | "
# A cell starting with one of these is a formula to a spreadsheet (CSV injection, OWASP): such cells get a
# leading apostrophe, which spreadsheets show as text and hide.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Suppliers read from the database per round trip: bounds memory on a large directory.
READ_BATCH = 1000

# Exported fields, in column order; nested ones (offers, references, interoperability) are flattened in the CSV.
FIELDS = (
    "id", "slug", "url", "name", "siren", "website", "pitch", "description", "categories", "category_labels",
    "keywords", "commune", "postcode", "department", "region", "latitude", "longitude", "size_band", "labels",
    "label_names", "offers", "references", "interoperability", "contact_email", "contact_phone", "updated_at",
)
# Frictionless field types of the CSV columns (anything not listed is a string).
CSV_FIELD_TYPES = {"id": "integer", "latitude": "number", "longitude": "number", "updated_at": "datetime"}


@dataclass(frozen=True)
class ExportReport:
    directory: Path
    files: tuple[str, ...]
    suppliers: int
    generated_at: datetime


def opendata_dir(settings: Settings) -> Path:
    return settings.data_dir / OPENDATA_DIRNAME


def supplier_url(base_url: str | None, slug: str) -> str:
    """The supplier's page: absolute on VIVIER_BASE_URL, relative to the site without it."""
    return f"{base_url or ''}/fournisseurs/{slug}"


def public_record(supplier: Supplier, base_url: str | None) -> dict[str, Any]:
    """The exported fields of one supplier, as JSON values (the JSON Lines row)."""
    interoperability = supplier.interoperability or {}
    return {
        "id": supplier.id, "slug": supplier.slug, "url": supplier_url(base_url, supplier.slug),
        "name": supplier.name, "siren": supplier.siren, "website": supplier.website,
        "pitch": supplier.pitch or "", "description": supplier.description or "",
        "categories": list(supplier.categories or []),
        "category_labels": [taxonomy.CATEGORY_LABELS.get(c, c) for c in supplier.categories or []],
        "keywords": list(supplier.keywords or []),
        "commune": supplier.commune, "postcode": supplier.postcode, "department": supplier.department,
        "region": supplier.region, "latitude": supplier.latitude, "longitude": supplier.longitude,
        "size_band": supplier.size_band, "labels": list(supplier.labels or []),
        "label_names": [taxonomy.LABEL_LABELS.get(label, label) for label in supplier.labels or []],
        "offers": [{k: o.get(k) for k in ("name", "scope", "price_band") if o.get(k)}
                   for o in supplier.offers or [] if isinstance(o, dict)],
        "references": [{k: r.get(k) for k in ("client", "object", "year") if r.get(k)}
                       for r in supplier.references or [] if isinstance(r, dict)],
        "interoperability": {k: interoperability[k] for k in ("standards", "api", "licence")
                             if interoperability.get(k)},
        "contact_email": supplier.contact_email, "contact_phone": supplier.contact_phone,
        "updated_at": supplier.updated_at.isoformat(timespec="seconds") if supplier.updated_at else None,
    }


def neutralise(cell: str) -> str:
    """A CSV text cell a spreadsheet will not run as a formula. Only for text: a number is written as is (see
    csv_cell), or a negative one would become the text "'-0.77" in a column the descriptor declares numeric."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def _reference_text(reference: dict[str, Any]) -> str:
    text = str(reference.get("client", ""))
    if reference.get("object"):
        text += f" : {reference['object']}"
    if reference.get("year"):
        text += f" ({reference['year']})"
    return text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(v) for v in value)
    return str(value)


def csv_cell(value: Any) -> str:
    """One CSV cell: a number (id, latitude, longitude) as a plain number, which a spreadsheet reads as a number
    and never as a formula even when negative; any text neutralised. A non-finite number (never a real
    coordinate) is left empty, as a missing value."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value) if math.isfinite(value) else ""
    return neutralise(_cell(value))


def csv_row(record: dict[str, Any]) -> list[str]:
    """A JSON record as CSV cells: lists joined, offers and references as text, formulas neutralised."""
    flat = dict(record)
    flat["offers"] = [o.get("name", "") for o in record["offers"]]
    flat["references"] = [_reference_text(r) for r in record["references"]]
    io = record["interoperability"]
    flat["interoperability"] = "; ".join(
        f"{key} : {_cell(io[key])}" for key in ("standards", "api", "licence") if key in io)
    return [csv_cell(flat[name]) for name in FIELDS]


def licence_text(generated_at: datetime, suppliers: int, base_url: str | None) -> str:
    """The notice shipped with the files (French, like the site)."""
    site = base_url or "Vivier"
    return (
        "Vivier — annuaire ouvert des fournisseurs innovants pour l'achat public\n"
        f"Données générées le {generated_at.strftime('%d/%m/%Y à %H:%M')} UTC ; {suppliers} fournisseurs.\n\n"
        f"Licence : {LICENCE_TITLE}\n{LICENCE_URL}\n\n"
        "Vous pouvez réutiliser ces données librement, y compris à des fins commerciales, à condition de "
        f"mentionner leur source (« Vivier, {site} ») et la date de leur dernière mise à jour.\n\n"
        "Origine : les fiches sont dérivées de sources publiques (annuaires, sites des entreprises, registres) et "
        "des informations que les entreprises ont elles-mêmes déposées et que la modération a approuvées. Seules "
        "les fiches publiées et les champs affichés sur le site sont exportés. La page de chaque fiche indique "
        "l'origine de chaque champ.\n\n"
        f"Fichiers : {CSV_NAME} (UTF-8, séparateur virgule, listes séparées par « {LIST_SEPARATOR.strip()} ») ; "
        f"{JSONL_NAME} (un objet JSON par ligne) ; {DATAPACKAGE_NAME} (description Frictionless).\n"
    )


def datapackage(generated_at: datetime, suppliers: int, files: Iterable[str]) -> dict[str, Any]:
    """Frictionless Data Package descriptor of the exported files; the open-data page reads its date and count."""
    resources = []
    if CSV_NAME in files:
        resources.append({
            "name": "suppliers-csv", "path": CSV_NAME, "format": "csv", "mediatype": "text/csv",
            "encoding": "utf-8", "count": suppliers,
            "schema": {"fields": [{"name": name, "type": CSV_FIELD_TYPES.get(name, "string")} for name in FIELDS]},
        })
    if JSONL_NAME in files:
        resources.append({"name": "suppliers-jsonl", "path": JSONL_NAME, "format": "jsonl",
                          "mediatype": "application/jsonl", "encoding": "utf-8", "count": suppliers})
    return {
        "name": "vivier-suppliers", "title": "Vivier — fournisseurs innovants pour l'achat public",
        "created": generated_at.isoformat(timespec="seconds") + "Z",
        "licenses": [{"name": LICENCE_ID, "path": LICENCE_URL, "title": LICENCE_TITLE}],
        "resources": resources,
    }


def read_package(directory: Path) -> dict[str, Any] | None:
    """The descriptor of the last export in `directory`, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((directory / DATAPACKAGE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class _AtomicFiles:
    """Temporary files next to their targets, moved into place on commit and deleted otherwise."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.pending: list[tuple[Path, Path]] = []

    def open(self, name: str, newline: str | None = None) -> TextIO:
        handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline=newline, dir=self.directory,
                                             prefix=f".{name}.", suffix=".tmp", delete=False)
        self.pending.append((Path(handle.name), self.directory / name))
        return handle  # type: ignore[return-value]  # a NamedTemporaryFile wrapper behaves as the TextIO it wraps

    def commit(self) -> None:
        for temporary, target in self.pending:
            os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the files from a web server's user
            os.replace(temporary, target)
        self.pending = []

    def discard(self) -> None:
        for temporary, _ in self.pending:
            temporary.unlink(missing_ok=True)
        self.pending = []


def _searchable_suppliers(session) -> Iterable[Supplier]:
    statement = (select(Supplier).where(Supplier.status.in_(SEARCHABLE_STATUSES)).order_by(Supplier.id)
                 .execution_options(yield_per=READ_BATCH))
    return session.scalars(statement)


def export_opendata(settings: Settings, formats: Iterable[str] = tuple(FORMATS), output: Path | None = None,
                    now: Callable[[], datetime] = utcnow) -> ExportReport:
    """Write the open-data files of every searchable supplier to `output` (default data_dir/opendata)."""
    directory = Path(output) if output is not None else opendata_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    names = [FORMATS[f] for f in formats]
    files = _AtomicFiles(directory)
    database = Database(settings)
    generated_at = now()
    count = 0
    try:
        with ExitStack() as stack:
            csv_writer = jsonl = None
            if CSV_NAME in names:
                csv_writer = csv.writer(stack.enter_context(files.open(CSV_NAME, newline="")))
                csv_writer.writerow(FIELDS)
            if JSONL_NAME in names:
                jsonl = stack.enter_context(files.open(JSONL_NAME))
            with database.session() as session:
                for supplier in _searchable_suppliers(session):
                    record = public_record(supplier, settings.base_url)
                    if csv_writer is not None:
                        csv_writer.writerow(csv_row(record))
                    if jsonl is not None:
                        jsonl.write(json.dumps(record, ensure_ascii=False) + "\n")
                    count += 1
            with files.open(LICENCE_NAME) as handle:
                handle.write(licence_text(generated_at, count, settings.base_url))
            with files.open(DATAPACKAGE_NAME) as handle:
                json.dump(datapackage(generated_at, count, names), handle, ensure_ascii=False, indent=2)
        files.commit()
    finally:
        files.discard()
        database.dispose()
    return ExportReport(directory, (*names, LICENCE_NAME, DATAPACKAGE_NAME), count, generated_at)


def export_after_build(settings: Settings) -> ExportReport | None:
    """The export run at the end of an index build: a failure is logged, never fails the build (the index is
    what the site needs; the files of the previous export stay in place)."""
    try:
        return export_opendata(settings)
    except Exception:  # noqa: BLE001 - any failure of a side product must leave the build's result standing
        log.exception("open-data export after the index build failed; the previous files are kept")
        return None
