"""Attacks found by the trust review (issue 18), reproduced against the real components, so that they stay fixed.

Each test is written as the attacker would proceed; the assertions are what must hold."""

from __future__ import annotations

from html import unescape

import pytest
from sqlalchemy import select

from tests.test_moderation import (CRAWLED_SLUG, crawled_supplier, csrf_token, database, operator,  # noqa: F401
                                   staffed_app, submission, submit_update)
from vivier import submissions as sub
from vivier.models import SourceRecord, Supplier
from vivier.profiles import JOINED_SIREN, SourceInfo, upsert_profile

SIREN = "732829320"
VICTIM = {"name": "Victime SAS", "siren": SIREN, "website": "https://www.victime.fr", "commune": "Brest",
          "postcode": "29200", "contact_email": "contact@victime.fr", "contact_phone": "02 98 00 00 00",
          "pitch": "Capteurs de remplissage des bornes de tri"}
DIRECTORY = SourceInfo("annuaire", "directory")
OTHER_DIRECTORY = SourceInfo("annuaire-bis", "directory")


@pytest.fixture
def victim(db) -> int:
    with db.session() as s:
        supplier_id = upsert_profile(s, VICTIM, DIRECTORY, "https://annuaire.test/victime").supplier_id
        s.commit()
    return supplier_id


# -- profile takeover ------------------------------------------------------------------------------------------------
def test_a_directory_listing_the_victims_siren_with_another_website_takes_nothing_over(db, victim):
    """A directory page (a source as trusted as the victim's) lists the victim's public SIREN with the attacker's
    website: it joins the profile by SIREN, but must not replace its website, name or contacts, nor make an address
    on the attacker's domain the profile's owner."""
    with db.session() as s:
        outcome = upsert_profile(s, {"name": "Victime", "siren": SIREN, "website": "https://victime-fr.example",
                                     "contact_email": "pirate@victime-fr.example", "commune": "Brest",
                                     "postcode": "29200", "description": "Texte de l'annuaire."},
                                 OTHER_DIRECTORY, "https://annuaire-bis.test/victime")
        assert outcome.supplier_id == victim  # the same company, by its SIREN
        supplier = s.get_one(Supplier, victim)
        assert (supplier.name, supplier.website, supplier.contact_email) == (
            "Victime SAS", VICTIM["website"], VICTIM["contact_email"])
        assert supplier.description == "Texte de l'annuaire."  # what it may add, it adds
        record = s.scalar(select(SourceRecord).where(SourceRecord.source_name == "annuaire-bis"))
        assert record.joined_by == JOINED_SIREN
        assert sub.ownership_domain(s, supplier) == "victime.fr"
        claim = sub.start_claim(s, supplier, "pirate@victime-fr.example")
        assert claim.token is None and claim.claim.method == "operator"  # no link: an operator decides
        assert sub.start_claim(s, supplier, "jeanne@victime.fr").token is not None  # the real domain still works


def test_a_siren_only_record_never_fills_a_website_the_profile_lacks(db):
    with db.session() as s:
        victim_id = upsert_profile(s, {k: v for k, v in VICTIM.items() if k != "website"}, DIRECTORY,
                                   "https://annuaire.test/victime").supplier_id
        upsert_profile(s, {"name": "Victime", "siren": SIREN, "website": "https://victime-fr.example"},
                       OTHER_DIRECTORY, "https://annuaire-bis.test/victime")
        supplier = s.get_one(Supplier, victim_id)
        assert supplier.website is None and sub.ownership_domain(s, supplier) is None
        assert sub.start_claim(s, supplier, "pirate@victime-fr.example").token is None


def test_an_update_giving_a_profile_someone_elses_siren_needs_the_operators_explicit_confirmation(db):
    """The attacker's own approved profile asks to take the victim's SIREN: the operator must see it as a merge,
    approving needs an explicit confirmation, and even then the victim keeps its name, website and contacts, and
    the decision records the change."""
    with db.session() as s:
        victim_id = upsert_profile(s, {k: v for k, v in VICTIM.items() if k != "website"}, DIRECTORY,
                                   "https://annuaire.test/victime").supplier_id
        own = sub.submit_new(s, {"name": "Pirate Conseil", "website": "https://pirate.example",
                                 "contact_email": "boss@pirate.example", "commune": "Quimper", "postcode": "29000",
                                 "pitch": "Conseil"}, "boss@pirate.example")
        attacker = sub.approve(s, own, "op")
        s.commit()
        update = sub.submit_update(s, attacker, {"name": "Pirate Conseil", "siren": SIREN,
                                                 "website": "https://pirate.example",
                                                 "contact_email": "boss@pirate.example"}, "boss@pirate.example")
        warnings = sub.identity_changes(s, update)
        assert any("fusionnerait cette fiche avec la fiche « Victime SAS »" in w for w in warnings), warnings
        with pytest.raises(sub.ModerationError, match="change l'identité"):
            sub.approve(s, update, "op")
        merged = sub.approve(s, update, "op", confirm_identity=True)
        assert merged.id == victim_id  # the operator confirmed the merge...
        victim = s.get_one(Supplier, victim_id)
        assert (victim.name, victim.website, victim.contact_email) == ("Victime SAS", None, VICTIM["contact_email"])
        assert "identité" in update.changes  # ...and the history says what was confirmed
        assert not sub.may_edit(s, victim_id, "jeanne@victime.fr") and sub.ownership_domain(s, victim) is None


def test_the_moderation_page_shows_an_identity_change_and_approval_needs_the_box(operator, staffed_app):  # noqa: F811
    """Another listed company asks for Kaptéo's SIREN: the page warns, approval without the box is refused, with
    it the change is applied and logged in the decision."""
    kapteo = crawled_supplier(staffed_app)
    with database(staffed_app).session() as s:
        other = s.scalar(select(Supplier).where(Supplier.slug != CRAWLED_SLUG, Supplier.siren.is_(None),
                                                Supplier.status == "crawled").order_by(Supplier.id).limit(1))
        other_slug = other.slug
    submission_id = submit_update(staffed_app, {"siren": kapteo.siren}, email="x@ailleurs.test", slug=other_slug)
    page = unescape(operator.get(f"/moderation/soumissions/{submission_id}").get_data(as_text=True))
    assert "cette demande change l'identité d'une fiche" in page and f"« {kapteo.name} »" in page
    assert "confirmer_identite" in page
    token = csrf_token(operator, f"/moderation/soumissions/{submission_id}")
    refused = unescape(operator.post(f"/moderation/soumissions/{submission_id}/approuver",
                                     data={"csrf_token": token}, follow_redirects=True).get_data(as_text=True))
    assert "Impossible d'approuver" in refused and "confirmez-le explicitement" in refused
    operator.post(f"/moderation/soumissions/{submission_id}/approuver",
                  data={"csrf_token": token, "confirmer_identite": "1"})
    decided = submission(staffed_app, submission_id)
    assert decided.status == "approved" and "identité" in decided.changes
