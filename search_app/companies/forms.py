"""The companies' forms: propose a profile, claim one, ask for an editing link, edit, ask for removal.

A profile form and a profile (vivier.submissions.SUBMITTED_FIELDS) differ in shape: lists are typed as
comma-separated text, offers and references as a fixed number of blocks, interoperability as three fields.
`profile_from_form` and `form_data_from_profile` translate; vivier.submissions.clean_profile then cleans the
result the way crawled profiles are cleaned.
"""

from __future__ import annotations

from typing import Any, Mapping

from wtforms import BooleanField, FieldList, FormField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Optional, Regexp, ValidationError

from search_app.forms import (DESCRIPTION_MAX_CHARS, FOUNDED_YEAR_MIN, LIST_MAX_CHARS, LONG_TEXT_MAX_CHARS, MAX_OFFERS,
                              MAX_REFERENCES, MESSAGE_MAX_CHARS, NAME_MAX_CHARS, PHONE_PATTERN, PITCH_MAX_CHARS,
                              REFERENCE_YEAR_MIN, SHORT_TEXT_MAX_CHARS, TIERS, FrenchFlaskForm, FrenchSubform,
                              MultiCheckboxField, choice_count, choices, comma_list, email_field, length, strip,
                              valid_siren, valid_website, year_between)
from vivier import merge, taxonomy


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
