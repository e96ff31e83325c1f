"""The companies' pages (search_app/companies/editing.py) through the Flask test client, on a private copy of the
crawled and indexed fixture database: real forms with their CSRF tokens, the real outbox, the real index.

Propose a profile: valid, invalid, honeypot, CSRF, rate limit, duplicate suggestions. Claims, editing links and
sessions, updates and removal are in tests/test_profile_access.py.
"""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import func, select

from search_app.labels import lifetime_text
from vivier.lookalikes import Candidate, similar_names
from vivier import submissions as service
from vivier.models import Claim, OutboxMessage, Submission, Supplier

# A complete, valid proposal, as the browser posts it (lists as repeated keys, blocks as prefixed names).
VALID_PROFILE = {
    "name": "Arrosage Malin", "siren": "732 829 320", "website": "arrosage-malin.fr",
    "contact_email": "Contact@Arrosage-Malin.fr", "contact_phone": "02 98 00 00 00",
    "pitch": "Sondes d'humidité pour piloter l'arrosage des espaces verts",
    "description": "Des sondes dans les massifs, une plateforme qui dit quand arroser.",
    "categories": ["green-spaces", "iot-networks"], "keywords": "LoRaWAN, sondes capacitives",
    "address": "3 rue de Siam", "postcode": "29200", "commune": "Brest", "size_band": "1-9", "founded_year": "2019",
    "labels": ["ess"],
    "offers-0-name": "Pack parc", "offers-0-scope": "Dix sondes et la plateforme",
    "offers-0-price_band": "de 2 000 à 5 000 € HT par an", "offers-0-basic": "Un parc",
    "offers-0-medium": "Cinq parcs", "offers-0-complex": "Toute la ville",
    "references-0-client": "Ville de Brest", "references-0-object": "Arrosage du jardin des explorateurs",
    "references-0-year": "2022",
    "standards": "LoRaWAN, GeoJSON", "api": "https://api.arrosage-malin.fr", "licence": "AGPL-3.0",
}
CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
LINK = re.compile(r"https?://[^/\s]+(/\S+)")


def database(app):
    return app.extensions["vivier"]["database"]


def csrf_token(client, url: str) -> str:
    """The token of the form at `url`, as a browser gets it (the session cookie stays in the client)."""
    return CSRF_INPUT.search(client.get(url).get_data(as_text=True)).group(1)


def post_form(client, url: str, data: dict):
    return client.post(url, data={**data, "csrf_token": csrf_token(client, url)})


def outbox(app, to: str | None = None) -> list[OutboxMessage]:
    with database(app).session() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if to is not None:
            query = query.where(OutboxMessage.to_address == to)
        return list(session.scalars(query))


def link_path(body: str) -> str:
    """The path of the (only) link in an e-mail."""
    [path] = LINK.findall(body)
    return path


def hit_slugs(client, query: str) -> list[str]:
    """The suppliers the public search page lists for `query`, in rank order."""
    html = client.get("/", query_string={"q": query}).get_data(as_text=True)
    return re.findall(r'<li class="hit">\s*<h3><a href="/fournisseurs/([^"]+)"', html)


def approve_and_reindex(app, submission_id: int):
    """What an operator's approval does (vivier.submissions.approve, which queues an index update), then the
    background worker's run."""
    from search_app.jobs import run_pending
    from vivier.jobs import INDEX_UPDATE_JOB

    with database(app).session() as session:
        supplier = service.approve(session, session.get(Submission, submission_id), "operateur@vivier.fr")
        slug = supplier.slug if supplier is not None else None
    runs = run_pending(app)
    assert [r.ok for r in runs if r.kind == INDEX_UPDATE_JOB] == [True]
    return slug


def count(app, model) -> int:
    with database(app).session() as session:
        return session.scalar(select(func.count()).select_from(model))


def listed_suppliers(app, limit: int = 2) -> list[Supplier]:
    """Crawled suppliers with a website (their domain verifies claims), in id order."""
    with database(app).session() as session:
        return list(session.scalars(select(Supplier).where(Supplier.status == "crawled",
                                                           Supplier.website_domain.is_not(None))
                                    .order_by(Supplier.id).limit(limit)))


# -- propose: the happy path ------------------------------------------------------------------------------------
def test_a_proposed_profile_is_stored_for_moderation_and_the_contact_is_told(private_app):
    client = private_app.test_client()
    response = post_form(client, "/fournisseurs/proposer", VALID_PROFILE)
    assert response.status_code == 303 and response.headers["Location"].endswith("/fournisseurs/proposer/merci")
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "sera publiée après vérification" in thanks

    with database(private_app).session() as session:
        submission = session.scalars(select(Submission)).one()
        assert (submission.kind, submission.status, submission.email) == ("new", "pending", "contact@arrosage-malin.fr")
        data = submission.data
    # Cleaned like a crawled profile: SIREN digits, canonical website, department from the postcode, typed lists.
    assert data["siren"] == "732829320" and data["website"] == "https://arrosage-malin.fr/"
    assert data["department"] == "29" and data["commune"] == "Brest"
    assert data["categories"] == ["green-spaces", "iot-networks"] and data["labels"] == ["ess"]
    assert data["keywords"] == ["LoRaWAN", "sondes capacitives"]
    assert data["offers"] == [{"name": "Pack parc", "scope": "Dix sondes et la plateforme",
                               "price_band": "de 2 000 à 5 000 € HT par an",
                               "tiers": {"basic": "Un parc", "medium": "Cinq parcs", "complex": "Toute la ville"}}]
    assert data["references"] == [{"client": "Ville de Brest", "object": "Arrosage du jardin des explorateurs",
                                   "year": 2022}]
    assert data["interoperability"] == {"standards": ["LoRaWAN", "GeoJSON"], "api": "https://api.arrosage-malin.fr",
                                        "licence": "AGPL-3.0"}

    [mail] = outbox(private_app)
    assert mail.to_address == "contact@arrosage-malin.fr" and "Arrosage Malin" in mail.subject + mail.body
    assert "publiée après vérification" in mail.body
    # Not public before an operator approves it.
    assert client.get("/fournisseurs/arrosage-malin").status_code == 404
    assert not any(slug.startswith("arrosage") for slug in hit_slugs(client, "Arrosage Malin sondes"))
    # Once approved (the operator's side), it is found at once.
    slug = approve_and_reindex(private_app, submission.id)
    assert hit_slugs(client, "Arrosage Malin sondes")[0] == slug
    assert "Sondes d&#39;humidité" in client.get(f"/fournisseurs/{slug}").get_data(as_text=True)


def test_the_proposal_page_is_accessible_and_prefills_the_name_from_the_duplicate_check(private_app):
    html = private_app.test_client().get("/fournisseurs/proposer?nom=Arrosage+Malin").get_data(as_text=True)
    assert 'id="name"' in html and 'value="Arrosage Malin"' in html
    assert '<label for="name">' in html and '<legend>Thématiques <span class="required">(obligatoire)</span>' in html
    assert 'aria-describedby="siren-hint"' in html and 'name="csrf_token"' in html
    # The live duplicate check (htmx) and the honeypot, hidden from people and out of the tab order.
    assert 'hx-get="/fournisseurs/proposer/doublons"' in html and 'hx-target="#duplicates"' in html
    assert re.search(r'<div class="hp" aria-hidden="true">.*?tabindex="-1"', html, re.S)
    assert html.count('name="offers-') == 3 * 6 and 'name="references-4-client"' in html


# -- propose: invalid input -------------------------------------------------------------------------------------
INVALID_CASES = [
    ({"siren": "123 456 789"}, "siren", "Numéro SIREN invalide"),
    ({"contact_email": "pas-une-adresse"}, "contact_email", "Adresse électronique invalide"),
    ({"contact_email": ""}, "contact_email", "Indiquez une adresse électronique."),
    ({"name": "  "}, "name", "Indiquez le nom de l'entreprise."),
    ({"pitch": ""}, "pitch", "Résumez votre solution en une phrase."),
    ({"website": "javascript:alert(1)"}, "website", "Adresse de site invalide"),
    ({"postcode": "2920"}, "postcode", "Code postal invalide : 5 chiffres."),
    ({"commune": ""}, "commune", "Indiquez la commune de l'entreprise."),
    ({"founded_year": "1700"}, "founded_year", "Année invalide"),
    ({"contact_phone": "appelez-nous"}, "contact_phone", "Numéro de téléphone invalide"),
    ({"categories": []}, "categories-0", "Choisissez au moins une thématique."),
    ({"categories": ["waste", "parking", "mobility", "security", "air-quality"]}, "categories-0",
     "Choisissez 4 thématiques au plus."),
    ({"categories": ["waste", "not-a-theme"]}, "categories-0", "n'est pas un choix valide"),
    ({"size_band": "1000+"}, "size_band", "pas un choix valide"),
    ({"pitch": "x" * 281}, "pitch", "280 caractères au plus."),
    ({"offers-1-scope": "Sans nom"}, "offers-1-name", "Donnez un nom à cette offre"),
    ({"references-1-year": "2021"}, "references-1-client", "Indiquez le client de cette référence"),
    ({"references-0-year": "22"}, "references-0-year", "Année invalide"),
]


def test_each_invalid_field_gets_its_french_message_and_nothing_is_stored(private_app):
    client = private_app.test_client()
    for overrides, field_id, message in INVALID_CASES:
        response = post_form(client, "/fournisseurs/proposer", {**VALID_PROFILE, **overrides})
        html = unescape(response.get_data(as_text=True))
        assert response.status_code == 400, overrides
        assert message in html, overrides
        # The error summary links to the field, which carries the error.
        assert f'<a href="#{field_id}">' in html, overrides
        assert html.count('class="field-error-message"') == 1, overrides
    assert count(private_app, Submission) == 0 and count(private_app, OutboxMessage) == 0


def test_an_invalid_proposal_keeps_everything_typed_and_links_the_errors(private_app):
    client = private_app.test_client()
    typed = {**VALID_PROFILE, "siren": "123 456 789", "contact_email": "pas-une-adresse",
             "description": "Nos sondes mesurent l'humidité.\n\nElles parlent LoRaWAN."}
    html = post_form(client, "/fournisseurs/proposer", typed).get_data(as_text=True)
    assert 'value="123 456 789"' in html and 'value="pas-une-adresse"' in html and 'value="Arrosage Malin"' in html
    assert "Nos sondes mesurent l&#39;humidité.\n\nElles parlent LoRaWAN.</textarea>" in html
    assert re.search(r'value="green-spaces" checked', html) and re.search(r'value="ess" checked', html)
    assert not re.search(r'value="waste" checked', html)
    assert 'value="Pack parc"' in html and 'value="Ville de Brest"' in html and 'value="2022"' in html
    assert '<option selected value="1-9">' in html
    siren_input = re.search(r'<input[^>]*id="siren"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in siren_input and 'aria-describedby="siren-hint siren-error"' in siren_input
    assert 'id="siren-error"' in html and 'role="alert"' in html and "Le formulaire contient 2 erreurs" in html
    # The duplicate suggestions are there without JavaScript too.
    assert 'id="duplicates"' in html


# -- propose: abuse ---------------------------------------------------------------------------------------------
def test_a_post_without_csrf_token_is_refused(private_app):
    client = private_app.test_client()
    client.get("/fournisseurs/proposer")  # a session exists, but the form's token is missing
    response = client.post("/fournisseurs/proposer", data=VALID_PROFILE)
    assert response.status_code == 400 and "Formulaire expiré" in response.get_data(as_text=True)
    wrong = client.post("/fournisseurs/proposer", data={**VALID_PROFILE, "csrf_token": "forged"})
    assert wrong.status_code == 400 and "Formulaire expiré" in wrong.get_data(as_text=True)
    slug = _first_slug(private_app)
    claim = client.post(f"/fournisseurs/{slug}/revendiquer", data={"email": "jeanne@example.fr"})
    assert claim.status_code == 400 and "Formulaire expiré" in claim.get_data(as_text=True)
    assert count(private_app, Submission) == 0 and count(private_app, Claim) == 0


def test_a_filled_honeypot_looks_like_success_but_stores_and_sends_nothing(private_app):
    client = private_app.test_client()
    response = post_form(client, "/fournisseurs/proposer", {**VALID_PROFILE, "fax": "01 02 03 04 05"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/fournisseurs/proposer/merci")
    slug = _first_slug(private_app)
    claim = post_form(client, f"/fournisseurs/{slug}/revendiquer", {"email": "bot@example.fr", "fax": "x"})
    assert claim.status_code == 200 and "en attente de vérification" in claim.get_data(as_text=True)
    link = post_form(client, f"/fournisseurs/{slug}/modifier/lien", {"email": "bot@example.fr", "fax": "x"})
    assert link.status_code == 200 and "Si l'adresse" in link.get_data(as_text=True)
    assert count(private_app, Submission) == 0 and count(private_app, Claim) == 0
    assert count(private_app, OutboxMessage) == 0


def test_form_posts_are_rate_limited_per_address(private_settings, encoder):
    from search_app import create_app

    app = create_app(settings=private_settings.with_overrides(form_rate_limit="2 per minute"), encoder=encoder)
    app.config.update(TESTING=True)
    client = app.test_client()
    token = csrf_token(client, "/fournisseurs/proposer")
    statuses = [client.post("/fournisseurs/proposer", data={"csrf_token": token, "name": ""}).status_code
                for _ in range(3)]
    assert statuses == [400, 400, 429]
    refused = client.post("/fournisseurs/proposer", data={**VALID_PROFILE, "csrf_token": token})
    assert refused.status_code == 429 and "Trop de demandes" in refused.get_data(as_text=True)
    assert client.get("/fournisseurs/proposer").status_code == 200  # reading the form is not limited
    assert count(app, Submission) == 0


# -- duplicates -------------------------------------------------------------------------------------------------
def test_similar_names_finds_typos_prefixes_and_other_spellings_best_first():
    pool = [Candidate("borne-cite", "Borne & Cité", "Mulhouse"),
            Candidate("budget-ouvert", "Budget Ouvert", "Besançon"),
            Candidate("bleuzone", "Bleuzone", "Annecy"), Candidate("net-borne", "Net'Borne Insertion", "Lyon")]
    assert [c.slug for c in similar_names("budjet ouvert", pool)] == ["budget-ouvert"]
    assert [c.slug for c in similar_names("Budget", pool)] == ["budget-ouvert"]
    assert [c.slug for c in similar_names("BORNE ET CITE SAS", pool)][0] == "borne-cite"
    assert [c.slug for c in similar_names("borne", pool)] == ["borne-cite", "net-borne"]  # same score: by name
    assert similar_names("borne", pool, limit=1) == [pool[0]]
    assert similar_names("bu", pool) == [] and similar_names("", pool) == []
    assert similar_names("Société Nouvelle Informatique", pool) == []


def test_duplicate_suggestions_while_typing_and_without_javascript(private_app):
    client = private_app.test_client()
    slug, name = _first_named(private_app)
    typo = name[:-1] + ("x" if name[-1] != "x" else "y")
    partial = client.get("/fournisseurs/proposer/doublons", query_string={"name": typo},
                         headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in partial and "déjà référencée" in partial
    assert f'href="/fournisseurs/{slug}"' in partial and f'href="/fournisseurs/{slug}/revendiquer"' in partial
    assert partial.count("<li>") <= 5
    page = client.get("/fournisseurs/proposer/doublons", query_string={"nom": name}).get_data(as_text=True)
    assert "<html" in page and f'href="/fournisseurs/{slug}/revendiquer"' in page
    assert "/fournisseurs/proposer?nom=" in page  # "no, propose a new profile", the name carried over
    unrelated = client.get("/fournisseurs/proposer/doublons", query_string={"name": "Zyxwvu Qjkplm"},
                           headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Aucune fiche" in unrelated and "revendiquer" not in unrelated


def test_lifetimes_are_written_in_french():
    from datetime import timedelta

    assert lifetime_text(timedelta(hours=1)) == "1 heure"
    assert lifetime_text(timedelta(days=1)) == "24 heures"
    assert lifetime_text(timedelta(days=3)) == "3 jours"
    assert lifetime_text(service.EDIT_LINK_LIFETIME) == "1 heure"


def _first_named(app) -> tuple[str, str]:
    [supplier] = listed_suppliers(app, 1)
    return supplier.slug, supplier.name


def _first_slug(app) -> str:
    return _first_named(app)[0]
