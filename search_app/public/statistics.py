"""Public statistics page, /statistiques, and the same figures as JSON, /statistiques.json."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, jsonify, render_template
from markupsafe import Markup

from search_app.public import charts, search_counter
from search_app.identity import now
from vivier import statistics
from vivier.statistics import Report

bp = Blueprint("statistics", __name__)

# Shared caches and browsers may reuse the figures for five minutes: they are public and the same for everyone,
# and nobody needs today's searches to the minute (each web process writes its counts at most a minute late anyway).
CACHE_CONTROL = "public, max-age=300"
# The department bar chart names the most represented only; the map and the table show them all.
TOP_DEPARTMENTS = 15
MONTH_NAMES = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
               "novembre", "décembre")
MONTH_ABBREVIATIONS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.",
                       "déc.")


def month_label(month: date) -> str:
    return f"{MONTH_NAMES[month.month - 1]} {month.year}"


def day_label(day: date) -> str:
    return f"{'1er' if day.day == 1 else day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def build_report() -> Report:
    """The figures as of the app's today, this process's waiting search counts written first."""
    search_counter.counter().flush(wait=False)  # another thread already writing them is as good
    with current_app.extensions["vivier"]["database"].session() as session:
        return statistics.report(session, now().date())


def report_charts(report: Report) -> dict[str, Markup]:
    """The page's charts, by name."""
    departments = [(f"{c.label} ({c.key})" if c.label != c.key else c.key, c.count) for c in report.departments]
    months = [m.month for m in report.new_profiles]
    month_axis = [(MONTH_ABBREVIATIONS[m.month - 1], str(m.year) if i == 0 or m.month == 1 else "")
                  for i, m in enumerate(months)]
    days = [d.day for d in report.searches]
    day_axis = [(str(d.day), MONTH_ABBREVIATIONS[d.month - 1] if i == 0 or d.day == 1 else "")
                for i, d in enumerate(days)]
    totals = report.totals
    return {
        "themes": charts.bar_chart(
            [(c.label, c.count) for c in report.themes], chart_id="graphique-thematiques",
            title="Profils publiés par thématique", label_header="Thématique", value_header="Profils",
            noun=("profil", "profils"),
            note=(f"Un profil compte dans chacune de ses thématiques. "
                  f"{charts.quantity(totals.profiles_without_theme, ('profil', 'profils'))} sans thématique.")),
        "departments": charts.bar_chart(
            departments, chart_id="graphique-departements", title="Profils publiés par département",
            label_header="Département", value_header="Profils", noun=("profil", "profils"), limit=TOP_DEPARTMENTS,
            note=(f"Les {TOP_DEPARTMENTS} départements les plus représentés ; le tableau les donne tous. "
                  f"{charts.quantity(totals.profiles_without_department, ('profil', 'profils'))} sans département.")),
        "department_map": _department_map(report),
        "new_profiles": charts.column_chart(
            [month_label(m) for m in months],
            [charts.Series("Nouveaux profils", [m.count for m in report.new_profiles],
                           ("nouveau profil", "nouveaux profils"))],
            chart_id="graphique-nouveaux-profils", title="Nouveaux profils par mois (12 derniers mois)",
            label_header="Mois", axis_labels=month_axis,
            note="Profils publiés aujourd'hui, comptés au mois de leur création."),
        "projects": charts.column_chart(
            [month_label(m.month) for m in report.projects],
            [charts.Series("Projets publiés", [m.published for m in report.projects],
                           ("projet publié", "projets publiés")),
             charts.Series("Projets ayant reçu une réponse", [m.answered for m in report.projects],
                           ("projet ayant reçu une réponse", "projets ayant reçu une réponse"))],
            chart_id="graphique-projets", title="Projets d'achat publiés et ayant reçu une réponse, par mois",
            label_header="Mois de publication", axis_labels=month_axis,
            note="Chaque projet compte au mois de sa publication ; il a reçu une réponse dès qu'un fournisseur y a "
                 "déposé une proposition."),
        "searches": charts.column_chart(
            [day_label(d) for d in days],
            [charts.Series("Recherches", [d.count for d in report.searches], ("recherche", "recherches"))],
            chart_id="graphique-recherches", title="Recherches par jour (30 derniers jours)", label_header="Jour",
            axis_labels=day_axis,
            note="Une recherche est une demande de résultats avec des mots, des filtres ou une commune, sur le site "
                 "ou par l'API ; seul leur nombre par jour (UTC) est conservé."),
    }


def _department_map(report: Report) -> Markup:
    from search_app.public.maps import department_map

    return department_map({c.key: c.count for c in report.departments}, title="Profils publiés par département",
                          map_id="carte-statistiques")


@bp.get("/statistiques")
def page():
    report = build_report()
    response = current_app.make_response(render_template(
        "statistics/index.html", report=report, charts=report_charts(report), day_label=day_label,
        format_number=charts.format_number))
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


@bp.get("/statistiques.json")
def data():
    response = jsonify(build_report().as_dict())
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Access-Control-Allow-Origin"] = "*"  # public figures, no cookies: any site may reuse them
    return response
