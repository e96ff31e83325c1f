from vivier.normalise import map_categories, normalise_profile, normalise_size_band, recognise_labels
from vivier import geo


def test_categories_map_directory_names_to_taxonomy_slugs():
    assert map_categories(["Collecte des déchets", "ÉCLAIRAGE PUBLIC", "Inconnu", "collecte des dechets"]) == [
        "waste", "public-lighting"]
    assert map_categories(["Cantine"]) == ["school-services"]


def test_labels_recognised_from_directory_wording():
    assert recognise_labels(["Entreprise de l'ESS", "Agrément ESUS", "Jeune entreprise innovante", "Bof"]) == [
        "ess", "esus", "jei"]


def test_department_from_postcode_and_insee_including_corsica_and_overseas():
    assert geo.department_from_postcode("35000") == "35"
    assert geo.department_from_postcode("20000") == "2A"
    assert geo.department_from_postcode("20200") == "2B"
    assert geo.department_from_postcode("97400") == "974"
    assert geo.department_from_postcode("9740") is None
    assert geo.department_from_insee("2B033") == "2B"
    assert geo.region_of("29") == "Bretagne"


def test_size_band():
    assert normalise_size_band("10 à 49 salariés") == "10-49"
    assert normalise_size_band("250 salariés et plus") == "250+"
    assert normalise_size_band("beaucoup") is None


def test_normalise_profile_cleans_and_drops_invalid_values():
    profile = normalise_profile({
        "name": "  Acme\u00a0 Territoires ", "siren": "732 829 321", "website": "acme.fr",
        "postcode": "29 000", "insee_code": "", "latitude": "48,0", "longitude": "abc",
        "contact_email": "mailto:contact@acme.fr", "founded_year": "Créée en 2016",
        "description": "Premier   paragraphe.\n\n\n Second\nparagraphe.", "categories": ["Stationnement"],
    })
    assert profile["name"] == "Acme Territoires"
    assert profile["siren"] is None  # bad checksum
    assert profile["website"] == "https://acme.fr/"
    assert profile["postcode"] == "29000"
    assert profile["department"] == "29" and profile["region"] == "Bretagne"
    assert profile["latitude"] is None and profile["longitude"] is None
    assert profile["contact_email"] == "contact@acme.fr"
    assert profile["founded_year"] == 2016
    assert profile["description"] == "Premier paragraphe.\n\nSecond paragraphe."
    assert profile["categories"] == ["parking"]
