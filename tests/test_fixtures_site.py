"""The bundled directory site is generated from its YAML profiles and covers the taxonomy."""

from collections import Counter

from fixtures import build_sites
from vivier.identifiers import luhn_valid
from vivier.taxonomy import CATEGORIES, LABELS


def test_committed_site_is_up_to_date_with_the_profiles():
    assert build_sites.main(["--check"]) == 0


def test_profiles_cover_themes_departments_and_labels():
    profiles = build_sites.load_profiles()
    assert len(profiles) >= 150
    primary = Counter(p["categories"][0] for p in profiles)
    assert set(primary) == {c.slug for c in CATEGORIES} and min(primary.values()) >= 5
    assert len({p["department"] for p in profiles}) >= 40
    assert {label for p in profiles for label in p["labels"]} == {t.slug for t in LABELS}
    for p in profiles:
        if p.get("siren"):
            assert luhn_valid(p["siren"]) != bool(p.get("siren_invalid")), p["slug"]


def test_wording_is_varied_not_one_template():
    profiles = build_sites.load_profiles()
    openings = Counter(" ".join(p["description"].split()[:4]) for p in profiles)
    assert openings.most_common(1)[0][1] <= 3
    assert len({len(p["description"].split()) // 20 for p in profiles}) >= 5
