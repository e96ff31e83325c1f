"""Pydantic models of the JSON API (/api/v1): its query parameters and response bodies. spectree reads them to
validate requests and responses and to write the OpenAPI 3.1 description, so the description follows the code."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

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


class Problem(BaseModel):
    """An RFC 9457 problem document (served as application/problem+json)."""
    type: str = Field("about:blank", description="URI of the problem type")
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    candidates: list[str] | None = Field(None, description="closest commune names, when `near` matched nothing")


class Paging(BaseModel):
    """Query parameters shared by the paginated lists."""
    per_page: int = Field(DEFAULT_PER_PAGE, ge=1, le=MAX_API_PER_PAGE, description="results per page")
    cursor: str | None = Field(None, max_length=MAX_CURSOR_CHARS,
                               description="opaque cursor from the `next_cursor` of the previous page")


class SearchQuery(Paging):
    """The search page's parameters, in English: text, facets (repeatable), distance filter and mode."""
    q: str = Field("", description="free text: keywords or a whole need")
    category: list[str] = Field([], max_length=MAX_FILTER_VALUES, description="category slug (repeatable)")
    department: list[str] = Field([], max_length=MAX_FILTER_VALUES, description="department code (repeatable)")
    region: list[str] = Field([], max_length=MAX_FILTER_VALUES, description="region name (repeatable)")
    label: list[str] = Field([], max_length=MAX_FILTER_VALUES, description="label slug (repeatable)")
    size: list[str] = Field([], max_length=MAX_FILTER_VALUES, description="size band slug (repeatable)")
    open_source: list[Literal["oui"]] = Field([], max_length=1, description="'oui': open-source solutions only")
    interop: list[Literal["open_standards", "documented_api", "data_export"]] = Field(
        [], max_length=3, description="interoperability facts the supplier states (repeatable, OR-ed)")
    central: list[str] = Field([], max_length=10, description="purchasable today without a tender of one's own: "
                               "'toutes' (through any purchasing central) or central slugs (repeatable, OR-ed)")
    near: str = Field("", description="commune name: only suppliers within `radius` km of it")
    radius: int | None = Field(None, ge=1, le=MAX_RADIUS_KM, description="km around `near` (default 50)")
    mode: Literal["hybrid", "keyword", "dense"] = "hybrid"
    exact: bool = Field(False, description="search the words as typed: no correction of words the index does not "
                        "know (omitted accents are still restored)")
    include_weak: bool = Field(False, description="count facets over the weaker neighbours too, not only over the "
                               "strong matches")


class FacetValueOut(BaseModel):
    value: str
    label: str
    count: int
    selected: bool


class SupplierHit(BaseModel):
    id: int
    slug: str
    name: str
    pitch: str
    categories: list[str] = Field(description="themes the supplier's sources declare")
    inferred_categories: list[str] = Field([], description="a theme Vivier guessed from the text of a profile "
                                           "that declares none: a guess, shown as such")
    labels: list[str]
    department: str | None
    region: str | None
    commune: str | None
    size: str | None
    open_source: bool
    interop: list[str] = Field([], description="interoperability facts: open_standards, documented_api, data_export")
    strong: bool = Field(True, description="a strong match (it holds the need's words or is very close in "
                         "meaning); false: a weaker neighbour, listed after the strong matches")
    score: float
    distance_km: float | None = None
    url: str = Field(description="the supplier's page")
    api_url: str


class PlaceOut(BaseModel):
    commune: str
    radius_km: int


class SearchPage(BaseModel):
    total: int = Field(description="results in the whole result set: strong matches, then weaker neighbours")
    strong_total: int = Field(0, description="strong matches among them; 0: nothing really answers the need")
    corrected: str | None = Field(None, description="the query searched instead of `q`, when words the index does "
                                  "not know were corrected (`exact` turns this off)")
    reachable: int = Field(description=f"results a cursor walk can reach ({MAX_PAGE} pages at most)")
    per_page: int
    hits: list[SupplierHit]
    facets: dict[str, list[FacetValueOut]]
    suggestion: str | None = None
    near: PlaceOut | None = None
    next_cursor: str | None = None
    next: str | None = Field(None, description="URL of the next page, or null on the last one")


class Supplier(BaseModel):
    """The public profile, as the supplier's page shows it."""
    id: int
    slug: str
    name: str
    siren: str | None
    website: str | None
    pitch: str
    description: str
    categories: list[str]
    keywords: list[str]
    labels: list[str]
    size: str | None
    founded_year: int | None
    address: str | None
    postcode: str | None
    commune: str | None
    department: str | None
    region: str | None
    latitude: float | None
    longitude: float | None
    references: list
    offers: list
    interoperability: dict
    contact_email: str | None
    contact_phone: str | None
    updated_at: UtcDatetime
    url: str


class ProjectsQuery(Paging):
    q: str = Field("", max_length=200, description="words of the title or need")
    category: str | None = Field(None, max_length=80)
    department: str | None = Field(None, max_length=3)
    status: Literal["published", "closed", "archived"] | None = None


class ProjectSummary(BaseModel):
    slug: str
    title: str
    status: str
    organisation: str | None
    categories: list[str]
    departments: list[str]
    deadline: UtcDatetime
    published_at: UtcDatetime | None
    closed_at: UtcDatetime | None
    url: str
    api_url: str


class ProjectsPage(BaseModel):
    total: int
    per_page: int
    projects: list[ProjectSummary]
    next_cursor: str | None = None
    next: str | None = None


class Milestone(BaseModel):
    date: UtcDatetime
    label: str


class Project(ProjectSummary):
    """A public project: what its page shows everyone (never the buyer's matches, proposals or questions)."""
    need: str
    context: str
    studies: str
    social_criteria: str
    environmental_criteria: str
    variants_allowed: bool
    variant_requirements: str
    contract_model: str
    budget_band: str | None = Field(description="only when the buyer chose to show it")
    milestones: list[Milestone]


class Term(BaseModel):
    slug: str
    label: str


class Terms(BaseModel):
    items: list[Term]


class Department(BaseModel):
    code: str
    name: str
    region: str


class Departments(BaseModel):
    items: list[Department]

