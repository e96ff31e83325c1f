"""Search benchmark: index build rate and query latency on large synthetic directories (10k and 100k profiles).

    .venv/bin/python -m benchmarks.search [--sizes 10000,100000] [--rounds 3] [--no-record]

For each size:
1. Generates N supplier profiles deterministically (seeded): French-looking names, a pitch, 1 to 4 paragraphs of
   description assembled from sentences about smart-territory needs (the categories and vocabulary of
   vivier/taxonomy.py), a commune with coordinates (the communes of the fixture world, jittered), labels, size
   bands, an open-source licence for some. They are bulk-inserted into a temporary SQLite database through the
   project's models.
2. Fills the embedding cache (embeddings/cache.py) for every passage, so that the build measures the "cached
   vectors" path. Encoding ~3 passages per profile with the real model would take hours on 2 cores, so passage
   vectors are synthesised: the few hundred distinct sentences (and category labels) the texts are assembled from
   are encoded with the REAL model, and each passage's vector is the normalised sum of the vectors of the
   sentences it contains (headline: its pitch and category labels), plus Gaussian noise of norm PASSAGE_NOISE.
   Queries are embedded by the real model at search time, so the similarity distribution, the number of
   passages above DENSE_MIN_SIMILARITY and the dense ranking's work are those of real text, not of random vectors.
3. Builds the index through the real path (indexer.build.build_index) and reports profiles/s.
4. In a fresh process (the "web process"): creates the Flask app (search_app.create_app), then times
   SearchService.search server-side (query embedding with settings.query_threads torch threads, facets, one page
   of 20) for keyword, dense and hybrid modes over a query set of short and medium French queries, a third of them
   with category / department / label filters, after one warm-up pass; then sends the same requests through the
   Flask test client (full page rendering) and reports their latency and the process's peak RSS.

Targets (100k profiles, 2 cores): build >= 5,000 profiles/s, keyword p95 <= 10 ms, hybrid p95 <= 50 ms,
RSS <= 1.5 GB. The figures are printed last and appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import results
from benchmarks.results import machine
from vivier.config import load_settings
from vivier.taxonomy import CATEGORIES, CATEGORY_VOCABULARY, SIZE_BANDS

RESULTS_SECTION = "## Search speed (`python -m benchmarks.search`)"
SEED = 20240611
# Norm of the Gaussian noise added to a passage's mixed vector before normalisation: two passages built from the
# same sentences then have a cosine similarity of about 0.9, like two paraphrases.
PASSAGE_NOISE = 0.35
# Rows per insert statement: large batches amortise SQLAlchemy's per-statement cost.
INSERT_BATCH = 5000
PER_PAGE = 20
MODES = ("keyword", "dense", "hybrid")

# -- vocabulary ----------------------------------------------------------------------------------------------------
# Needs a buyer has, per category (written for this benchmark, in the words of CATEGORY_VOCABULARY).
NEEDS: dict[str, tuple[str, ...]] = {
    "e-services": ("les démarches en ligne des habitants", "un guichet numérique pour l'état civil",
                   "la prise de rendez-vous en mairie", "le paiement en ligne des services municipaux",
                   "la gestion de la relation usager"),
    "incident-reporting": ("le signalement des incidents de voirie", "la gestion des demandes d'intervention",
                           "le suivi des travaux des services techniques", "une GMAO pour le patrimoine communal",
                           "la remontée des nids-de-poule par les agents de terrain"),
    "citizen-participation": ("le budget participatif", "la concertation des habitants sur les projets",
                              "les consultations en ligne et les votes", "l'animation des conseils de quartier",
                              "les pétitions locales"),
    "mobile-app": ("une application mobile municipale", "les notifications push aux habitants",
                   "les alertes sur smartphone en cas de crise", "une appli pour toute la vie de la commune"),
    "public-space": ("les autorisations d'occupation du domaine public", "la gestion des terrasses et des marchés",
                     "la perception des droits de place", "le suivi des redevances des forains"),
    "school-services": ("les inscriptions à la cantine scolaire", "un portail famille pour le périscolaire",
                        "la réservation des repas et de la garderie", "la facturation des familles",
                        "la gestion des accueils de loisirs"),
    "building-energy": ("le suivi des consommations d'énergie des bâtiments", "le respect du décret tertiaire",
                        "le pilotage du chauffage des écoles", "la télérelève des compteurs de fluides",
                        "la rénovation énergétique du patrimoine"),
    "waste": ("la collecte des déchets ménagers", "les capteurs de remplissage des bornes de tri",
              "l'optimisation des tournées de collecte", "la redevance incitative",
              "le suivi des conteneurs et des bacs"),
    "green-spaces": ("l'arrosage intelligent des espaces verts", "la mesure de l'humidité des sols",
                     "l'entretien des parcs et jardins", "le suivi des arbres d'alignement"),
    "illegal-dumping": ("la lutte contre les dépôts sauvages", "les pièges photographiques contre les incivilités",
                        "le nettoyage des décharges sauvages", "la verbalisation des dépôts illégaux"),
    "parking": ("les capteurs de places de stationnement", "le guidage vers les places libres",
                "la gestion des horodateurs", "le contrôle des zones bleues"),
    "air-quality": ("la mesure de la qualité de l'air", "les capteurs de particules fines",
                    "le suivi de la pollution près des écoles", "la surveillance des pollens et des odeurs"),
    "public-lighting": ("la télégestion de l'éclairage public", "le passage des luminaires en LED",
                        "l'extinction nocturne des candélabres", "la réduction de la pollution lumineuse"),
    "iot-networks": ("un réseau LoRaWAN pour les objets connectés", "le déploiement de passerelles radio",
                     "la collecte des données des capteurs", "la télérelève des compteurs par radio"),
    "data-platforms": ("une plateforme de données territoriale", "les tableaux de bord des élus",
                       "la publication en open data", "un hyperviseur urbain et ses indicateurs"),
    "mobility": ("le transport à la demande", "le covoiturage entre communes", "les vélos en libre-service",
                 "le comptage du trafic et des déplacements"),
    "tourism-heritage": ("les visites guidées du patrimoine", "les parcours touristiques numériques",
                         "la billetterie des musées et monuments", "les outils de l'office de tourisme"),
    "security": ("la vidéoprotection des espaces publics", "les outils de la police municipale",
                 "la sûreté des bâtiments communaux", "les alertes de sécurité aux habitants"),
    "connectivity": ("le wifi public", "la téléphonie des mairies", "le raccordement à la fibre",
                     "l'amélioration de la couverture mobile"),
}
SENTENCE_TEMPLATES = (
    "Nous proposons {need} aux collectivités de toutes tailles.",
    "Notre solution couvre {need}, du déploiement à la maintenance.",
    "Les services techniques gèrent {need} depuis une interface simple.",
)
PITCH_TEMPLATES = (
    "Une solution clé en main pour {need}.",
    "Des outils simples pour {need}, pensés pour les communes.",
)
# Sentences about the company rather than its subject. `{commune}` is filled per profile.
FILLER_SENTENCES = (
    "Basée à {commune}, l'équipe intervient dans toute la région.",
    "L'entreprise accompagne des communes rurales comme des métropoles.",
    "Les données sont hébergées en France et restent la propriété de la collectivité.",
    "Nous formons les agents et assurons un support réactif par téléphone.",
    "Le déploiement se fait en quelques semaines, sans travaux lourds.",
    "Nos tarifs sont adaptés aux petites communes comme aux intercommunalités.",
    "La solution respecte le RGPD et le référentiel d'accessibilité RGAA.",
    "Plusieurs collectivités nous font confiance depuis des années.",
    "Notre équipe de {commune} répond aux marchés publics et aux consultations.",
    "Les interfaces ouvertes permettent de connecter les outils déjà en place.",
)
LABEL_SENTENCES = {
    "ess": "Nous sommes une entreprise de l'économie sociale et solidaire.",
    "esus": "L'entreprise est agréée entreprise solidaire d'utilité sociale.",
    "ea-esat": "Entreprise adaptée, nous employons majoritairement des personnes en situation de handicap.",
    "siae": "Structure d'insertion, nous accompagnons des salariés éloignés de l'emploi.",
    "societe-a-mission": "Société à mission, notre raison d'être est inscrite dans nos statuts.",
    "b-corp": "L'entreprise est certifiée B Corp pour ses pratiques sociales et environnementales.",
    "iso-14001": "Notre management environnemental est certifié ISO 14001.",
    "french-tech": "Startup membre de la French Tech, nous innovons avec les territoires.",
    "jei": "Jeune entreprise innovante, nous consacrons une large part de notre budget à la recherche.",
    "rge": "Nos équipes sont qualifiées RGE pour les travaux de rénovation.",
}
NAME_HEADS = ("Terri", "Urba", "Civi", "Agora", "Néo", "Vil", "Cité", "Boca", "Hexa", "Lumi", "Éco", "Ondi",
              "Mairi", "Quarti", "Sylva", "Aqua", "Géo", "Terra", "Comm", "Pro")
NAME_TAILS = ("tech", "lis", "sens", "via", "net", "data", "lab", "ville", "flux", "com", "nova", "éo", "cité",
              "lien", "pôle", "ia", "go", "map")
NAME_SUFFIXES = ("", "", "", " Solutions", " Services", " Conseil", " & Territoires", " Systèmes", " Coop")
SURNAMES = ("Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Girard", "Lefèvre", "Roux", "Fournier", "Morel",
            "Garnier", "Chevalier", "Le Gall", "Kerjean", "Ollivier", "Arnaud")
SURNAME_TRADES = ("Ingénierie", "Informatique", "Réseaux", "Énergies", "Environnement", "et Fils", "Télécom")
LICENCES = ("AGPL-3.0", "GPL-3.0", "MIT", "Apache-2.0", "EUPL-1.2")
# Relative frequency of 1, 2, 3, 4 description paragraphs.
PARAGRAPH_WEIGHTS = (30, 35, 25, 10)
# Share of profiles with each label (independent draws), and with an open-source licence.
LABEL_RATES = {"ess": 0.12, "esus": 0.06, "ea-esat": 0.03, "siae": 0.03, "societe-a-mission": 0.05,
               "b-corp": 0.03, "iso-14001": 0.06, "french-tech": 0.15, "jei": 0.05, "rge": 0.04}
OPEN_SOURCE_RATE = 0.15
SIZE_WEIGHTS = (50, 30, 15, 5)
# Categories are not equally common: a Zipf-like weight by position.
CATEGORY_WEIGHTS = tuple(1.0 / (1 + i) ** 0.7 for i in range(len(CATEGORIES)))

# Queries a buyer types: short and medium, some with a typo, some with filters.
QUERIES: tuple[tuple[str, dict[str, list[str]]], ...] = (
    ("cantine", {}),
    ("bornes de tri", {}),
    ("éclairage public", {}),
    ("vidéoprotection", {}),
    ("qualité de l'air", {}),
    ("stationnement", {}),
    ("budget participatif", {}),
    ("capteurs lorawan", {}),
    ("arrosage", {}),
    ("dépôts sauvages", {}),
    ("wifi public", {}),
    ("portail famille", {}),
    ("eclairrage led", {}),
    ("open data", {}),
    ("capteurs de remplissage pour les bornes de tri sélectif", {}),
    ("inscription à la cantine scolaire et paiement en ligne", {}),
    ("suivi des consommations énergétiques des bâtiments communaux", {}),
    ("application mobile pour signaler les incidents de voirie", {}),
    ("extinction nocturne de l'éclairage public pour réduire la facture", {}),
    ("plateforme pour consulter les habitants sur les projets de la commune", {}),
    ("réservation des visites guidées du patrimoine", {}),
    ("mesurer la pollution aux particules fines près des écoles", {}),
    ("collecte des déchets", {"category": ["waste"]}),
    ("capteurs", {"department": ["29"]}),
    ("cantine", {"label": ["ess", "esus"]}),
    ("tableaux de bord", {"category": ["data-platforms"], "department": ["69"]}),
    ("guichet numérique pour les démarches en ligne", {"department": ["35", "44"]}),
    ("gestion du stationnement et des horodateurs", {"size": ["1-9", "10-49"]}),
    ("réseau LoRa pour la télérelève", {"category": ["iot-networks"], "label": ["french-tech"]}),
    ("transport à la demande en zone rurale", {"department": ["22"]}),
    ("application mobile municipale", {"label": ["societe-a-mission"]}),
    ("", {"category": ["school-services"]}),
)


# -- generation (pure) ---------------------------------------------------------------------------------------------
def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_text).split())


def sentence_bank() -> tuple[list[str], dict[str, list[int]], dict[str, list[int]], list[int], dict[str, int],
                             dict[str, int]]:
    """Every distinct sentence texts are made of (placeholders filled with a fixed value, for encoding), and the
    indices of each kind: descriptions and pitches per category, fillers, label sentences, category labels."""
    texts: list[str] = []

    def add(text: str) -> int:
        texts.append(text)
        return len(texts) - 1

    described = {c: [add(t.format(need=n)) for n in NEEDS[c] for t in SENTENCE_TEMPLATES] for c in NEEDS}
    pitched = {c: [add(capitalise(t.format(need=n))) for n in NEEDS[c] for t in PITCH_TEMPLATES] for c in NEEDS}
    fillers = [add(s.format(commune="Rennes")) for s in FILLER_SENTENCES]
    labelled = {label: add(text) for label, text in LABEL_SENTENCES.items()}
    category_labels = {t.slug: add(t.label) for t in CATEGORIES}
    return texts, described, pitched, fillers, labelled, category_labels


def commune_pool() -> list[dict]:
    """Distinct communes of the fixture world, with department, postcode and coordinates."""
    from fixtures import world

    pool: dict[str, dict] = {}
    for c in world.load_world():
        if c.get("latitude") is not None and c.get("department"):
            pool.setdefault(c["commune"], {k: c[k] for k in ("commune", "postcode", "department", "latitude",
                                                             "longitude")})
    return [pool[k] for k in sorted(pool)]


def company_name(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"{rng.choice(SURNAMES)} {rng.choice(SURNAME_TRADES)}"
    return f"{rng.choice(NAME_HEADS)}{rng.choice(NAME_TAILS)}{rng.choice(NAME_SUFFIXES)}"


@dataclass
class Corpus:
    """Generated profiles (Supplier column values) and what their texts are made of, for the synthetic vectors."""
    profiles: list[dict] = field(default_factory=list)
    # Per profile, per description paragraph: (sentence ids, word count).
    paragraphs: list[list[tuple[list[int], int]]] = field(default_factory=list)
    # Per profile: the sentence ids of the headline passage (pitch, category labels).
    headlines: list[list[int]] = field(default_factory=list)


def generate_corpus(count: int, seed: int = SEED) -> Corpus:
    from vivier.geo import region_of

    rng = random.Random(seed)
    texts, described, pitched, fillers, labelled, category_labels = sentence_bank()
    filler_template = dict(zip(fillers, FILLER_SENTENCES))
    communes = commune_pool()
    slugs = [t.slug for t in CATEGORIES]
    corpus = Corpus()
    for i in range(count):
        name = company_name(rng)
        categories = list(dict.fromkeys(rng.choices(slugs, CATEGORY_WEIGHTS, k=rng.choice((1, 1, 2, 2, 3)))))
        where = rng.choice(communes)
        labels = [label for label, rate in LABEL_RATES.items() if rng.random() < rate]
        pitch_id = rng.choice(pitched[categories[0]])
        paragraphs: list[tuple[list[int], int]] = []
        rendered: list[str] = []
        for p in range(rng.choices((1, 2, 3, 4), PARAGRAPH_WEIGHTS)[0]):
            ids = rng.sample(described[categories[p % len(categories)]], 2)
            ids.append(rng.choice(fillers))
            if rng.random() < 0.5:
                ids.append(rng.choice(described[rng.choice(categories)]))
            if p == 0 and labels:
                ids.append(labelled[labels[0]])
            text = " ".join(filler_template[s].format(commune=where["commune"]) if s in filler_template
                            else texts[s] for s in ids)
            rendered.append(text)
            paragraphs.append((ids, len(text.split())))
        vocabulary = [w for c in categories for w in CATEGORY_VOCABULARY.get(c, "").split() if len(w) > 3]
        licence = rng.choice(LICENCES) if rng.random() < OPEN_SOURCE_RATE else None
        corpus.profiles.append({
            "slug": f"{slugify(name)}-{i}", "name": name, "website": f"https://www.{slugify(name)}-{i}.fr",
            "pitch": texts[pitch_id], "description": "\n\n".join(rendered), "categories": categories,
            "keywords": rng.sample(vocabulary, min(len(vocabulary), rng.randint(2, 5))),
            "commune": where["commune"], "postcode": where["postcode"], "department": where["department"],
            "region": region_of(where["department"]),
            "latitude": round(where["latitude"] + rng.uniform(-0.05, 0.05), 4),
            "longitude": round(where["longitude"] + rng.uniform(-0.05, 0.05), 4),
            "size_band": rng.choices([t.slug for t in SIZE_BANDS], SIZE_WEIGHTS)[0],
            "founded_year": rng.randint(1990, 2023), "labels": labels,
            "interoperability": {"licence": licence} if licence else {},
            "status": "crawled",
        })
        corpus.paragraphs.append(paragraphs)
        corpus.headlines.append([pitch_id, *(category_labels[c] for c in categories)])
    return corpus


def passage_compositions(passages: tuple[str, ...], paragraphs: list[tuple[list[int], int]],
                         headline: list[int]) -> list[list[int]]:
    """Sentence ids of each passage of a document: the headline's, then those of the paragraphs each description
    passage holds (split_passages keeps paragraphs whole when each fits in a passage, as generated ones do)."""
    compositions = [headline]
    queue = list(paragraphs)
    for passage in passages[1:]:
        target, taken, ids = len(passage.split()), 0, []
        while queue and taken < target:
            paragraph_ids, words = queue.pop(0)
            ids.extend(paragraph_ids)
            taken += words
        if taken != target:
            raise AssertionError("a generated paragraph was split across passages")
        compositions.append(ids)
    return compositions


def synthesise_vectors(compositions: list[list[int]], sentence_vectors: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Normalised sum of each passage's sentence vectors, plus noise of norm ~PASSAGE_NOISE, renormalised."""
    rng = np.random.default_rng(seed)
    bank, dim = sentence_vectors.shape
    out = np.empty((len(compositions), dim), dtype=np.float32)
    chunk = 20_000
    for start in range(0, len(compositions), chunk):
        part = compositions[start:start + chunk]
        rows = np.repeat(np.arange(len(part)), [len(ids) for ids in part])
        mix = np.zeros((len(part), bank), dtype=np.float32)
        np.add.at(mix, (rows, np.concatenate([np.asarray(ids) for ids in part])), 1.0)
        vectors = mix @ sentence_vectors
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors += rng.standard_normal(vectors.shape, dtype=np.float32) * np.float32(PASSAGE_NOISE / np.sqrt(dim))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        out[start:start + len(part)] = vectors
    return out


# -- database and cache (I/O) --------------------------------------------------------------------------------------
def populate(settings, corpus: Corpus, encoder) -> dict:
    """Insert the profiles, then the synthetic vectors of all their passages into the embedding cache."""
    from sqlalchemy import insert

    from embeddings.cache import content_hash
    from indexer.documents import build_document
    from vivier.db import Database
    from vivier.models import EmbeddingCache, Supplier, utcnow

    started = time.perf_counter()
    database = Database(settings)
    database.migrate()
    with database.session() as session:
        for start in range(0, len(corpus.profiles), INSERT_BATCH):
            session.execute(insert(Supplier), corpus.profiles[start:start + INSERT_BATCH])
    inserted = time.perf_counter()

    texts = sentence_bank()[0]
    sentence_vectors = encoder.encode(texts)
    passages: list[str] = []
    compositions: list[list[int]] = []
    for profile, paragraphs, headline in zip(corpus.profiles, corpus.paragraphs, corpus.headlines):
        document = build_document(Supplier(**profile))
        passages.extend(document.passages)
        compositions.extend(passage_compositions(document.passages, paragraphs, headline))
    vectors = synthesise_vectors(compositions, sentence_vectors)
    now = utcnow()
    rows = {}
    for text, vector in zip(passages, vectors):
        digest = content_hash(text)
        rows.setdefault(digest, {"model": encoder.model_name, "content_hash": digest, "dim": int(vector.shape[0]),
                                 "vector": vector.tobytes(), "created_at": now})
    cache_rows = list(rows.values())
    with database.session() as session:
        for start in range(0, len(cache_rows), INSERT_BATCH):
            session.execute(insert(EmbeddingCache), cache_rows[start:start + INSERT_BATCH])
    database.dispose()
    return {"profiles": len(corpus.profiles), "passages": len(passages), "sentences_encoded": len(texts),
            "insert_s": round(inserted - started, 1), "cache_s": round(time.perf_counter() - inserted, 1)}


def prepare(size: int, data_dir: Path, encoder) -> dict:
    """A populated database for `size` profiles under `data_dir`, reused when a previous run left one there."""
    marker = data_dir / "populated.json"
    if marker.exists():
        return json.loads(marker.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    corpus = generate_corpus(size)
    generated = time.perf_counter() - started
    info = {"generate_s": round(generated, 1), **populate(data_settings(data_dir), corpus, encoder)}
    marker.write_text(json.dumps(info))
    return info


def data_settings(data_dir: Path):
    return load_settings({"VIVIER_DATA_DIR": str(data_dir)})


def measure_build(data_dir: Path, encoder) -> dict:
    from indexer.build import build_index

    started, cpu_started = time.perf_counter(), time.process_time()
    # The index build only: the open-data export that follows a build in the CLI is a separate product.
    report = build_index(data_settings(data_dir), encoder, export=False)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if report.encoded:
        raise AssertionError(f"{report.encoded} passages were encoded: the cache should have held them all")
    return {"documents": report.documents, "passages": report.passages, "build_s": round(seconds, 1),
            "build_cpu_s": round(cpu_seconds, 1), "build_per_s": round(report.documents / seconds),
            "build_per_cpu_s": round(report.documents / cpu_seconds), "build_load": round(os.getloadavg()[0], 1)}


# -- the web process -----------------------------------------------------------------------------------------------
def percentiles(samples_ms: list[float]) -> dict:
    p50, p95, p99 = np.percentile(samples_ms, [50, 95, 99])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "p99": round(float(p99), 1),
            "mean": round(statistics.fmean(samples_ms), 1), "n": len(samples_ms)}


def request_url(text: str, filters: dict[str, list[str]], mode: str) -> str:
    pairs = [("q", text)] if text else []
    pairs += [(facet, v) for facet, values in filters.items() for v in values]
    if mode != "hybrid":
        pairs.append(("mode", mode))
    return "/?" + urlencode(pairs)


def rss_mb() -> tuple[int, int]:
    """(current, peak) resident set size of this process, MB. The peak is /proc's VmHWM, not getrusage's maxrss,
    which Linux keeps across exec: a web process started by a benchmark holding 100k profiles would report the
    benchmark's own peak."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    if "VmRSS" in status and "VmHWM" in status:
        return int(status["VmRSS"].split()[0]) // 1024, int(status["VmHWM"].split()[0]) // 1024
    return 0, round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # not Linux: best effort


def probe(data_dir: Path, rounds: int) -> dict:
    """Run in a fresh process: server-side latency per mode, then whole requests through the Flask test client,
    then the process's RSS. Each query is timed by the clock (wall) and by the CPU time of the thread that runs it
    (cpu): on a shared machine the wall time includes waiting for a core, the CPU time does not (torch and BLAS
    run one thread per query, in the calling thread)."""
    from search_app import create_app

    load_before = os.getloadavg()[0]
    app = create_app(data_settings(data_dir))
    service = app.extensions["vivier"]["search"]
    cases = [(text, filters, mode) for mode in MODES for text, filters in QUERIES]
    for text, filters, mode in cases:  # warm-up: model, index files, caches
        service.search(text, filters, per_page=PER_PAGE, mode=mode)
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(rounds):
        for text, filters, mode in cases:
            started, cpu_started = time.perf_counter(), time.thread_time()
            service.search(text, filters, per_page=PER_PAGE, mode=mode)
            wall[mode].append((time.perf_counter() - started) * 1000)
            cpu[mode].append((time.thread_time() - cpu_started) * 1000)
    rss_search, _ = rss_mb()
    client = app.test_client()
    pages: list[float] = []
    failed: list[str] = []
    for text, filters, mode in cases:
        started = time.perf_counter()
        response = client.get(request_url(text, filters, mode))
        pages.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            failed.append(f"{request_url(text, filters, mode)} -> {response.status_code}")
    result = {mode: percentiles(samples) for mode, samples in wall.items()}
    result.update({f"{mode}_cpu": percentiles(samples) for mode, samples in cpu.items()})
    result["page"] = percentiles(pages)
    # Reported, not raised: the pages are timed for the RSS and rendering figures; the table shows the count.
    result["page_errors"] = len(failed)
    result["page_error_examples"] = failed[:3]
    rss_pages, peak = rss_mb()
    result.update(rss_after_searches_mb=rss_search, rss_after_pages_mb=rss_pages, peak_rss_mb=peak,
                  load=round((load_before + os.getloadavg()[0]) / 2, 1))
    return result


def run_probe(data_dir: Path, rounds: int) -> dict:
    env = {**os.environ, "VIVIER_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "benchmarks.search", "--probe", str(data_dir),
                             "--rounds", str(rounds)], check=False, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"the web process failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- report --------------------------------------------------------------------------------------------------------
def table(rows: list[dict]) -> str:
    def lat(row, mode):
        return f"{row[mode]['p50']} / {row[mode]['p95']} / {row[mode]['p99']}"

    lines = [("| profiles | passages | build s (cpu s) | profiles/s (per cpu s) | load | keyword ms p50/p95/p99 "
              "| dense ms | hybrid ms | keyword cpu ms | dense cpu ms | hybrid cpu ms | page ms p50/p95 "
              "| RSS MB searches / pages / peak |"),
             "|---:|---:|---:|---:|---:|---|---|---|---|---|---|---|---|"]
    for row in rows:
        errors = f" ({row['page_errors']} errors)" if row["page_errors"] else ""
        lines.append(f"| {row['documents']:,} | {row['passages']:,} | {row['build_s']} ({row['build_cpu_s']}) "
                     f"| {row['build_per_s']:,} ({row['build_per_cpu_s']:,}) | {row['build_load']} / {row['load']} "
                     f"| {lat(row, 'keyword')} | {lat(row, 'dense')} | {lat(row, 'hybrid')} "
                     f"| {lat(row, 'keyword_cpu')} | {lat(row, 'dense_cpu')} | {lat(row, 'hybrid_cpu')} "
                     f"| {row['page']['p50']} / {row['page']['p95']}{errors} "
                     f"| {row['rss_after_searches_mb']:,} / {row['rss_after_pages_mb']:,} / {row['peak_rss_mb']:,} |")
    return "\n".join(lines)


def record(rows: list[dict], note: str) -> None:
    """Append this run under the search-speed section of RESULTS.md."""
    results.append(RESULTS_SECTION, table(rows), note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="profile counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the query set")
    parser.add_argument("--work-dir", type=Path, help="keep the generated databases here and reuse them")
    parser.add_argument("--note", default="", help="a word on this run for RESULTS.md (what changed)")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(probe(args.probe, args.rounds)))
        return

    from embeddings.encoder import Encoder

    encoder = Encoder.from_settings(load_settings({}))
    rows = []
    with tempfile.TemporaryDirectory(prefix="vivier-bench-") as tmp:
        work = args.work_dir or Path(tmp)
        for size in (int(s) for s in args.sizes.split(",") if s.strip()):
            data_dir = work / f"n{size}"
            prepared = prepare(size, data_dir, encoder)
            print(f"{size:,} profiles ready: {json.dumps(prepared)}", flush=True)
            built = measure_build(data_dir, encoder)
            print(f"built: {json.dumps(built)}", flush=True)
            probed = run_probe(data_dir, args.rounds)
            print(f"searched: {json.dumps(probed)}", flush=True)
            rows.append({**built, **probed})
    if not args.no_record:
        record(rows, args.note)
    print()
    print(f"Search speed — {machine()}")
    print(table(rows))
    print("targets at 100k: build >= 5,000 profiles/s, keyword p95 <= 10 ms, hybrid p95 <= 50 ms, RSS <= 1,536 MB")


if __name__ == "__main__":
    main()
