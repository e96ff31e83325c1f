"""Searching from a specification: upload (PDF, DOCX, ODT, TXT) or long pasted text, through the Flask test client
on the index built from the crawled fixture directory (tests/conftest.py)."""

from __future__ import annotations

import io
import itertools
import re
from html import unescape

import pytest
from PIL import Image

from search_app.public.documents import LONG_TEXT_CHARS, MAX_REQUEST_BYTES, display_name, read_form
from tests.test_textfiles import make_docx, make_odt, make_pdf
from tests.test_web import hit_names as raw_hit_names

# A town's specification for its school canteen booking, about two pages (written for this test).
SPECIFICATION = [
    [
        "Ville de Saint-Aubin-des-Prés - Direction de l'éducation",
        "Cahier des clauses techniques particulières : portail famille pour la restauration scolaire",
        "Article 1 - Contexte",
        ("La commune compte quatre écoles publiques et sert environ 650 repas par jour dans ses restaurants "
         "scolaires. Les familles inscrivent aujourd'hui leurs enfants à la cantine sur un formulaire papier "
         "déposé en mairie, puis réservent les repas du mois suivant sur une feuille rendue à l'école. Les "
         "oublis sont nombreux, les commandes au prestataire de restauration sont faites au jugé et le "
         "gaspillage alimentaire reste élevé."),
        "Article 2 - Objet de la consultation",
        ("La consultation porte sur la fourniture, le paramétrage et l'hébergement d'une solution en ligne "
         "permettant aux familles d'inscrire leurs enfants à la cantine scolaire, de réserver ou d'annuler un "
         "repas jusqu'à la veille à 10 heures, et de payer les repas consommés par carte bancaire."),
        "Article 3 - Fonctionnalités attendues",
        "- un espace famille accessible sur ordinateur et sur téléphone, sans installation;",
        "- l'inscription annuelle à la restauration scolaire avec les pièces justificatives;",
        "- la réservation et l'annulation des repas au jour le jour, avec un calendrier par enfant;",
        "- le signalement des régimes alimentaires et des enfants sous projet d'accueil individualisé;",
        "- la facturation mensuelle selon le quotient familial et le paiement en ligne par PayFiP;",
    ],
    [
        "- l'envoi chaque matin au prestataire de restauration du nombre exact de repas par école;",
        "- des tableaux de bord de fréquentation pour le service éducation.",
        "Article 4 - Exigences techniques",
        ("La solution est hébergée en France. Les données personnelles des familles sont traitées conformément "
         "au règlement général sur la protection des données. Les exports se font au format CSV et l'interface "
         "respecte le référentiel général d'amélioration de l'accessibilité."),
        "Article 5 - Accompagnement",
        ("Le titulaire assure la reprise des inscriptions existantes, la formation des agents du service "
         "éducation et une assistance téléphonique pendant les heures d'ouverture de la mairie."),
        "Article 6 - Durée",
        "Le marché est conclu pour une durée d'un an, reconductible trois fois.",
    ],
]
# The category of fixtures/directory/profiles/a6_school_services.yaml, whose Cantine Facile answers this need best.
SCHOOL_CATEGORY_LABEL = "Restauration scolaire et périscolaire"


@pytest.fixture(autouse=True)
def own_address(request):
    """Each test uploads from an address of its own: the app is shared by the session, and uploads are limited per
    address (DOCUMENT_RATE_LIMIT)."""
    if "client" in request.fixturenames:
        client = request.getfixturevalue("client")
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{next(_ADDRESSES)}"


_ADDRESSES = itertools.cycle(range(1, 255))


def upload(client, filename: str, data: bytes, **fields):
    return client.post("/recherche/document", data={"document": (io.BytesIO(data), filename), **fields},
                       content_type="multipart/form-data")


def hit_names(html: str) -> list[str]:
    """Supplier names of the results, in order, without their highlighting."""
    return [unescape(re.sub(r"<[^>]+>", "", name)) for name in raw_hit_names(html)]


def first_hit(html: str) -> str:
    return html.split('<li class="hit">', 1)[1].split("</li>", 1)[0]


def search_box_text(html: str) -> str:
    return unescape(re.search(r'<textarea id="q" name="q"[^>]*>(.*?)</textarea>', html, re.DOTALL).group(1))


def test_search_page_offers_the_document_upload(client):
    html = client.get("/").get_data(as_text=True)
    assert "<summary>Chercher à partir d'un cahier des charges</summary>" in html
    form = re.search(r'<form id="document-form"[^>]*>', html).group(0)
    assert 'action="/recherche/document"' in form and 'method="post"' in form
    assert 'enctype="multipart/form-data"' in form
    file_input = re.search(r'<input type="file"[^>]*>', html).group(0)
    assert 'name="document"' in file_input and 'form="document-form"' in file_input
    assert 'accept=".pdf,.docx,.odt,.txt"' in file_input
    assert '<label for="document">' in html
    assert '<button type="submit" form="document-form">Trouver des fournisseurs pour ce document</button>' in html
    assert f'data-long-text="{LONG_TEXT_CHARS}"' in html and 'data-long-action="/recherche/document"' in html
    assert '<script src="/static/search-box.js" defer></script>' in html
    assert client.get("/static/search-box.js").status_code == 200


def test_a_specification_pdf_finds_canteen_booking_suppliers(client):
    response = upload(client, "cahier-des-charges.pdf", make_pdf(SPECIFICATION))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    text = search_box_text(html)
    assert text.startswith("Ville de Saint-Aubin-des-Prés - Direction de l'éducation")
    assert "réserver ou d'annuler un repas jusqu'à la veille" in text and len(text) > 2000
    count = format(len(text), ",").replace(",", "\u202f")
    assert f"Recherche à partir du document « cahier-des-charges.pdf » ({count} caractères lus)" in unescape(html)
    names = hit_names(html)
    assert SCHOOL_CATEGORY_LABEL in first_hit(html), names[:5]
    assert "Cantine Facile" in names[:3], names[:5]


@pytest.mark.parametrize("filename, make", [("besoin.docx", make_docx), ("besoin.odt", make_odt)])
def test_word_and_opendocument_specifications_work_too(client, filename, make):
    paragraphs = [p for page in SPECIFICATION for p in page]
    html = upload(client, filename, make(paragraphs)).get_data(as_text=True)
    assert f"Recherche à partir du document « {filename} »" in html
    assert "Cantine Facile" in hit_names(html)[:3]


def test_filters_posted_with_the_document_apply_and_stay_selected(client):
    html = upload(client, "cahier.txt", "\n\n".join(SPECIFICATION[0]).encode(), category="school-services",
                  department="53").get_data(as_text=True)
    assert 'id="f-category-school-services" name="category" value="school-services" checked' in html
    assert hit_names(html) == ["Cantine Facile"]  # the school-services supplier of Mayenne
    carried = re.search(r'<form id="document-form".*?</form>', html, re.DOTALL).group(0)
    assert 'name="category" value="school-services" data-carried' in carried
    assert 'name="department" value="53" data-carried' in carried


def test_an_unreadable_document_gives_400_and_keeps_what_was_typed(client):
    pdf_without_text = io.BytesIO()
    from fpdf import FPDF

    scan = FPDF()
    scan.add_page()
    scan.image(Image.new("L", (300, 400), 180), x=10, y=10, w=150)
    pdf_without_text.write(bytes(scan.output()))
    response = upload(client, "scan.pdf", pdf_without_text.getvalue(), q="cantine scolaire")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Ce PDF ne contient pas de texte (document scanné ?)" in html and 'role="alert"' in html
    assert "« scan.pdf »" in html and "<details class=\"document-search\" open>" in html
    assert search_box_text(html) == "cantine scolaire" and hit_names(html)


@pytest.mark.parametrize("filename, data, message", [
    ("setup.pdf", b"MZ\x90\x00" + bytes(range(256)) * 4, "n'est pas un PDF valide"),
    ("vide.docx", b"", "Le fichier est vide."),
    ("tableur.xlsx", b"PK\x03\x04" + b"\0" * 100, "endommagé"),
])
def test_bad_files_give_400_with_the_french_message(client, filename, data, message):
    response = upload(client, filename, data)
    assert response.status_code == 400
    assert message in unescape(response.get_data(as_text=True))


def test_no_file_chosen_gives_400(client):
    response = client.post("/recherche/document", data={"document": (io.BytesIO(b""), ""), "q": "cantine"},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choisissez un document" in unescape(response.get_data(as_text=True))


def test_a_too_large_upload_gives_the_413_page_in_french(client):
    response = upload(client, "enorme.pdf", b"%PDF-1.7\n" + b"0" * MAX_REQUEST_BYTES)
    assert response.status_code == 413
    assert "dépasse la taille maximale de 10 Mo" in unescape(response.get_data(as_text=True))


def test_long_pasted_text_is_searched_by_post(client):
    text = "\n\n".join(p for page in SPECIFICATION for p in page)
    assert len(text) > LONG_TEXT_CHARS
    response = client.post("/recherche/document", data={"q": text, "category": "school-services"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert search_box_text(html).startswith("Ville de Saint-Aubin-des-Prés")
    assert "Recherche à partir du document" not in html
    assert "Cantine Facile" in hit_names(html)[:3]
    assert 'value="school-services" checked' in html


def test_htmx_post_of_a_long_text_gets_the_partial_and_no_history_entry(client):
    text = "\n\n".join(SPECIFICATION[0])
    response = client.post("/recherche/document", data={"q": text}, headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and '<ol class="hits"' in html
    assert response.headers["HX-Push-Url"] == "false"


def test_links_relative_to_a_document_search_lead_to_the_search_page(client):
    response = client.get("/recherche/document?q=cantine&category=school-services&page=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/?q=cantine&category=school-services&page=2"


def test_uploaded_files_stay_in_memory(app):
    """werkzeug spools uploads over 500 kB to a temporary file; the document route keeps them in memory."""
    data = b"%PDF-1.7\n" + b"0" * (600 * 1024)
    with app.test_request_context("/recherche/document", method="POST",
                                  data={"document": (io.BytesIO(data), "gros.pdf")}):
        stream = read_form()[1]["document"].stream
        assert isinstance(stream, io.BytesIO) and stream.getvalue() == data
    with app.test_request_context("/recherche/document", method="POST",
                                  data={"document": (io.BytesIO(data), "gros.pdf")}):
        from flask import request

        assert not isinstance(request.files["document"].stream, io.BytesIO)  # what werkzeug does by default


def test_a_document_longer_than_the_search_reads_is_cut_with_a_notice(client, app):
    max_chars = app.extensions["vivier"]["settings"].query_max_chars
    paragraph = "\n\n".join(SPECIFICATION[0])
    data = "\n\n".join([paragraph] * (max_chars // len(paragraph) + 2)).encode()
    html = upload(client, "tres-long.txt", data).get_data(as_text=True)
    assert "seuls les premiers caractères ont été pris en compte" in html
    assert len(search_box_text(html)) <= max_chars


@pytest.mark.parametrize("sent, shown", [
    ("C:\\Users\\agent\\Documents\\CCTP cantine.pdf", "CCTP cantine.pdf"),
    ("../../etc/passwd", "passwd"),
    ("cahier\x00\x1b[31m.pdf", "cahier[31m.pdf"),
    ("x" * 300 + ".pdf", "x" * 119 + "…"),
])
def test_the_file_name_shown_is_only_its_last_part_without_control_characters(sent, shown):
    assert display_name(sent) == shown


# -- abuse: crafted documents, floods ---------------------------------------------------------------------------

def test_uploads_are_rate_limited_per_address_with_a_french_page(client):
    """DOCUMENT_RATE_LIMIT (six a minute) counts the POSTs carrying a file; the long pasted text is not limited."""
    statuses = [upload(client, "besoin.txt", b"Cantine scolaire, restauration des \xc3\xa9coles.").status_code
                for _ in range(6)]
    assert statuses == [200] * 6
    refused = upload(client, "besoin.txt", b"Cantine scolaire")
    html = unescape(refused.get_data(as_text=True))
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert "Trop de documents envoyés" in html and "attendez une minute" in html
    assert refused.headers["Retry-After"].isdigit()
    text = "\n\n".join(SPECIFICATION[0])
    assert client.post("/recherche/document", data={"q": text}).status_code == 200
    assert client.get("/recherche/document?q=cantine").status_code == 302


def test_the_document_limit_follows_a_more_generous_form_limit(app):
    from search_app.public.documents import DOCUMENT_RATE_LIMIT, document_rate_limit

    with app.test_request_context():
        assert document_rate_limit() == DOCUMENT_RATE_LIMIT  # the forms' default, 10 an hour, is stricter
        settings = app.extensions["vivier"]["settings"]
        app.extensions["vivier"]["settings"] = settings.with_overrides(form_rate_limit="1000 per minute")
        try:
            assert document_rate_limit() == "1000 per minute"
        finally:
            app.extensions["vivier"]["settings"] = settings


@pytest.mark.parametrize("case", ["billion-laughs", "deep-nesting"])
def test_crafted_documents_are_refused_with_a_french_reason(client, case):
    from tests.test_document_safety import BILLION_LAUGHS, CONTAINER, PARAGRAPH, crafted

    if case == "billion-laughs":
        filename, data = crafted("odt", PARAGRAPH["odt"] % b"&lol9;", prolog=BILLION_LAUGHS)
        words = "déclarations XML"
    else:
        opening, closing = CONTAINER["docx"]
        filename, data = crafted("docx", opening * 50_000, PARAGRAPH["docx"] % b"Cantine", closing * 50_000)
        words = "trop complexe pour être lu"
    response = upload(client, filename, data, q="cantine scolaire")
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 400 and words in html and 'role="alert"' in html
    assert search_box_text(html) == "cantine scolaire"


def test_a_document_outrunning_the_time_budget_gives_a_400_not_a_hung_worker(client, monkeypatch):
    from tests.test_document_safety import pages_pdf
    from vivier import textfiles

    monkeypatch.setattr(textfiles, "EXTRACTION_TIMEOUT_S", 1.0)
    data = pages_pdf(b"BT /F1 12 Tf " + b"() Tj " * 200_000 + b"ET", pages=100)
    response = upload(client, "lent.pdf", data)
    assert response.status_code == 400
    assert "trop complexe pour être lu" in unescape(response.get_data(as_text=True))


def test_a_document_arriving_while_another_is_read_gets_a_503_to_retry(client, monkeypatch):
    from vivier import textfiles

    monkeypatch.setattr(textfiles, "EXTRACTION_WAIT_S", 0.1)
    assert textfiles._EXTRACTION_SLOTS.acquire(blocking=False)
    try:
        response = upload(client, "besoin.txt", b"Cantine scolaire")
    finally:
        textfiles._EXTRACTION_SLOTS.release()
    assert response.status_code == 503
    assert "réessayez dans quelques secondes" in unescape(response.get_data(as_text=True))
