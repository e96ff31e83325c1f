"""French display text of facet values, shared by the pages, the exports and the API."""

from __future__ import annotations


def facet_label(facet: str, value: str) -> str:
    """French display text of a facet value."""
    from vivier import geo, taxonomy

    if facet == "category":
        return taxonomy.CATEGORY_LABELS.get(value, value)
    if facet == "label":
        return taxonomy.LABEL_LABELS.get(value, value)
    if facet == "size":
        return taxonomy.SIZE_LABELS.get(value, value)
    if facet == "open_source":
        return "Solution sous licence libre" if value == "oui" else value
    if facet == "interop":
        from vivier.centrals import INTEROP_FACTS

        return INTEROP_FACTS.get(value, value)
    if facet == "central":
        return _central_label(value)
    if facet == "department":
        name = geo.department_name(value)
        return f"{value} {name}" if name else value
    return value


def _central_label(value: str) -> str:
    """The purchasing-central filter's chip: any central, or one central by name."""
    from flask import current_app

    from search_app.views.search import ANY_CENTRAL
    from vivier.centrals import central_by_slug

    if value == ANY_CENTRAL:
        return "Achetable via une centrale d'achat"
    with current_app.extensions["vivier"]["database"].session() as session:
        central = central_by_slug(session, value)
        return f"Achetable via {central.name}" if central else value
