"""Purchase projects through the Flask test client, on a private copy of the crawled and indexed fixture database:
the buyer's form, states through the routes, who may do what, public pages and filters, attachments, matching on
publication, subscribers' e-mails and the Atom feeds. Time is the app's clock, fixed by each test."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import contextlib
import os
import subprocess
import time

import pytest
from sqlalchemy import select

from tests.test_buyers import NOW, allow_domain, csrf_token, database, last_mail, set_clock, sign_in
from search_app.purchasing import projects as pj_web
from vivier import projects as pj
from vivier.models import Attachment, OutboxMessage, Project, SourcingEvent, Subscription, Supplier

ATOM = "{http://www.w3.org/2005/Atom}"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
# A waste project in Finistère, in words the fixture directory's waste suppliers use.
WASTE = {"title": "Capteurs de remplissage des colonnes de tri",
         "need": "Mesurer le remplissage des colonnes à verre et des bacs de déchets pour optimiser les tournées de "
                 "collecte des ordures ménagères.",
         "context": "Communauté de communes rurale, 120 colonnes d'apport volontaire.",
         "studies": "Étude de gisement 2025.", "social_criteria": "Insertion professionnelle.",
         "environmental_criteria": "Réduction des kilomètres parcourus.", "variants_allowed": "y",
         "variant_requirements": "Autonomie de 5 ans au moins.", "budget_band": "de 40 000 à 60 000 € HT",
         "contract_model": "marche-public", "departments": "29", "categories": ["waste"],
         "deadline_date": "2026-04-30", "deadline_time": "12:00",
         "milestones-0-date": "2026-06-01", "milestones-0-label": "Lancement de la consultation",
         "milestones-1-date": "2026-03-20", "milestones-1-label": "Réunion d'information"}


def buyer_client(app, email: str = "achats@brest-metropole.fr"):
    set_clock(app, NOW)
    allow_domain(app)
    client = app.test_client()
    sign_in(client, app, email)
    return client


def submit(client, path: str, data: dict, files: list[tuple[bytes, str]] = (), with_token: bool = True):
    payload = dict(data)
    if with_token:
        payload["csrf_token"] = csrf_token(client, "/projets/nouveau")
    if files:
        payload["files"] = [(io.BytesIO(content), name) for content, name in files]
    return client.post(path, data=payload, content_type="multipart/form-data")


def create(client, data: dict = WASTE, files=()) -> str:
    response = submit(client, "/projets/nouveau", data, files)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"].rsplit("/", 1)[1]


def action(client, slug: str, verb: str):
    return client.post(f"/projets/{slug}/{verb}", data={"csrf_token": csrf_token(client, "/projets/nouveau")})


def project_row(app, slug: str) -> Project:
    with database(app).session() as s:
        project = s.scalar(select(Project).where(Project.slug == slug))
        s.expunge(project)
        return project


# -- the form -----------------------------------------------------------------------------------------------------
def test_form_errors_are_french_and_keep_what_was_typed(private_app):
    client = buyer_client(private_app)
    bad = {**WASTE, "title": "", "departments": "29, 999", "categories": [], "deadline_date": "2026-03-01",
           "milestones-2-date": "2026-05-01", "contract_model": "n-importe"}
    response = submit(client, "/projets/nouveau", bad)
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    for message in ("Donnez un titre au projet.", "Département inconnu : 999", "Choisissez au moins une thématique.",
                    "La date limite de réponse doit être dans le futur.", "Étape 3 : intitulé : Nommez cette étape",
                    "N&#39;est pas un choix valide."):
        assert message in body
    assert 'value="29, 999"' in body and "Mesurer le remplissage des colonnes" in body
    assert 'value="de 40 000 à 60 000 € HT"' in body
    with database(private_app).session() as s:
        assert s.scalar(select(Project.id)) is None


def test_csrf_token_is_required(private_app):
    client = buyer_client(private_app)
    assert submit(client, "/projets/nouveau", WASTE, with_token=False).status_code == 400
    with database(private_app).session() as s:
        assert s.scalar(select(Project.id)) is None


def test_only_the_projects_buyer_edits_and_publishes(private_app):
    client = buyer_client(private_app)
    slug = create(client)
    anonymous = private_app.test_client()
    for response in (anonymous.get("/projets/nouveau"), anonymous.get(f"/projets/{slug}/modifier")):
        assert response.status_code == 303 and response.headers["Location"].endswith("/acheteurs/connexion")
    assert anonymous.get(f"/projets/{slug}").status_code == 404  # a draft is not public
    other = buyer_client(private_app, "voirie@brest-metropole.fr")
    assert other.get(f"/projets/{slug}/modifier").status_code == 403
    assert action(other, slug, "publier").status_code == 403
    assert other.get(f"/projets/{slug}").status_code == 404
    assert project_row(private_app, slug).status == "draft"


# -- states, matching, the project page ---------------------------------------------------------------------------
def test_project_life_through_the_routes(private_app):
    client = buyer_client(private_app)
    slug = create(client, files=[(PDF, "Étude de gisement.pdf")])
    project = project_row(private_app, slug)
    # 30/04/2026 12:00 in Paris is 10:00 UTC (summer time); milestones are Paris days.
    assert project.deadline == datetime(2026, 4, 30, 10, 0)
    assert project.departments == ["29"] and project.categories == ["waste"] and not project.show_budget
    draft = client.get(f"/projets/{slug}").get_data(as_text=True)
    assert "Brouillon" in draft and "Publier" in draft
    mine = client.get("/acheteurs/projets").get_data(as_text=True)
    assert f"/projets/{slug}" in mine and "Brouillon" in mine

    # The draft's form comes back filled.
    form = client.get(f"/projets/{slug}/modifier").get_data(as_text=True)
    assert 'value="2026-04-30"' in form and 'value="12:00"' in form and "Réunion d&#39;information" in form

    published = action(client, slug, "publier")
    assert published.status_code == 303
    project = project_row(private_app, slug)
    assert project.status == "published" and project.published_at == NOW
    assert project.matches, "the matching found no supplier"
    with database(private_app).session() as s:
        for match in project.matches:
            supplier = s.get(Supplier, int(match["id"]))
            assert supplier.slug == match["slug"] and "waste" in supplier.categories
        kinds = [e.kind for e in s.scalars(select(SourcingEvent).join(Project).where(Project.slug == slug))]
        assert kinds == ["created", "published", "matched"]
    page = client.get(f"/projets/{slug}").get_data(as_text=True)
    assert "Fournisseurs correspondants" in page
    assert f'/fournisseurs/{project.matches[0]["slug"]}' in page
    public = private_app.test_client().get(f"/projets/{slug}").get_data(as_text=True)
    assert "Fournisseurs correspondants" not in public and "Gestion du projet" not in public
    assert "Autonomie de 5 ans au moins." in public and "Marché public" in public and "29 Finistère" in public
    assert "30/04/2026 à 12:00" in public and "de 40 000" not in public  # budget not opted in

    # The timeline picture: publication, the two milestones, the deadline, in date order; and the text list.
    assert public.count('class="mark ') == 4
    order = [public.index(f'data-date="{d}"') for d in ("2026-03-02", "2026-03-20", "2026-04-30", "2026-06-01")]
    assert order == sorted(order)
    assert 'role="img"' in public and "<desc" in public and "01/06/2026 : Lancement de la consultation" in public

    refused = action(client, slug, "publier")
    assert refused.status_code == 400 and "Passage impossible" in refused.get_data(as_text=True)
    refused = action(client, slug, "archiver")
    assert refused.status_code == 400 and "Passage impossible" in refused.get_data(as_text=True)
    assert action(client, slug, "cloturer").status_code == 303
    assert project_row(private_app, slug).status == "closed"
    frozen = client.get(f"/projets/{slug}/modifier")
    assert frozen.status_code == 400 and "ne peut plus être modifié" in frozen.get_data(as_text=True)
    assert submit(client, f"/projets/{slug}/modifier", WASTE).status_code == 400
    assert action(client, slug, "archiver").status_code == 303
    assert project_row(private_app, slug).status == "archived"


def test_published_edit_is_logged_and_deadline_closes_the_project(private_app):
    client = buyer_client(private_app)
    slug = create(client)
    assert action(client, slug, "publier").status_code == 303
    changed = {**WASTE, "show_budget": "y", "title": "Capteurs de remplissage (colonnes de tri)"}
    assert submit(client, f"/projets/{slug}/modifier", changed).status_code == 303
    page = private_app.test_client().get(f"/projets/{slug}").get_data(as_text=True)
    assert "de 40 000 à 60 000 € HT" in page  # opted in now
    with database(private_app).session() as s:
        event = s.scalar(select(SourcingEvent).where(SourcingEvent.kind == "modified"))
        assert event.detail["fields"] == ["show_budget", "title"]
    set_clock(private_app, datetime(2026, 4, 30, 10, 1))
    assert "Clos" in private_app.test_client().get(f"/projets/{slug}").get_data(as_text=True)
    assert project_row(private_app, slug).status == "published"  # shown closed, nothing written by the GET
    with database(private_app).session() as s:
        assert pj.close_due_projects(s, datetime(2026, 4, 30, 10, 1)) == 1  # the worker's job writes it
    assert project_row(private_app, slug).status == "closed"


# -- public list --------------------------------------------------------------------------------------------------
def test_public_list_is_searchable_and_hides_drafts(private_app):
    client = buyer_client(private_app)
    waste = create(client)
    parking = create(client, {**WASTE, "title": "Stationnement intelligent en centre-bourg",
                              "need": "Guider les automobilistes vers les places libres.", "categories": ["parking"],
                              "departments": "56"})
    draft = create(client, {**WASTE, "title": "Projet encore secret", "need": "Rien à voir."})
    assert action(client, waste, "publier").status_code == 303
    assert action(client, parking, "publier").status_code == 303
    anonymous = private_app.test_client()

    def listed(query: str = "") -> str:
        response = anonymous.get("/projets" + query)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    everything = listed()
    assert waste in everything and parking in everything and draft not in everything
    assert 'type="application/atom+xml"' in everything and "/projets/flux.atom" in everything
    assert waste in listed("?q=verre") and parking not in listed("?q=verre")
    assert parking in listed("?thematique=parking") and waste not in listed("?thematique=parking")
    assert waste in listed("?departement=29") and parking not in listed("?departement=29")
    assert "/projets/departements/29.atom" in listed("?departement=29")
    assert action(client, parking, "cloturer").status_code == 303
    assert parking in listed("?etat=closed") and waste not in listed("?etat=closed")
    assert anonymous.get(f"/projets/{draft}").status_code == 404


# -- attachments --------------------------------------------------------------------------------------------------
def test_attachments_are_checked_and_served_as_downloads(private_app):
    client = buyer_client(private_app)
    oversized = PDF + b"0" * pj.MAX_ATTACHMENT_BYTES
    for content, name, message in ((b"MZ\x90\x00binary", "outil.exe", "Type de fichier refusé"),
                                   (b"<html><script>alert(1)</script></html>", "page.html", "Type de fichier refusé"),
                                   (oversized, "gros.pdf", "Fichier trop volumineux")):
        response = submit(client, "/projets/nouveau", WASTE, [(content, name)])
        body = response.get_data(as_text=True)
        assert response.status_code == 400 and f"{name} : {message}" in body, name
        assert 'value="Capteurs de remplissage des colonnes de tri"' in body
    with database(private_app).session() as s:
        assert s.scalar(select(Project.id)) is None and s.scalar(select(Attachment.id)) is None

    slug = create(client, files=[(PDF, "Étude <préalable>.pdf")])
    with database(private_app).session() as s:
        row = s.scalar(select(Attachment))
        attachment_id, filename = row.id, row.filename
    assert filename == "Etude-prealable.pdf"
    url = f"/projets/{slug}/pieces/{attachment_id}"
    anonymous = private_app.test_client()
    assert anonymous.get(url).status_code == 404  # the draft's files are its buyer's
    own = client.get(url)
    assert own.status_code == 200 and own.data == PDF
    assert own.headers["Cache-Control"] == "private, no-store"
    assert action(client, slug, "publier").status_code == 303
    served = anonymous.get(url)
    assert served.status_code == 200 and served.data == PDF
    assert served.headers["Content-Type"] == "application/pdf"
    assert served.headers["Content-Disposition"].startswith("attachment;")
    assert "Etude-prealable.pdf" in served.headers["Content-Disposition"]
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"] == "sandbox"
    assert f'href="{url}"' in anonymous.get(f"/projets/{slug}").get_data(as_text=True)
    assert anonymous.get(f"/projets/{slug}/pieces/{attachment_id + 1}").status_code == 404
    # A proposal's file is never served here, even with the project's address.
    with database(private_app).session() as s:
        row = s.get(Attachment, attachment_id)
        row.proposal_id, row.project_id = None, None
        s.flush()
    assert anonymous.get(url).status_code == 404


# -- subscribers --------------------------------------------------------------------------------------------------
def test_matching_subscribers_get_one_mail_on_publication(private_app):
    client = buyer_client(private_app)
    with database(private_app).session() as s:
        ids = list(s.scalars(select(Supplier.id).order_by(Supplier.id).limit(3)))
        s.add_all([Subscription(supplier_id=ids[0], email="veille@collecte.example", categories=["waste"],
                                departments=[], query="", created_at=NOW),
                   Subscription(supplier_id=ids[1], email="autre@parking.example", categories=["parking"],
                                departments=["75"], query="", created_at=NOW),
                   Subscription(supplier_id=ids[2], email="mots@cles.example", categories=[], departments=[],
                                query="colonne verre", created_at=NOW)])
    slug = create(client)
    assert last_mail(private_app, "veille@collecte.example") is None  # not before publication
    assert action(client, slug, "publier").status_code == 303
    mail = last_mail(private_app, "veille@collecte.example")
    assert mail is not None and WASTE["title"] in mail.subject and f"/projets/{slug}" in mail.body
    assert "30/04/2026 à 12:00" in mail.body
    assert last_mail(private_app, "mots@cles.example") is not None  # a saved search whose words are all there
    assert last_mail(private_app, "autre@parking.example") is None
    with database(private_app).session() as s:
        count = len(list(s.scalars(select(OutboxMessage.id).where(
            OutboxMessage.to_address == "veille@collecte.example"))))
    assert count == 1


# -- feeds --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("unknown", ["/projets/thematiques/inconnue.atom", "/projets/departements/999.atom"])
def test_unknown_feed_is_404(private_app, unknown):
    assert private_app.test_client().get(unknown).status_code == 404


def test_atom_feeds_list_published_projects(private_app):
    client = buyer_client(private_app)
    waste = create(client)
    parking = create(client, {**WASTE, "title": "Stationnement intelligent", "categories": ["parking"],
                              "departments": "56"})
    create(client, {**WASTE, "title": "Brouillon caché"})
    assert action(client, waste, "publier").status_code == 303
    set_clock(private_app, NOW + timedelta(hours=1))
    assert action(client, parking, "publier").status_code == 303
    anonymous = private_app.test_client()

    def entries(path: str) -> list[ET.Element]:
        response = anonymous.get(path)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/atom+xml")
        return ET.fromstring(response.data).findall(f"{ATOM}entry")

    everything = entries("/projets/flux.atom")
    assert [e.find(f"{ATOM}title").text for e in everything] == ["Stationnement intelligent", WASTE["title"]]
    first = everything[1]
    assert first.find(f"{ATOM}link").get("href").endswith(f"/projets/{waste}")
    assert first.find(f"{ATOM}published").text.startswith("2026-03-02T09:00:00")
    summary = first.find(f"{ATOM}summary").text
    assert summary.startswith("Mesurer le remplissage") and "30/04/2026 à 12:00" in summary
    assert [e.find(f"{ATOM}title").text for e in entries("/projets/thematiques/waste.atom")] == [WASTE["title"]]
    assert [e.find(f"{ATOM}title").text for e in entries("/projets/departements/56.atom")] == [
        "Stationnement intelligent"]
    assert entries("/projets/thematiques/mobility.atom") == []
    # RFC 4287: the feed names its author; each entry its buying organisation.
    feed = ET.fromstring(anonymous.get("/projets/flux.atom").data)
    assert feed.find(f"{ATOM}author/{ATOM}name").text == pj_web.FEED_AUTHOR
    assert feed.find(f"{ATOM}author/{ATOM}uri").text.startswith("http")
    assert [e.find(f"{ATOM}author/{ATOM}name").text for e in everything] == ["Brest métropole"] * 2


def test_the_owners_actions_are_one_aligned_row_of_buttons_and_links(private_app):
    client = buyer_client(private_app)
    slug = create(client)
    html = client.get(f"/projets/{slug}").get_data(as_text=True)
    actions = html.split('<ul class="project-actions">', 1)[1].split("</ul>", 1)[0]
    assert 'class="action-link"' in actions and "<button type=\"submit\">Publier</button>" in actions
    assert 'class="inline project-actions"' not in html  # the tag list style no longer shifts the links
    css = client.get("/static/vivier.css").get_data(as_text=True)
    section = css.split("/* navigation and projects (issue 21) */", 1)[1]
    assert ".project-actions .action-link, .project-actions button" in section and "min-height" in section


# -- a full disk, and files nobody refers to any more --------------------------------------------------------------
@contextlib.contextmanager
def small_volume(folder, size_kb: int):
    """`folder` on a tmpfs of `size_kb` (root may mount one); elsewhere a file where the folder should be, which
    makes any write fail like an unavailable volume."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    if not mounted:
        folder.rmdir()
        folder.write_text("not a folder")
    try:
        yield
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=True)
        else:
            folder.unlink()


def test_a_full_disk_during_an_upload_keeps_the_form_and_stores_nothing(private_app, private_settings):
    client = buyer_client(private_app)
    big = PDF + b"0" * (256 * 1024)  # more than the volume holds
    with small_volume(private_settings.data_dir / "attachments", 64):
        response = submit(client, "/projets/nouveau", WASTE, [(big, "étude.pdf")])
        body = response.get_data(as_text=True)
        assert response.status_code == 503 and "ne peut pas enregistrer ce fichier" in body
        assert 'value="Capteurs de remplissage des colonnes de tri"' in body  # what was typed comes back
        if (private_settings.data_dir / "attachments").is_dir():
            assert [p for p in (private_settings.data_dir / "attachments").iterdir()] == []  # no half file
    with database(private_app).session() as s:
        assert s.scalar(select(Project.id)) is None and s.scalar(select(Attachment.id)) is None


def test_files_no_attachment_refers_to_are_swept_after_a_grace_period(private_app, private_settings):
    from search_app.jobs import run_pending
    from vivier import jobs as job_queue

    client = buyer_client(private_app)
    slug = create(client, files=[(PDF, "étude.pdf")])
    folder = private_settings.data_dir / "attachments"
    [kept] = list(folder.iterdir())
    orphan, leftover = folder / ("f" * 64), folder / ".abc.1234.tmp"
    for path in (orphan, leftover):
        path.write_bytes(b"old")
        old = time.time() - pj.ORPHAN_GRACE.total_seconds() - 60
        os.utime(path, (old, old))
    fresh = folder / ("e" * 64)
    fresh.write_bytes(b"an upload in flight")
    with database(private_app).session() as s:
        job_queue.enqueue(s, pj.SWEEP_JOB)
    assert [r.ok for r in run_pending(private_app)] == [True]
    assert sorted(p.name for p in folder.iterdir()) == sorted([kept.name, fresh.name])
    assert slug
