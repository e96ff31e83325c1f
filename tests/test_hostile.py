"""Hostile input against the whole web app (issue 9, part 3), through the Flask test client on a private copy of the
crawled and indexed fixture database: fuzzed search parameters, URL segments and HTML forms (hypothesis), reflected
and stored markup, malicious uploads, oversized bodies, CSRF on every POST route, security headers on every
response, and secrets kept out of logs and of other people's e-mails.

The JSON API is fuzzed against its own description in tests/test_api_fuzz.py; here it only appears in the
enumerations (headers, POST routes).
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import threading
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote_from_bytes

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, inspect, select, text

from search_app import create_app
from search_app.backoffice import forms as backoffice_forms
from search_app.companies import forms
from search_app.purchasing import forms as project_forms
from search_app.purchasing import participation_forms
from search_app.jobs import run_pending
from search_app.backoffice import moderation
from vivier import projects as pj
from vivier import submissions
from vivier.config import load_settings
from vivier.models import (SEARCHABLE_STATUSES, Attachment, OutboxMessage, Project, Proposal, Question,
                           Submission, Supplier)
from vivier.operators import create_operator

NOW = datetime(2026, 3, 2, 9, 0)
DEADLINE = NOW + timedelta(days=30)
BUYER_EMAIL = "achats@brest-metropole.fr"
OPERATOR_EMAIL = "moderatrice@vivier.test"
OPERATOR_PASSWORD = "Une-phrase-de-passe-TRES-secrete-42"
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SESSION_EXPIRY = (NOW + timedelta(days=365)).isoformat()

# Markers injected into every parameter: reflected raw, each would run a script in the page.
SCRIPT_MARKER = '<script>alert("x1")</script>'
IMG_MARKER = '"><img src=x onerror=alert("x2")>'
JS_URL_MARKER = 'javascript:alert("x3")'
MARKERS = (SCRIPT_MARKER, IMG_MARKER, JS_URL_MARKER)
# All of them in one value, with NUL and control characters (PostgreSQL refuses a NUL; logs and CSV dislike the rest).
EVERY_MARKER = "".join(MARKERS) + " nul\x00\x01\x1f\x7f fin"
# Substrings whose raw presence in a page means a marker went through unescaped.
RAW_MARKUP = ('<script>alert("x1")', "<img src=x onerror=")
# Values every fuzzer mixes in with generated text: markers, traversal, NUL and control characters, header
# injection, lone surrogates, template and format strings, numbers that are not, very long and combining text.
HOSTILE_VALUES = (
    *MARKERS, "".join(MARKERS), "../../../../etc/passwd", "..\\..\\..\\windows\\win.ini", "%2e%2e%2f%2e%2e%2fetc",
    "/etc/passwd\x00.pdf", "\x00", "a\x00b", "\r\nSet-Cookie: pris=1", "\u202egnp.exe", "\ufeff\u200b", "\ud800",
    "x\udfffy", "'; DROP TABLE supplier; --", "' OR '1'='1", "{{7*7}}", "${7*7}", "%s%s%n", "-1", "0",
    "99999999999999999999999", "1e309", "NaN", "[]", "{}", "null", "é" * 3000, "x" * 70_000, "🦆" * 300,
    "a\u0301" * 200, "\x1b[31m\x7f\x08", "29", "waste", "hybrid", "dense", "keyword", "Brest", "2A",
)
FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


# -- the world the tests attack ----------------------------------------------------------------------------------------
@dataclass
class World:
    """A private app with one of everything: a published project with its files, a question, a sealed proposal, a
    verified supplier session, a pending submission and claim, an operator; and a browser per role."""

    app: Flask
    data_dir: Path
    supplier_id: int
    supplier_slug: str
    supplier_email: str
    other_slug: str
    project_slug: str
    question_id: int
    proposal_id: int
    project_attachment_id: int
    proposal_attachment_id: int
    subscription_id: int
    submission_id: int
    claim_id: int
    buyer_id: int
    operator_cookie: str | None = None

    def database(self):
        return self.app.extensions["vivier"]["database"]

    def client(self, role: str, address: str = "127.0.0.1"):
        """A new browser in `role`: anonymous, buyer, supplier or operator."""
        client = self.app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        if role == "buyer":
            with client.session_transaction() as session:
                session["buyer"] = {"buyer_id": self.buyer_id, "email": BUYER_EMAIL, "expires": SESSION_EXPIRY}
        elif role == "supplier":
            with client.session_transaction() as session:
                session["profile_edit"] = {"supplier_id": self.supplier_id, "email": self.supplier_email,
                                           "expires": SESSION_EXPIRY}
        elif role == "operator":  # signed in once (5 sign-ins a minute per address), its cookie shared after
            if self.operator_cookie is None:
                response = client.post("/moderation/connexion", data={
                    "csrf_token": csrf_token(client), "email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD})
                assert response.status_code == 302, response.status_code
                self.operator_cookie = client.get_cookie("session").value
            client.set_cookie("session", self.operator_cookie)
        return client


def csrf_token(client, page: str = "/fournisseurs/proposer") -> str:
    """The CSRF token of this browser's session, as any form of the site carries it."""
    return CSRF_INPUT.search(client.get(page).get_data(as_text=True)).group(1)


def refuse_nul_bytes(engine) -> None:
    """PostgreSQL (deploy/compose.yaml) refuses a NUL character in any text parameter, where SQLite stores it: the
    test engine refuses it too, so that a NUL reaching the database is the server error it would be there."""

    @event.listens_for(engine, "before_cursor_execute")
    def check(conn, cursor, statement, parameters, context, executemany):
        rows = parameters if executemany else [parameters]
        for row in rows:
            values = row.values() if isinstance(row, dict) else (row or ())
            if any(isinstance(value, str) and "\x00" in value for value in values):
                raise ValueError(f"a NUL character sent to the database: {statement[:200]}")


def make_world(data_dir: Path, encoder) -> World:
    settings = load_settings({"VIVIER_DATA_DIR": str(data_dir)}).with_overrides(form_rate_limit="100000 per minute")
    app = create_app(settings=settings, encoder=encoder)
    app.config.update(TESTING=True, API_RATE_LIMIT="100000 per minute")
    app.extensions["vivier"]["clock"] = lambda: NOW
    database = app.extensions["vivier"]["database"]
    with database.session() as s:
        pj.add_buyer_domain(s, "brest-metropole.fr", "Brest métropole", "op@vivier.test", NOW)
        buyer = pj.open_buyer_session(s, pj.buyer_sign_in_token(s, BUYER_EMAIL, now=NOW), NOW)
        project = pj.create_project(s, buyer, {
            "title": "Capteurs de remplissage des colonnes de tri", "need": "Mesurer le remplissage des colonnes.",
            "contract_model": "marche-public", "categories": ["waste"], "departments": ["29"],
            "deadline": DEADLINE, "variants_allowed": True, "variant_requirements": "Autonomie de 5 ans."}, now=NOW)
        pj.publish(s, project, buyer, NOW)
        project_file = pj.store_attachment(s, data_dir, "étude.pdf", PDF, project=project, now=NOW)
        supplier, other = s.scalars(select(Supplier).where(Supplier.website_domain.is_not(None),
                                                           Supplier.status.in_(SEARCHABLE_STATUSES))
                                    .order_by(Supplier.id).limit(2))
        email = f"jeanne@{supplier.website_domain}"
        submissions.confirm_claim(s, submissions.start_claim(s, supplier, email, now=NOW).token, now=NOW)
        question = pj.ask(s, project, supplier, email, "Les colonnes enterrées sont-elles concernées ?", NOW)
        proposal = pj.submit_proposal(s, project, supplier, email, {
            "text": "Capteurs solaires", "varied_requirement": "", "price_band": "", "consent": {}}, NOW)
        proposal_file = pj.store_attachment(s, data_dir, "offre.pdf", PDF + b"%offre", proposal=proposal, now=NOW)
        subscription = pj.subscribe(s, supplier, email, ["waste"], [], "", NOW)
        create_operator(s, OPERATOR_EMAIL, OPERATOR_PASSWORD)
        submission = submissions.submit_new(s, {"name": "Arrosage Malin", "categories": ["green-spaces"]},
                                            "contact@arrosage-malin.fr", NOW)
        claim = submissions.start_claim(s, other, "quelquun@gmail.com", "C'est moi", now=NOW).claim
        s.flush()
        world = World(app, data_dir, supplier.id, supplier.slug, email, other.slug, project.slug, question.id,
                      proposal.id, project_file.id, proposal_file.id, subscription.id, submission.id, claim.id,
                      buyer.id)
    from vivier.opendata import export_opendata

    export_opendata(settings)
    refuse_nul_bytes(database.engine)
    return world


@pytest.fixture(scope="module")
def world(indexed_settings, encoder, tmp_path_factory) -> World:
    data_dir = tmp_path_factory.mktemp("hostile") / "data"
    shutil.copytree(indexed_settings.data_dir, data_dir, ignore=shutil.ignore_patterns("httpcache", "crawls"))
    return make_world(data_dir, encoder)


# -- what a response must never contain --------------------------------------------------------------------------------
MARKUP_TYPES = ("text/html", "application/xhtml+xml", "image/svg+xml", "application/atom+xml", "application/xml",
                "text/xml")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "data", "srcset", "background",
                  "hx-get", "hx-post", "hx-put", "hx-delete", "hx-patch", "hx-push-url", "hx-replace-url"}
SCRIPT_SCHEMES = ("javascript:", "vbscript:", "data:text/html", "data:image/svg")
FORBIDDEN_TAGS = {"iframe", "object", "embed", "base", "frame", "applet"}


class _Elements(HTMLParser):
    """Every element's start tag and attributes (entity references decoded, as the browser reads them)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))

    handle_startendtag = handle_starttag


def script_problems(markup: str) -> list[str]:
    """What in a page could run a script the site did not write: an event-handler attribute, a script URL, an
    inline script (the site's are all files, or JSON-LD data), a frame or base element."""
    parser = _Elements()
    parser.feed(markup)
    problems = []
    for tag, attrs in parser.elements:
        values = dict(attrs)
        if tag in FORBIDDEN_TAGS:
            problems.append(f"<{tag}>")
        if tag == "script" and not values.get("src") and values.get("type") != "application/ld+json":
            problems.append("inline <script>")
        for name, value in attrs:
            if name.startswith(("on", "hx-on")):
                problems.append(f"<{tag} {name}=...>")
            if name in URL_ATTRIBUTES and value:
                url = re.sub(r"[\x00-\x20]", "", value).lower()
                if url.startswith(SCRIPT_SCHEMES):
                    problems.append(f'<{tag} {name}="{value[:40]}">')
    return problems


def assert_safe(response, context: str = "") -> None:
    """No marker in a header; in a page a browser renders (HTML, SVG, Atom, XML) no marker unescaped and nothing
    that could run a script; any other body (JSON, CSV, text) is typed and never sniffed into a page."""
    where = f"{context} -> {response.status_code}"
    for name, value in response.headers.items():
        assert not any(raw in value for raw in RAW_MARKUP), f"{where}: marker in header {name}: {value[:200]}"
        if name.lower() in ("location", "hx-redirect", "hx-location", "hx-push-url", "refresh"):
            assert not re.sub(r"[\x00-\x20]", "", value).lower().startswith(SCRIPT_SCHEMES), where
    mimetype = response.mimetype or ""
    body = response.get_data().decode("utf-8", "replace")
    if mimetype in MARKUP_TYPES:
        for raw in RAW_MARKUP:
            assert raw not in body, f"{where}: {raw!r} unescaped in {mimetype}"
        assert script_problems(body) == [], f"{where}: {script_problems(body)}"
    else:
        assert response.headers.get("X-Content-Type-Options") == "nosniff", where
        assert mimetype, f"{where}: a body without a type"


def assert_handled(response, context: str = "") -> None:
    assert response.status_code < 500, f"{context}: {response.status_code}\n{response.get_data(as_text=True)[:500]}"
    assert_safe(response, context)


# -- hypothesis strategies ---------------------------------------------------------------------------------------------
surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
hostile_text = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.text(max_size=200),
    st.text(st.one_of(st.characters(max_codepoint=0x1F), surrogates, st.sampled_from("<>\"'&/\\%.;:=?#")),
            max_size=60),
    st.builds(lambda a, b: a + b, st.sampled_from(MARKERS), st.text(max_size=20)),
)


def encode(value: str | bytes) -> str:
    """A query-string or form value as a client may send it: percent-encoded bytes, lone surrogates included (as
    the invalid UTF-8 they make)."""
    data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    return quote_from_bytes(data, safe="")


hostile_value = st.one_of(hostile_text, st.binary(max_size=40))


def urlencoded(pairs) -> str:
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs)


# -- 1. the search page and the other GET pages, fuzzed ----------------------------------------------------------------
# Query parameters the GET pages read (search_app/public/search.py, exports.py, shortlist.py, projects.py,
# profiles.py), and a few they do not.
QUERY_KEYS = ("q", "category", "department", "label", "size", "region", "open_source", "commune", "rayon", "page",
              "mode", "sort", "ids", "remove", "nom", "name", "thematique", "departement", "etat", "near", "radius",
              "next", "format", "csrf_token")
GET_PAGES = ("/", "/recherche.csv", "/recherche/note", "/recherche/document", "/selection", "/selection.csv",
             "/selection/note", "/communes", "/projets", "/fournisseurs/proposer", "/fournisseurs/proposer/doublons",
             "/moderation/connexion", "/moderation/fournisseurs", "/moderation/")
HTMX_HEADERS = ({}, {"HX-Request": "true"}, {"HX-Request": "true", "HX-History-Restore-Request": "true"},
                {"HX-Request": "true", "HX-Current-URL": SCRIPT_MARKER, "HX-Target": IMG_MARKER})


def pages_without_arguments(world: World) -> list[str]:
    """Every GET page of the app's URL map with a fixed address (the API excepted: tests/test_api_fuzz.py)."""
    return sorted(rule.rule for rule in world.app.url_map.iter_rules() if "GET" in rule.methods
                  and not rule.arguments and not rule.rule.startswith("/api/"))


@given(data=st.data(), headers=st.sampled_from(HTMX_HEADERS), role=st.sampled_from(("anonymous", "operator", "buyer")),
       pairs=st.lists(st.tuples(st.one_of(st.sampled_from(QUERY_KEYS), hostile_text), hostile_value), max_size=6))
@settings(FUZZ, max_examples=60)
def test_fuzzed_query_strings_never_fail_nor_reflect_markup(world, data, headers, role, pairs):
    path = data.draw(st.sampled_from(pages_without_arguments(world)), label="path")
    response = world.client(role).get(f"{path}?{urlencoded(pairs)}", headers=headers)
    assert_handled(response, f"GET {path}?{urlencoded(pairs)[:300]}")


@pytest.mark.parametrize("path", GET_PAGES)
def test_a_marker_in_each_query_parameter_is_never_reflected(world, path):
    """Each parameter alone (a bad one may short-cut the others), then all at once, in the page and in its htmx
    partial; with NUL and control characters too."""
    client = world.client("operator" if path.startswith("/moderation/") else "anonymous")
    for key in QUERY_KEYS:
        response = client.get(f"{path}?{urlencoded([(key, EVERY_MARKER), ('q', 'capteurs')])}")
        assert_handled(response, f"GET {path} {key}")
    for one in (*MARKERS, EVERY_MARKER):
        for headers in HTMX_HEADERS[:2]:
            response = client.get(f"{path}?{urlencoded([(key, one) for key in QUERY_KEYS])}", headers=headers)
            assert_handled(response, f"GET {path} all={one!r} {headers}")


# URL segments: every rule's variable part gets hostile text (traversal, NUL, markup, very long).
SEGMENT_PATHS = ("/fournisseurs/{}", "/fournisseurs/{}/revendiquer", "/fournisseurs/{}/modifier/lien",
                 "/projets/{}", "/projets/{}/questions", "/projets/{}/pieces/1", "/acces/{}", "/revendiquer/{}",
                 "/acheteurs/acces/{}", "/donnees-ouvertes/{}", "/projets/thematiques/{}.atom",
                 "/projets/departements/{}.atom", "/static/{}", "/api/v1/projects/{}", "/moderation/fournisseurs/{}")
segment = st.one_of(hostile_value, st.sampled_from(("..", "%2e%2e", "..%2f..%2fvivier%2fconfig.py", "....//",
                                                    "%00", "%2f", ".%00.")))


@given(template=st.sampled_from(SEGMENT_PATHS), value=segment, role=st.sampled_from(("anonymous", "operator")))
@settings(FUZZ, max_examples=60)
def test_fuzzed_url_segments_never_fail_nor_leak_files(world, template, value, role):
    raw = value if isinstance(value, str) and value.startswith(("%", ".")) else encode(value)
    path = template.format(raw)
    response = world.client(role).get(path)
    assert_handled(response, f"GET {path[:300]}")
    body = response.get_data()
    assert b"SECRET_KEY" not in body and b"def load_settings" not in body and b"root:x:0:0" not in body


# -- 1. the HTML forms, fuzzed -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FormRoute:
    """A form as a browser in `role` posts it: its address (filled from the world), its class, a valid post."""

    name: str
    role: str
    path: str
    form: type | None  # None: the search by document, which reads the search page's parameters
    valid: dict
    excluded: tuple[str, ...] = ()  # fields never fuzzed: a valid value would end the world (a confirmed removal)


PROJECT_POST = {"title": "Capteurs de remplissage", "need": "Mesurer le remplissage des colonnes à verre.",
                "contract_model": "marche-public", "departments": "29", "categories": ["waste"],
                "deadline_date": "2026-04-30", "deadline_time": "12:00", "variants_allowed": "y",
                "milestones-0-date": "2026-06-01", "milestones-0-label": "Lancement"}
PROFILE_POST = {"name": "Arrosage Malin", "pitch": "Sondes d'humidité pour l'arrosage des espaces verts",
                "categories": ["green-spaces"], "contact_email": "contact@arrosage-malin.fr", "postcode": "29200",
                "commune": "Brest", "website": "arrosage-malin.fr", "offers-0-name": "Pack parc",
                "references-0-client": "Ville de Brest", "keywords": "LoRaWAN", "api": "https://api.exemple.fr"}
FORMS = {route.name: route for route in (
    FormRoute("propose", "anonymous", "/fournisseurs/proposer", forms.NewProfileForm, PROFILE_POST),
    FormRoute("claim", "anonymous", "/fournisseurs/{other_slug}/revendiquer", forms.ClaimForm,
              {"email": "jeanne@gmail.com", "message": "Je dirige l'entreprise."}),
    FormRoute("edit link", "anonymous", "/fournisseurs/{supplier_slug}/modifier/lien",
              forms.EditLinkForm, {"email": "inconnu@exemple.fr"}),
    FormRoute("edit profile", "supplier", "/fournisseurs/{supplier_slug}/modifier", forms.ProfileForm,
              PROFILE_POST),
    FormRoute("removal", "supplier", "/fournisseurs/{supplier_slug}/supprimer", forms.DeletionForm,
              {"reason": "Cessation d'activité"}, excluded=("confirm",)),
    FormRoute("buyer sign-in", "anonymous", "/acheteurs/connexion", project_forms.BuyerSignInForm,
              {"email": "achats@quimper.fr", "organisation": "Ville de Quimper"}),
    FormRoute("new project", "buyer", "/projets/nouveau", project_forms.ProjectForm, PROJECT_POST),
    FormRoute("edit project", "buyer", "/projets/{project_slug}/modifier", project_forms.ProjectForm, PROJECT_POST),
    FormRoute("question", "supplier", "/projets/{project_slug}/questions",
              participation_forms.QuestionForm, {"text": "Les bacs enterrés sont-ils concernés ?"}),
    FormRoute("answer", "buyer", "/projets/{project_slug}/questions/{question_id}/reponse",
              participation_forms.AnswerForm, {"text": "Oui."}),
    FormRoute("proposal", "supplier", "/projets/{project_slug}/proposition",
              participation_forms.ProposalForm,
              {"text": "Capteurs solaires", "varied_requirement": "Autonomie", "price_band": "20 000 €",
               "consent_text": "y"}),
    FormRoute("decision", "buyer", "/projets/{project_slug}/propositions/{proposal_id}/decision",
              participation_forms.DecisionForm, {"decision": "retenue", "message": "Bravo."}),
    FormRoute("alerts", "supplier", "/fournisseurs/{supplier_slug}/alertes",
              participation_forms.SubscriptionForm,
              {"categories": ["waste"], "departments": "29, 2A", "query": "capteurs"}),
    FormRoute("operator sign-in", "anonymous", "/moderation/connexion", moderation.LoginForm,
              {"email": OPERATOR_EMAIL, "password": "pas le bon mot de passe"}),
    FormRoute("reject submission", "operator", "/moderation/soumissions/{submission_id}/refuser",
              moderation.RejectForm, {"reason": "Fiche incomplète."}),
    FormRoute("refuse claim", "operator", "/moderation/revendications/{claim_id}/refuser",
              moderation.ClaimRefuseForm, {"reason": "Adresse sans lien avec l'entreprise."}),
    FormRoute("allow-list domain", "operator", "/moderation/acheteurs/domaines",
              backoffice_forms.BuyerDomainForm, {"domain": "ville-exemple.fr", "organisation": "Ville"}),
    FormRoute("document search", "anonymous", "/recherche/document", None,
              {"q": "capteurs de remplissage", "category": "waste", "commune": "Brest", "rayon": "25"}),
)}


def field_names(world: World, route: FormRoute) -> list[str]:
    """The names a browser posts for the route's form (blocks flattened: offers-0-name...)."""
    if route.form is None:
        return ["document", *QUERY_KEYS]
    with world.app.test_request_context():
        form = route.form(meta={"csrf": False})
    names = []
    for field_ in form:
        for entry in (field_.entries if field_.type == "FieldList" else [field_]):
            if entry.type == "FormField":
                names.extend(sub.name for sub in entry.form)
            else:
                names.append(entry.name)
    return [n for n in names if n not in route.excluded]


def post_form(world: World, route: FormRoute, pairs: list, address: str = "127.0.0.1"):
    """Post `pairs` (repeated keys kept, values as raw bytes) with this browser's valid CSRF token."""
    client = world.client(route.role, address if route.role == "anonymous" else "127.0.0.1")
    token = csrf_token(client)
    path = route.path.format(**vars(world))
    body = urlencoded([("csrf_token", token), *pairs])
    return path, client.post(path, data=body, content_type="application/x-www-form-urlencoded")


def pairs_of(fields: dict) -> list[tuple[str, str]]:
    """A form's fields as a browser posts them: a list is one pair per value."""
    return [(key, item) for key, value in fields.items() for item in (value if isinstance(value, list) else [value])]


@pytest.mark.parametrize("route", FORMS.values(), ids=FORMS.keys())
def test_fuzzed_forms_never_fail_nor_reflect_markup(world, route):
    names = field_names(world, route)
    keys = st.one_of(st.sampled_from(names), hostile_text)

    @given(replaced=st.dictionaries(st.sampled_from(names), hostile_value, max_size=len(names)),
           extra=st.lists(st.tuples(keys, hostile_value), max_size=4), address=st.integers(1, 250))
    @settings(FUZZ, max_examples=15)
    def run(replaced, extra, address):
        # A valid post with some fields replaced: hostile values reach the pages and rules behind validation.
        pairs = [(k, v) for k, v in pairs_of(route.valid) if k not in replaced] + list(replaced.items()) + extra
        pairs = [(k, v) for k, v in pairs if k not in route.excluded]
        path, response = post_form(world, route, pairs, f"10.9.0.{address}")
        assert_handled(response, f"POST {path} {pairs!r:.300}")

    run()


@pytest.mark.parametrize("route", FORMS.values(), ids=FORMS.keys())
def test_a_marker_in_each_form_field_is_never_reflected(world, route):
    """Each field of a valid post replaced by all the markers, NUL and control characters: the page that answers,
    error or success, shows them escaped (and no NUL reaches the database)."""
    for name in field_names(world, route):
        pairs = [(k, v) for k, v in pairs_of(route.valid) if k != name] + [(name, EVERY_MARKER)]
        path, response = post_form(world, route, pairs)
        assert_handled(response, f"POST {path} {name}")


# -- 1. stored markup: typed into every form, shown on every page ------------------------------------------------------
ESCAPED_SCRIPT = "&lt;script&gt;alert("  # how a page shows SCRIPT_MARKER typed into a field


def marked(label: str) -> str:
    """A field's text with every marker in it, short enough for any field of the site."""
    return f"{label} {SCRIPT_MARKER} {IMG_MARKER} {JS_URL_MARKER}"


def test_markup_typed_into_every_form_is_escaped_on_every_page_that_shows_it(world):
    supplier, buyer, operator = world.client("supplier"), world.client("buyer"), world.client("operator")
    anonymous = world.client("anonymous")
    # A company proposes a profile full of markers; an operator approves it: it becomes public.
    profile = {**PROFILE_POST, "name": marked("Malin"), "pitch": marked("Accroche"), "address": marked("Rue"),
               "description": marked("Présentation"), "keywords": marked("mots"), "offers-0-name": marked("Offre"),
               "offers-0-scope": marked("Périmètre"), "offers-0-basic": marked("Basique"),
               "references-0-client": marked("Client"), "references-0-object": marked("Objet"),
               "standards": marked("Standards"), "api": JS_URL_MARKER, "licence": "MIT"}
    _, response = post_form(world, FORMS["propose"], pairs_of(profile))
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    with world.database().session() as s:
        submission_id = s.scalar(select(Submission.id).where(Submission.name.like("Malin%")))
    review = operator.get(f"/moderation/soumissions/{submission_id}")
    assert ESCAPED_SCRIPT in review.get_data(as_text=True)
    assert operator.post(f"/moderation/soumissions/{submission_id}/approuver",
                         data={"csrf_token": csrf_token(operator)}).status_code == 302
    with world.database().session() as s:
        new_slug = s.scalar(select(Supplier.slug).where(Supplier.name.like("Malin%")))
    # A buyer publishes a project full of markers; a supplier asks, proposes and sets an alert with them.
    project = {**PROJECT_POST, **{name: marked(name) for name in (
        "title", "need", "context", "studies", "social_criteria", "environmental_criteria", "variant_requirements",
        "milestones-0-label")}, "budget_band": marked("€")[:80], "show_budget": "y"}
    response = buyer.post("/projets/nouveau", data={**project, "csrf_token": csrf_token(buyer)})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    slug = response.headers["Location"].rsplit("/", 1)[1]
    assert buyer.post(f"/projets/{slug}/publier", data={"csrf_token": csrf_token(buyer)}).status_code == 303
    token = csrf_token(supplier)
    assert supplier.post(f"/projets/{slug}/questions", data={"csrf_token": token,
                                                            "text": marked("Question")}).status_code == 303
    with world.database().session() as s:
        question_id = s.scalar(select(Question.id).where(Question.text.like("Question%")))
    assert buyer.post(f"/projets/{slug}/questions/{question_id}/reponse", data={
        "csrf_token": csrf_token(buyer), "text": marked("Réponse")}).status_code == 303
    assert supplier.post(f"/projets/{slug}/proposition", data={
        "csrf_token": token, "text": marked("Proposition"), "varied_requirement": marked("Exigence"),
        "price_band": marked("Prix")[:80], "consent_text": "y", "consent_varied_requirement": "y",
        "consent_price_band": "y"}).status_code == 303
    assert supplier.post(f"/fournisseurs/{world.supplier_slug}/alertes", data={
        "csrf_token": token, "query": marked("alerte")}).status_code == 303
    with world.database().session() as s:
        proposal_id = s.scalar(select(func.max(Proposal.id)))
    form = buyer.get(f"/projets/{slug}/modifier")  # the form filled with the stored values, before closing
    assert form.status_code == 200 and ESCAPED_SCRIPT in form.get_data(as_text=True)
    assert_handled(form, "the project's form")
    assert buyer.post(f"/projets/{slug}/cloturer", data={"csrf_token": csrf_token(buyer)}).status_code == 303
    assert buyer.post(f"/projets/{slug}/propositions/{proposal_id}/decision", data={
        "csrf_token": csrf_token(buyer), "decision": "retenue", "message": marked("Décision")}).status_code == 303

    pages = [(anonymous, f"/fournisseurs/{new_slug}"), (anonymous, "/?q=Malin"), (anonymous, "/?q=Malin&mode=keyword"),
             (anonymous, f"/selection?ids={new_slug}"), (anonymous, f"/selection.csv?ids={new_slug}"),
             (anonymous, f"/selection/note?ids={new_slug}"), (anonymous, "/recherche.csv?q=Malin"),
             (anonymous, "/recherche/note?q=Malin"), (anonymous, "/sitemap.xml"),
             (anonymous, "/api/v1/search?q=Malin"), (anonymous, f"/projets/{slug}"), (anonymous, "/projets"),
             (anonymous, "/projets?q=title"), (anonymous, "/projets/flux.atom"),
             (anonymous, "/projets/thematiques/waste.atom"), (anonymous, "/projets/departements/29.atom"),
             (anonymous, f"/projets/{slug}/questions"), (anonymous, f"/api/v1/projects/{slug}"),
             (anonymous, "/api/v1/projects"), (buyer, "/acheteurs/projets"), (buyer, f"/projets/{slug}"),
             (buyer, f"/projets/{slug}/propositions"),
             (buyer, f"/projets/{slug}/propositions/{proposal_id}"), (buyer, f"/projets/{slug}/journal"),
             (buyer, f"/projets/{slug}/journal.csv"), (buyer, f"/projets/{slug}/synthese"),
             (supplier, f"/projets/{slug}/proposition"), (supplier, f"/projets/{slug}/questions"),
             (supplier, f"/fournisseurs/{world.supplier_slug}/alertes"), (operator, "/moderation/"),
             (operator, f"/moderation/fournisseurs/{new_slug}"), (operator, "/moderation/fournisseurs?q=Malin"),
             (operator, f"/moderation/soumissions/{submission_id}")]
    shown = 0
    for client, page in pages:
        response = client.get(page)
        assert response.status_code == 200, f"GET {page} -> {response.status_code}"
        assert_handled(response, f"GET {page}")
        shown += ESCAPED_SCRIPT in response.get_data(as_text=True)
    assert shown >= 20  # the markers were on the pages, escaped


# -- 1. where a redirect or an e-mailed link may lead ------------------------------------------------------------------
def test_signing_in_only_ever_leads_to_a_back_office_page(world):
    """The sign-in's `next` is an operator's way back, never a way out (an open redirect) nor a script URL."""
    from urllib.parse import urlsplit

    targets = (JS_URL_MARKER, "//evil.example/moderation/", "https://evil.example/moderation/",
               "/\\evil.example/moderation/", "/moderation/../acheteurs/projets", "\x00/moderation/", SCRIPT_MARKER,
               "/moderation/fournisseurs?q=" + SCRIPT_MARKER, " javascript:alert(1)", "/moderation/deconnexion")
    for number, target in enumerate(targets):
        client = world.client("anonymous", f"10.7.0.{number}")
        path = f"/moderation/connexion?next={encode(target)}"
        response = client.post(path, data={"csrf_token": csrf_token(client, path), "email": OPERATOR_EMAIL,
                                           "password": OPERATOR_PASSWORD})
        assert response.status_code == 302, target
        location = urlsplit(response.headers["Location"])
        assert location.netloc in ("", "localhost") and location.path.startswith("/moderation/"), target
        assert location.path != "/moderation/deconnexion"
        assert_safe(response, target)


def test_a_forged_host_header_never_reaches_a_link_sent_by_mail(world, encoder):
    """With the site's address configured, links in e-mails are built on it, whatever Host a request names: a
    forged Host cannot send a victim a sign-in link pointing at another server."""
    settings_ = world.app.extensions["vivier"]["settings"].with_overrides(base_url="https://vivier.example",
                                                                          form_rate_limit="1000 per minute")
    app = create_app(settings=settings_, encoder=encoder)
    app.config.update(TESTING=True)
    client = app.test_client()
    page = client.get("/acheteurs/connexion", base_url="http://evil.example")
    token = CSRF_INPUT.search(page.get_data(as_text=True)).group(1)
    response = client.post("/acheteurs/connexion", base_url="http://evil.example", data={
        "csrf_token": token, "email": "eau@brest-metropole.fr"}, headers={"X-Forwarded-Host": "evil.example"})
    assert response.status_code == 200
    with world.database().session() as s:
        body = s.scalar(select(OutboxMessage.body).where(OutboxMessage.to_address == "eau@brest-metropole.fr"))
    assert "https://vivier.example/acheteurs/acces/" in body and "evil.example" not in body


# -- 2. malicious uploads ----------------------------------------------------------------------------------------------
def text_pdf(text: str = "Cahier des clauses techniques : capteurs de remplissage des colonnes de tri, "
                         "collecte des déchets ménagers, tournées optimisées et tableaux de bord.") -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    for _ in range(3):
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def pdf_with_open_action_script() -> bytes:
    """A readable PDF whose opening runs a script (/OpenAction << /S /JavaScript /JS ... >>)."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf())))
    writer._root_object[NameObject("/OpenAction")] = DictionaryObject({
        NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert('x4');")})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def pdf_with_compressed_script() -> bytes:
    """A PDF 1.5 whose objects, its script action included, sit in a compressed object stream: no active name is
    in its raw bytes."""
    import zlib

    bodies = [b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
              b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
              b"<< /S /JavaScript /JS (app.alert\\(5\\)) >>"]
    offsets, position = [], 0
    for body in bodies:
        offsets.append(position)
        position += len(body) + 1
    header = b" ".join(b"%d %d" % (number, offset) for number, offset in zip(range(1, 5), offsets)) + b" "
    packed = zlib.compress(header + b" ".join(bodies) + b" ")
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    stream_at = len(out)
    out += (b"5 0 obj\n<< /Type /ObjStm /N 4 /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
            % (len(header), len(packed)) + packed + b"\nendstream\nendobj\n")
    xref_at = len(out)
    rows = [b"\x00" + (0).to_bytes(4, "big") + b"\xff\xff"]
    rows += [b"\x02" + (5).to_bytes(4, "big") + index.to_bytes(2, "big") for index in range(4)]
    rows += [b"\x01" + stream_at.to_bytes(4, "big") + b"\x00\x00", b"\x01" + xref_at.to_bytes(4, "big") + b"\x00\x00"]
    table = b"".join(rows)
    out += (b"6 0 obj\n<< /Type /XRef /Size 7 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % len(table)
            + table + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at)
    return bytes(out)


def zip_bomb(kind: str, lie: bool = False) -> bytes:
    """A DOCX or ODT whose text part inflates to 80 MB of zeros (from ~80 kB); with `lie`, the archive declares
    1 kB for it (zipfile then stops there and fails the CRC check)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if kind == "odt":
            archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
            part = "content.xml"
        else:
            archive.writestr("[Content_Types].xml", "<Types/>")
            part = "word/document.xml"
        archive.writestr(part, b"\x00" * (80 * 1024 * 1024))
    data = bytearray(buffer.getvalue())
    if lie:  # uncompressed size: offset 22 of the local header, 24 of the central directory entry
        name = part.encode()
        local = data.rfind(b"PK\x03\x04", 0, data.find(name))
        data[local + 22:local + 26] = (1024).to_bytes(4, "little")
        central = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
        data[central + 24:central + 28] = (1024).to_bytes(4, "little")
    return bytes(data)


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00" + b"\x00" * 200
HTML = b"<!doctype html><html><body><script>alert('x6')</script><p>Cahier des charges</p></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(7)"><text>Cahier des charges</text></svg>'
# (case, file name, content, words of the search's refusal, words of an attachment's refusal)
MALICIOUS_UPLOADS = (
    ("executable renamed .pdf", "cahier.pdf", EXE, "n'est pas un PDF valide", "Type de fichier refusé"),
    ("web page renamed .pdf", "cahier.pdf", HTML, "n'est pas un PDF valide", "Type de fichier refusé"),
    ("SVG renamed .pdf", "cahier.pdf", SVG, "n'est pas un PDF valide", "Type de fichier refusé"),
    ("web page holding a PDF header", "cahier.pdf", HTML + b"\n%PDF-1.4\n" + text_pdf()[9:], "page web", "page web"),
    ("SVG renamed .txt", "cahier.txt", SVG, "page web", "Type de fichier refusé"),
    ("zip bomb as .docx", "cahier.docx", zip_bomb("docx"), "trop volumineux une fois décompressé",
     "Type de fichier refusé"),
    ("zip bomb lying about its size, as .odt", "cahier.odt", zip_bomb("odt", lie=True), "endommagé",
     "Type de fichier refusé"),
    ("PDF running a script when opened", "cahier.pdf", pdf_with_open_action_script(), "contenu actif",
     "contenu actif"),
    ("PDF with a script in a compressed object stream", "cahier.pdf", pdf_with_compressed_script(), "contenu actif",
     "contenu actif"),
    ("PDF with a script behind an escaped name", "cahier.pdf",
     pdf_with_open_action_script().replace(b"/JavaScript", b"/J#61vaScript"), "contenu actif", "contenu actif"),
    ("double extension", "cahier.pdf.exe", EXE, "n'est pas pris en charge", "Type de fichier refusé"),
    ("path traversal in the name", "../../../../tmp/vivier-hostile.pdf", text_pdf(), "« .. »", "« .. »"),
    ("NUL in the name", "cahier.pdf\x00.exe", text_pdf(), "caractères de contrôle", "caractères de contrôle"),
    ("empty file", "cahier.pdf", b"", "Le fichier est vide", "Le fichier est vide"),
    ("above the size cap", "cahier.pdf", text_pdf() + b"%" * (pj.MAX_ATTACHMENT_BYTES), "taille maximale",
     "trop volumineux"),
)


def stored_files(world: World) -> set[str]:
    return {str(p.relative_to(world.data_dir)) for p in world.data_dir.rglob("*") if p.is_file()
            and p.parts[len(world.data_dir.parts)] == "attachments"}


def attachment_count(world: World) -> int:
    with world.database().session() as s:
        return s.scalar(select(func.count(Attachment.id)))


def upload_to(world: World, point: str, name: str, content: bytes):
    """Post one file where the site takes files: the search by document, a project's studies, a proposal."""
    if point == "search":
        return world.client("anonymous").post("/recherche/document", content_type="multipart/form-data",
                                              data={"document": (io.BytesIO(content), name), "q": "capteurs"})
    role, path, field_name, fields = {
        "project": ("buyer", "/projets/nouveau", "files", PROJECT_POST),
        "proposal": ("supplier", f"/projets/{world.project_slug}/proposition", "attachments",
                     FORMS["proposal"].valid),
    }[point]
    client = world.client(role)
    return client.post(path, content_type="multipart/form-data", data={
        **fields, "csrf_token": csrf_token(client), field_name: [(io.BytesIO(content), name)]})


@pytest.mark.parametrize("point", ("search", "project", "proposal"))
@pytest.mark.parametrize("case, name, content, search_words, attachment_words", MALICIOUS_UPLOADS,
                         ids=[case[0] for case in MALICIOUS_UPLOADS])
def test_malicious_uploads_are_refused_with_a_french_reason_and_nothing_is_kept(
        world, point, case, name, content, search_words, attachment_words):
    from html import unescape

    files, count = stored_files(world), attachment_count(world)
    with world.database().session() as s:
        projects = s.scalar(select(func.count(Project.id)))
    response = upload_to(world, point, name, content)
    assert response.status_code == 400, f"{case} -> {response.status_code}"
    assert_safe(response, case)
    assert (search_words if point == "search" else attachment_words) in unescape(response.get_data(as_text=True))
    assert stored_files(world) == files and attachment_count(world) == count
    with world.database().session() as s:
        assert s.scalar(select(func.count(Project.id))) == projects
    assert not Path("/tmp/vivier-hostile.pdf").exists()


def test_a_clean_file_with_client_folders_in_its_name_is_kept_under_its_own_name_only(world):
    """Old browsers send the client's folders with the name: the file is kept under its digest, downloaded under
    its own name with the extension of what it is."""
    response = upload_to(world, "project", "Documents/jeanne/Étude de gisement.pdf.exe", text_pdf())
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    slug = response.headers["Location"].rsplit("/", 1)[1]
    with world.database().session() as s:
        row = s.scalar(select(Attachment).join(Project, Project.id == Attachment.project_id)
                       .where(Project.slug == slug))
    assert row.filename == "Etude-de-gisement.pdf.pdf"
    assert (world.data_dir / "attachments" / row.sha256).is_file()
    download = world.client("buyer").get(f"/projets/{slug}/pieces/{row.id}")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Content-Security-Policy"].startswith("sandbox")
    search = upload_to(world, "search", "Documents/jeanne/cahier.pdf", text_pdf())
    assert search.status_code == 200 and "cahier.pdf" in search.get_data(as_text=True)
    assert "jeanne" not in search.get_data(as_text=True)


upload_content = st.one_of(
    st.sampled_from([content for _, _, content, _, _ in MALICIOUS_UPLOADS if len(content) < 1_000_000]),
    st.binary(max_size=2000),
    st.builds(lambda head, tail: head + tail, st.sampled_from(
        (b"%PDF-1.4\n", b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"{\\rtf1", b"\xef\xbb\xbf",
         b"\xff\xfe", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"<svg", b"<!doctype html>")),
        st.binary(max_size=500)))
upload_name = st.one_of(st.sampled_from([name for _, name, _, _, _ in MALICIOUS_UPLOADS]), hostile_text).map(
    lambda name: name.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace('"', "'")[:300])


@given(point=st.sampled_from(("search", "project", "proposal")), name=upload_name, content=upload_content)
@settings(FUZZ, max_examples=40)
def test_fuzzed_uploads_never_fail_and_only_accepted_files_are_kept(world, point, name, content):
    from vivier.textfiles import UnreadableDocument, detect_kind

    files = stored_files(world)
    response = upload_to(world, point, name, content)
    assert_handled(response, f"upload to {point}: {name!r}")
    assert response.status_code in (200, 303, 400), response.status_code
    if stored_files(world) != files:  # kept: only a file the rules accept (a type of its bytes, passive)
        assert point != "search" and response.status_code == 303
        try:
            assert detect_kind(name, content) in ("pdf", "docx", "odt")
        except UnreadableDocument:
            assert content.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"))


# -- the routes, from the app's own URL map ----------------------------------------------------------------------------
def url_values(world: World, rule) -> dict:
    """Values of the URL variables the site's routes have, from the world (an unknown token: no real link)."""
    projects = rule.rule.startswith(("/projets/", "/api/v1/projects/"))
    return {"slug": world.project_slug if projects else world.supplier_slug, "token": "jeton-inconnu",
            "supplier_id": world.supplier_id, "proposal_id": world.proposal_id,
            "attachment_id": world.proposal_attachment_id if "/propositions/" in rule.rule
            else world.project_attachment_id,
            "submission_id": world.submission_id, "claim_id": world.claim_id, "question_id": world.question_id,
            "subscription_id": world.subscription_id, "buyer_id": world.buyer_id, "name": "suppliers.csv",
            "category": "waste", "code": "29", "filename": "vivier.css"}


def path_of(world: World, rule) -> str:
    """The rule's address, its variable parts filled from the world."""
    values = url_values(world, rule)
    with world.app.test_request_context():
        from flask import url_for

        # An argument of a route newer than this table: a plausible value (its pages then answer 404).
        return url_for(rule.endpoint, **{name: values.get(name, 1 if f"<int:{name}>" in rule.rule else "inconnu")
                                         for name in rule.arguments})


def rules(world: World, method: str) -> list:
    return sorted((r for r in world.app.url_map.iter_rules() if method in r.methods), key=lambda r: r.rule)


def database_digest(world: World) -> str:
    """A digest of every row of every table: equal digests, nothing stored or changed."""
    import hashlib

    engine = world.database().engine
    digest = hashlib.sha256()
    with engine.connect() as connection:
        for table in sorted(inspect(engine).get_table_names()):
            for row in connection.execute(text(f'SELECT * FROM "{table}" ORDER BY 1')):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


# -- 3. oversized bodies -----------------------------------------------------------------------------------------------
def body_cap(endpoint: str) -> int:
    """The request size a route accepts: the app's, or the larger one of a route that takes files."""
    from search_app import MAX_CONTENT_LENGTH
    from search_app.public import documents
    from search_app.purchasing import participation, projects

    return {"documents.search_document": documents.MAX_REQUEST_BYTES, "projects.new": projects.MAX_REQUEST_BYTES,
            "projects.edit": projects.MAX_REQUEST_BYTES,
            "participation.proposal_form": participation.PROPOSAL_REQUEST_BYTES}.get(endpoint, MAX_CONTENT_LENGTH)


def test_every_post_route_refuses_a_body_just_above_its_cap_with_a_413(world):
    from html import unescape

    operator = world.client("operator")
    before = database_digest(world)
    posted = set()
    for rule in rules(world, "POST"):
        cap, path = body_cap(rule.endpoint), path_of(world, rule)
        body = b"x" * (cap + 1)
        for content_type in ("multipart/form-data; boundary=limite", "application/x-www-form-urlencoded"):
            response = operator.post(path, data=body, content_type=content_type)
            assert response.status_code == 413, f"POST {path} ({cap + 1} bytes, {content_type})"
            page = unescape(response.get_data(as_text=True))
            assert "Requête trop volumineuse" in page or "dépasse la taille maximale" in page, path
            assert_safe(response, path)
        # At its cap exactly, a route with a larger cap reads the request (whatever it then makes of it).
        if cap > body_cap(""):
            assert operator.post(path, data=b"x" * cap, content_type="application/x-www-form-urlencoded"
                                 ).status_code != 413, path
        posted.add(rule.endpoint)
    assert database_digest(world) == before
    assert {"profiles.propose", "projects.new", "participation.proposal_form", "documents.search_document",
            "moderation.login"} <= posted


# -- 4. CSRF -----------------------------------------------------------------------------------------------------------
# POST routes that take no CSRF token, and why. A route made exempt without being listed here fails the test below.
CSRF_EXEMPT = {
    # Reads an uploaded document (or a long text) and renders search results: it stores and changes nothing, and
    # its form is reached from the GET search form, whose address must stay shareable.
    "documents.search_document": "read-only search by document",
    # The JSON API's blueprint is exempt: it is read-only (GET) and no session cookie means anything to it. It has
    # no POST route; one added there fails the test, to be reviewed.
    "api.*": "read-only GET API",
    # RFC 8058's one-click unsubscribe from an alert digest: the mail client POSTs with no session and no form; the
    # signed token in the address is the credential, and it can only delete that alert (tests/test_alerts.py).
    "alerts.unsubscribe_one_click": "one-click unsubscribe by signed token",
}


def test_every_post_route_of_the_pages_refuses_a_missing_or_foreign_csrf_token_and_stores_nothing(world):
    from html import unescape

    clients = {role: world.client(role) for role in ("anonymous", "buyer", "supplier", "operator")}
    foreign = csrf_token(world.client("anonymous"))  # valid, for another browser's session
    before = database_digest(world)
    checked = []
    for rule in rules(world, "POST"):
        assert not rule.endpoint.startswith("api."), f"{rule.rule}: a POST route in the read-only API"
        if rule.endpoint in CSRF_EXEMPT:
            continue
        path = path_of(world, rule)
        for role, client in clients.items():
            for data in ({}, {"csrf_token": ""}, {"csrf_token": "faux"}, {"csrf_token": foreign}):
                response = client.post(path, data={**data, "text": "x", "email": "a@b.fr", "reason": "x",
                                                   "decision": "retenue", "message": "x", "confirm": "y"})
                assert response.status_code == 400, f"POST {path} as {role} with {data} -> {response.status_code}"
                assert "Formulaire expiré" in unescape(response.get_data(as_text=True)), path
        checked.append(rule.endpoint)
    assert database_digest(world) == before
    assert len(checked) >= 20
    # Each listed exemption is real and still needed: the route answers a post without a token.
    for endpoint in set(CSRF_EXEMPT) - {"api.*", "alerts.unsubscribe_one_click"}:
        [rule] = [r for r in rules(world, "POST") if r.endpoint == endpoint]
        response = clients["anonymous"].post(path_of(world, rule), data={"q": "capteurs"})
        assert response.status_code == 200, endpoint


# -- 5. security headers on every response -----------------------------------------------------------------------------
ROLES = ("anonymous", "buyer", "supplier", "operator")
# Pages that need a query to show what they are for.
QUERIES = {"search.index": "?q=capteurs", "exports.results_csv": "?q=capteurs", "exports.results_memo": "?q=capteurs",
           "exports.selection_csv": "?ids={slug}", "exports.selection_memo": "?ids={slug}",
           "shortlist.page": "?ids={slug}", "search.commune_options": "?commune=bre"}


def assert_security_headers(response, context: str, https: bool = False) -> None:
    headers = response.headers
    policy = headers.get("Content-Security-Policy", "")
    where = f"{context} -> {response.status_code}"
    assert policy, f"{where}: no Content-Security-Policy"
    assert headers.get("X-Frame-Options") == "DENY" or "frame-ancestors 'none'" in policy, where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") in ("same-origin", "no-referrer"), where
    assert "camera=()" in headers.get("Permissions-Policy", ""), where
    assert headers.get("Cross-Origin-Opener-Policy") == "same-origin", where
    assert ("Strict-Transport-Security" in headers) is https, where


def test_every_get_route_answers_with_the_security_headers_in_every_role(world):
    from vivier.opendata import CONTENT_TYPES

    clients = {role: world.client(role) for role in ROLES}
    unserved = []
    for rule in rules(world, "GET"):
        path = path_of(world, rule) + QUERIES.get(rule.endpoint, "").format(slug=world.supplier_slug)
        statuses = []
        for role, client in clients.items():
            for method in ("GET", "HEAD"):
                response = client.open(path, method=method)
                assert response.status_code < 500, f"{method} {path} as {role}"
                assert_security_headers(response, f"{method} {path} as {role}")
                statuses.append(response.status_code)
        if min(statuses) >= 400 and "token" not in rule.arguments and rule.arguments <= url_values(world, rule).keys():
            unserved.append((rule.rule, statuses))
    assert not unserved, unserved  # each page was reached for real by one role at least (tokens excepted: none is real)
    extra = [f"/donnees-ouvertes/{name}" for name in CONTENT_TYPES] + [
        "/static/vendor/htmx-2.0.11.min.js", "/static/search-box.js", "/static/nexiste-pas.css",
        "/static/../vivier/config.py", "/nexiste-pas", "/api/v1/nexiste-pas", "/fournisseurs/inconnu",
        "/projets/inconnu/journal.csv", "/?q=capteurs&mode=dense", "/recherche.csv?q=capteurs"]
    for path in extra:
        response = clients["anonymous"].get(path)
        assert response.status_code < 500, path
        assert_security_headers(response, f"GET {path}")


def test_error_pages_and_other_methods_carry_the_security_headers_too(world, tmp_path, encoder):
    from html import unescape

    anonymous = world.client("anonymous", "10.8.0.1")
    answers = {
        "404": anonymous.get("/nexiste-pas"),
        "404 API": anonymous.get("/api/v1/nexiste-pas"),
        "405": anonymous.get("/acheteurs/deconnexion"),
        "405 POST": anonymous.post("/"),
        "400 CSRF": anonymous.post("/acheteurs/connexion", data={"email": "a@b.fr"}),
        "413": anonymous.post("/acheteurs/connexion", data=b"x" * (2 * 1024 * 1024),
                              content_type="application/x-www-form-urlencoded"),
        "OPTIONS": anonymous.options("/"),
        "OPTIONS API": anonymous.options("/api/v1/search", headers={
            "Origin": "https://exemple.fr", "Access-Control-Request-Method": "GET"}),
    }
    token = csrf_token(anonymous)
    for _ in range(6):  # the operators' sign-in allows 5 attempts a minute per address
        answers["429"] = anonymous.post("/moderation/connexion", data={
            "csrf_token": token, "email": OPERATOR_EMAIL, "password": "faux"})
    # An app whose index was never built (503), and one whose view fails (500, TESTING off: the error page).
    empty = create_app(settings=load_settings({"VIVIER_DATA_DIR": str(tmp_path / "vide")}), encoder=encoder)
    answers["503"] = empty.test_client().get("/?q=capteurs")
    answers["503 API"] = empty.test_client().get("/api/v1/search?q=capteurs")
    failing = create_app(settings=load_settings({"VIVIER_DATA_DIR": str(tmp_path / "vide")}), encoder=encoder)
    failing.add_url_rule("/panne", "panne", lambda: 1 / 0)
    answers["500"] = failing.test_client().get("/panne")
    for case, response in answers.items():
        expected = int(case[:3]) if case[:3].isdigit() else response.status_code
        assert response.status_code == expected, f"{case}: {response.status_code}"
        assert_security_headers(response, case)
    assert "Formulaire expiré" in unescape(answers["400 CSRF"].get_data(as_text=True))
    assert "Trop de demandes" in unescape(answers["429"].get_data(as_text=True))


def test_hsts_only_when_the_site_is_served_over_https(world, encoder):
    settings_ = world.app.extensions["vivier"]["settings"].with_overrides(base_url="https://vivier.example")
    https_app = create_app(settings=settings_, encoder=encoder)
    https_app.config.update(TESTING=True)
    for path in ("/", "/projets", "/nexiste-pas", "/api/v1/categories", "/static/vivier.css"):
        response = https_app.test_client().get(path, base_url="https://vivier.example")
        assert_security_headers(response, path, https=True)
        assert_security_headers(world.client("anonymous").get(path), path, https=False)


# -- 6. secrets never logged, nor mailed to anyone else ----------------------------------------------------------------
SECRET_KEY = "cle-secrete-de-session-3f9a1c"
DATABASE_PASSWORD = "MotDePasseBase-7d41e0"
LINK = re.compile(r"https?://[^/\s]+(/\S+)")


class LiveServer:
    """The app behind werkzeug's own HTTP server on a free loopback port: its access log is the real one."""

    def __init__(self, app):
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join()

    def status(self, path: str) -> int:
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        try:
            with urllib.request.build_opener(NoRedirect).open(f"http://127.0.0.1:{self.server.port}{path}"):
                return 200
        except urllib.error.HTTPError as error:
            return error.code


def mailed_link(world: World, to: str) -> str:
    with world.database().session() as s:
        body = s.scalar(select(OutboxMessage.body).where(OutboxMessage.to_address == to)
                        .order_by(OutboxMessage.id.desc()).limit(1))
    return LINK.search(body).group(1)


def test_passwords_tokens_and_keys_never_reach_a_log_nor_another_persons_mail(world, encoder, caplog):
    settings_ = world.app.extensions["vivier"]["settings"].with_overrides(secret_key=SECRET_KEY)
    app = create_app(settings=settings_, encoder=encoder)  # TESTING off: errors are logged as in production
    app.extensions["vivier"]["clock"] = lambda: NOW
    broken = create_app(settings=settings_.with_overrides(
        database_url=f"postgresql+psycopg://vivier:{DATABASE_PASSWORD}@127.0.0.1:9/vivier"), encoder=encoder)
    # Every logger, SQLAlchemy's statements and parameters included (it sets its own loggers to WARNING: a
    # deployment turns them up to debug), and werkzeug's access log.
    for name in (None, "sqlalchemy", "werkzeug"):
        caplog.set_level(logging.DEBUG, logger=name)
    with world.database().session() as s:
        other_domain = s.scalar(select(Supplier.website_domain).where(Supplier.slug == world.other_slug))
    claimer, editor, buyer = f"direction@{other_domain}", world.supplier_email, "voirie@brest-metropole.fr"
    browser = app.test_client()
    token = csrf_token(browser)
    for password in (OPERATOR_PASSWORD, OPERATOR_PASSWORD + "-faux"):
        browser.post("/moderation/connexion", data={"csrf_token": token, "email": OPERATOR_EMAIL,
                                                    "password": password})
    assert browser.post("/acheteurs/connexion", data={"csrf_token": token, "email": buyer}).status_code == 200
    assert browser.post(f"/fournisseurs/{world.supplier_slug}/modifier/lien", data={
        "csrf_token": token, "email": editor}).status_code == 200
    assert browser.post(f"/fournisseurs/{world.other_slug}/revendiquer", data={
        "csrf_token": token, "email": claimer}).status_code == 200
    run_pending(app)  # the edit link is decided and sent by the background worker, whose logs are read too
    links = {buyer: mailed_link(world, buyer), editor: mailed_link(world, editor), claimer: mailed_link(world, claimer)}
    tokens = {to: link.rsplit("/", 1)[1] for to, link in links.items()}
    assert all(len(t) >= 20 for t in tokens.values())
    unknown = "JetonInconnu-0123456789abcdefghij"
    with LiveServer(app) as server:
        for link in links.values():
            assert server.status(link) == 303  # redeemed: a session opens
            assert server.status(link) in (404, 410)  # used
        assert server.status(f"/acces/{unknown}") == 404
    # The database cannot be reached: a 503, logged with the request's path (psycopg is installed for the tests).
    assert broken.test_client().get(f"/acces/{unknown}").status_code == 503

    logged = caplog.text + "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert '"GET /acheteurs/acces/[masqué] HTTP/1.1" 303' in logged  # werkzeug's access log, redacted
    assert "database unavailable on GET /acces/[masqué]" in logged  # the app's error log, redacted
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    for secret in (OPERATOR_PASSWORD, SECRET_KEY, DATABASE_PASSWORD, unknown, *tokens.values()):
        assert secret not in logged
    with world.database().session() as s:
        mails = list(s.scalars(select(OutboxMessage)))
    for mail in mails:
        text_ = mail.subject + mail.body
        assert OPERATOR_PASSWORD not in text_ and SECRET_KEY not in text_ and DATABASE_PASSWORD not in text_
        assert all(token_ not in text_ for to, token_ in tokens.items() if to != mail.to_address)


def test_every_private_link_route_and_every_password_in_a_url_is_redacted(world):
    from search_app.logredact import REDACTOR, token_prefixes

    assert token_prefixes(world.app.url_map) >= {"/acces/", "/acheteurs/acces/", "/revendiquer/"}
    for line, expected in (
            ('127.0.0.1 - - "GET /acheteurs/acces/Ab-c_9?x=1 HTTP/1.1" 303 -',
             '127.0.0.1 - - "GET /acheteurs/acces/[masqué]?x=1 HTTP/1.1" 303 -'),
            ("lien : https://vivier.example/revendiquer/Zz9-_a\nfin", "lien : https://vivier.example/revendiquer/[masqué]\nfin"),
            ("postgresql+psycopg://vivier:pa:ss@db:5432/vivier", "postgresql+psycopg://vivier:[masqué]@db:5432/vivier"),
            ("redis://:secret@cache:6379/0", "redis://:[masqué]@cache:6379/0"),
            ("GET /fournisseurs/acces-libre 200", "GET /fournisseurs/acces-libre 200")):
        assert REDACTOR.redact(line) == expected
