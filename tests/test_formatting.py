"""French formatting of numbers, sizes, dates, times and counts (search_app.formatting), and its Jinja filters."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from flask import Flask, render_template_string

from search_app import formatting as f

NNBSP = "\u202f"  # narrow no-break space: French thousands separator
NBSP = "\u00a0"


def test_numbers_group_thousands_with_a_narrow_no_break_space():
    assert f.number(0) == "0"
    assert f.number(1234567) == f"1{NNBSP}234{NNBSP}567"
    assert f.number(12.5, decimals=1) == "12,5"
    assert f.number(12.0, decimals=1) == "12"
    assert f.number(None) == ""


@pytest.mark.parametrize("size, text", [
    (0, f"0{NBSP}o"), (512, f"512{NBSP}o"), (37 * 1024, f"37{NBSP}Ko"), (int(495.6 * 1024), f"495,6{NBSP}Ko"),
    (int(2.4 * 1024 * 1024), f"2,4{NBSP}Mo"), (3 * 1024 ** 3, f"3{NBSP}Go"), (None, ""),
])
def test_file_sizes_use_french_units_and_a_decimal_comma(size, text):
    assert f.file_size(size) == text


def test_dates_and_times():
    assert f.long_date(date(2026, 12, 6)) == "6 décembre 2026"
    assert f.long_date(date(2027, 1, 1)) == "1er janvier 2027"
    assert f.long_date(None) == ""
    assert f.short_date(date(2026, 12, 6)) == "06/12/2026"
    assert f.clock_time(datetime(2026, 12, 6, 2, 0)) == "02:00"
    assert f.clock_time(time(14, 30)) == "14:30"
    assert f.date_time(datetime(2026, 12, 6, 2, 0)) == "6 décembre 2026 à 02:00"
    assert f.short_date_time(datetime(2026, 12, 6, 2, 0)) == "06/12/2026 à 02:00"


def test_counts_say_aucun_singular_or_plural():
    assert f.suppliers_count(0) == "Aucun fournisseur"
    assert f.suppliers_count(1) == "1 fournisseur"
    assert f.suppliers_count(2) == "2 fournisseurs"
    assert f.suppliers_count(1500) == f"1{NNBSP}500 fournisseurs"
    assert f.count_of(0, "offre", "offres", "aucune offre") == "aucune offre"
    assert f.count_of(0, "offre", "offres") == "0 offre"
    assert f.count_of(3, "offre", "offres") == "3 offres"


def test_filters_are_registered_on_the_app(app):
    with app.test_request_context():
        text = render_template_string(
            "{{ 507494|file_size }}|{{ d|long_date }}|{{ m|clock_time }}|{{ 0|suppliers_count }}|{{ 1234|number }}"
            "|{{ count_of(2, 'offre', 'offres') }}", d=date(2026, 12, 6), m=datetime(2026, 1, 1, 2, 0))
    assert text == f"495,6{NBSP}Ko|6 décembre 2026|02:00|Aucun fournisseur|1{NNBSP}234|2 offres"


def test_register_works_on_any_flask_app():
    app = Flask(__name__)
    f.register(app)
    with app.app_context():
        assert render_template_string("{{ 1|suppliers_count }}") == "1 fournisseur"


# -- wording of the pages that use it (issue 21) ------------------------------------------------------------------

def test_moderation_shows_offers_and_references_with_french_labels(app):
    """The back-office showed raw keys: « client : … ; object : … ; year », « name : … ; price_band »."""
    template = ('{% import "moderation/_macros.html" as m with context %}'
                '{{ m.show("references", refs) }}|{{ m.show("offers", offers) }}|{{ m.show("interoperability", io) }}')
    with app.test_request_context("/moderation/"):
        html = render_template_string(
            template, refs=[{"year": 2021, "client": "Ville de Brest", "object": "Signalétique"}],
            offers=[{"price_band": "200 € HT", "name": "Suivi", "tiers": {"basic": "Une benne"}}],
            io={"standards": ["GeoJSON"], "api": "REST"})
    assert "Client : Ville de Brest ; Objet : Signalétique ; Année : 2021" in html
    assert "Nom : Suivi ; Fourchette de prix : 200 € HT ; Paliers : Basique : Une benne" in html
    assert "Standards : GeoJSON ; API : REST" in html
    for raw in ("client :", "object :", "year :", "price_band", "name :"):
        assert raw not in html


def test_provenance_names_the_company_s_own_submission_in_french():
    from search_app.public.suppliers import source_label

    assert source_label("submitted") == "déclaré par l'entreprise"
    assert source_label("annuaire") == "annuaire"  # an operator's own source keeps the name it was given
