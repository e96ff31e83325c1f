import pytest

from vivier.identifiers import canonical_url, luhn_valid, normalise_siren, website_domain


@pytest.mark.parametrize("number, valid", [
    ("732829320", True),   # a valid SIREN (Luhn)
    ("732829321", False),
    ("73282932000074", True),  # SIRET of the same company
    ("abc", False),
])
def test_luhn(number, valid):
    assert luhn_valid(number) is valid


def test_normalise_siren_accepts_spaces_and_siret_and_rejects_bad_checksums():
    assert normalise_siren("732 829 320") == "732829320"
    assert normalise_siren("732 829 320 00074") == "732829320"
    assert normalise_siren("732829321") is None
    assert normalise_siren("12345") is None
    assert normalise_siren(None) is None


def test_canonical_url_and_domain():
    assert canonical_url("WWW.Exemple.FR") == "https://www.exemple.fr/"
    assert canonical_url("http://exemple.fr:80/a?b=1#frag") == "http://exemple.fr/a?b=1"
    assert canonical_url("javascript:alert(1)") is None
    assert canonical_url("mailto:contact@exemple.fr") is None
    assert website_domain("https://www.exemple.fr/contact") == "exemple.fr"
    assert website_domain("not a url") is None
