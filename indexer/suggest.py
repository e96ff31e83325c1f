"""'Vouliez-vous dire ...?': corrections of query words from the index's own vocabulary.

The vocabulary is every word of the indexed text, keyed by its accent-free lowercase form, with the accented form
people write most often and the number of documents that use it. A query word whose key is in the vocabulary is
left alone (so accents stay optional); an unknown word is replaced by the closest known word within a small edit
distance (optimal string alignment: a swap of two letters counts as one edit), the most frequent one on ties.
A word is corrected only when it looks like a typo: French does not know it as typed, and its correction starts
with the same letter (first letters are rarely mistyped; "déneigement" is not "enneigement").
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

# Words shorter than this are neither indexed for suggestions nor corrected: too many near neighbours.
MIN_WORD_LENGTH = 3
# Edits allowed for a word of a given length: short words tolerate one edit, longer ones two.
LONG_WORD_LENGTH = 6
MAX_EDITS_SHORT = 1
MAX_EDITS_LONG = 2
# Candidates examined per unknown word before tie-breaking by document frequency.
CANDIDATES = 10
# Queries longer than this are pasted needs, not typed words: no suggestion (and no cost).
MAX_QUERY_WORDS = 12

# A word of a query: a run of letters.
_WORD = re.compile(r"[^\W\d_]+")
# A token of an indexed text, as the index's word field cuts them (tantivy's simple tokenizer): letters and digits.
_TOKEN = re.compile(r"[^\W_]+")


def fold(word: str) -> str:
    """Lowercase without accents: the key a word is looked up by."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass
class Vocabulary:
    # key -> (display form, document frequency)
    words: dict[str, tuple[str, int]]
    _by_length: dict[int, list[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for key in sorted(self.words):
            self._by_length.setdefault(len(key), []).append(key)

    def __contains__(self, key: str) -> bool:
        return key in self.words

    def closest(self, key: str) -> str | None:
        """The known key nearest to `key` within the allowed edits, or None."""
        edits = MAX_EDITS_LONG if len(key) >= LONG_WORD_LENGTH else MAX_EDITS_SHORT
        candidates = [k for n in range(len(key) - edits, len(key) + edits + 1) for k in self._by_length.get(n, ())]
        if not candidates:
            return None
        found = process.extract(key, candidates, scorer=OSA.distance, score_cutoff=edits, limit=CANDIDATES)
        if not found:
            return None
        return min(found, key=lambda item: (item[1], -self.words[item[0]][1], item[0]))[0]

    def to_dict(self) -> dict[str, Any]:
        return {key: list(value) for key, value in self.words.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Vocabulary":
        return cls({key: (value[0], int(value[1])) for key, value in data.items()})


def vocabulary_from_counts(counts: Iterable[tuple[str, int]]) -> Vocabulary:
    """The vocabulary of (lowercase word as written, number of documents using it) pairs, as an index's word field
    lists them (indexer.backends.embedded) or build_vocabulary counts them. A key's frequency is the sum over its
    written forms (a document writing both "equipe" and "équipe" counts twice: it only breaks ties), its display
    form the one most documents use, then the first alphabetically."""
    frequencies: Counter[str] = Counter()
    display: dict[str, tuple[int, str]] = {}  # key -> (-documents, form) of its best form so far
    for word, documents in counts:
        if len(word) < MIN_WORD_LENGTH or not word.isalpha():  # "3d", "h24": not words to suggest
            continue
        key = fold(word)
        frequencies[key] += documents
        candidate = (-documents, word)
        if key not in display or candidate < display[key]:
            display[key] = candidate
    return Vocabulary({key: (display[key][1], df) for key, df in frequencies.items()})


def build_vocabulary(texts: Iterable[str]) -> Vocabulary:
    """The vocabulary of some texts, one per document (what an index's word field holds, without an index)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(set(_TOKEN.findall(text.lower())))
    return vocabulary_from_counts(counts.items())


@functools.lru_cache(maxsize=1)
def _french_lexicon() -> frozenset[str]:
    """Lowercase French words (pyspellchecker's French frequency list, about 140,000 words)."""
    from spellchecker import SpellChecker

    return frozenset(SpellChecker(language="fr", distance=1).word_frequency.dictionary)


def is_french_word(word: str) -> bool:
    """Whether a word is French as typed. A word the index does not know but French does ("vitres", "grippe",
    "chapiteaux") names something no profile mentions: it is never "corrected" into an indexed word it resembles
    ("titres", "grimpe", "châteaux")."""
    return word.lower() in _french_lexicon()


@dataclass(frozen=True)
class QueryRewrite:
    """A typed query as the engine searches it. `restored`: the query with the accents people omitted put back
    ("donnees" -> "données": the French stemmer reads accents, so an unaccented word would not find its stem);
    `corrected`: `restored` with its unknown words also replaced by their closest indexed words, or None when no
    word needed a correction."""
    restored: str
    corrected: str | None = None

    @property
    def searched(self) -> str:
        return self.corrected or self.restored


def _accents_restored(word: str, vocabulary: Vocabulary) -> str:
    """The written form of a known word typed without its accents; the word itself otherwise."""
    key = fold(word)
    if word.lower() != key or key not in vocabulary:
        return word
    display = vocabulary.words[key][0]
    if display == key:  # nothing to restore: keep the word as typed ("LoRa", "SMS")
        return word
    return display.capitalize() if word[:1].isupper() else display


def rewrite_query(text: str, vocabulary: Vocabulary,
                  matches: Callable[[str], bool] = lambda word: False) -> QueryRewrite:
    """Accents restored and unknown words corrected (see QueryRewrite and suggest_query); a long need (more than
    MAX_QUERY_WORDS words) is searched as written."""
    if len(text.split()) > MAX_QUERY_WORDS:
        return QueryRewrite(text)
    restored = _WORD.sub(lambda match: _accents_restored(match.group(), vocabulary), text)
    return QueryRewrite(restored, suggest_query(restored, vocabulary, matches))


def suggest_query(text: str, vocabulary: Vocabulary, matches: Callable[[str], bool] = lambda word: False) -> str | None:
    """The query with its unknown words corrected, or None when every word is known or none can be corrected.

    `matches(word)` tells whether the index finds a word anyway (its stem is indexed: "cantines" finds "cantine");
    such a word is not corrected."""
    if len(text.split()) > MAX_QUERY_WORDS:
        return None
    changed = False

    def correct(match: re.Match[str]) -> str:
        nonlocal changed
        word = match.group()
        key = fold(word)
        if len(key) < MIN_WORD_LENGTH or key in vocabulary or matches(word) or is_french_word(word):
            return word
        replacement = vocabulary.closest(key)
        if replacement is None or replacement[0] != key[0]:
            return word
        changed = True
        display = vocabulary.words[replacement][0]
        return display.capitalize() if word[:1].isupper() else display

    corrected = _WORD.sub(correct, text)
    return corrected if changed else None
