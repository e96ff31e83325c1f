"""The operators' forms for purchasing centrals: a central, and one referenced offer of a supplier.

A form and the service's arguments (vivier.centrals.save_central, add_referencing) differ in shape: departments
and standards are typed as comma-separated text, the offer and its interoperability as flat fields, the supplier
as whatever the operator knows of it (resolved by vivier.centrals.resolve_supplier). `central_arguments`,
`referencing_arguments` and `form_data_from_central` translate. The rules (known kinds and themes, dates in order,
four years at most, published suppliers) are the service's: its French CentralError messages reach the page.
"""

from __future__ import annotations

from typing import Any

from wtforms import DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Optional, ValidationError

from search_app.forms import (FrenchFlaskForm, choices, comma_list, length, strip, valid_website)
from search_app.forms import ORGANISATION_MAX_CHARS, department_codes
from vivier import geo, taxonomy
from vivier.models import CENTRAL_KINDS, PurchasingCentral

# Lengths follow the columns: PurchasingCentral.name String(200), website String(500); Referencing.lot String(200),
# contract_type String(60). Free texts (description, members, conditions) are a few paragraphs at most.
NAME_MAX_CHARS = 200
WEBSITE_MAX_CHARS = 500
LOT_MAX_CHARS = 200
CONTRACT_TYPE_MAX_CHARS = 60
SHORT_TEXT_MAX_CHARS = 300
LONG_TEXT_MAX_CHARS = 4000
LIST_MAX_CHARS = 500
# A supplier is named by a slug, a SIREN, a page address or a name: a line.
SUPPLIER_KEY_MAX_CHARS = 300
DATE_FORMAT = "%Y-%m-%d"  # what <input type="date"> sends


def known_departments(form, field) -> None:
    """Codes typed as "08, 55" (or "8, 2a"), each a French department."""
    unknown = [code for code in department_codes(field.data) if code not in geo.DEPARTMENTS]
    if unknown:
        raise ValidationError(f"Département inconnu : {', '.join(unknown)}. Indiquez des numéros, par exemple "
                              "08, 55, 2A.")


class CentralForm(FrenchFlaskForm):
    name = StringField("Nom de la centrale", [DataRequired("Indiquez le nom de la centrale."),
                                               length(NAME_MAX_CHARS)], filters=[strip])
    kind = SelectField("Type", [DataRequired("Choisissez le type de la centrale.")],
                       choices=[SelectChoice("", "Choisissez…"),
                                *(SelectChoice(k, v) for k, v in CENTRAL_KINDS.items())], default="")
    description = TextAreaField("Présentation", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip],
                                description="Ce qu'elle est et comment elle sélectionne ses fournisseurs.")
    website = StringField("Site internet", [Optional(), length(WEBSITE_MAX_CHARS), valid_website], filters=[strip])
    members = TextAreaField("Qui peut commander", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip],
                            description="Par exemple : « les communes membres de l'intercommunale ».")
    departments = StringField("Départements desservis", [Optional(), length(LIST_MAX_CHARS), known_departments],
                              filters=[strip],
                              description="Numéros séparés par des virgules, par exemple « 08, 51, 55 ».")
    ordering = TextAreaField("Comment commander", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip],
                             description="Délai, bon de commande, adhésion : par exemple « mise en service sous "
                                         "20 jours ».")


class ReferencingForm(FrenchFlaskForm):
    supplier = StringField("Fournisseur", [DataRequired("Indiquez le fournisseur."),
                                           length(SUPPLIER_KEY_MAX_CHARS)], filters=[strip],
                           description="L'adresse de sa fiche (ou la fin de celle-ci), son SIREN ou son nom.")
    theme = SelectField("Thème", [DataRequired("Choisissez le thème du référencement.")],
                        choices=[SelectChoice("", "Choisissez…"), *choices(taxonomy.CATEGORIES)], default="")
    lot = StringField("Lot", [Optional(), length(LOT_MAX_CHARS)], filters=[strip],
                      description="Par exemple : « Lot 1 : collecte et tri des déchets ».")
    contract_type = StringField("Type de contrat", [DataRequired("Indiquez le type de contrat."),
                                                    length(CONTRACT_TYPE_MAX_CHARS)], filters=[strip],
                                description="Par exemple : « accord-cadre multi-attributaires », « catalogue de "
                                            "services ».")
    start_date = DateField("Début du référencement", [DataRequired("Indiquez la date de début (jour, mois, "
                                                                   "année).")], format=DATE_FORMAT)
    end_date = DateField("Fin du référencement", [DataRequired("Indiquez la date de fin (jour, mois, année).")],
                         format=DATE_FORMAT, description="Dernier jour où les membres peuvent commander.")
    offer_name = StringField("Nom de l'offre", [Optional(), length(SHORT_TEXT_MAX_CHARS)], filters=[strip],
                             description="Vide : le nom du fournisseur. Les champs vides de l'offre sont repris "
                                         "de l'offre du même nom sur sa fiche.")
    scope = TextAreaField("Périmètre", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip])
    price_band = StringField("Fourchette de prix", [Optional(), length(SHORT_TEXT_MAX_CHARS)], filters=[strip],
                             description="Par exemple : « 60 à 250 € HT par mois ».")
    equipment = StringField("Matériel", [Optional(), length(SHORT_TEXT_MAX_CHARS)], filters=[strip])
    basic = TextAreaField("Palier basique", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip])
    medium = TextAreaField("Palier intermédiaire", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip])
    complex = TextAreaField("Palier complexe", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip])
    standards = StringField("Standards ouverts", [Optional(), length(LIST_MAX_CHARS)], filters=[strip],
                            description="Séparés par des virgules. Vides avec les trois champs suivants : les faits "
                                        "d'interopérabilité de la fiche du fournisseur.")
    api = StringField("API documentée", [Optional(), length(SHORT_TEXT_MAX_CHARS)], filters=[strip])
    data_export = StringField("Export des données", [Optional(), length(SHORT_TEXT_MAX_CHARS)], filters=[strip],
                              description="Par exemple : « export CSV des demandes ».")
    licence = StringField("Licence libre", [Optional(), length(100)], filters=[strip])
    conditions = TextAreaField("Conditions", [Optional(), length(LONG_TEXT_MAX_CHARS)], filters=[strip])
    eligible = TextAreaField("Qui peut commander ce référencement", [Optional(), length(LONG_TEXT_MAX_CHARS)],
                             filters=[strip], description="Seulement s'il est plus restreint que les membres de la "
                                                          "centrale.")
    eligible_departments = StringField("Départements autorisés",
                                       [Optional(), length(LIST_MAX_CHARS), known_departments], filters=[strip],
                                       description="Numéros séparés par des virgules ; vide : ceux de la centrale.")


def central_arguments(form: CentralForm) -> dict[str, Any]:
    """The keyword arguments of vivier.centrals.save_central."""
    return {"name": form.name.data, "kind": form.kind.data, "description": form.description.data or "",
            "website": form.website.data or None, "members": form.members.data or "",
            "departments": department_codes(form.departments.data), "ordering": form.ordering.data or ""}


def form_data_from_central(central: PurchasingCentral) -> dict[str, Any]:
    return {"name": central.name, "kind": central.kind, "description": central.description,
            "website": central.website or "", "members": central.members,
            "departments": ", ".join(central.departments or []), "ordering": central.ordering}


def referencing_arguments(form: ReferencingForm) -> dict[str, Any]:
    """The keyword arguments of vivier.centrals.add_referencing (the supplier is resolved apart)."""
    offer = {"name": form.offer_name.data, "scope": form.scope.data, "price_band": form.price_band.data,
             "equipment": form.equipment.data,
             "tiers": {"basic": form.basic.data, "medium": form.medium.data, "complex": form.complex.data},
             "interoperability": {"standards": comma_list(form.standards.data), "api": form.api.data,
                                  "data_export": form.data_export.data, "licence": form.licence.data}}
    return {"theme": form.theme.data, "contract_type": form.contract_type.data, "lot": form.lot.data or "",
            "start_date": form.start_date.data, "end_date": form.end_date.data, "offer": offer,
            "conditions": form.conditions.data or "", "eligible": form.eligible.data or "",
            "eligible_departments": department_codes(form.eligible_departments.data)}


# -- buyers' domains ------------------------------------------------------------------------------------------
class BuyerDomainForm(FrenchFlaskForm):
    domain = StringField("Domaine", [DataRequired("Indiquez un domaine, par exemple ville-exemple.fr."), length(255)],
                         filters=[strip], description="Toutes les adresses de ce domaine et de ses sous-domaines "
                                                      "sont des acheteurs vérifiés.")
    organisation = StringField("Organisation", [DataRequired("Indiquez l'organisation publique de ce domaine."),
                                                length(ORGANISATION_MAX_CHARS)], filters=[strip])
