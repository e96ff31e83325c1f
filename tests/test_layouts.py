"""Declared layouts: every form of field spec, on a small page."""

import pytest
from parsel import Selector

from crawler.layouts import LayoutError, extract, extract_all, extract_fields, validate_fields

PAGE = Selector(text="""
<article class="fiche">
  <h1> Acme
     Territoires </h1>
  <p class="geo" data-lat="48.1">Rennes</p>
  <ul class="themes"><li>Déchets</li><li> </li><li>IoT</li></ul>
  <div class="texte"><p>Premier.</p><p>Second <b>gras</b>.</p></div>
  <a class="site" href="https://acme.fr">site</a>
  <dl><dt>SIREN</dt><dd>732 829 320</dd></dl>
  <div class="offre"><h3>Basique</h3><table><tr data-tier="basic"><td>1 école</td></tr>
    <tr data-tier="complex"><td>10 écoles</td></tr></table></div>
  <div class="offre"><h3>Plus</h3></div>
  <section class="interop"><p class="api">REST</p></section>
</article>""")


def test_every_spec_form():
    fields = extract_fields(PAGE, {
        "name": "h1",
        "latitude": {"css": "p.geo", "attr": "data-lat"},
        "categories": {"css": "ul.themes li", "many": True},
        "description": {"css": "div.texte p", "join": "\n\n"},
        "website": "a.site::attr(href)",
        "siren": "xpath: .//dt[normalize-space()='SIREN']/following-sibling::dd[1]",
        "offers": {"each": "div.offre", "fields": {
            "name": "h3", "tiers": {"each": "tr", "key": "::attr(data-tier)", "value": "td"}}},
        "interoperability": {"css": "section.interop", "fields": {"api": "p.api", "licence": "p.licence"}},
        "country": {"const": "FR"},
        "missing": "p.absent",
    })
    assert fields == {
        "name": "Acme Territoires", "latitude": "48.1", "categories": ["Déchets", "IoT"],
        "description": "Premier.\n\nSecond gras.", "website": "https://acme.fr", "siren": "732 829 320",
        "offers": [{"name": "Basique", "tiers": {"basic": "1 école", "complex": "10 écoles"}},
                   {"name": "Plus", "tiers": None}],
        "interoperability": {"api": "REST", "licence": None}, "country": "FR", "missing": None,
    }


def test_extract_all_lists_strings_and_texts():
    assert extract_all(PAGE, "a.site::attr(href)") == ["https://acme.fr"]
    assert extract_all(PAGE, "xpath://ul/li") == ["Déchets", "IoT"]
    assert extract(PAGE, {"css": "p.absent", "attr": "x"}) is None


@pytest.mark.parametrize("specs, message", [
    ({}, "expected a mapping"),
    ({"name": 3}, "expected a selector or a mapping"),
    ({"name": ""}, "non-empty string"),
    ({"name": {"css": "h1", "xpath": "//h1"}}, "not both"),
    ({"name": {"many": True}}, "needs 'css'"),
    ({"offers": {"each": "div", "key": "h3"}}, "'each' needs 'fields'"),
    ({"name": "h1[["}, "invalid selector"),
])
def test_malformed_specs_are_refused(specs, message):
    with pytest.raises(LayoutError, match=message):
        validate_fields(specs, "detail.fields")
