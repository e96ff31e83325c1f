"""The companies' forms: propose a profile, claim one, ask for an editing link, edit, ask for removal.

Flask-WTF forms (CSRF is checked globally by search_app.extensions.csrf). Messages are French, written for the
person typing: WTForms' own messages come from its French catalogue (FrenchMeta), ours say what to type.

A profile form and a profile (vivier.submissions.SUBMITTED_FIELDS) differ in shape: lists are typed as
comma-separated text, offers and references as a fixed number of blocks, interoperability as three fields.
`profile_from_form` and `form_data_from_profile` translate; vivier.submissions.clean_profile then cleans the
result the way crawled profiles are cleaned.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Mapping

from flask_wtf import FlaskForm
from wtforms import (BooleanField, EmailField, FieldList, Form, FormField, PasswordField, SelectChoice, SelectField,
                     SelectMultipleField, StringField, TextAreaField)
from wtforms.meta import DefaultMeta
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp, ValidationError

from vivier import merge, taxonomy
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


# -- profile blocks ---------------------------------------------------------------------------------------------
class OfferForm(FrenchSubform):
    # No Optional(): it would stop the chain before validate_name, which needs an empty name.
    name = StringField("Nom de l'offre", [length(SHORT_TEXT_MAX_CHARS)], filters=[strip])
    scope = TextAreaField("Périmètre (ce qui est compris)", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip])
    price_band = StringField("Fourchette de prix", [Optional(), length(SHORT_TEXT_MAX_CHARS)], filters=[strip],
                             description="Par exemple : « de 2 000 à 5 000 € HT par an » ou « sur devis ».")
    basic = TextAreaField("Palier basique", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip])
    medium = TextAreaField("Palier intermédiaire", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip])
    complex = TextAreaField("Palier complexe", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip])

    def validate_name(self, field) -> None:
        others = (self.scope, self.price_band, self.basic, self.medium, self.complex)
        if not field.data and any(f.data for f in others):
            raise ValidationError("Donnez un nom à cette offre (ou videz ses autres champs).")


class ReferenceForm(FrenchSubform):
    client = StringField("Client public", [length(SHORT_TEXT_MAX_CHARS)], filters=[strip])  # see OfferForm.name
    object = StringField("Objet de la prestation", [Optional(), length(SHORT_TEXT_MAX_CHARS)], filters=[strip])
    year = StringField("Année", [Optional(), year_between(REFERENCE_YEAR_MIN, "Année invalide : quatre chiffres, "
                                                           f"entre {REFERENCE_YEAR_MIN} et l'année en cours.")],
                       filters=[strip])

    def validate_client(self, field) -> None:
        if not field.data and (self.object.data or self.year.data):
            raise ValidationError("Indiquez le client de cette référence (ou videz ses autres champs).")


# -- the profile ------------------------------------------------------------------------------------------------
class ProfileForm(FrenchFlaskForm):
    """A company's profile, as it edits it (the public contact address is optional: it may have none)."""

    name = StringField("Nom de l'entreprise", [DataRequired("Indiquez le nom de l'entreprise."),
                                                length(NAME_MAX_CHARS)], filters=[strip])
    siren = StringField("SIREN", [Optional(), length(20), valid_siren], filters=[strip],
                        description="9 chiffres, facultatif. Un SIRET (14 chiffres) convient aussi.")
    website = StringField("Site internet", [Optional(), length(500), valid_website], filters=[strip],
                          description="Par exemple : https://www.exemple.fr")
    contact_email = email_field("Adresse électronique de contact", required=False,
                                description="Affichée sur la fiche publique.")
    contact_phone = StringField("Téléphone", [Optional(), Regexp(PHONE_PATTERN, message="Numéro de téléphone "
                                                                 "invalide : chiffres, espaces, +, points.")],
                                filters=[strip])
    pitch = StringField("Accroche", [DataRequired("Résumez votre solution en une phrase."),
                                     length(PITCH_MAX_CHARS)], filters=[strip],
                        description="Une phrase : ce que vous proposez aux collectivités.")
    description = TextAreaField("Présentation", [Optional(), length(DESCRIPTION_MAX_CHARS)], filters=[strip],
                                description="Votre solution, à qui elle sert, comment elle se déploie.")
    categories = MultiCheckboxField(
        "Thématiques", [choice_count(1, merge.MAX_CATEGORIES, "Choisissez au moins une thématique.",
                                     f"Choisissez {merge.MAX_CATEGORIES} thématiques au plus.")],
        choices=choices(taxonomy.CATEGORIES),
        description=f"De une à {merge.MAX_CATEGORIES} : les acheteurs filtrent la recherche par thématique.")
    keywords = StringField("Technologies et mots-clés", [Optional(), length(LIST_MAX_CHARS)], filters=[strip],
                           description="Séparés par des virgules. Par exemple : LoRaWAN, application mobile.")
    address = StringField("Adresse", [Optional(), length(SHORT_TEXT_MAX_CHARS)], filters=[strip])
    postcode = StringField("Code postal", [Optional(), Regexp(r"^\d{5}$", message="Code postal invalide : "
                                                              "5 chiffres.")],
                           filters=[strip, lambda v: v.replace(" ", "") if isinstance(v, str) else v])
    commune = StringField("Commune", [DataRequired("Indiquez la commune de l'entreprise."), length(150)],
                          filters=[strip])
    size_band = SelectField("Effectif", choices=[SelectChoice("", "Non précisé"), *choices(taxonomy.SIZE_BANDS)],
                            default="")
    founded_year = StringField("Année de création", [Optional(), year_between(
        FOUNDED_YEAR_MIN, f"Année invalide : quatre chiffres, entre {FOUNDED_YEAR_MIN} et l'année en cours.")],
        filters=[strip])
    labels = MultiCheckboxField("Labels et agréments", choices=choices(taxonomy.LABELS))
    offers = FieldList(FormField(OfferForm), min_entries=MAX_OFFERS, max_entries=MAX_OFFERS)
    references = FieldList(FormField(ReferenceForm), min_entries=MAX_REFERENCES, max_entries=MAX_REFERENCES)
    standards = StringField("Standards ouverts", [Optional(), length(LIST_MAX_CHARS)], filters=[strip],
                            description="Séparés par des virgules. Par exemple : GeoJSON, LoRaWAN, OpenAPI.")
    api = StringField("API", [Optional(), length(LIST_MAX_CHARS)], filters=[strip],
                      description="L'adresse de sa documentation ou une courte description.")
    licence = StringField("Licence libre", [Optional(), length(100)], filters=[strip],
                          description="Si votre solution est sous licence libre : AGPL-3.0, MIT, EUPL…")


class NewProfileForm(ProfileForm):
    """A profile proposed by a company Vivier does not list: its contact address is where the follow-up and, once
    published, the editing links go."""

    contact_email = email_field("Adresse électronique de contact", required=True,
                                description="Affichée sur la fiche publique ; nous y envoyons la confirmation, "
                                            "puis les liens pour modifier votre fiche.")
    fax = StringField("Fax (laissez ce champ vide)")


class ClaimForm(FrenchFlaskForm):
    email = email_field("Votre adresse électronique professionnelle", required=True,
                        description="Une adresse sur le domaine du site de l'entreprise reçoit aussitôt un lien de "
                                    "confirmation ; une autre adresse est vérifiée par notre équipe.")
    message = TextAreaField("Message pour l'équipe (facultatif)", [Optional(), length(MESSAGE_MAX_CHARS)],
                            filters=[strip], description="Votre fonction, un moyen de vous joindre : utile si "
                                                         "votre adresse n'est pas sur le domaine du site.")
    fax = StringField("Fax (laissez ce champ vide)")


class EditLinkForm(FrenchFlaskForm):
    email = email_field("Votre adresse électronique", required=True,
                        description="L'adresse qui a revendiqué la fiche ou qui l'a proposée.")
    fax = StringField("Fax (laissez ce champ vide)")


class DeletionForm(FrenchFlaskForm):
    reason = TextAreaField("Motif (facultatif)", [Optional(), length(MESSAGE_MAX_CHARS)], filters=[strip])
    confirm = BooleanField("Je demande la suppression de la fiche de l'entreprise",
                           [DataRequired("Cochez la case pour confirmer la demande de suppression.")])


def honeypot_filled(form: FlaskForm) -> bool:
    """A bot filled the field people never see: the view pretends success and stores nothing."""
    field = getattr(form, HONEYPOT_FIELD, None)
    return bool(field is not None and (field.data or "").strip())


# -- form <-> profile -------------------------------------------------------------------------------------------
SIMPLE_FIELDS = ("name", "siren", "website", "contact_email", "contact_phone", "pitch", "description", "address",
                 "postcode", "commune", "size_band", "founded_year")


def profile_from_form(form: ProfileForm) -> dict[str, Any]:
    """The profile the company typed, in the shape of vivier.submissions.SUBMITTED_FIELDS (not yet cleaned)."""
    profile: dict[str, Any] = {field: getattr(form, field).data or None for field in SIMPLE_FIELDS}
    profile["categories"] = list(form.categories.data or [])
    profile["labels"] = list(form.labels.data or [])
    profile["keywords"] = comma_list(form.keywords.data)
    profile["offers"] = [
        {"name": o["name"], "scope": o["scope"], "price_band": o["price_band"],
         "tiers": {key: o[key] for key, _ in TIERS if o[key]}}
        for o in form.offers.data if o["name"]
    ]
    profile["references"] = [{"client": r["client"], "object": r["object"], "year": r["year"]}
                             for r in form.references.data if r["client"]]
    profile["interoperability"] = {"standards": comma_list(form.standards.data), "api": form.api.data or None,
                                   "licence": form.licence.data or None}
    return profile


def form_data_from_profile(profile: Mapping[str, Any]) -> dict[str, Any]:
    """A profile (public fields, or a pending submission's data) as the form's initial values."""
    data: dict[str, Any] = {field: profile.get(field) or "" for field in SIMPLE_FIELDS}
    data["founded_year"] = str(profile.get("founded_year") or "")
    data["categories"] = list(profile.get("categories") or [])
    data["labels"] = list(profile.get("labels") or [])
    data["keywords"] = ", ".join(profile.get("keywords") or [])
    data["offers"] = [
        {"name": o.get("name") or "", "scope": o.get("scope") or "", "price_band": o.get("price_band") or "",
         **{key: (o.get("tiers") or {}).get(key) or "" for key, _ in TIERS}}
        for o in (profile.get("offers") or [])[:MAX_OFFERS]
    ]
    data["references"] = [{"client": r.get("client") or "", "object": r.get("object") or "",
                           "year": str(r.get("year") or "")}
                          for r in (profile.get("references") or [])[:MAX_REFERENCES]]
    interoperability = profile.get("interoperability") or {}
    data["standards"] = ", ".join(interoperability.get("standards") or [])
    data["api"] = interoperability.get("api") or ""
    data["licence"] = interoperability.get("licence") or ""
    return data
