"""Declared page layouts: an operator describes where a directory puts each field, no Python needed.

A field spec is one of:
    "h1.name"                                   text of the matched elements (CSS; "xpath:..." for XPath)
    "a.site::attr(href)"                        a string selected directly (::attr, ::text, @attr, text())
    {css: "li.theme", many: true}               a list, one text per matched element
    {css: "section.about p", join: "\\n\\n"}      the texts of the matched elements joined
    {css: "p.geo", attr: "data-lat"}            an attribute of the first matched element
    {each: "div.offer", fields: {...}}          a list of mappings, one per matched element
    {each: "tr", key: "::attr(data-tier)", value: "td"}   a mapping built from matched elements
    {css: "section.interop", fields: {...}}     a mapping read inside the first matched element
    {const: "constant"}                         a constant
Selectors inside `each`/`fields` are relative to the element they read.
"""

from __future__ import annotations

from typing import Any, Mapping

import html_text
from parsel import Selector, SelectorList

XPATH_PREFIX = "xpath:"
SPEC_KEYS = frozenset({"css", "xpath", "many", "join", "attr", "each", "fields", "key", "value", "const"})
# Values of a string spec that select strings rather than elements.
_STRING_SELECTORS = ("::attr(", "::text", "/@", "text()")


class LayoutError(ValueError):
    """A declared layout is malformed; the message says where."""


def select(node: Selector | SelectorList, selector: str) -> SelectorList:
    """Elements matching a CSS selector, or an XPath one written "xpath:..."."""
    if selector.startswith(XPATH_PREFIX):
        return node.xpath(selector.removeprefix(XPATH_PREFIX).strip())
    return node.css(selector)


def _selects_strings(selector: str) -> bool:
    bare = selector.removeprefix(XPATH_PREFIX).strip()
    return any(marker in selector for marker in _STRING_SELECTORS) or bare.startswith("@")


def element_text(node: Selector) -> str:
    """The visible text of an element as a reader sees it: inline markup joined ("Second <b>gras</b>." ->
    "Second gras."), blocks separated by a space, whitespace collapsed (html-text)."""
    return html_text.etree_to_text(node.root, guess_layout=False) if not isinstance(node.root, str) else \
        " ".join(node.root.split())


def _texts(matched: SelectorList, selector: str) -> list[str]:
    if _selects_strings(selector):
        return [" ".join(v.split()) for v in matched.getall() if v and v.strip()]
    return [t for t in (element_text(m) for m in matched) if t]


def extract(node: Selector | SelectorList, spec: Any) -> Any:
    """Apply a field spec (see module docstring) to a node."""
    if isinstance(spec, str):
        texts = _texts(select(node, spec), spec)
        return " ".join(texts) if texts else None
    if "const" in spec:
        return spec["const"]
    selector = spec.get("css") or (XPATH_PREFIX + spec["xpath"] if spec.get("xpath") else None)
    if "each" in spec:
        items = select(node, spec["each"])
        if "fields" in spec:
            return [extract_fields(item, spec["fields"]) for item in items]
        mapping = {}
        for item in items:
            key = extract(item, spec["key"])
            if key:
                mapping[key] = extract(item, spec["value"])
        return mapping or None
    matched = select(node, selector) if selector else SelectorList([node] if isinstance(node, Selector) else node)
    if "fields" in spec:
        return extract_fields(matched[0], spec["fields"]) if matched else None
    if "attr" in spec:
        return matched[0].attrib.get(spec["attr"]) if matched else None
    texts = _texts(matched, selector or "")
    if spec.get("many"):
        return texts
    if "join" in spec:
        return spec["join"].join(texts) if texts else None
    return " ".join(texts) if texts else None


def extract_all(node: Selector | SelectorList, spec: Any) -> list[str]:
    """Every string a spec selects (links to follow, say), as a list."""
    if isinstance(spec, str):
        return _texts(select(node, spec), spec)
    value = extract(node, {**spec, "many": True})
    return value if isinstance(value, list) else [value] if value else []


def extract_fields(node: Selector, specs: Mapping[str, Any]) -> dict[str, Any]:
    return {name: extract(node, spec) for name, spec in specs.items()}


def _check_selector(selector: Any, where: str) -> None:
    if not isinstance(selector, str) or not selector.strip():
        raise LayoutError(f"{where}: a selector must be a non-empty string")
    try:
        select(Selector(text="<html></html>"), selector)
    except (SyntaxError, ValueError) as error:
        raise LayoutError(f"{where}: invalid selector {selector!r} ({error})") from None


def validate_spec(spec: Any, where: str) -> None:
    """Raise LayoutError naming the first malformed part of a field spec."""
    if isinstance(spec, str):
        _check_selector(spec, where)
        return
    if not isinstance(spec, Mapping):
        raise LayoutError(f"{where}: expected a selector or a mapping, got {type(spec).__name__}")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise LayoutError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if "const" in spec:
        return
    if "each" in spec:
        _check_selector(spec["each"], f"{where}.each")
        if "fields" in spec:
            validate_fields(spec["fields"], f"{where}.fields")
        elif "key" in spec and "value" in spec:
            validate_spec(spec["key"], f"{where}.key")
            validate_spec(spec["value"], f"{where}.value")
        else:
            raise LayoutError(f"{where}: 'each' needs 'fields', or 'key' and 'value'")
        return
    if "css" in spec and "xpath" in spec:
        raise LayoutError(f"{where}: give 'css' or 'xpath', not both")
    if "css" in spec:
        _check_selector(spec["css"], f"{where}.css")
    elif "xpath" in spec:
        _check_selector(XPATH_PREFIX + str(spec["xpath"]), f"{where}.xpath")
    elif "fields" not in spec:
        raise LayoutError(f"{where}: needs 'css', 'xpath', 'each', 'fields' or 'const'")
    if "fields" in spec:
        validate_fields(spec["fields"], f"{where}.fields")


def validate_fields(specs: Any, where: str) -> None:
    if not isinstance(specs, Mapping) or not specs:
        raise LayoutError(f"{where}: expected a mapping of field names to specs")
    for name, spec in specs.items():
        validate_spec(spec, f"{where}.{name}")
