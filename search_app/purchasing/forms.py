"""The buyers' forms: the sign-in link request, a purchase project (with its retro-planning and its files), and
the operators' allow-list of public-sector domains.

A project form and a project (vivier.projects.PROJECT_FIELDS) differ in shape: the deadline is typed as a date and
an hour in Paris time and stored in naive UTC; departments are typed as codes separated by commas; the milestones
are a fixed number of rows. `project_from_form`, `milestones_from_form` and `form_data_from_project` translate.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.datastructures import FileStorage
from wtforms import (BooleanField, DateField, FieldList, FormField, MultipleFileField, SelectChoice, SelectField,
                     StringField, TextAreaField, TimeField)
from wtforms.validators import DataRequired, Optional, ValidationError

from search_app.forms import (ORGANISATION_MAX_CHARS, FrenchFlaskForm, FrenchSubform, MultiCheckboxField, choice_count,
                              choices, department_codes, email_field, length, strip)
from vivier import geo, taxonomy
from vivier.models import CONTRACT_MODELS

# Buyers type dates and hours as the clocks of French public bodies show them; the database stores naive UTC.
PARIS = ZoneInfo("Europe/Paris")
# Rows of the retro-planning: a sourcing rarely has more steps than study, sourcing, tender, award, start,
# assessment, renewal; eight leaves room without a page of empty rows.
MAX_MILESTONES = 8
# Lengths: a title is a line (Project.title is a String(200)); a need or a context is a page or two.
TITLE_MAX_CHARS = 200
LONG_TEXT_MAX_CHARS = 10000
CRITERIA_MAX_CHARS = 4000
BUDGET_MAX_CHARS = 80  # Project.budget_band is a String(80)
MILESTONE_LABEL_MAX_CHARS = 200  # Milestone.label is a String(200)
# Departments one project may cover: a region's worth (Occitanie has 13); more is a national project, which
# simply names none.
MAX_DEPARTMENTS = 13
# Categories of one project: like a supplier's profile, a few themes, not the whole list.
MAX_CATEGORIES = 4


# -- time -------------------------------------------------------------------------------------------------------
def paris_to_utc(day: date, hour: time) -> datetime:
    """A Paris wall-clock date and hour as the naive UTC datetime the database stores."""
    return datetime.combine(day, hour, tzinfo=PARIS).astimezone(timezone.utc).replace(tzinfo=None)


def utc_to_paris(moment: datetime) -> datetime:
    """A stored naive UTC datetime as Paris wall-clock time (naive, for display and form fields)."""
    return moment.replace(tzinfo=timezone.utc).astimezone(PARIS).replace(tzinfo=None)


# -- sign-in ----------------------------------------------------------------------------------------------------
class BuyerSignInForm(FrenchFlaskForm):
    email = email_field("Votre adresse électronique professionnelle", required=True,
                        description="Une adresse d'une collectivité ou d'un établissement public connu est vérifiée "
                                    "aussitôt ; une autre l'est par notre équipe avant toute publication.")
    organisation = StringField("Votre organisation", [Optional(), length(ORGANISATION_MAX_CHARS)], filters=[strip],
                               description="Par exemple : Brest métropole, commune de Quimperlé.")
    fax = StringField("Fax (laissez ce champ vide)")


# -- the project ------------------------------------------------------------------------------------------------
class MilestoneForm(FrenchSubform):
    date = DateField("Date", [Optional()], format="%Y-%m-%d")
    label = StringField("Étape", [length(MILESTONE_LABEL_MAX_CHARS)], filters=[strip])

    def validate_label(self, field) -> None:
        if self.date.data and not field.data:
            raise ValidationError("Nommez cette étape (ou videz sa date).")
        if field.data and not self.date.data and not self.date.errors:
            raise ValidationError("Datez cette étape (ou videz son nom).")


def known_departments(form, field) -> None:
    codes = department_codes(field.data)
    unknown = [code for code in codes if code not in geo.DEPARTMENTS]
    if unknown:
        raise ValidationError(f"Département inconnu : {', '.join(unknown)}. Indiquez des numéros, par exemple "
                              "29, 56, 2A.")
    if len(codes) > MAX_DEPARTMENTS:
        raise ValidationError(f"{MAX_DEPARTMENTS} départements au plus ; pour un projet national, laissez ce champ "
                              "vide.")


class ProjectForm(FrenchFlaskForm):
    """Every field of a purchase project (issue 7, point 2). The deadline's future is checked by the view, which
    knows the app's clock."""

    title = StringField("Titre du projet", [DataRequired("Donnez un titre au projet."), length(TITLE_MAX_CHARS)],
                        filters=[strip])
    need = TextAreaField("Besoin", [DataRequired("Décrivez le besoin."), length(LONG_TEXT_MAX_CHARS)],
                         filters=[strip], description="Le problème à résoudre, en mots simples : les fournisseurs "
                                                      "proposent des solutions, pas seulement des produits.")
    context = TextAreaField("Contexte", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip],
                            description="Le territoire, l'existant, les usagers, les contraintes.")
    studies = TextAreaField("Études préalables", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip],
                            description="Ce qui a déjà été étudié ; joignez les documents ci-dessous.")
    social_criteria = TextAreaField("Critères sociaux", [Optional(), length(CRITERIA_MAX_CHARS)], filters=[strip])
    environmental_criteria = TextAreaField("Critères environnementaux", [Optional(), length(CRITERIA_MAX_CHARS)],
                                           filters=[strip])
    variants_allowed = BooleanField("Les variantes sont admises")
    variant_requirements = TextAreaField("Exigences minimales des variantes",
                                         [Optional(), length(CRITERIA_MAX_CHARS)], filters=[strip],
                                         description="Ce que toute variante doit respecter.")
    budget_band = StringField("Fourchette de budget", [Optional(), length(BUDGET_MAX_CHARS)], filters=[strip],
                              description="Facultatif, par exemple « de 40 000 à 60 000 € HT ».")
    show_budget = BooleanField("Afficher la fourchette de budget sur la page publique")
    contract_model = SelectField("Modèle de contrat envisagé", [DataRequired("Choisissez un modèle de contrat.")],
                                 choices=[SelectChoice("", "Choisissez…"),
                                          *(SelectChoice(k, v) for k, v in CONTRACT_MODELS.items())], default="")
    departments = StringField("Territoire : départements", [Optional(), length(200), known_departments],
                              filters=[strip], description="Numéros séparés par des virgules, par exemple "
                                                           "« 29, 56 ». Vide pour un projet national.")
    categories = MultiCheckboxField(
        "Thématiques", [choice_count(1, MAX_CATEGORIES, "Choisissez au moins une thématique.",
                                     f"Choisissez {MAX_CATEGORIES} thématiques au plus.")],
        choices=choices(taxonomy.CATEGORIES), description="Les fournisseurs de ces thématiques sont prévenus.")
    deadline_date = DateField("Date limite de réponse", [DataRequired("Indiquez la date limite de réponse (jour, "
                                                                      "mois, année).")], format="%Y-%m-%d")
    deadline_time = TimeField("Heure limite (heure de Paris)", [DataRequired("Indiquez l'heure limite.")],
                              format="%H:%M", default=time(12, 0))
    milestones = FieldList(FormField(MilestoneForm), min_entries=MAX_MILESTONES, max_entries=MAX_MILESTONES)
    files = MultipleFileField("Documents des études préalables",
                              description="PDF, .docx, .odt, PNG ou JPEG ; 10 Mo au plus par fichier.")

    def __init__(self, *args, deadline_after: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline_after = deadline_after

    def validate_deadline_time(self, field) -> None:
        if self.deadline_date.data and field.data and self.deadline_after is not None:
            if paris_to_utc(self.deadline_date.data, field.data) <= self.deadline_after:
                raise ValidationError("La date limite de réponse doit être dans le futur.")


# -- form <-> project -------------------------------------------------------------------------------------------
TEXT_FIELDS = ("title", "need", "context", "studies", "social_criteria", "environmental_criteria",
               "variant_requirements")


def project_from_form(form: ProjectForm) -> dict[str, Any]:
    """The project's fields as vivier.projects.create_project takes them."""
    data: dict[str, Any] = {name: getattr(form, name).data or "" for name in TEXT_FIELDS}
    data["variants_allowed"] = bool(form.variants_allowed.data)
    data["budget_band"] = form.budget_band.data or None
    data["show_budget"] = bool(form.show_budget.data and form.budget_band.data)
    data["contract_model"] = form.contract_model.data
    data["departments"] = list(dict.fromkeys(department_codes(form.departments.data)))
    data["categories"] = list(form.categories.data or [])
    data["deadline"] = paris_to_utc(form.deadline_date.data, form.deadline_time.data)
    return data


def milestones_from_form(form: ProjectForm) -> list[tuple[datetime, str]]:
    """The filled rows, as (UTC midnight of the Paris day, label): a milestone is a day, not an hour."""
    return [(paris_to_utc(row["date"], time(0, 0)), row["label"]) for row in form.milestones.data
            if row["date"] and row["label"]]


def form_data_from_project(project) -> dict[str, Any]:
    """A stored project as the form's initial values."""
    data: dict[str, Any] = {name: getattr(project, name) or "" for name in TEXT_FIELDS}
    deadline = utc_to_paris(project.deadline)
    data.update(variants_allowed=project.variants_allowed, budget_band=project.budget_band or "",
                show_budget=project.show_budget, contract_model=project.contract_model,
                departments=", ".join(project.departments or []), categories=list(project.categories or []),
                deadline_date=deadline.date(), deadline_time=deadline.time().replace(second=0, microsecond=0),
                milestones=[{"date": utc_to_paris(m.date).date(), "label": m.label} for m in project.milestones])
    return data


def is_blank_upload(storage) -> bool:
    """A file input left empty still posts one part with no name; a text field of the same name (a hand-made
    request) is no file either."""
    return not isinstance(storage, FileStorage) or not (storage.filename or "").strip()
