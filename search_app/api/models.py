"""Pydantic models of the JSON API (/api/v1): its query parameters and response bodies. spectree reads them to
validate requests and responses and to write the OpenAPI 3.1 description, so the description follows the code.

The description is read by the API's users, French public buyers' developers: the schemas' and fields' descriptions
are French (`described`, Field(description=...)), in plain text (the docs page shows them as written: no
markdown), each with examples."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from indexer.service import MAX_PAGE, MAX_RADIUS_KM

# Results per page of the API. The page shows 20; a machine may take more, within what the index answers at once
# without slowing other readers (the service caps a page at MAX_PER_PAGE=500).
DEFAULT_PER_PAGE = 20
MAX_API_PER_PAGE = 100
# Values accepted per facet parameter, as the service keeps (indexer.service.MAX_FILTER_VALUES).
MAX_FILTER_VALUES = 30
# Characters of a cursor: it is a short signed token; anything longer is not one of ours.
MAX_CURSOR_CHARS = 200


def _as_utc(moment: datetime) -> datetime:
    """The database stores naive UTC; RFC 3339 (OpenAPI's date-time) needs the offset spelt out."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


def described(description: str, *examples: dict) -> ConfigDict:
    """A model's schema description (French: the docstring stays the developers') and its examples."""
    extra: dict = {"description": description}
    if examples:
        extra["examples"] = list(examples)
    return ConfigDict(json_schema_extra=extra)


SUPPLIER_URL = "https://vivier.example.fr/fournisseurs/tri-connect"
PROJECT_URL = "https://vivier.example.fr/projets/capteurs-de-remplissage-des-colonnes-de-tri"


class Problem(BaseModel):
    """An RFC 9457 problem document (served as application/problem+json)."""
    model_config = described(
        "Erreur au format RFC 9457 (application/problem+json) : son statut HTTP, un titre et le détail.",
        {"type": "about:blank", "title": "Bad request", "status": 400, "detail": "per_page: Input should be a "
         "valid integer", "instance": "/api/v1/search"})
    type: str = Field("about:blank", description="URI du type de problème", examples=["about:blank"])
    title: str = Field(description="titre court du statut HTTP (en anglais, comme le statut)",
                       examples=["Bad request"])
    status: int = Field(description="statut HTTP", examples=[400])
    detail: str = Field("", description="ce qui ne va pas, paramètre par paramètre",
                        examples=["cursor: not a cursor of this API"])
    instance: str | None = Field(None, description="chemin de la requête", examples=["/api/v1/search"])
    candidates: list[str] | None = Field(None, description="communes aux noms les plus proches, quand le "
                                         "paramètre « near » n'en désigne aucune", examples=[["Brest", "Bresse"]])


class Paging(BaseModel):
    """Query parameters shared by the paginated lists."""
    per_page: int = Field(DEFAULT_PER_PAGE, ge=1, le=MAX_API_PER_PAGE,
                          description=f"résultats par page (de 1 à {MAX_API_PER_PAGE})", examples=[20])
    cursor: str | None = Field(None, max_length=MAX_CURSOR_CHARS,
                               description="curseur opaque : la valeur « next_cursor » de la page précédente",
                               examples=["WzIsMjBd.Xk2o"])


class SearchQuery(Paging):
    """The search page's parameters, in English: text, facets (repeatable), distance filter and mode."""
    model_config = described("Paramètres de la recherche de fournisseurs : ceux de la page de recherche, aux noms "
                             "anglais (texte, facettes répétables, distance, mode).")
    q: str = Field("", description="texte libre : des mots-clés ou tout un besoin",
                   examples=["capteurs de remplissage des colonnes de tri"])
    category: list[str] = Field([], max_length=MAX_FILTER_VALUES,
                                description="thématique (son identifiant, voir /api/v1/categories) ; répétable",
                                examples=[["waste"]])
    department: list[str] = Field([], max_length=MAX_FILTER_VALUES,
                                  description="code de département (voir /api/v1/departments) ; répétable",
                                  examples=[["29", "56"]])
    region: list[str] = Field([], max_length=MAX_FILTER_VALUES, description="nom de région ; répétable",
                              examples=[["Bretagne"]])
    label: list[str] = Field([], max_length=MAX_FILTER_VALUES, description="label (son identifiant) ; répétable",
                             examples=[["ess"]])
    size: list[str] = Field([], max_length=MAX_FILTER_VALUES, description="tranche d'effectif (son identifiant) ; "
                            "répétable", examples=[["pme"]])
    open_source: list[Literal["oui"]] = Field([], max_length=1, description="« oui » : solutions libres seulement",
                                              examples=[["oui"]])
    interop: list[Literal["open_standards", "documented_api", "data_export"]] = Field(
        [], max_length=3, description="interopérabilité déclarée par le fournisseur : open_standards (formats "
        "ouverts), documented_api (API documentée), data_export (export des données) ; répétable, l'une ou l'autre",
        examples=[["documented_api"]])
    central: list[str] = Field([], max_length=10, description="achetable sans marché propre : « toutes » (par une "
                               "centrale d'achat quelconque) ou identifiants de centrales ; répétable, l'une ou "
                               "l'autre", examples=[["toutes"]])
    near: str = Field("", description="nom de commune : seulement les fournisseurs situés à « radius » km au plus",
                      examples=["Quimper"])
    radius: int | None = Field(None, ge=1, le=MAX_RADIUS_KM,
                               description="rayon en km autour de « near » (50 par défaut)", examples=[30])
    mode: Literal["hybrid", "keyword", "dense"] = Field(
        "hybrid", description="hybrid : mots et sens (par défaut) ; keyword : mots seulement ; dense : sens seulement",
        examples=["hybrid"])
    exact: bool = Field(False, description="chercher les mots tels que tapés : sans correction des mots inconnus de "
                        "l'index (les accents omis sont quand même restitués)", examples=[False])
    include_weak: bool = Field(False, description="compter les facettes sur les voisins plus faibles aussi, pas "
                               "seulement sur les correspondances fortes", examples=[False])


class FacetValueOut(BaseModel):
    model_config = described("Une valeur de facette, son libellé français et son nombre de résultats.",
                             {"value": "29", "label": "29 Finistère", "count": 12, "selected": True})
    value: str = Field(description="valeur à passer en paramètre", examples=["29"])
    label: str = Field(description="libellé français", examples=["29 Finistère"])
    count: int = Field(description="résultats ayant cette valeur", examples=[12])
    selected: bool = Field(description="valeur demandée par la requête", examples=[True])


class SupplierHit(BaseModel):
    model_config = described("Un fournisseur trouvé par la recherche, avec sa pertinence.")
    id: int = Field(description="identifiant du fournisseur (voir /api/v1/suppliers/{supplier_id})", examples=[42])
    slug: str = Field(description="identifiant lisible, celui de l'adresse de sa fiche", examples=["tri-connect"])
    name: str = Field(description="nom", examples=["Tri Connect"])
    pitch: str = Field(description="accroche", examples=["Capteurs de remplissage pour colonnes de tri"])
    categories: list[str] = Field(description="thématiques déclarées par les sources du fournisseur",
                                  examples=[["waste"]])
    inferred_categories: list[str] = Field([], description="thématique devinée par Vivier d'après le texte d'une "
                                           "fiche qui n'en déclare aucune : une supposition, présentée comme telle",
                                           examples=[[]])
    labels: list[str] = Field(description="labels", examples=[["ess"]])
    department: str | None = Field(description="code de département", examples=["29"])
    region: str | None = Field(description="région", examples=["Bretagne"])
    commune: str | None = Field(description="commune", examples=["Brest"])
    size: str | None = Field(description="tranche d'effectif", examples=["pme"])
    open_source: bool = Field(description="solution libre", examples=[False])
    interop: list[str] = Field([], description="interopérabilité : open_standards, documented_api, data_export",
                               examples=[["documented_api"]])
    strong: bool = Field(True, description="correspondance forte (elle contient les mots du besoin ou en est très "
                         "proche par le sens) ; false : voisin plus faible, listé après les correspondances fortes",
                         examples=[True])
    score: float = Field(description="pertinence (plus grand : plus pertinent)", examples=[0.83])
    distance_km: float | None = Field(None, description="distance à la commune « near », en km", examples=[12.4])
    url: str = Field(description="la fiche du fournisseur", examples=[SUPPLIER_URL])
    api_url: str = Field(description="le fournisseur dans l'API", examples=["https://vivier.example.fr/api/v1/"
                                                                           "suppliers/42"])


class PlaceOut(BaseModel):
    model_config = described("La commune du filtre de distance, reconnue, et son rayon.",
                             {"commune": "Quimper", "radius_km": 30})
    commune: str = Field(description="commune reconnue", examples=["Quimper"])
    radius_km: int = Field(description="rayon en km", examples=[30])


class SearchPage(BaseModel):
    model_config = described("Une page de résultats de la recherche de fournisseurs, avec les facettes et le "
                             "curseur de la page suivante.")
    total: int = Field(description="résultats de toute la recherche : correspondances fortes puis voisins plus "
                       "faibles", examples=[57])
    strong_total: int = Field(0, description="correspondances fortes parmi eux ; 0 : rien ne répond vraiment au "
                              "besoin", examples=[12])
    corrected: str | None = Field(None, description="la requête cherchée à la place de « q » quand des mots "
                                  "inconnus de l'index ont été corrigés (« exact » l'empêche)",
                                  examples=["capteurs"])
    reachable: int = Field(description=f"résultats qu'un parcours par curseur atteint ({MAX_PAGE} pages au plus)",
                           examples=[57])
    per_page: int = Field(description="résultats par page", examples=[20])
    hits: list[SupplierHit] = Field(description="les fournisseurs de la page")
    facets: dict[str, list[FacetValueOut]] = Field(description="par facette (category, department, region, label, "
                                                   "size, open_source, interop), ses valeurs et leurs nombres")
    suggestion: str | None = Field(None, description="une orthographe proposée pour « q »", examples=["capteur"])
    near: PlaceOut | None = Field(None, description="le filtre de distance appliqué")
    next_cursor: str | None = Field(None, description="curseur de la page suivante, null sur la dernière",
                                    examples=["WzIsMjBd.Xk2o"])
    next: str | None = Field(None, description="adresse de la page suivante, null sur la dernière",
                             examples=["https://vivier.example.fr/api/v1/search?q=capteurs&cursor=WzIsMjBd.Xk2o"])


class Supplier(BaseModel):
    """The public profile, as the supplier's page shows it."""
    model_config = described("La fiche publique d'un fournisseur, telle que sa page la montre.")
    id: int = Field(description="identifiant", examples=[42])
    slug: str = Field(description="identifiant lisible, celui de l'adresse de sa fiche", examples=["tri-connect"])
    name: str = Field(description="nom", examples=["Tri Connect"])
    siren: str | None = Field(description="numéro SIREN", examples=["732829320"])
    website: str | None = Field(description="site internet", examples=["https://www.triconnect.fr"])
    pitch: str = Field(description="accroche", examples=["Capteurs de remplissage pour colonnes de tri"])
    description: str = Field(description="présentation", examples=["Des capteurs autonomes, relevés par LoRa."])
    categories: list[str] = Field(description="thématiques (voir /api/v1/categories)", examples=[["waste"]])
    keywords: list[str] = Field(description="mots-clés", examples=[["capteurs", "LoRa"]])
    labels: list[str] = Field(description="labels", examples=[["ess"]])
    size: str | None = Field(description="tranche d'effectif", examples=["pme"])
    founded_year: int | None = Field(description="année de création", examples=[2017])
    address: str | None = Field(description="adresse", examples=["12 rue de Siam"])
    postcode: str | None = Field(description="code postal", examples=["29200"])
    commune: str | None = Field(description="commune", examples=["Brest"])
    department: str | None = Field(description="code de département", examples=["29"])
    region: str | None = Field(description="région", examples=["Bretagne"])
    latitude: float | None = Field(description="latitude (WGS 84)", examples=[48.389])
    longitude: float | None = Field(description="longitude (WGS 84)", examples=[-4.487])
    references: list = Field(description="références : réalisations citées par le fournisseur")
    offers: list = Field(description="offres : nom, périmètre, fourchette de prix, formules")
    interoperability: dict = Field(description="interopérabilité déclarée : formats ouverts, API documentée, "
                                   "export des données")
    contact_email: str | None = Field(description="adresse de contact", examples=["contact@triconnect.fr"])
    contact_phone: str | None = Field(description="téléphone", examples=["02 98 00 00 00"])
    updated_at: UtcDatetime = Field(description="dernière mise à jour (UTC)", examples=["2026-03-02T09:00:00Z"])
    url: str = Field(description="la fiche du fournisseur", examples=[SUPPLIER_URL])


class ProjectsQuery(Paging):
    model_config = described("Paramètres de la liste des projets d'achat publics.")
    q: str = Field("", max_length=200, description="mots du titre ou du besoin", examples=["capteurs"])
    category: str | None = Field(None, max_length=80, description="thématique (son identifiant)",
                                 examples=["waste"])
    department: str | None = Field(None, max_length=3, description="code de département", examples=["29"])
    status: Literal["published", "closed", "archived"] | None = Field(
        None, description="état : published (publié, réponses ouvertes), closed (clos), archived (archivé)",
        examples=["published"])


class ProjectSummary(BaseModel):
    model_config = described("Un projet d'achat public, en résumé.")
    slug: str = Field(description="identifiant lisible, celui de l'adresse du projet",
                      examples=["capteurs-de-remplissage-des-colonnes-de-tri"])
    title: str = Field(description="titre", examples=["Capteurs de remplissage des colonnes de tri"])
    status: str = Field(description="état : published, closed ou archived", examples=["published"])
    organisation: str | None = Field(description="organisme acheteur", examples=["Brest métropole"])
    categories: list[str] = Field(description="thématiques", examples=[["waste"]])
    departments: list[str] = Field(description="départements concernés ; vide : toute la France",
                                   examples=[["29"]])
    deadline: UtcDatetime = Field(description="date limite de réponse (UTC)", examples=["2026-04-30T10:00:00Z"])
    published_at: UtcDatetime | None = Field(description="date de publication (UTC)",
                                             examples=["2026-03-02T09:00:00Z"])
    closed_at: UtcDatetime | None = Field(description="date de clôture (UTC), null tant qu'il est ouvert",
                                          examples=[None])
    url: str = Field(description="la page du projet", examples=[PROJECT_URL])
    api_url: str = Field(description="le projet dans l'API", examples=[
        "https://vivier.example.fr/api/v1/projects/capteurs-de-remplissage-des-colonnes-de-tri"])


class ProjectsPage(BaseModel):
    model_config = described("Une page de la liste des projets d'achat publics, du plus récent au plus ancien.")
    total: int = Field(description="projets correspondants", examples=[3])
    per_page: int = Field(description="projets par page", examples=[20])
    projects: list[ProjectSummary] = Field(description="les projets de la page")
    next_cursor: str | None = Field(None, description="curseur de la page suivante, null sur la dernière",
                                    examples=[None])
    next: str | None = Field(None, description="adresse de la page suivante, null sur la dernière",
                             examples=[None])


class Milestone(BaseModel):
    model_config = described("Une étape datée du rétroplanning.",
                             {"date": "2026-06-01T00:00:00Z", "label": "Lancement de la consultation"})
    date: UtcDatetime = Field(description="date (UTC)", examples=["2026-06-01T00:00:00Z"])
    label: str = Field(description="intitulé", examples=["Lancement de la consultation"])


class Project(ProjectSummary):
    """A public project: what its page shows everyone (never the buyer's matches, proposals or questions)."""
    model_config = described("Un projet d'achat public : ce que sa page montre à tous (jamais les fournisseurs "
                             "correspondants, les propositions ni les questions).")
    need: str = Field(description="le besoin", examples=["Mesurer le remplissage des colonnes à verre."])
    context: str = Field(description="contexte", examples=["Communauté de communes rurale, 120 colonnes."])
    studies: str = Field(description="études préalables", examples=["Étude de gisement 2025."])
    social_criteria: str = Field(description="critères sociaux", examples=["Insertion professionnelle."])
    environmental_criteria: str = Field(description="critères environnementaux",
                                        examples=["Réduction des kilomètres parcourus."])
    variants_allowed: bool = Field(description="variantes admises", examples=[True])
    variant_requirements: str = Field(description="exigences minimales des variantes",
                                      examples=["Autonomie de 5 ans au moins."])
    contract_model: str = Field(description="modèle de contrat envisagé", examples=["marche-public"])
    budget_band: str | None = Field(description="budget indicatif, seulement si l'acheteur a choisi de le montrer",
                                    examples=["de 40 000 à 60 000 € HT"])
    milestones: list[Milestone] = Field(description="rétroplanning : étapes datées")


class Term(BaseModel):
    model_config = described("Une thématique : son identifiant et son libellé français.",
                             {"slug": "waste", "label": "Déchets et propreté"})
    slug: str = Field(description="identifiant, valeur du paramètre « category »", examples=["waste"])
    label: str = Field(description="libellé français", examples=["Déchets et propreté"])


class Terms(BaseModel):
    model_config = described("Les thématiques.")
    items: list[Term] = Field(description="les thématiques")


class Department(BaseModel):
    model_config = described("Un département et sa région.",
                             {"code": "29", "name": "Finistère", "region": "Bretagne"})
    code: str = Field(description="code, valeur du paramètre « department »", examples=["29"])
    name: str = Field(description="nom", examples=["Finistère"])
    region: str = Field(description="région, valeur du paramètre « region »", examples=["Bretagne"])


class Departments(BaseModel):
    model_config = described("Les départements.")
    items: list[Department] = Field(description="les départements")
