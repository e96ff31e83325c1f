"""Judgments for the beta.gouv.fr services, derived at run time from each service's own theme labels.

    python -m benchmarks.betagouv_judgments ../shared/data/betagouv_startups.jsonl /tmp/betagouv_judgments.jsonl

Twenty buyer needs, written for Vivier, each naming the beta.gouv.fr theme labels ("thematiques") that answer it;
a service is relevant when it carries one of them. The labels are never given to the ranker (the corpus converter
../shared/eval/to_corpus.py drops them). A rough, label-derived judgment, like ../shared/eval's: good for comparing
rankers on real French text, not as an absolute score. Write the output outside the project tree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

NEEDS: list[tuple[str, tuple[str, ...]]] = [
    ("accompagner les demandeurs d'emploi vers l'emploi et l'insertion professionnelle", ("Travail / Emploi",)),
    ("aides et services pour les agriculteurs et les exploitations agricoles", ("Agriculture",)),
    ("protection de l'environnement, de l'eau et de la biodiversité", ("Écologie",)),
    ("outils numériques pour les élus et les agents des collectivités locales", ("Collectivités",)),
    ("prévention santé et accompagnement des patients", ("Santé",)),
    ("logement, hébergement et rénovation de l'habitat", ("Logement",)),
    ("orientation et formation professionnelle des adultes", ("Formation",)),
    ("accompagner les jeunes et protéger l'enfance", ("Jeunesse",)),
    ("justice, tribunaux et suivi des justiciables", ("Justice",)),
    ("accès aux droits sociaux et aux aides sociales", ("Social",)),
    ("inclusion numérique et accessibilité des services en ligne", ("Inclusion numérique",)),
    ("transports, mobilité et déplacements du quotidien", ("Transports",)),
    ("participation citoyenne et démocratie locale", ("Démocratie",)),
    ("patrimoine, culture et monuments historiques", ("Patrimoine", "Culture")),
    ("école, enseignants et élèves", ("Education", "Éducation")),
    ("sécurité informatique et cybersécurité des systèmes d'information", ("Sécurité informatique", "cybersécurité")),
    ("pêche, littoral et activités maritimes", ("Mer",)),
    ("aides et démarches pour les entreprises", ("Entreprises",)),
    ("publication et réutilisation de données ouvertes", ("Open-Data", "data", "Data")),
    ("aménagement du territoire et revitalisation des petites villes", ("Territoires",)),
]


def main(argv: list[str]) -> int:
    source, output = Path(argv[0]), Path(argv[1])
    records = [json.loads(line) for line in source.read_text(encoding="utf-8").split("\n") if line.strip()]
    with output.open("w", encoding="utf-8") as out:
        for query, labels in NEEDS:
            relevant = [r["id"] for r in records if set(r.get("thematiques") or ()) & set(labels)]
            out.write(json.dumps({"query": query, "relevant": relevant,
                                  "note": "label-derived: " + ", ".join(labels)}, ensure_ascii=False) + "\n")
    print(f"wrote {output}: {len(NEEDS)} needs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
