"""Guessed themes (vivier/themes.py): how often a guess is right, how often one is made, and what guesses would
cost the ranking if they were indexed as text.

    .venv/bin/python -m benchmarks.themes [--real CORPUS[,JUDGMENTS]] [--cache-dir DIR] [--no-record]

1. Precision on the fixture corpus (fixtures/eval/corpus.jsonl, every profile with its declared themes): the
   themes are hidden, the passages rebuilt without them, and the guess compared with the declared themes, for a
   grid of (minimum score, minimum margin). The values in vivier/themes.py should keep precision >= 90%.
2. On a real corpus (`vivier eval` format, e.g. beta.gouv.fr services converted by ../shared/eval/to_corpus.py):
   the share of profiles given a guess with the thresholds in the code, and the guessed themes' distribution
   (a real directory of public services should get few guesses: its services are mostly not smart-territory
   products).
3. With judgments for that corpus: hybrid nDCG@10 with no guess, with the guesses as facet values only (what
   Vivier does), and with the guesses indexed as category text (what it did before), in one run.

The configured model (VIVIER_EMBEDDING_MODEL) is used; vectors go through a vector cache in --cache-dir.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import results as results_file
from embeddings.cache import embed_with_cache
from embeddings.encoder import Encoder
from indexer import evaluation
from vivier import themes
from indexer.documents import document_passages
from vivier.config import load_settings
from vivier.db import Database
from vivier.taxonomy import CATEGORY_LABELS

RESULTS_SECTION = "## Guessed themes (`python -m benchmarks.themes`)"
CORPUS = REPO / "fixtures" / "eval" / "corpus.jsonl"
MIN_SCORES = (1.0, 1.5, 1.8, 2.0, 2.2, 2.5)
MIN_MARGINS = (0.0, 0.05, 0.1, 0.2)


def profile_text(document) -> str:
    return " ".join(x for x in (document.pitch, document.description, " ".join(document.keywords)) if x)


class Vectors:
    """Passage and theme vectors through one vector cache."""

    def __init__(self, encoder: Encoder, cache_dir: Path):
        self.encoder = encoder
        settings = load_settings().with_overrides(database_url=f"sqlite:///{cache_dir / 'themes-cache.db'}")
        self.database = Database(settings)
        self.database.migrate()

    def encode(self, texts: list[str]) -> np.ndarray:
        with self.database.session() as session:
            vectors, _ = embed_with_cache(session, self.encoder, texts, progress=True)
        return vectors


def unthemed(documents):
    """The documents with their declared themes hidden, passages rebuilt without them."""
    return [dataclasses.replace(d, categories=(), passages=document_passages(d.name, d.pitch, (), d.keywords,
                                                                              d.description)) for d in documents]


def scores_of(guesser, documents, vectors):
    start, out = 0, []
    for d in documents:
        count = len(d.passages)
        out.append(guesser.scores(profile_text(d), vectors[start:start + count]))
        start += count
    return out


def precision_grid(guesser, documents, hidden, vectors) -> str:
    scored = scores_of(guesser, hidden, vectors)
    lines = ["| min score \\ min margin | " + " | ".join(str(m) for m in MIN_MARGINS) + " |",
             "|---" * (1 + len(MIN_MARGINS)) + "|"]
    for min_score in MIN_SCORES:
        cells = []
        for margin in MIN_MARGINS:
            guessed = right = 0
            for document, scores in zip(documents, scored):
                order = np.argsort(-scores)
                if scores[order[0]] < min_score or scores[order[0]] - scores[order[1]] < margin:
                    continue
                guessed += 1
                right += guesser.slugs[int(order[0])] in document.categories
            cells.append(f"{right / guessed:.0%} of {guessed}" if guessed else "none")
        lines.append(f"| {min_score} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", help="CORPUS[,JUDGMENTS] of real profiles (vivier eval format)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--note", default="")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    settings = load_settings()
    encoder = Encoder.from_settings(settings)
    out: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        out.append(text)

    with contextlib.ExitStack() as stack:
        cache_dir = args.cache_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        cache_dir.mkdir(parents=True, exist_ok=True)
        vectors = Vectors(encoder, cache_dir)
        thresholds = themes.guess_thresholds_for(encoder.model_name)
        guesser = themes.ThemeGuesser(vectors.encode(themes.theme_texts()), thresholds)
        documents = evaluation.load_corpus(CORPUS)
        hidden = unthemed(documents)
        passage_vectors = vectors.encode([p for d in hidden for p in d.passages])
        say(f"Model {encoder.model_name}; thresholds in the code: min score {thresholds.min_score}, "
            f"min margin {thresholds.min_margin}.\n")
        say(f"Fixture profiles ({len(documents)}), declared themes hidden: share of guesses whose theme is one of "
            f"the declared ones, and how many profiles get a guess.\n")
        say(precision_grid(guesser, documents, hidden, passage_vectors))
        if args.real:
            corpus, _, judgments = args.real.partition(",")
            real = evaluation.load_corpus(Path(corpus))
            real_vectors = vectors.encode([p for d in real for p in d.passages])
            guesses = themes.guess_themes(guesser, [profile_text(d) for d in real], real_vectors,
                                          [len(d.passages) for d in real])
            counts = Counter(g for gs in guesses for g in gs)
            say(f"\nReal corpus {Path(corpus).name}: {sum(map(bool, guesses))} of {len(real)} profiles get a "
                f"guess; " + ", ".join(f"{CATEGORY_LABELS[k]} {n}" for k, n in counts.most_common()) + ".")
            if judgments:
                judged, _ = evaluation.load_judgments(Path(judgments), [d.id for d in real])
                variants = {
                    "no guess": real,
                    "guesses as facet values (Vivier)": [dataclasses.replace(d, inferred_categories=g)
                                                         for d, g in zip(real, guesses)],
                    "guesses indexed as category text (before)": [
                        dataclasses.replace(d, categories=g, passages=document_passages(
                            d.name, d.pitch, g, d.keywords, d.description)) for d, g in zip(real, guesses)],
                }
                say("\n| themes | hybrid nDCG@10 | keyword nDCG@10 |\n|---|---|---|")
                for label, docs in variants.items():
                    report = evaluation.evaluate(docs, judged, encoder, settings, cache_dir=cache_dir,
                                                 modes=("keyword", "hybrid"))
                    means = report.means()
                    say(f"| {label} | {means['hybrid']['ndcg@10']:.3f} | {means['keyword']['ndcg@10']:.3f} |")
    if not args.no_record:
        results_file.append(RESULTS_SECTION, "\n".join(out), args.note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
