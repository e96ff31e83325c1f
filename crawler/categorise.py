"""Map free text to taxonomy themes by keywords and embeddings together.

Used for what the exact name lookup of crawler.normalise cannot map: a directory category we do not know
("Gestion de la relation citoyen"), or a profile with no category at all (a company site, a feed row), whose
pitch and description are read instead.

Score of a theme = (keyword hits of the theme's vocabulary in the text, at most 3 per word, divided by the
square root of the text's length in terms) + EMBEDDING_WEIGHT x cosine(text, theme description).
Measured on the 164 annuaire profiles (pitch + description, their declared categories hidden): keywords alone
put the right main theme first for 69%, embeddings alone 51%, both with weight 2.0 for 78% (90% for "one of the
declared themes"); weights 1.0 and 3.0 gave 74%.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np

from indexer.analysis import analyze
from vivier.taxonomy import CATEGORIES, CATEGORY_VOCABULARY

EMBEDDING_WEIGHT = 2.0
# Keyword hits counted per vocabulary word: a page repeating "déchets" twenty times is not twenty times as much
# about waste.
MAX_HITS_PER_WORD = 3
# Below this score the text says too little about any theme to give it one. On the annuaire profiles, 99% of
# right first themes score at least this and 12% of wrong ones less; an off-topic name ("Plombier") scores 0.56.
MIN_SCORE = 1.0
# Characters of the text embedded: the model reads about 256 word pieces.
EMBED_CHARS = 700


class ThemeMatcher:
    """Scores texts against the taxonomy themes. The encoder is loaded on first use only."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.slugs = [c.slug for c in CATEGORIES]
        self.vocabulary = [frozenset(analyze(f"{c.label} {CATEGORY_VOCABULARY[c.slug]}")) for c in CATEGORIES]
        self._theme_vectors: np.ndarray | None = None

    @property
    def theme_vectors(self) -> np.ndarray:
        if self._theme_vectors is None:
            texts = [f"{c.label} : {CATEGORY_VOCABULARY[c.slug]}" for c in CATEGORIES]
            self._theme_vectors = self.encoder.encode(texts, threads=1)
        return self._theme_vectors

    def keyword_scores(self, text: str) -> np.ndarray:
        terms = analyze(text)
        counts = Counter(terms)
        hits = [sum(min(counts[w], MAX_HITS_PER_WORD) for w in vocabulary) for vocabulary in self.vocabulary]
        return np.array(hits, dtype=np.float32) / math.sqrt(max(1, len(terms)))

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """(texts, themes) scores."""
        if not texts:
            return np.zeros((0, len(self.slugs)), dtype=np.float32)
        vectors = self.encoder.encode([t[:EMBED_CHARS] for t in texts], threads=1)
        similarities = vectors @ self.theme_vectors.T
        keywords = np.vstack([self.keyword_scores(t) for t in texts])
        return keywords + EMBEDDING_WEIGHT * similarities

    def best(self, text: str) -> str | None:
        """The theme a text is most about, or None when no theme scores MIN_SCORE."""
        if not text or not text.strip():
            return None
        scores = self.scores([text])[0]
        top = int(np.argmax(scores))
        return self.slugs[top] if scores[top] >= MIN_SCORE else None
