"""French text analysis, identical at index and query time.

Chain: split on non-alphanumerics (so "l'eau" -> "l", "eau") -> lowercase -> drop elided articles and French stop
words -> Snowball French stemmer (handles plurals: "déchets" -> "déchet") -> ASCII folding (so "energie" matches
"énergie"). Stemming runs before folding because the Snowball rules expect the accents.
"""

from __future__ import annotations

import functools
import math

import tantivy

ANALYZER_NAME = "fr_vivier"
# Words as written, lowercased: the index's vocabulary for "Vouliez-vous dire" (indexer.suggest).
WORDS_ANALYZER_NAME = "words_vivier"
# Words lowercased and without accents, not stemmed: what typo tolerance compares query words with.
FOLDED_WORDS_ANALYZER_NAME = "folded_words_vivier"

# Elided forms left alone by the tokenizer once the apostrophe splits them off (Elasticsearch's French elision list).
ELISIONS = ("l", "m", "t", "qu", "n", "s", "j", "d", "c", "jusqu", "quoiqu", "lorsqu", "puisqu")
# Stop words not in Snowball's French list that only add noise to a buyer's query.
EXTRA_STOP_WORDS = ("a", "à", "afin", "cela", "chez", "comme", "dont", "etc", "sans", "sous", "vers", "via")
# Tokens longer than this are junk (hashes, base64), not words.
MAX_TOKEN_LENGTH = 40


def _words_then(*filters: tantivy.Filter) -> tantivy.TextAnalyzer:
    """Runs of letters and digits (tantivy's simple tokenizer: three times faster than a letters-only regex), junk
    tokens dropped, lowercased, then `filters`."""
    builder = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
               .filter(tantivy.Filter.remove_long(MAX_TOKEN_LENGTH))
               .filter(tantivy.Filter.lowercase()))
    for extra in filters:
        builder = builder.filter(extra)
    return builder.build()


@functools.lru_cache(maxsize=1)
def french_analyzer() -> tantivy.TextAnalyzer:
    return _words_then(tantivy.Filter.custom_stopword(list(ELISIONS + EXTRA_STOP_WORDS)),
                       tantivy.Filter.stopword("french"), tantivy.Filter.stemmer("french"), tantivy.Filter.ascii_fold())


@functools.lru_cache(maxsize=1)
def words_analyzer() -> tantivy.TextAnalyzer:
    """Words as written (tokens holding digits are dropped from the vocabulary by indexer.suggest)."""
    return _words_then()


@functools.lru_cache(maxsize=1)
def folded_words_analyzer() -> tantivy.TextAnalyzer:
    return _words_then(tantivy.Filter.ascii_fold())


def bm25_idf(documents: int, frequency: int) -> float:
    """BM25's inverse document frequency of a term held by `frequency` of `documents` documents (Lucene's form,
    never negative)."""
    return math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))


def analyze(text: str) -> list[str]:
    """Index terms of a text, in order, duplicates kept."""
    return french_analyzer().analyze(text)


def query_terms(text: str, max_terms: int) -> list[str]:
    """Distinct index terms of a query, in first-seen order, at most `max_terms`."""
    seen: dict[str, None] = {}
    for term in analyze(text):
        seen.setdefault(term, None)
        if len(seen) >= max_terms:
            break
    return list(seen)
