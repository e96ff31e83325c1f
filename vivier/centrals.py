"""Purchasing centrals and their referenced offers: who a buyer may order from without a tender of its own.

A referencing is active while today lies between its start and end dates (inclusive) and no operator ended it
early. Nothing has to run for one to expire: every reader passes today's date (the app clock in the web app), so
badges, the search filter and the catalogues stop showing an expired referencing the day after its end date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from vivier import geo
from vivier.models import (CENTRAL_KINDS, SEARCHABLE_STATUSES, PurchasingCentral, Referencing, Supplier, utcnow)
from vivier.taxonomy import CATEGORY_LABELS
from vivier.text import slugify

ACTIVE, UPCOMING, EXPIRED, ENDED = "active", "upcoming", "expired", "ended"
STATUS_LABELS = {ACTIVE: "En cours", UPCOMING: "À venir", EXPIRED: "Échu", ENDED: "Terminé par anticipation"}
# Framework agreements run four years at most in French public procurement (Code de la commande publique,
# L2125-1); a longer referencing is almost certainly a typing mistake, so it is refused with that reason.
MAX_REFERENCING_YEARS = 4
# The tiers of a pack, smallest site first, as the catalogues name them.
TIERS = {"basic": "Basique", "medium": "Intermédiaire", "complex": "Complexe"}
# Interoperability facts centrals require, in display order, with how each is read from a profile's or an offer's
# `interoperability` mapping.
INTEROP_FACTS = {
    "open_standards": "Standards ouverts",
    "documented_api": "API documentée",
    "data_export": "Export des données",
    "open_source": "Licence libre",
}


class CentralError(ValueError):
    """Input the rules refuse; the message is French, for the page or the command line."""


def interop_facts(interoperability: Mapping[str, Any] | None) -> list[str]:
    """The INTEROP_FACTS keys an `interoperability` mapping establishes ({"standards": [...], "api": "...",
    "data_export": "...", "licence": "..."}), in display order."""
    io = interoperability or {}
    present = {
        "open_standards": bool(io.get("standards")),
        "documented_api": bool(io.get("api")),
        "data_export": bool(io.get("data_export")),
        "open_source": bool(io.get("licence")),
    }
    return [fact for fact in INTEROP_FACTS if present[fact]]


def status_of(referencing: Referencing, today: date) -> str:
    if referencing.ended_at is not None:
        return ENDED
    if today < referencing.start_date:
        return UPCOMING
    if today > referencing.end_date:
        return EXPIRED
    return ACTIVE


def _active(today: date):
    return and_(Referencing.ended_at.is_(None), Referencing.start_date <= today, Referencing.end_date >= today)


@dataclass(frozen=True)
class Badge:
    """"Achetable via <central> jusqu'au <end>" on a result or a supplier page."""

    central: str
    central_slug: str
    kind: str
    theme: str
    lot: str
    end_date: date


def badges(session: Session, supplier_ids: Iterable[int], today: date) -> dict[int, list[Badge]]:
    """Active referencings of these suppliers, as badges, one query for a page of results."""
    ids = list(set(supplier_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Referencing.supplier_id, PurchasingCentral.name, PurchasingCentral.slug, PurchasingCentral.kind,
               Referencing.theme, Referencing.lot, Referencing.end_date)
        .join(PurchasingCentral, PurchasingCentral.id == Referencing.central_id)
        .where(Referencing.supplier_id.in_(ids), _active(today))
        .order_by(Referencing.supplier_id, PurchasingCentral.name, Referencing.theme, Referencing.id)).all()
    found: dict[int, list[Badge]] = {}
    for supplier_id, name, slug, kind, theme, lot, end in rows:
        found.setdefault(supplier_id, []).append(Badge(name, slug, kind, theme, lot, end))
    return found


def active_supplier_ids(session: Session, today: date, central_slugs: Iterable[str] = ()) -> set[int]:
    """Suppliers with at least one active referencing (at one of these centrals, when some are given)."""
    query = (select(Referencing.supplier_id).join(PurchasingCentral, PurchasingCentral.id == Referencing.central_id)
             .where(_active(today)))
    slugs = [s for s in central_slugs if s]
    if slugs:
        query = query.where(PurchasingCentral.slug.in_(slugs))
    return set(session.scalars(query.distinct()))


def centrals(session: Session, today: date) -> list[tuple[PurchasingCentral, int]]:
    """Every central with its count of active referencings, by name: one grouped query (the search page's
    filter asks on every search)."""
    active = func.coalesce(func.sum(case((_active(today), 1), else_=0)), 0)
    rows = session.execute(
        select(PurchasingCentral, active)
        .outerjoin(Referencing, Referencing.central_id == PurchasingCentral.id)
        .group_by(PurchasingCentral.id)
        .order_by(PurchasingCentral.name, PurchasingCentral.id)).all()
    return [(central, int(count)) for central, count in rows]


def central_by_slug(session: Session, slug: str) -> PurchasingCentral | None:
    return session.scalar(select(PurchasingCentral).where(PurchasingCentral.slug == slug))


@dataclass
class CatalogueRow:
    """One referenced offer in a central's catalogue, with everything the comparison table shows."""

    referencing: Referencing
    supplier: Supplier
    offer_name: str
    scope: str
    price_band: str
    equipment: str
    tiers: dict[str, str]
    interop: list[str]


@dataclass
class CatalogueTheme:
    theme: str
    label: str
    rows: list[CatalogueRow] = field(default_factory=list)


def offer_view(referencing: Referencing, supplier: Supplier) -> dict[str, Any]:
    """The referenced offer, completed from the supplier's own offer of the same name where the referencing leaves
    a field empty. Interoperability: the offer's own facts, else the supplier's."""
    offer = dict(referencing.offer or {})
    name = (offer.get("name") or "").strip()
    own = next((o for o in supplier.offers or [] if isinstance(o, dict) and name
                and (o.get("name") or "").strip().casefold() == name.casefold()), {})
    tiers = {k: v for k, v in ({**(own.get("tiers") or {}), **(offer.get("tiers") or {})}).items()
             if k in TIERS and v}
    return {
        "name": name or own.get("name") or supplier.name,
        "scope": offer.get("scope") or own.get("scope") or "",
        "price_band": offer.get("price_band") or own.get("price_band") or "",
        "equipment": offer.get("equipment") or own.get("equipment") or "",
        "tiers": tiers,
        "interop": interop_facts(offer.get("interoperability") or supplier.interoperability),
    }


def catalogue(session: Session, central: PurchasingCentral, today: date,
              include_inactive: bool = False) -> list[CatalogueTheme]:
    """The central's referenced offers grouped by theme (taxonomy order), suppliers by name within a theme.
    Only active ones unless `include_inactive` (the operators' view)."""
    query = (select(Referencing).where(Referencing.central_id == central.id)
             .options(selectinload(Referencing.supplier)))
    if not include_inactive:
        query = query.where(_active(today))
    themes: dict[str, CatalogueTheme] = {}
    for referencing in session.scalars(query):
        supplier = referencing.supplier
        if not include_inactive and supplier.status not in SEARCHABLE_STATUSES:
            continue  # hidden or merged away: nothing to order from
        view = offer_view(referencing, supplier)
        theme = themes.setdefault(referencing.theme,
                                  CatalogueTheme(referencing.theme, CATEGORY_LABELS.get(referencing.theme,
                                                                                        referencing.theme)))
        theme.rows.append(CatalogueRow(referencing, supplier, view["name"], view["scope"], view["price_band"],
                                       view["equipment"], view["tiers"], view["interop"]))
    order = {code: i for i, code in enumerate(CATEGORY_LABELS)}
    ordered = sorted(themes.values(), key=lambda t: (order.get(t.theme, len(order)), t.theme))
    for theme in ordered:
        theme.rows.sort(key=lambda r: (r.supplier.name.casefold(), r.offer_name.casefold(), r.referencing.id))
    return ordered


# -- writes (operators) ------------------------------------------------------------------------------------------
def _departments(codes: Iterable[str]) -> list[str]:
    cleaned = sorted({str(c).strip().upper() for c in codes if str(c).strip()})
    unknown = [c for c in cleaned if c not in geo.DEPARTMENTS]
    if unknown:
        raise CentralError(f"Département inconnu : {', '.join(unknown)}.")
    return cleaned


def _unique_slug(session: Session, name: str) -> str:
    base = slugify(name, max_length=100)
    slug, n = base, 1
    while session.scalar(select(PurchasingCentral.id).where(PurchasingCentral.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def save_central(session: Session, *, name: str, kind: str, description: str = "", website: str | None = None,
                 members: str = "", departments: Iterable[str] = (), ordering: str = "",
                 central: PurchasingCentral | None = None) -> PurchasingCentral:
    """Create a central, or update `central`. Its address (slug) never changes once created."""
    name = (name or "").strip()
    if not name:
        raise CentralError("Le nom de la centrale est obligatoire.")
    if kind not in CENTRAL_KINDS:
        raise CentralError(f"Type inconnu : {kind!r} (attendu : {', '.join(CENTRAL_KINDS)}).")
    if central is None:
        central = PurchasingCentral(slug=_unique_slug(session, name))
        session.add(central)
    central.name, central.kind = name, kind
    central.description, central.website = (description or "").strip(), (website or "").strip() or None
    central.members, central.ordering = (members or "").strip(), (ordering or "").strip()
    central.departments = _departments(departments)
    session.flush()
    return central


def _clean_offer(offer: Mapping[str, Any] | None) -> dict[str, Any]:
    offer = offer or {}
    cleaned: dict[str, Any] = {k: str(offer[k]).strip() for k in ("name", "scope", "price_band", "equipment")
                               if offer.get(k) and str(offer[k]).strip()}
    tiers = {k: str(v).strip() for k, v in (offer.get("tiers") or {}).items() if k in TIERS and str(v or "").strip()}
    if tiers:
        cleaned["tiers"] = tiers
    io = offer.get("interoperability") or {}
    interoperability = {k: io[k] for k in ("standards", "api", "data_export", "licence") if io.get(k)}
    if interoperability:
        cleaned["interoperability"] = interoperability
    return cleaned


def add_referencing(session: Session, central: PurchasingCentral, supplier: Supplier, *, theme: str,
                    contract_type: str, start_date: date, end_date: date, lot: str = "",
                    offer: Mapping[str, Any] | None = None, conditions: str = "", eligible: str = "",
                    eligible_departments: Iterable[str] = (), created_by: str = "") -> Referencing:
    """Record that `central` references an offer of `supplier` for `theme`, from start to end date inclusive."""
    if theme not in CATEGORY_LABELS:
        raise CentralError(f"Thème inconnu : {theme!r}.")
    if not (contract_type or "").strip():
        raise CentralError("Le type de contrat est obligatoire (accord-cadre, catalogue…).")
    if end_date < start_date:
        raise CentralError("La date de fin précède la date de début.")
    try:
        limit = start_date.replace(year=start_date.year + MAX_REFERENCING_YEARS)
    except ValueError:  # 29 February
        limit = start_date.replace(year=start_date.year + MAX_REFERENCING_YEARS, day=28)
    if end_date > limit:
        raise CentralError(f"Un référencement dure {MAX_REFERENCING_YEARS} ans au plus (accord-cadre) : "
                           f"fin au {limit:%d/%m/%Y} au plus tard.")
    if supplier.status not in SEARCHABLE_STATUSES:
        raise CentralError("Ce fournisseur n'est pas publié : il ne peut pas être référencé.")
    referencing = Referencing(central=central, supplier=supplier, theme=theme, lot=(lot or "").strip(),
                              contract_type=contract_type.strip(), offer=_clean_offer(offer),
                              start_date=start_date, end_date=end_date, conditions=(conditions or "").strip(),
                              eligible=(eligible or "").strip(),
                              eligible_departments=_departments(eligible_departments), created_by=created_by)
    session.add(referencing)
    session.flush()
    return referencing


def end_referencing(session: Session, referencing: Referencing, now: datetime | None = None) -> None:
    """End a referencing before its end date (the central withdrew the offer); it stays on record."""
    if referencing.ended_at is None:
        referencing.ended_at = now or utcnow()
        session.flush()


# -- import (operators, the demo) -------------------------------------------------------------------------------
def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as error:
        raise CentralError(f"{where} : date invalide {value!r} (attendu AAAA-MM-JJ).") from error


def import_centrals(session: Session, data: Mapping[str, Any], created_by: str = "import",
                    skipped: list[str] | None = None) -> dict[str, int]:
    """Load centrals and their referencings from a mapping (a YAML file's content, see fixtures/centrals.yaml).
    Centrals are matched by name and updated; a referencing already recorded (same central, supplier, theme and
    start date) is left as it is, so importing a file twice changes nothing. Suppliers are named by slug, SIREN or
    website domain. Raises CentralError naming the entry at fault; nothing is written then (the caller rolls
    back). When a `skipped` list is given, a referencing naming a supplier not found is left out and described in
    it instead (the demo, whose crawl may miss a company); every other fault still raises."""
    counts = {"centrals": 0, "referencings": 0, "unchanged": 0}
    for i, entry in enumerate(data.get("centrals") or [], start=1):
        where = f"centrale n° {i}"
        if not isinstance(entry, Mapping):
            raise CentralError(f"{where} : une table est attendue.")
        existing = session.scalar(select(PurchasingCentral).where(PurchasingCentral.name == entry.get("name")))
        central = save_central(session, name=entry.get("name", ""), kind=entry.get("kind", ""),
                               description=entry.get("description", ""), website=entry.get("website"),
                               members=entry.get("members", ""), departments=entry.get("departments") or [],
                               ordering=entry.get("ordering", ""), central=existing)
        counts["centrals"] += 1
        for j, ref in enumerate(entry.get("referencings") or [], start=1):
            here = f"{where}, référencement n° {j}"
            supplier = _find_supplier(session, str(ref.get("supplier") or ""))
            if supplier is None:
                message = f"{here} : fournisseur introuvable {ref.get('supplier')!r}."
                if skipped is None:
                    raise CentralError(message)
                skipped.append(message)
                continue
            start = _date(ref.get("start"), here)
            already = session.scalar(select(Referencing.id).where(
                Referencing.central_id == central.id, Referencing.supplier_id == supplier.id,
                Referencing.theme == ref.get("theme"), Referencing.start_date == start))
            if already is not None:
                counts["unchanged"] += 1
                continue
            try:
                add_referencing(session, central, supplier, theme=ref.get("theme", ""),
                                contract_type=ref.get("contract_type", ""), start_date=start,
                                end_date=_date(ref.get("end"), here), lot=ref.get("lot", ""),
                                offer=ref.get("offer"), conditions=ref.get("conditions", ""),
                                eligible=ref.get("eligible", ""),
                                eligible_departments=ref.get("eligible_departments") or [], created_by=created_by)
            except CentralError as error:
                raise CentralError(f"{here} : {error}") from error
            counts["referencings"] += 1
    return counts


def import_file(session: Session, path: Path, skipped: list[str] | None = None) -> dict[str, int]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise CentralError(f"{path} : {error}") from error
    if not isinstance(data, Mapping):
        raise CentralError(f"{path} : une table `centrals:` est attendue.")
    return import_centrals(session, data, skipped=skipped)


def _find_supplier(session: Session, key: str) -> Supplier | None:
    key = key.strip()
    if not key:
        return None
    conditions = [Supplier.slug == key, Supplier.siren == key, Supplier.website_domain == key.lower()]
    found = session.scalars(select(Supplier).where(or_(*conditions), Supplier.status.in_(SEARCHABLE_STATUSES))
                            .order_by(Supplier.id)).first()
    return found


# -- operators' lookups -----------------------------------------------------------------------------------------
# Suppliers named in a "which supplier?" refusal when a name matches several: enough to pick from, short enough to
# read in one line of the form.
NAME_MATCHES_SHOWN = 5


def resolve_supplier(session: Session, text: str) -> Supplier:
    """The published supplier an operator means: the address of its page (or its slug), its SIREN or SIRET, its
    website domain, or its name (exact, else the one name containing the text). CentralError says what to type
    when nothing or several match."""
    from vivier.identifiers import normalise_siren

    text = (text or "").strip()
    if not text:
        raise CentralError("Indiquez le fournisseur : l'adresse de sa fiche, son SIREN ou son nom.")
    key = text.rstrip("/").rsplit("/fournisseurs/", 1)[-1] if "/fournisseurs/" in text else text
    found = _find_supplier(session, normalise_siren(key) or key)
    if found is not None:
        return found
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    named = list(session.scalars(select(Supplier).where(Supplier.name.ilike(pattern, escape="\\"),
                                                        Supplier.status.in_(SEARCHABLE_STATUSES))
                                 .order_by(Supplier.name, Supplier.id).limit(NAME_MATCHES_SHOWN + 1)))
    exact = [s for s in named if s.name.casefold() == text.casefold()]
    if len(exact) == 1:
        return exact[0]
    if len(named) == 1:
        return named[0]
    if not named:
        raise CentralError(f"Aucun fournisseur publié ne correspond à « {text} » : indiquez l'adresse de sa fiche, "
                           "son SIREN ou son nom.")
    listed = ", ".join(f"{s.name} ({s.slug})" for s in named[:NAME_MATCHES_SHOWN])
    more = "…" if len(named) > NAME_MATCHES_SHOWN else ""
    raise CentralError(f"Plusieurs fournisseurs correspondent à « {text} » : {listed}{more}. Indiquez l'adresse de "
                       "la fiche (entre parenthèses) ou le SIREN.")


def status_counts(central: PurchasingCentral, today: date) -> dict[str, int]:
    """How many of the central's referencings are in each status today (every status present, zero or not)."""
    counts = dict.fromkeys(STATUS_LABELS, 0)
    for referencing in central.referencings:
        counts[status_of(referencing, today)] += 1
    return counts
