"""vivier.submissions on a real SQLite database: submissions and moderation, claims, private links, removal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import make_settings
from vivier import submissions as sub
from vivier.models import (CLAIM_BY_DOMAIN, CLAIM_BY_OPERATOR, CLAIM_VERIFIED, REVIEW_APPROVED, REVIEW_REJECTED,
                           STATUS_CRAWLED, STATUS_HIDDEN, STATUS_VERIFIED, FieldProvenance, Submission, Supplier,
                           utcnow)
from vivier.profiles import SourceInfo, upsert_profile

CRAWLED = {"name": "Tri Connect", "pitch": "Capteurs de remplissage", "description": "Des capteurs.",
           "website": "https://www.triconnect.fr", "commune": "Brest", "postcode": "29200", "siren": "732829320",
           "categories": ["waste"]}


@pytest.fixture
def crawled(db) -> int:
    with db.session() as s:
        result = upsert_profile(s, CRAWLED, SourceInfo("annuaire", "directory"), "https://annuaire.test/tri")
        s.commit()
        return result.supplier_id


def test_a_new_profile_is_public_only_once_approved_and_its_submitter_may_edit_it(db):
    with db.session() as s:
        submission = sub.submit_new(s, {"name": "Cantinéo", "pitch": "Réservation de la cantine",
                                        "postcode": "29200", "commune": "Brest", "categories": ["school-services"],
                                        "offers": [{"name": "Pack", "tiers": {"basic": "1 école"}}]},
                                    "contact@cantineo.fr")
        s.commit()
        assert s.scalar(select(func.count(Supplier.id))) == 0  # nothing public before moderation
        supplier = sub.approve(s, submission, "op@vivier.test")
        s.commit()
        assert supplier.status == STATUS_VERIFIED and supplier.department == "29" and supplier.region
        assert supplier.offers[0]["tiers"] == {"basic": "1 école"}
        assert submission.status == REVIEW_APPROVED and submission.changes["name"] == [None, "Cantinéo"]
        assert sub.may_edit(s, supplier.id, "contact@cantineo.fr")
        assert not sub.may_edit(s, supplier.id, "other@cantineo.fr")


def test_an_approved_update_beats_crawled_values_and_keeps_the_rest(db, crawled):
    with db.session() as s:
        supplier = s.get(Supplier, crawled)
        submission = sub.submit_update(s, supplier, {"name": "Tri Connect", "pitch": "Capteurs LoRa pour bornes",
                                                     "labels": ["ess"]}, "jeanne@triconnect.fr")
        sub.approve(s, submission, "op@vivier.test")
        s.commit()
        supplier = s.get(Supplier, crawled)
        assert supplier.pitch == "Capteurs LoRa pour bornes"  # submitted beats crawled
        assert supplier.description == "Des capteurs."  # what the submission left empty stays
        assert supplier.status == STATUS_VERIFIED
        assert submission.changes["pitch"] == ["Capteurs de remplissage", "Capteurs LoRa pour bornes"]
        chosen = {p.field for p in s.scalars(select(FieldProvenance).where(
            FieldProvenance.supplier_id == crawled, FieldProvenance.source_name == "submitted",
            FieldProvenance.chosen))}
        assert "pitch" in chosen
        # A second update attaches to the same supplier (its submitted record), even with another name.
        second = sub.submit_update(s, supplier, {"name": "TriConnect SAS"}, "jeanne@triconnect.fr")
        sub.approve(s, second, "op@vivier.test")
        s.commit()
        assert s.scalar(select(func.count(Supplier.id))) == 1
        assert s.get(Supplier, crawled).name == "TriConnect SAS"


PLACED = {"name": "Géo Capteurs", "pitch": "Capteurs de crue", "website": "https://www.geocapteurs.fr",
          "address": "12 rue de Siam", "postcode": "29200", "commune": "Brest", "contact_phone": "02 98 00 00 01",
          "latitude": 48.3890, "longitude": -4.4870}


def _edit_form(supplier: Supplier, **changes) -> dict:
    """What an editing form posts: every public field pre-filled, some of them changed."""
    return {**sub.public_fields(supplier), **changes}


def test_an_update_records_only_the_fields_it_changes_and_keeps_precise_coordinates(db):
    with db.session() as s:
        supplier_id = upsert_profile(s, PLACED, SourceInfo("annuaire", "directory"), "https://annuaire.test/geo"
                                     ).supplier_id
        s.commit()
        supplier = s.get(Supplier, supplier_id)
        assert (supplier.latitude, supplier.longitude) == (48.3890, -4.4870)
        submission = sub.submit_update(s, supplier, _edit_form(supplier, pitch="Capteurs de crue connectés",
                                                               contact_phone="02 98 00 00 02"),
                                       "jeanne@geocapteurs.fr")
        assert set(submission.data) == {"pitch", "contact_phone"}  # the re-posted, unchanged fields are left out
        sub.approve(s, submission, "op@vivier.test")
        s.commit()
        supplier = s.get(Supplier, supplier_id)
        assert supplier.pitch == "Capteurs de crue connectés" and supplier.contact_phone == "02 98 00 00 02"
        assert (supplier.latitude, supplier.longitude) == (48.3890, -4.4870)  # not moved to the town hall
        assert (supplier.address, supplier.commune) == ("12 rue de Siam", "Brest")
        assert set(submission.changes) == {"pitch", "contact_phone"}

        # A second edit keeps the first one's values, and a new commune moves the company.
        second = sub.submit_update(s, supplier, _edit_form(supplier, address="1 place de la Mairie",
                                                           postcode="29900", commune="Concarneau"),
                                   "jeanne@geocapteurs.fr")
        assert {"address", "postcode", "commune", "department"} <= set(second.data)
        sub.approve(s, second, "op@vivier.test")
        s.commit()
        supplier = s.get(Supplier, supplier_id)
        assert (supplier.commune, supplier.postcode, supplier.address) == ("Concarneau", "29900",
                                                                           "1 place de la Mairie")
        assert supplier.latitude is not None and (supplier.latitude, supplier.longitude) != (48.3890, -4.4870)
        assert abs(supplier.latitude - 47.87) < 0.1 and abs(supplier.longitude + 3.92) < 0.1
        assert supplier.pitch == "Capteurs de crue connectés"  # the first edit's value stays


def test_a_field_emptied_in_the_editing_form_is_removed_on_approval(db):
    with db.session() as s:
        supplier = s.get(Supplier, upsert_profile(s, {**PLACED, "contact_phone": None}, sub.SUBMITTED_SOURCE,
                                                  url=None, record_key="x").supplier_id)
        first = sub.submit_update(s, supplier, _edit_form(supplier, contact_phone="02 98 00 00 09"), "a@geo.fr",
                                  whole_form=True)
        sub.approve(s, first, "op@vivier.test")
        assert s.get(Supplier, supplier.id).contact_phone == "02 98 00 00 09"
        # The form posts every field: the phone left empty is a removal, the rest is unchanged.
        second = sub.submit_update(s, supplier, _edit_form(supplier, contact_phone=""), "a@geo.fr", whole_form=True)
        assert second.data == {"contact_phone": None}
        sub.approve(s, second, "op@vivier.test")
        s.commit()
        supplier = s.get(Supplier, supplier.id)
        assert supplier.contact_phone is None and supplier.pitch == PLACED["pitch"]
        assert (supplier.latitude, supplier.longitude) == (48.3890, -4.4870)
        # A partial update (not the whole form) removes nothing it does not name.
        third = sub.submit_update(s, supplier, {"pitch": "Capteurs de crue et de pluie"}, "a@geo.fr")
        assert third.data == {"pitch": "Capteurs de crue et de pluie"}


def test_an_update_submitted_in_full_before_still_applies_only_its_changes(db):
    """A pending update recorded with every field (before changes were recorded alone) is applied the same way."""
    with db.session() as s:
        supplier_id = upsert_profile(s, PLACED, SourceInfo("annuaire", "directory"), "https://annuaire.test/geo"
                                     ).supplier_id
        supplier = s.get(Supplier, supplier_id)
        full = sub.clean_profile(_edit_form(supplier, pitch="Nouveau pitch"))
        submission = Submission(kind="update", supplier_id=supplier_id, name=supplier.name, email="a@geo.fr",
                                data=full, created_at=utcnow())
        s.add(submission)
        s.flush()
        sub.approve(s, submission, "op@vivier.test")
        s.commit()
        supplier = s.get(Supplier, supplier_id)
        assert supplier.pitch == "Nouveau pitch" and (supplier.latitude, supplier.longitude) == (48.3890, -4.4870)


def test_a_newer_pending_update_replaces_the_older_and_decisions_are_final(db, crawled):
    with db.session() as s:
        supplier = s.get(Supplier, crawled)
        sub.submit_update(s, supplier, {"pitch": "v1"}, "a@triconnect.fr")
        latest = sub.submit_update(s, supplier, {"pitch": "v2"}, "a@triconnect.fr")
        assert s.scalar(select(func.count(Submission.id))) == 1
        with pytest.raises(sub.ModerationError, match="motif"):
            sub.reject(s, latest, "op", "  ")
        sub.reject(s, latest, "op", "Le texte est publicitaire.")
        assert latest.status == REVIEW_REJECTED and s.get(Supplier, crawled).pitch == "Capteurs de remplissage"
        with pytest.raises(sub.ModerationError):
            sub.approve(s, latest, "op")


def test_deletion_hides_at_once_then_deletes_and_suppresses_future_crawls(db, crawled):
    with db.session() as s:
        supplier = s.get(Supplier, crawled)
        request = sub.request_deletion(s, supplier, "a@triconnect.fr", "Nous cessons l'activité.")
        s.commit()
        assert s.get(Supplier, crawled).status == STATUS_HIDDEN
        assert sub.approve(s, request, "op") is None
        s.commit()
        assert s.get(Supplier, crawled) is None and request.supplier_id is None
        assert sub.is_suppressed(s, {"name": "Autre nom", "siren": "732829320"})
        assert sub.is_suppressed(s, {"name": "X", "website": "http://triconnect.fr/contact"})
        assert sub.is_suppressed(s, {"name": "TRI CONNECT SAS", "commune": "Brest"})
        assert not sub.is_suppressed(s, {"name": "Tri Connect", "commune": "Lyon"})  # a homonym elsewhere


def test_a_refused_deletion_shows_the_profile_again(db, crawled):
    with db.session() as s:
        request = sub.request_deletion(s, s.get(Supplier, crawled), "a@triconnect.fr")
        sub.reject(s, request, "op", "Demande non confirmée par l'entreprise.")
        assert s.get(Supplier, crawled).status == STATUS_CRAWLED


def test_a_claim_on_the_website_domain_is_verified_by_its_link_once(db, crawled):
    with db.session() as s:
        supplier = s.get(Supplier, crawled)
        start = sub.start_claim(s, supplier, "jeanne@triconnect.fr")
        assert start.claim.method == CLAIM_BY_DOMAIN and start.token
        s.commit()
        claim = sub.confirm_claim(s, start.token)
        assert claim.status == CLAIM_VERIFIED and sub.may_edit(s, crawled, "jeanne@triconnect.fr")
        with pytest.raises(sub.TokenError) as used:
            sub.confirm_claim(s, start.token)
        assert used.value.reason == "used"
        other = sub.start_claim(s, supplier, "jeanne@gmail.com", "Je suis la gérante.")
        assert other.claim.method == CLAIM_BY_OPERATOR and other.token is None
        sub.decide_claim(s, other.claim, "op", accept=True)
        assert sub.may_edit(s, crawled, "jeanne@gmail.com")


def test_edit_links_go_only_to_verified_addresses_expire_and_work_once(db, crawled):
    with db.session() as s:
        supplier = s.get(Supplier, crawled)
        assert sub.edit_link_token(s, supplier, "stranger@evil.test") is None
        start = sub.start_claim(s, supplier, "a@triconnect.fr")
        sub.confirm_claim(s, start.token)
        now = utcnow()
        raw = sub.edit_link_token(s, supplier, "a@triconnect.fr", now=now)
        assert raw not in {t for t in s.execute(select(sub.AccessToken.token_hash)).scalars()}  # hashed
        late = sub.edit_link_token(s, supplier, "a@triconnect.fr", now=now)
        with pytest.raises(sub.TokenError) as expired:
            sub.open_edit_session(s, late, now=now + sub.EDIT_LINK_LIFETIME + timedelta(seconds=1))
        assert expired.value.reason == "expired"
        token = sub.open_edit_session(s, raw, now=now + timedelta(minutes=5))
        assert (token.supplier_id, token.email) == (crawled, "a@triconnect.fr")
        with pytest.raises(sub.TokenError) as reused:
            sub.open_edit_session(s, raw, now=now + timedelta(minutes=6))
        assert reused.value.reason == "used"
        with pytest.raises(sub.TokenError) as unknown:
            sub.open_edit_session(s, "not-a-token")
        assert unknown.value.reason == "unknown"


def test_a_new_profile_matching_a_listed_company_needs_a_claim_to_edit_it(db, crawled):
    with db.session() as s:
        submission = sub.submit_new(s, {"name": "Tri Connect SAS", "siren": "732829320", "pitch": "Nos capteurs"},
                                    "someone@elsewhere.test")
        assert sub.identity_changes(s, submission) == [
            "Valider rattacherait cette demande à la fiche « Tri Connect » (n° 1), qui a le même SIREN"]
        with pytest.raises(sub.ModerationError):
            sub.approve(s, submission, "op")  # not without the operator's explicit confirmation
        supplier = sub.approve(s, submission, "op", confirm_identity=True)
        assert supplier.id == crawled and supplier.pitch == "Nos capteurs"  # the operator approved the values
        assert supplier.name == "Tri Connect SAS"  # the company's own, approved: it may name itself
        assert not sub.may_edit(s, crawled, "someone@elsewhere.test")  # but not the address's editing rights
        claim = s.scalar(select(sub.Claim).where(sub.Claim.email == "someone@elsewhere.test"))
        assert claim.status == "pending" and claim.method == CLAIM_BY_OPERATOR


def test_an_index_update_removes_a_deleted_supplier(tmp_path, db, crawled, encoder):
    """Even when its hiding never reached the index: the deleted row is gone, its suppression names it."""
    from indexer.backends.embedded import EmbeddedBackend
    from indexer.build import build_index, update_index

    settings = make_settings(tmp_path)
    build_index(settings, encoder)
    backend = EmbeddedBackend(settings.index_dir / "embedded")
    assert backend.get(str(crawled)) is not None
    with db.session() as s:
        request = sub.request_deletion(s, s.get(Supplier, crawled), "a@triconnect.fr")
        sub.approve(s, request, "op")
        s.commit()
    report = update_index(settings, encoder)
    assert report.removed == 1 and backend.get(str(crawled)) is None
