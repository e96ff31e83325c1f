"""Fixed vocabularies: solution categories (smart-territory themes), labels, size bands, departments.

Slugs are stable identifiers (English, used in URLs, indexes and the API); labels are the French text the UI shows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    slug: str
    label: str


CATEGORIES: tuple[Term, ...] = (
    Term("e-services", "E-guichet et démarches en ligne"),
    Term("incident-reporting", "Services techniques et signalement d'incidents"),
    Term("citizen-participation", "Participation citoyenne"),
    Term("mobile-app", "Application mobile municipale"),
    Term("public-space", "Occupation de l'espace public"),
    Term("school-services", "Restauration scolaire et périscolaire"),
    Term("building-energy", "Suivi énergétique des bâtiments"),
    Term("waste", "Collecte des déchets"),
    Term("green-spaces", "Arrosage des espaces verts"),
    Term("illegal-dumping", "Dépôts sauvages"),
    Term("parking", "Stationnement"),
    Term("air-quality", "Qualité de l'air"),
    Term("public-lighting", "Éclairage public"),
    Term("iot-networks", "Réseaux IoT et LoRa"),
    Term("data-platforms", "Plateformes de données et tableaux de bord"),
    Term("mobility", "Mobilité"),
    Term("tourism-heritage", "Tourisme et patrimoine"),
    Term("security", "Sécurité et vidéoprotection"),
    Term("connectivity", "Connectivité et téléphonie"),
)

LABELS: tuple[Term, ...] = (
    Term("ess", "ESS"),
    Term("esus", "ESUS"),
    Term("ea-esat", "Entreprise adaptée / ESAT"),
    Term("siae", "SIAE"),
    Term("societe-a-mission", "Société à mission"),
    Term("b-corp", "B Corp"),
    Term("iso-14001", "ISO 14001"),
    Term("french-tech", "French Tech"),
    Term("jei", "JEI"),
    Term("rge", "RGE"),
)

SIZE_BANDS: tuple[Term, ...] = (
    Term("1-9", "1 à 9 salariés"),
    Term("10-49", "10 à 49 salariés"),
    Term("50-249", "50 à 249 salariés"),
    Term("250+", "250 salariés et plus"),
)

CATEGORY_LABELS = {t.slug: t.label for t in CATEGORIES}
LABEL_LABELS = {t.slug: t.label for t in LABELS}
SIZE_LABELS = {t.slug: t.label for t in SIZE_BANDS}
