"""Themes guessed for profiles that declare none, at index time, from the vectors the index computes anyway.

A company site, a sitemap page or a feed row often says what a company does without naming a theme of the
taxonomy. The index then guesses one theme from the profile's words and passages:

    score(theme) = keyword hits of the theme's vocabulary (at most MAX_HITS_PER_WORD per word, over the square
                   root of the text's length in terms) + EMBEDDING_WEIGHT x the best cosine between the theme's
                   description and the profile's passages

and keeps the best theme only when its score reaches the model's MIN_SCORE and leads the second one by MIN_MARGIN.
A guess is marked as inferred everywhere it is shown (search results, supplier page, API) and is used only as a
facet value: never as indexed text, so a wrong guess cannot move a profile in a ranking.

Guessing here rather than while crawling costs no encoding (the passages are embedded for the index anyway; the
themes' twenty descriptions go through the same vector cache), where the crawler used to embed every item on its
own.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vivier.analysis import analyze
from vivier.taxonomy import CATEGORIES, CATEGORY_VOCABULARY

# Keyword hits counted per vocabulary word: a page repeating "déchets" twenty times is not twenty times as much
# about waste.
MAX_HITS_PER_WORD = 3
EMBEDDING_WEIGHT = 2.0


@dataclass(frozen=True)
class GuessThresholds:
    # The best theme's score must reach this...
    min_score: float
    # ...and beat the second theme's by this much.
    min_margin: float


# Per model identity prefix (indexer.strength.thresholds_for's convention). Measured with
# `python -m benchmarks.themes` on the 420 fixture profiles, their declared themes hidden: the thresholds keep
# guesses whose first theme is one of the declared ones at least 90% of the time (benchmarks/RESULTS.md, "Guessed
# themes"). Cosines differ between models (e5 puts unrelated texts at 0.8), hence one pair per model.
GUESS_THRESHOLDS: dict[str, GuessThresholds] = {
    "packaged:multilingual-e5-small": GuessThresholds(min_score=2.2, min_margin=0.10),
    "packaged:use-multilingual-v3": GuessThresholds(min_score=1.0, min_margin=0.10),
    "packaged:all-MiniLM-L6-v2": GuessThresholds(min_score=1.0, min_margin=0.10),
}
# A model nobody measured guesses nothing.
NO_GUESS = GuessThresholds(min_score=math.inf, min_margin=math.inf)


def guess_thresholds_for(model_identity: str) -> GuessThresholds:
    return GUESS_THRESHOLDS.get(model_identity.split("#", 1)[0], NO_GUESS)


def theme_texts() -> list[str]:
    """One description per taxonomy theme, in taxonomy order: what its vector is computed from."""
    return [f"{c.label} : {CATEGORY_VOCABULARY[c.slug]}" for c in CATEGORIES]


class ThemeGuesser:
    """Scores profiles against the taxonomy's themes, given the themes' vectors (theme_texts, encoded as passages)."""

    def __init__(self, theme_vectors: np.ndarray, thresholds: GuessThresholds):
        if theme_vectors.shape[0] != len(CATEGORIES):
            raise ValueError(f"{theme_vectors.shape[0]} theme vectors for {len(CATEGORIES)} themes")
        self.theme_vectors = np.asarray(theme_vectors, dtype=np.float32)
        self.thresholds = thresholds
        self.slugs = [c.slug for c in CATEGORIES]
        self.vocabulary = [frozenset(analyze(f"{c.label} {CATEGORY_VOCABULARY[c.slug]}")) for c in CATEGORIES]

    def keyword_scores(self, text: str) -> np.ndarray:
        terms = analyze(text)
        counts = Counter(terms)
        hits = [sum(min(counts[w], MAX_HITS_PER_WORD) for w in vocabulary) for vocabulary in self.vocabulary]
        return np.array(hits, dtype=np.float32) / math.sqrt(max(1, len(terms)))

    def scores(self, text: str, passage_vectors: np.ndarray) -> np.ndarray:
        """(themes,) scores of one profile: its text and its passages' vectors."""
        meaning = (np.max(np.atleast_2d(passage_vectors) @ self.theme_vectors.T, axis=0) if len(passage_vectors)
                   else np.zeros(len(self.slugs), dtype=np.float32))
        return self.keyword_scores(text) + EMBEDDING_WEIGHT * meaning

    def guess(self, text: str, passage_vectors: np.ndarray) -> str | None:
        """The theme a profile is about, or None when no theme is clearly ahead."""
        scores = self.scores(text, passage_vectors)
        order = np.argsort(-scores)
        best, second = float(scores[order[0]]), float(scores[order[1]])
        if best < self.thresholds.min_score or best - second < self.thresholds.min_margin:
            return None
        return self.slugs[int(order[0])]


def guess_themes(guesser: ThemeGuesser, texts: Sequence[str], vectors: np.ndarray,
                 passage_counts: Sequence[int]) -> list[tuple[str, ...]]:
    """For each profile (its text, its passages' rows in `vectors`, in order), its guessed themes: none or one."""
    guesses: list[tuple[str, ...]] = []
    start = 0
    for text, count in zip(texts, passage_counts):
        theme = guesser.guess(text, vectors[start:start + count])
        guesses.append((theme,) if theme else ())
        start += count
    return guesses
