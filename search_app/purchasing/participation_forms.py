"""The forms of a project's sourcing (search_app/purchasing/participation.py): a supplier's question, the buyer's
answer, a variant proposal with its consents, the buyer's decision, a supplier's alerts.

Flask-WTF forms with French messages (FrenchFlaskForm). The rules themselves (deadline, sealed proposals, which
files are accepted) live in vivier.projects; these forms only say what was typed and whether it has the right
shape.
"""

from __future__ import annotations

import re

from wtforms import BooleanField, MultipleFileField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Optional, ValidationError

from search_app.forms import FrenchFlaskForm, MultiCheckboxField, choices, comma_list, length, strip
from vivier import taxonomy
from vivier.models import DECISIONS
from vivier.projects import CONSENT_FIELDS

# A question is a paragraph or two; an answer may quote rules and dates, a proposal describes a solution.
QUESTION_MAX_CHARS = 2000
ANSWER_MAX_CHARS = 5000
PROPOSAL_MAX_CHARS = 10000
REQUIREMENT_MAX_CHARS = 2000
PRICE_BAND_MAX_CHARS = 80  # Proposal.price_band is a String(80)
DECISION_MESSAGE_MAX_CHARS = 3000
SAVED_SEARCH_MAX_CHARS = 500  # Subscription.query is a String(500)
# A department code: two digits, 2A / 2B (Corsica) or three digits (overseas: 971...).
DEPARTMENT_PATTERN = re.compile(r"(\d{2}|2[AB]|97\d)")
# More departments than this is "all of France": a category or a saved search says it better.
MAX_DEPARTMENTS = 20


def consent_name(field_name: str) -> str:
    """The form field holding the consent to disclose a proposal field."""
    return f"consent_{field_name}"


class QuestionForm(FrenchFlaskForm):
    text = TextAreaField("Votre question", [DataRequired("Écrivez votre question."), length(QUESTION_MAX_CHARS)],
                         filters=[strip],
                         description="Elle sera publiée sans le nom de votre entreprise, avec la réponse de "
                                     "l'acheteur, pour que tous les participants aient la même information.")


class AnswerForm(FrenchFlaskForm):
    text = TextAreaField("Réponse", [DataRequired("Écrivez la réponse."), length(ANSWER_MAX_CHARS)],
                         filters=[strip],
                         description="Publiée avec la question (sans son auteur) et envoyée à tous les "
                                     "participants.")


class ProposalForm(FrenchFlaskForm):
    """A variant proposal; one consent checkbox per field of vivier.projects.CONSENT_FIELDS (added below)."""

    text = TextAreaField("Votre proposition", [DataRequired("Décrivez votre proposition."),
                                               length(PROPOSAL_MAX_CHARS)], filters=[strip],
                         description="La solution que vous proposez, ce qu'elle apporte, comment elle se déploie.")
    varied_requirement = TextAreaField("Exigence que votre variante modifie",
                                       [Optional(), length(REQUIREMENT_MAX_CHARS)], filters=[strip],
                                       description="Laquelle des exigences du projet votre variante change, et "
                                                   "comment elle respecte les exigences minimales.")
    price_band = StringField("Fourchette de prix (facultatif)", [Optional(), length(PRICE_BAND_MAX_CHARS)],
                             filters=[strip], description="Par exemple : « de 20 000 à 30 000 € HT ».")
    attachments = MultipleFileField("Pièces jointes (facultatif)",
                                    description="PDF, .docx, .odt, PNG ou JPEG ; 10 Mo au plus chacune.")
    remove = MultiCheckboxField("Retirer ces pièces jointes", choices=[], coerce=int, validate_choice=False)


# The consent checkboxes' wording, agreeing with each field (« le texte… figure », « les pièces jointes…
# figurent »); a field added to vivier.projects.CONSENT_FIELDS without its words here gets the neutral one.
CONSENT_WORDS: dict[str, str] = {
    "text": "j'accepte que le texte de ma proposition figure",
    "varied_requirement": "j'accepte que l'exigence modifiée figure",
    "price_band": "j'accepte que ma fourchette de prix figure",
    "attachments": "j'accepte que mes pièces jointes figurent",
}
CONSENT_NEUTRAL = "j'accepte que cet élément figure"


def consent_label(name: str, label: str) -> str:
    """« Pièces jointes : j'accepte que mes pièces jointes figurent dans la synthèse partagée par l'acheteur »."""
    return f"{label} : {CONSENT_WORDS.get(name, CONSENT_NEUTRAL)} dans la synthèse partagée par l'acheteur"


for _name, _label in CONSENT_FIELDS.items():
    setattr(ProposalForm, consent_name(_name), BooleanField(consent_label(_name, _label)))


class DecisionForm(FrenchFlaskForm):
    decision = SelectField("Décision", [DataRequired("Choisissez une décision.")],
                           choices=[SelectChoice("", "Choisir…"),
                                    *(SelectChoice(value, label) for value, label in DECISIONS.items())],
                           default="")
    message = TextAreaField("Message au fournisseur", [DataRequired("Écrivez un message au fournisseur."),
                                                       length(DECISION_MESSAGE_MAX_CHARS)], filters=[strip],
                            description="Envoyé par courriel au fournisseur avec la décision.")


def valid_departments(form, field) -> None:
    codes = [code.upper() for code in comma_list(field.data)]
    if any(not DEPARTMENT_PATTERN.fullmatch(code) for code in codes):
        raise ValidationError("Codes de département invalides : par exemple « 29, 35, 2A ».")
    if len(codes) > MAX_DEPARTMENTS:
        raise ValidationError(f"{MAX_DEPARTMENTS} départements au plus.")


class SubscriptionForm(FrenchFlaskForm):
    categories = MultiCheckboxField("Thématiques", choices=choices(taxonomy.CATEGORIES))
    departments = StringField("Départements", [Optional(), valid_departments], filters=[strip],
                              description="Codes séparés par des virgules, par exemple : 29, 35, 2A.")
    query = StringField("Recherche enregistrée", [Optional(), length(SAVED_SEARCH_MAX_CHARS)], filters=[strip],
                        description="Des mots que le projet doit contenir, par exemple : capteurs déchets.")

    def department_codes(self) -> list[str]:
        return sorted({code.upper() for code in comma_list(self.departments.data)})
