"""The packaged communes table: look-ups by code, postcode and name, suggestions, distances, and the commune
centre given to a supplier profile that has no coordinates."""

from __future__ import annotations

import gzip
import threading
from datetime import datetime
from importlib import resources

import pytest

from vivier import communes
from vivier.communes import Commune, by_insee, candidates, centroid_for, find, haversine_km, normalise_name
from vivier.geo import DEPARTMENTS, department_from_insee
from vivier.merge import Observation, resolve


def test_table_covers_every_department_with_sound_rows():
    table = communes.table()
    assert len(table) > 34_000
    assert {c.department for c in table.communes} == set(DEPARTMENTS)
    for commune in table.communes:
        assert department_from_insee(commune.insee) == commune.department, commune
        assert commune.postcodes and all(len(p) == 5 and p.isdigit() for p in commune.postcodes), commune
    mainland = [c for c in table.communes if len(c.department) == 2]
    assert all(41.3 < c.latitude < 51.2 and -5.2 < c.longitude < 9.6 for c in mainland)


def test_the_file_is_the_one_sources_md_describes():
    data = gzip.decompress(resources.files("vivier").joinpath("data/communes.csv.gz").read_bytes()).decode()
    header, *rows = data.splitlines()
    assert header == "insee,name,postcodes,department,latitude,longitude,population,parent,former_codes,former_names"
    sources = resources.files("vivier").joinpath("data/SOURCES.md").read_text(encoding="utf-8")
    assert f"{len(rows)} rows" in sources
    assert "@etalab/decoupage-administratif" in sources and "Licence Ouverte" in sources


def test_by_insee_current_former_and_unknown_codes():
    assert by_insee("33063").name == "Bordeaux"
    assert by_insee(" 2a004 ").name == "Ajaccio"                       # Corsica, any case
    assert by_insee("2B033").department == "2B"
    assert by_insee("75108").name == "Paris 8e Arrondissement" and by_insee("75108").parent == "75056"
    assert by_insee("50173").name == "Cherbourg-en-Cotentin"           # Cherbourg-Octeville merged in 2016
    assert by_insee("99999") is None and by_insee("") is None and by_insee(None) is None


@pytest.mark.parametrize("text, insee", [
    ("saint etienne", "42218"),
    ("Saint-Étienne", "42218"),
    ("SAINT ETIENNE", "42218"),
    ("St-Étienne", "42218"),                 # abbreviation
    ("Saint-Denis (93)", "93066"),           # department hint
    ("Saint-Denis 974", "97411"),
    ("Saint-Denis, 93200", "93066"),         # postcode hint
    ("93200 Saint-Denis", "93066"),
    ("Saint-Denis", "97411"),                # ambiguous: the most populous (La Réunion, 155,000 inhabitants)
    ("Paris", "75056"),
    ("33000", "33063"),                      # a postcode
    ("2A004", "2A004"),                      # an INSEE code
    ("ajaccio", "2A004"),
    ("Bastia", "2B033"),
    ("Pointe-à-Pitre", "97120"),             # overseas
    ("Fort-de-France", "97209"),
    ("Cayenne", "97302"),
    ("Mamoudzou", "97611"),
    ("Bordeau", "33063"),                    # a slip of the keyboard
    ("havre", "76351"),                      # without its article
    ("Cherbourg-Octeville", "50129"),        # a former commune: the one it merged into
    ("hoedic", "56085"),                     # Hœdic, ligature
    ("L Hay les Roses", "94038"),            # apostrophe, diaeresis
])
def test_find_resolves_what_people_type(text, insee):
    found = find(text)
    assert found is not None and found.insee == insee, (text, found)


@pytest.mark.parametrize("text", ["", "   ", None, "Lion", "Xyzzyville", "Saint-Denis (12)", "00000"])
def test_find_gives_up_rather_than_guess(text):
    assert find(text) is None


def test_postcode_of_several_communes_gives_the_most_populous_and_lists_them_all():
    served = communes.table().by_postcode("33000")
    assert served[0].name == "Bordeaux"
    assert find("75008").insee == "75056"
    assert "75108" in {c.insee for c in communes.table().by_postcode("75008")}


def test_candidates_rank_exact_then_prefix_then_fuzzy():
    names = [c.name for c in candidates("saint denis", limit=4)]
    assert names == ["Saint-Denis"] * 4                     # the four Saint-Denis, most populous first
    assert [c.department for c in candidates("saint denis", limit=4)] == ["974", "93", "11", "30"]
    bord = candidates("bord", limit=5)
    assert bord[0].name == "Bordeaux" and all(normalise_name(c.name).startswith("bord") for c in bord)
    assert candidates("Bordeaus", limit=3)[0].name == "Bordeaux"  # fuzzy
    hinted = candidates("Saint-Denis (93)")
    assert hinted[0].insee == "93066" and {c.department for c in hinted} == {"93"}
    assert len(candidates("saint", limit=10)) == 10
    assert candidates("", limit=5) == [] and candidates("bordeaux", limit=0) == []


def test_candidates_for_digits_are_postcodes_then_insee_codes():
    found = candidates("3300", limit=5)
    assert found[0].name == "Bordeaux"  # the only postcode starting so (33000), then INSEE codes 33001...
    assert all(c.insee.startswith("3300") or any(p.startswith("3300") for p in c.postcodes) for c in found)
    assert len(found) == 5
    assert candidates("2A0", limit=3)[0].name == "Ajaccio"


def test_normalise_name():
    assert normalise_name("  L'Haÿ-les-Roses ") == "l hay les roses"
    assert normalise_name("Ste-Foy-lès-Lyon") == "sainte foy les lyon"
    assert normalise_name("Hœdic") == "hoedic"


def test_haversine_known_distances():
    paris, lyon = find("Paris"), find("Lyon")
    assert haversine_km(paris.latitude, paris.longitude, lyon.latitude, lyon.longitude) == pytest.approx(392, abs=5)
    assert haversine_km(48.0, 2.0, 48.0, 2.0) == 0
    assert haversine_km(0, 0, 0, 180) == pytest.approx(20015, abs=1)  # half the equator


def test_corsica_and_overseas_positions():
    assert 41.8 < by_insee("2A004").latitude < 42.0 and 8.6 < by_insee("2A004").longitude < 8.9
    reunion = find("Saint-Denis 974")
    assert -21.0 < reunion.latitude < -20.8 and 55.3 < reunion.longitude < 55.6
    assert 4.8 < find("Cayenne").latitude < 5.0


def test_centroid_for():
    bordeaux = by_insee("33063")
    assert centroid_for(insee_code="33063") == (bordeaux.latitude, bordeaux.longitude)
    assert centroid_for(postcode="64500", commune="St Jean de Luz") == centroid_for(insee_code="64483")
    assert centroid_for(postcode="75008", commune="PARIS") == centroid_for(insee_code="75108")  # its arrondissement
    assert centroid_for(postcode="33000") is None                      # a postcode alone may serve several
    assert centroid_for(postcode="33000", commune="Lyon") is None      # contradictory
    assert centroid_for() is None


def test_the_table_is_loaded_once_across_threads(monkeypatch):
    monkeypatch.setattr(communes, "_table", None)
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(communes.table())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 4 and all(table is seen[0] for table in seen)


def test_commune_is_a_plain_value():
    commune = by_insee("29232")
    assert isinstance(commune, Commune) and commune.name == "Quimper" and commune.population > 50_000


# -- coordinates of a supplier without any ---------------------------------------------------------------------------
def _observation(source, priority, **data):
    return Observation(source, priority, {"name": "Acme", **data}, datetime(2026, 1, 1))


def test_profile_without_coordinates_gets_its_commune_centre():
    values, chosen = resolve([_observation("registre", 80, postcode="29000", commune="QUIMPER", insee_code="29232")])
    quimper = by_insee("29232")
    assert (values["latitude"], values["longitude"]) == (quimper.latitude, quimper.longitude)
    assert chosen["latitude"] == {"registre"}
    values, _ = resolve([_observation("annuaire", 50, postcode="64500", commune="Saint Jean de Luz")])
    assert (values["latitude"], values["longitude"]) == centroid_for(insee_code="64483")


def test_given_coordinates_win_over_the_commune_centre():
    values, chosen = resolve([
        _observation("registre", 80, postcode="29000", commune="Quimper"),
        _observation("site", 60, postcode="29000", commune="Quimper", latitude=47.99, longitude=-4.1),
    ])
    assert (values["latitude"], values["longitude"]) == (47.99, -4.1) and chosen["latitude"] == {"site"}


def test_unknown_place_gets_no_coordinates():
    values, _ = resolve([_observation("annuaire", 50, postcode="29000", commune="Atlantide")])
    assert values["latitude"] is None and values["longitude"] is None  # and stale coordinates are cleared


# -- ranking suggestions and asking which homonym is meant (issue 21) ----------------------------------------------
def test_close_spellings_rank_by_closeness_then_population():
    # "Sant-Nazer" is spelt nearer "Saint-Paër" (ratio 80 against 78) but sounds like Saint-Nazaire.
    found = candidates("Sant-Nazer", limit=5)
    assert [c.label for c in found[:3]] == ["Saint-Nazaire (44)", "Saint-Nazaire (66)", "Saint-Nazaire (30)"]
    assert [c.population for c in found[:3]] == sorted((c.population for c in found[:3]), reverse=True)
    assert "Saint-Paër (76)" in [c.label for c in found]
    assert candidates("Kimper", limit=2)[0].name == "Quimper"
    assert candidates("Sin Malo", limit=1)[0].name == "Saint-Malo"
    assert communes.closeness("sant nazer", "saint nazaire") > communes.closeness("sant nazer", "saint paer")


def test_sounding_alike_suggests_but_never_resolves():
    assert "Lyon (69)" in [c.label for c in candidates("Lion", limit=5)]
    assert find("Lion") is None and find("Sant-Nazer") is None


def test_a_label_reads_back_to_its_commune():
    assert by_insee("44184").label == "Saint-Nazaire (44)"
    for commune in communes.table().communes[::97]:  # a sample all over the table
        assert find(commune.label) == commune, commune.label


def test_no_department_holds_two_communes_of_one_name():
    # What makes "Name (department)" labels unambiguous, and homonyms() answer [] for them.
    seen = {(normalise_name(c.name), c.department) for c in communes.table().communes}
    assert len(seen) == len(communes.table())


@pytest.mark.parametrize(("text", "departments"), [
    ("Saint-Denis", ["974", "93", "11", "30"]),
    ("saint denis", ["974", "93", "11", "30"]),
    ("St-Denis", ["974", "93", "11", "30"]),
    ("Saint-Deni", ["974", "93", "11", "30"]),         # a slip, for a name several communes bear
    ("Saint-Nazaire", ["44", "66", "30"]),
])
def test_a_name_several_communes_bear_lists_them_most_populous_first(text, departments):
    assert [c.department for c in communes.homonyms(text)] == departments


@pytest.mark.parametrize("text", ["Saint-Denis (93)", "Saint-Denis 974", "93200 Saint-Denis", "Saint-Denis, 93200",
                                  "93200", "97411", "Quimper", "Laval", "Xyzzyville", "", None])
def test_an_entry_that_says_which_commune_or_names_one_is_no_homonym(text):
    assert communes.homonyms(text) == []
