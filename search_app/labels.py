"""French display text of facet values, shared by the pages, the exports and the API."""

from __future__ import annotations

from datetime import timedelta

# The purchasing-central filter's value for "any central" (?centrale=toutes; search_app.public.search).
ANY_CENTRAL = "toutes"


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

    from vivier.centrals import central_by_slug

    if value == ANY_CENTRAL:
        return "Achetable via une centrale d'achat"
    with current_app.extensions["vivier"]["database"].session() as session:
        central = central_by_slug(session, value)
        return f"Achetable via {central.name}" if central else value


def lifetime_text(lifetime: timedelta) -> str:
    """How long a link works, as the e-mail says it: "1 heure", "24 heures", "3 jours"."""
    hours = int(lifetime.total_seconds() // 3600)
    if hours >= 48 and hours % 24 == 0:
        return f"{hours // 24} jours"
    return f"{hours} heure" if hours == 1 else f"{hours} heures"
