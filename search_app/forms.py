"""Form machinery shared by every audience's forms: French messages (FrenchMeta), filters (control characters,
spaces, e-mail case), validators, the honeypot, and the limits on what may be typed.

Flask-WTF forms (CSRF is checked globally by search_app.extensions.csrf). Messages are French, written for the
person typing: WTForms' own messages come from its French catalogue (FrenchMeta), ours say what to type. The forms
themselves live with their audience: search_app.companies.forms, search_app.purchasing.forms,
search_app.backoffice.forms.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (EmailField, FieldList, Form, FormField, PasswordField, SelectChoice, SelectMultipleField)
from wtforms.meta import DefaultMeta
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from vivier.identifiers import canonical_url, normalise_siren

# Blocks shown for offers and references. Three packs cover the usual basic / standard / premium range; the
# fixture directory's companies list at most two offers and three references, real ones rarely more than five.
MAX_OFFERS = 3
MAX_REFERENCES = 5
# Lengths: a pitch is one sentence under a result (the search page shows about two lines); a description a page.
NAME_MAX_CHARS = 200  # Supplier.name is a String(200)
PITCH_MAX_CHARS = 280
DESCRIPTION_MAX_CHARS = 8000
SHORT_TEXT_MAX_CHARS = 300
LONG_TEXT_MAX_CHARS = 1000
LIST_MAX_CHARS = 500
MESSAGE_MAX_CHARS = 2000
# Oldest founding year accepted: older dates are typing mistakes, not companies selling digital services.
FOUNDED_YEAR_MIN = 1800
# Reference years: public contracts older than this are not references a buyer checks.
REFERENCE_YEAR_MIN = 1980
PHONE_PATTERN = r"^[0-9+(). -]{6,40}$"
TIERS = (("basic", "Basique"), ("medium", "Intermédiaire"), ("complex", "Complexe"))
# The name of the honeypot field: a plausible field that bots fill and people never see (visually hidden,
# out of the tab order, excluded from autofill).
HONEYPOT_FIELD = "fax"
ORGANISATION_MAX_CHARS = 200  # Buyer.organisation is a String(200)
# How the error summary names a repeated block ("Offre 2 : Nom de l'offre").
BLOCK_NAMES = {"offers": "Offre", "references": "Référence"}
# Characters removed from everything typed into a form or a search box (see without_controls).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class FrenchMeta(DefaultMeta):
    """WTForms' built-in messages (invalid choice...) in French, from its own catalogue (no Flask-Babel); and every
    field's value without control characters, before its own filters and validators."""

    locales = ("fr",)

    def bind_field(self, form, unbound_field, options):
        # A password is checked as typed, never stored; blocks filter their own fields.
        if issubclass(unbound_field.field_class, (PasswordField, FieldList, FormField)):
            return super().bind_field(form, unbound_field, options)
        filters = [without_controls, *unbound_field.kwargs.get("filters", ())]
        return unbound_field.bind(form=form, **{**options, "filters": filters})


class FrenchFlaskForm(FlaskForm):
    class Meta(FrenchMeta):
        def get_translations(self, form):
            return FrenchMeta.get_translations(self, form)


class FrenchSubform(Form):
    """A block repeated inside a form (an offer, a reference): no CSRF token of its own."""

    Meta = FrenchMeta


# -- filters and validators -------------------------------------------------------------------------------------
def without_controls(value: Any) -> Any:
    """Text without C0 control characters (tab and line breaks kept) nor DEL: nobody types them; PostgreSQL refuses
    NUL in text, and the others corrupt e-mails, CSV exports and logs. Lists are cleaned item by item."""
    if isinstance(value, str):
        return CONTROL_CHARACTERS.sub("", value)
    if isinstance(value, list):
        return [without_controls(item) for item in value]
    return value


def strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def lower_email(value: Any) -> Any:
    """Addresses compared as typed would make "Jeanne@X.fr" and "jeanne@x.fr" two people."""
    return value.strip().lower() if isinstance(value, str) else value


def comma_list(text: str | None) -> list[str]:
    return [part.strip() for part in re.split(r"[,;\n]", text or "") if part.strip()]


def valid_siren(form, field) -> None:
    if field.data and normalise_siren(field.data) is None:
        raise ValidationError("Numéro SIREN invalide : 9 chiffres (ou un SIRET de 14 chiffres) dont la clé de "
                              "contrôle est juste. Vérifiez-le sur votre extrait Kbis ou avis de situation.")


def valid_website(form, field) -> None:
    if field.data and canonical_url(field.data) is None:
        raise ValidationError("Adresse de site invalide : indiquez par exemple https://www.exemple.fr.")


def year_between(low: int, message: str):
    def check(form, field) -> None:
        if not field.data:
            return
        if not re.fullmatch(r"\d{4}", field.data) or not low <= int(field.data) <= date.today().year:
            raise ValidationError(message)
    return check


def choice_count(minimum: int, maximum: int, too_few: str, too_many: str):
    def check(form, field) -> None:
        count = len(field.data or [])
        if count < minimum:
            raise ValidationError(too_few)
        if count > maximum:
            raise ValidationError(too_many)
    check.field_flags = {"required": True} if minimum else {}  # type: ignore[attr-defined]  # label "(obligatoire)"
    return check


def length(maximum: int) -> Length:
    return Length(max=maximum, message=f"{maximum} caractères au plus.")


def email_field(label: str, required: bool, **kwargs) -> EmailField:
    presence = (DataRequired("Indiquez une adresse électronique.") if required else Optional())
    return EmailField(label, [presence, length(254), Email("Adresse électronique invalide (exemple : "
                                                          "prenom.nom@entreprise.fr).")],
                      filters=[lower_email], **kwargs)


def choices(terms) -> list[SelectChoice]:
    return [SelectChoice(t.slug, t.label) for t in terms]


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes (rendered by the template inside a fieldset)."""


def honeypot_filled(form: FlaskForm) -> bool:
    """A bot filled the field people never see: the view pretends success and stores nothing."""
    field = getattr(form, HONEYPOT_FIELD, None)
    return bool(field is not None and (field.data or "").strip())


def department_codes(text: str | None) -> list[str]:
    """Department codes typed as "29, 56" (or "2a"); unknown codes are left for the validator to name."""
    return [code.upper() if code.lower() in ("2a", "2b") else code.zfill(2) if code.isdigit() else code
            for code in comma_list(text)]


def error_summary(form) -> list[tuple[str, str, str]]:
    """(anchor id, field label, message) of every error, repeated blocks included, in the form's order."""
    rows: list[tuple[str, str, str]] = []
    for field in form:
        if field.type == "FieldList":
            for number, entry in enumerate(field.entries, start=1):
                block = f"{BLOCK_NAMES.get(field.name, field.name)} {number}"
                rows.extend((sub.id, f"{block} : {sub.label.text}", message)
                            for sub in entry.form for message in sub.errors)
        elif field.type == "MultiCheckboxField":
            rows.extend((f"{field.id}-0", field.label.text, message) for message in field.errors)
        else:
            rows.extend((field.id, field.label.text, message) for message in field.errors)
    return rows
