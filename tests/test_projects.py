"""vivier.projects on a real SQLite database, time injected: buyers, project states, deadlines, questions,
sealed proposals, decisions, attachments, subscriptions and the sourcing log."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from vivier import projects as pj
from vivier.models import (PROJECT_ARCHIVED, PROJECT_CLOSED, PROJECT_DRAFT, PROJECT_PUBLISHED, Buyer, Supplier)
from vivier.profiles import SourceInfo, upsert_profile

NOW = datetime(2026, 3, 2, 9, 0)
DEADLINE = NOW + timedelta(days=30)
PROJECT = {"title": "Capteurs de remplissage des colonnes de tri", "need": "Mesurer le remplissage des colonnes "
           "à verre pour optimiser les tournées de collecte.", "contract_model": "marche-public",
           "categories": ["waste"], "departments": ["29"], "deadline": DEADLINE, "variants_allowed": True,
           "variant_requirements": "Autonomie de 5 ans au moins."}


@pytest.fixture
def s(db):
    with db.session() as session:
        yield session


def supplier(s, name: str) -> Supplier:
    result = upsert_profile(s, {"name": name, "pitch": "Capteurs", "commune": "Brest"},
                            SourceInfo("annuaire", "directory"), f"https://annuaire.test/{name}")
    return s.get(Supplier, result.supplier_id)


def verified_buyer(s, email="achats@brest-metropole.fr") -> Buyer:
    pj.add_buyer_domain(s, "brest-metropole.fr", "Brest métropole", "op", NOW)
    token = pj.buyer_sign_in_token(s, email, now=NOW)
    return pj.open_buyer_session(s, token, NOW)


def published(s, buyer=None) -> tuple:
    buyer = buyer or verified_buyer(s)
    project = pj.create_project(s, buyer, PROJECT, [(NOW + timedelta(days=60), "Lancement de la consultation"),
                                                     (NOW + timedelta(days=40), "Analyse des variantes")], NOW)
    pj.publish(s, project, buyer, NOW)
    return buyer, project


def kinds(s, project) -> list[str]:
    return [e.kind for e in pj.events(s, project)]


def test_an_allow_listed_domain_verifies_a_buyer_at_once_others_wait_for_an_operator(s):
    buyer = verified_buyer(s, "marie@mairie.brest-metropole.fr")  # a subdomain of an allow-listed one
    assert buyer.verified and buyer.organisation == "Brest métropole"
    token = pj.buyer_sign_in_token(s, "maire@gmail.com", "Commune de Plouzané", now=NOW)
    other = pj.open_buyer_session(s, token, NOW)
    assert not other.verified
    project = pj.create_project(s, other, PROJECT, now=NOW)  # an unverified buyer may prepare a draft
    with pytest.raises(pj.ProjectError, match="vérifiés"):
        pj.publish(s, project, other, NOW)
    pj.verify_buyer(s, other, "op@vivier.test", NOW)
    pj.publish(s, project, other, NOW)
    assert project.status == PROJECT_PUBLISHED
    with pytest.raises(pj.TokenError):
        pj.open_buyer_session(s, token, NOW)  # a sign-in link works once


def test_states_move_forward_only_and_the_deadline_closes_the_project(s):
    buyer, project = published(s)
    assert [m.label for m in project.milestones] == ["Analyse des variantes", "Lancement de la consultation"]
    with pytest.raises(pj.ProjectError):
        pj.archive(s, project, buyer, NOW)  # published -> archived skips closed
    with pytest.raises(pj.ProjectError):
        pj.publish(s, project, buyer, NOW)
    pj.refresh_status(s, project, DEADLINE - timedelta(seconds=1))
    assert project.status == PROJECT_PUBLISHED
    pj.refresh_status(s, project, DEADLINE)
    assert project.status == PROJECT_CLOSED and project.closed_at == DEADLINE
    with pytest.raises(pj.ProjectError, match="clos"):
        pj.update_project(s, project, buyer, {"title": "Autre"}, now=DEADLINE)
    pj.archive(s, project, buyer, DEADLINE + timedelta(days=1))
    assert project.status == PROJECT_ARCHIVED
    assert kinds(s, project) == ["created", "published", "closed", "archived"]


def test_a_draft_cannot_be_published_with_a_past_deadline_and_changes_after_publication_are_logged(s):
    buyer = verified_buyer(s)
    project = pj.create_project(s, buyer, {**PROJECT, "deadline": NOW - timedelta(days=1)}, now=NOW)
    with pytest.raises(pj.ProjectError, match="futur"):
        pj.publish(s, project, buyer, NOW)
    assert project.status == PROJECT_DRAFT
    pj.update_project(s, project, buyer, {"deadline": DEADLINE}, now=NOW)
    pj.publish(s, project, buyer, NOW)
    pj.update_project(s, project, buyer, {"need": "Mesurer aussi les colonnes à papier."}, now=NOW)
    modified = pj.events(s, project)[-1]
    assert modified.kind == "modified" and modified.detail == {"fields": ["need"]}


def test_questions_are_answered_to_everyone_until_the_deadline(s):
    buyer, project = published(s)
    tri, collecto = supplier(s, "Tri Connect"), supplier(s, "Collecto")
    question = pj.ask(s, project, tri, "a@tri.fr", "Quel réseau radio est en place ?", NOW + timedelta(days=1))
    pj.submit_proposal(s, project, collecto, "b@collecto.fr", {"text": "Nos capteurs NB-IoT."}, NOW)
    pj.answer(s, question, project, buyer, "Un réseau LoRaWAN public.", NOW + timedelta(days=2))
    assert question.answer == "Un réseau LoRaWAN public." and question.answered_at == NOW + timedelta(days=2)
    assert pj.participants(s, project) == ["a@tri.fr", "b@collecto.fr"]  # both get the answer
    with pytest.raises(pj.ProjectError, match="closes"):
        pj.ask(s, project, tri, "a@tri.fr", "Encore une ?", DEADLINE)
    other_buyer = pj.open_buyer_session(s, pj.buyer_sign_in_token(s, "x@brest-metropole.fr", now=NOW), NOW)
    with pytest.raises(pj.ProjectError, match="Seul l'acheteur"):
        pj.answer(s, question, project, other_buyer, "Non.", NOW)


def test_proposals_are_sealed_editable_until_the_deadline_then_decided(s):
    buyer, project = published(s)
    tri, collecto = supplier(s, "Tri Connect"), supplier(s, "Collecto")
    first = pj.submit_proposal(s, project, tri, "a@tri.fr", {"text": "v1", "consent": {"price_band": True}},
                               NOW + timedelta(days=1))
    again = pj.submit_proposal(s, project, tri, "a@tri.fr", {"text": "v2", "price_band": "10-20 k€",
                                                              "varied_requirement": "Autonomie de 4 ans"},
                               NOW + timedelta(days=2))
    assert again.id == first.id and again.text == "v2" and not pj.disclosed(again, "price_band")  # consent re-asked
    with pytest.raises(pj.ProjectError, match="après la date limite"):
        pj.decide(s, again, project, buyer, "retenue", "", DEADLINE - timedelta(seconds=1))
    with pytest.raises(pj.ProjectError, match="closes"):
        pj.submit_proposal(s, project, tri, "a@tri.fr", {"text": "v3"}, DEADLINE)
    # Sealed: the author and the project's buyer, nobody else.
    assert pj.may_read(again, project, pj.Viewer(buyer_id=buyer.id))
    assert pj.may_read(again, project, pj.Viewer(supplier_id=tri.id))
    assert not pj.may_read(again, project, pj.Viewer(supplier_id=collecto.id))
    assert not pj.may_read(again, project, pj.Viewer(buyer_id=buyer.id + 1))
    assert not pj.may_read(again, project, pj.Viewer())
    pj.decide(s, again, project, buyer, "a-approfondir", "Pouvez-vous préciser l'autonomie ?", DEADLINE)
    assert again.decision == "a-approfondir" and project.status == PROJECT_CLOSED
    with pytest.raises(pj.ProjectError, match="inconnue"):
        pj.decide(s, again, project, buyer, "peut-être", "", DEADLINE)
    assert kinds(s, project)[-4:] == ["proposal_received", "proposal_updated", "closed", "decision"]
    assert pj.events(s, project)[-2].at == DEADLINE  # closed at its deadline, whenever it was noticed


def test_no_variant_where_the_project_allows_none(s):
    buyer = verified_buyer(s)
    project = pj.create_project(s, buyer, {**PROJECT, "variants_allowed": False}, now=NOW)
    pj.publish(s, project, buyer, NOW)
    with pytest.raises(pj.ProjectError, match="variantes"):
        pj.submit_proposal(s, project, supplier(s, "Tri Connect"), "a@tri.fr", {"text": "x"}, NOW)


def test_attachments_are_checked_on_their_bytes_and_stored_by_hash(s, tmp_path):
    buyer, project = published(s)
    pdf = b"%PDF-1.4\n" + b"0" * 100
    attachment = pj.store_attachment(s, tmp_path, "Étude préalable (v2).pdf", pdf, project=project, now=NOW)
    assert attachment.filename == "Etude-prealable-v2.pdf" and attachment.content_type == "application/pdf"
    assert pj.attachment_path(tmp_path, attachment).read_bytes() == pdf
    png = pj.store_attachment(s, tmp_path, "plan.jpg", b"\x89PNG\r\n\x1a\n" + b"1" * 10, project=project)
    assert png.filename == "plan.png" and png.content_type == "image/png"  # what it is, not what it says
    for name, data in (("virus.exe", b"MZ\x90\x00"), ("page.html", b"<script>alert(1)</script>"),
                       ("notes.txt", b"du texte"), ("faux.pdf", b"not a pdf")):
        with pytest.raises(pj.ProjectError, match="Type de fichier refusé"):
            pj.store_attachment(s, tmp_path, name, data, project=project)
    with pytest.raises(pj.ProjectError, match="vide"):
        pj.store_attachment(s, tmp_path, "vide.pdf", b"", project=project)
    with pytest.raises(pj.ProjectError, match="volumineux"):
        pj.store_attachment(s, tmp_path, "gros.pdf", b"%PDF-" + b"0" * pj.MAX_ATTACHMENT_BYTES, project=project)


def test_subscribers_are_found_by_category_department_or_saved_search(s):
    buyer, project = published(s)
    tri, collecto, air = supplier(s, "Tri Connect"), supplier(s, "Collecto"), supplier(s, "Air Vigie")
    by_category = pj.subscribe(s, tri, "a@tri.fr", ["waste"], [], "", NOW)
    by_query = pj.subscribe(s, collecto, "b@collecto.fr", [], [], "tournées de collecte", NOW)
    pj.subscribe(s, air, "c@air.fr", ["air-quality"], ["69"], "capteurs de particules", NOW)
    assert pj.subscribers(s, project) == [by_category, by_query]
    with pytest.raises(pj.ProjectError):
        pj.subscribe(s, air, "c@air.fr", [], [], "  ", NOW)


def test_public_listing_shows_published_projects_only_and_filters(s):
    buyer, project = published(s)
    pj.create_project(s, buyer, {**PROJECT, "title": "Brouillon"}, now=NOW)
    assert [p.title for p in pj.list_public_projects(s, now=NOW)] == [project.title]
    assert pj.list_public_projects(s, "colonnes", now=NOW) == [project]
    assert pj.list_public_projects(s, "stationnement", now=NOW) == []
    assert pj.list_public_projects(s, category="waste", department="29", now=NOW) == [project]
    assert pj.list_public_projects(s, department="35", now=NOW) == []
    assert pj.list_public_projects(s, status=PROJECT_CLOSED, now=DEADLINE) == [project]  # closed by its deadline


def test_a_project_slug_never_takes_a_page_s_address(s):
    buyer = verified_buyer(s)
    assert pj.create_project(s, buyer, {**PROJECT, "title": "Nouveau"}, now=NOW).slug == "nouveau-2"
