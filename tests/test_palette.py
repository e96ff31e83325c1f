"""WCAG 2.1 contrast of the stylesheet's colours, read from search_app/static/vivier.css itself.

Every rule that sets a text colour is checked against its own background (or the page's), and the pairs that only
meet through nesting (text inside a highlighted or tinted element) are listed explicitly. Borders and outlines
that identify a control or its focus need 3:1 against the page (SC 1.4.11).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tinycss2
from tinycss2.color3 import parse_color

CSS = Path(__file__).resolve().parent.parent / "search_app" / "static" / "vivier.css"
# WCAG 2.1 SC 1.4.3 (text) and 1.4.11 (user-interface components and focus indicators).
TEXT_MIN = 4.5
UI_MIN = 3.0


def relative_luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour whose channels are in 0..1."""

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    lighter, darker = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_ratio_matches_wcag_reference_values():
    assert contrast_ratio((0, 0, 0), (1, 1, 1)) == pytest.approx(21.0)
    assert contrast_ratio((1, 1, 1), (1, 1, 1)) == pytest.approx(1.0)
    grey_767676 = (0x76 / 255,) * 3  # the lightest grey that passes 4.5:1 on white
    assert contrast_ratio(grey_767676, (1, 1, 1)) == pytest.approx(4.54, abs=0.01)


def parse_rules(text: str) -> list[tuple[list[str], dict[str, list]]]:
    """(selectors, {property: value tokens}) for every style rule, in source order, @media blocks included."""
    rules = []
    for node in tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True):
        if node.type == "qualified-rule":
            selectors = [s.strip() for s in tinycss2.serialize(node.prelude).split(",")]
            declarations = tinycss2.parse_declaration_list(node.content, skip_comments=True, skip_whitespace=True)
            rules.append((selectors, {d.lower_name: d.value for d in declarations if d.type == "declaration"}))
        elif node.type == "at-rule" and node.content is not None:
            rules.extend(parse_rules(tinycss2.serialize(node.content)))
    return rules


class Palette:
    """The colours the stylesheet declares, with custom properties resolved."""

    def __init__(self, text: str):
        self.rules = parse_rules(text)
        self.variables = {name: value for selectors, declarations in self.rules if ":root" in selectors
                          for name, value in declarations.items() if name.startswith("--")}

    def _tokens(self, tokens: list) -> list:
        out = []
        for token in tokens:
            if token.type == "function" and token.lower_name == "var":
                name = next(t.value for t in token.arguments if t.type == "ident")
                out.extend(self._tokens(self.variables[name]))
            elif token.type not in ("whitespace", "comment"):
                out.append(token)
        return out

    def colour_of(self, tokens: list) -> tuple[float, float, float] | None:
        """The opaque colour among a value's tokens (`2px solid var(--muted)` -> the grey), if there is one."""
        for token in self._tokens(tokens):
            colour = parse_color(token)
            if colour is not None and not isinstance(colour, str):
                assert colour.alpha == 1, f"translucent colour {tinycss2.serialize([token])}: contrast undefined"
                return (colour.red, colour.green, colour.blue)
        return None

    def get(self, selector: str, *properties: str) -> tuple[float, float, float] | None:
        """The colour the last rule naming `selector` sets through one of `properties`."""
        found = None
        for selectors, declarations in self.rules:
            if selector in selectors:
                for prop in properties:
                    if prop in declarations and (colour := self.colour_of(declarations[prop])) is not None:
                        found = colour
        return found

    def colour_rules(self):
        """(selector text, text colour or None, background or None) of each rule that sets either."""
        for selectors, declarations in self.rules:
            fg = self.colour_of(declarations["color"]) if "color" in declarations else None
            bg = next((c for p in ("background", "background-color") if p in declarations
                       and (c := self.colour_of(declarations[p])) is not None), None)
            if fg or bg:
                yield ", ".join(selectors), fg, bg


@pytest.fixture(scope="module")
def palette() -> Palette:
    return Palette(CSS.read_text(encoding="utf-8"))


WHITE = (1.0, 1.0, 1.0)


def page_background(palette: Palette):
    return palette.get("body", "background", "background-color") or WHITE


def body_text(palette: Palette):
    return palette.get("body", "color")


def test_the_stylesheet_declares_a_palette(palette):
    assert {"--ink", "--muted", "--accent"} <= set(palette.variables)
    assert body_text(palette) is not None and len(list(palette.colour_rules())) >= 10


def test_every_rule_with_a_text_colour_reads_on_its_background(palette):
    """A rule's own background if it sets one, the page's otherwise; a background without a text colour carries
    the body's text."""
    failures = []
    for selector, fg, bg in palette.colour_rules():
        if selector in ("body", ":root"):
            continue
        ratio = contrast_ratio(fg or body_text(palette), bg or page_background(palette))
        if ratio < TEXT_MIN:
            failures.append(f"{selector}: {ratio:.2f}")
    assert not failures, f"text below {TEXT_MIN}:1: {failures}"


# Text and background that meet through nesting in the templates: (what, text (selector, properties),
# background (selector, properties)). None as a selector means the body's text or the page's background.
NESTED_PAIRS = [
    ("body text on the page", (None, ()), (None, ())),
    ("links on the page", ("a", ("color",)), (None, ())),
    ("secondary text on the page", (":root", ("--muted",)), (None, ())),
    ("highlighted word in a pitch", (None, ()), ("b", ("background",))),
    ("highlighted word in a description snippet", (".snippet", ("color",)), ("b", ("background",))),
    ("active filter chip", (None, ()), (".chip", ("background",))),
    ("notice text", (None, ()), (".notice", ("background",))),
    ("link inside a notice", ("a", ("color",)), (".notice", ("background",))),
    ("keyword pill", (None, ()), (".inline li", ("background",))),
    ("skip link", ("a", ("color",)), (".skip-link", ("background",))),
]


@pytest.mark.parametrize(("what", "text", "background"), NESTED_PAIRS, ids=[p[0] for p in NESTED_PAIRS])
def test_nested_text_reads_on_its_background(palette, what, text, background):
    def resolve(selector, properties, default):
        if selector is None:
            return default
        if selector == ":root":
            return palette.colour_of(palette.variables[properties[0]])
        colour = palette.get(selector, *properties)
        assert colour is not None, f"{selector} sets no {properties}: update NESTED_PAIRS"
        return colour

    fg = resolve(*text, body_text(palette))
    bg = resolve(*background, page_background(palette))
    assert contrast_ratio(fg, bg) >= TEXT_MIN, f"{what}: {contrast_ratio(fg, bg):.2f}:1"


# Borders and outlines that show where a control is, or which one has the keyboard focus.
UI_BOUNDARIES = [
    ("search box border", ".searchbox input", ("border", "border-color")),
    ("keyboard focus outline", "a:focus-visible", ("outline", "outline-color")),
    ("keyboard focus outline on buttons", "button:focus-visible", ("outline", "outline-color")),
    ("keyboard focus outline on fields", "input:focus-visible", ("outline", "outline-color")),
]


@pytest.mark.parametrize(("what", "selector", "properties"), UI_BOUNDARIES, ids=[b[0] for b in UI_BOUNDARIES])
def test_control_boundaries_and_focus_stand_out_from_the_page(palette, what, selector, properties):
    colour = palette.get(selector, *properties)
    assert colour is not None, f"{selector} sets no {properties}"
    ratio = contrast_ratio(colour, page_background(palette))
    assert ratio >= UI_MIN, f"{what}: {ratio:.2f}:1"
