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

# Words buyers and suppliers use for each theme (French). Used to recognise a theme in free text: a profile with no
# declared category, or a directory category name we do not know (crawler.categorise).
CATEGORY_VOCABULARY: dict[str, str] = {
    "e-services": (
        "e-guichet guichet numérique démarches en ligne téléprocédures formulaires état civil relation "
        "usager gru dématérialisation portail citoyen rendez-vous paiement en ligne"
    ),
    "incident-reporting": (
        "signalement incidents services techniques interventions voirie nids-de-poule demandes "
        "d'intervention gmao patrimoine agents terrain travaux"
    ),
    "citizen-participation": (
        "participation citoyenne concertation budget participatif consultation démocratie participative "
        "pétitions conseils de quartier votes habitants"
    ),
    "mobile-app": (
        "application mobile appli smartphone notifications push ville dans la poche alertes habitants"
    ),
    "public-space": (
        "occupation du domaine public terrasses marchés droits de place permis de stationnement "
        "redevances forains autorisations voirie"
    ),
    "school-services": (
        "cantine restauration scolaire périscolaire portail famille inscriptions repas garderie accueil "
        "de loisirs écoles facturation familles"
    ),
    "building-energy": (
        "énergie bâtiments consommations décret tertiaire chauffage compteurs fluides efficacité "
        "énergétique gtb rénovation"
    ),
    "waste": (
        "déchets collecte bornes de tri conteneurs bacs ordures ménagères remplissage tournées recyclage "
        "redevance incitative"
    ),
    "green-spaces": (
        "espaces verts arrosage irrigation parcs jardins arbres pelouses humidité des sols entretien"
    ),
    "illegal-dumping": (
        "dépôts sauvages décharges sauvages incivilités verbalisation pièges photographiques nettoyage"
    ),
    "parking": (
        "stationnement parking places capteurs de stationnement horodateurs fourrière zones bleues"
    ),
    "air-quality": (
        "qualité de l'air pollution capteurs particules fines no2 ozone pollens odeurs"
    ),
    "public-lighting": (
        "éclairage public luminaires led candélabres extinction nocturne pollution lumineuse"
    ),
    "iot-networks": (
        "iot lora lorawan réseaux capteurs objets connectés passerelles radio sigfox télérelève"
    ),
    "data-platforms": (
        "données open data tableaux de bord hyperviseur plateforme de données indicateurs visualisation "
        "entrepôt"
    ),
    "mobility": (
        "mobilité transport covoiturage vélos transport à la demande bus trafic déplacements"
    ),
    "tourism-heritage": (
        "tourisme patrimoine visites guides musées monuments office de tourisme parcours"
    ),
    "security": (
        "vidéoprotection sécurité caméras police municipale vidéosurveillance sûreté alertes"
    ),
    "connectivity": (
        "connectivité téléphonie wifi fibre réseaux télécoms internet standard téléphonique couverture "
        "mobile"
    ),
}

CATEGORY_LABELS = {t.slug: t.label for t in CATEGORIES}
LABEL_LABELS = {t.slug: t.label for t in LABELS}
SIZE_LABELS = {t.slug: t.label for t in SIZE_BANDS}
