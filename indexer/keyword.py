"""The keyword retrieval every engine runs: field weights, the per-term combination of fields, typo tolerance and
snippet sizes. Engine-neutral: the embedded backend builds tantivy queries from it, the Elasticsearch backend
request bodies, so that the two match and score the same documents."""

from __future__ import annotations

from indexer import suggest
from vivier.analysis import analyze, folded_words_analyzer

# BM25 weight per field: the pitch says what a company does, the category labels and keywords say it in the
# taxonomy's and the company's words, a long description says more than that. The name counts as much as the
# categories, not more: names are mostly brands, and BM25's length normalisation already scores a need word in a
# two-word name highly; at 4 a name match outranked pitches that answered the need (relevance evaluation,
# benchmarks/RESULTS.md: keyword nDCG@10 0.739 -> 0.763, hybrid 0.748 -> 0.773 with the fusion below).
FIELD_WEIGHTS: dict[str, float] = {
    "name": 1.0,
    "pitch": 1.0,
    "categories_text": 1.0,
    "keywords": 1.0,
    "description": 1.0,
}
# Share of a term's other matching fields added to its best field's score (dis_max tie breaker; 1 would be the plain
# sum over fields). Measured with `vivier eval` on the fixture judgments, dense weight 0.5: keyword / hybrid
# nDCG@10 0.757 / 0.774 at 0, 0.763 / 0.774 at 0.1, 0.773 / 0.769 at 0.3, 0.739 / 0.698 as a sum (weights 1, k 60).
# At 0 a word in one field only (Voiria's "voirie") outranked documents matching the need in several fields.
KEYWORD_TIE_BREAKER = 0.5
# Typo tolerance: a typed query's words this long or longer (stop words aside) also match indexed words within
# edit distance 1, accents and case aside ("eclairrage" finds "éclairage"), at a small constant weight so that an
# exact match always outranks a near miss. Each engine compares them with every word of the weighted fields,
# unstemmed and accent-free (the embedded backend's FUZZY_FIELD, Elasticsearch's folded vocabulary). A pasted need
# (more than suggest.MAX_QUERY_WORDS words) has no fuzzy words.
FUZZY_MIN_TERM_LENGTH = 5
FUZZY_WEIGHT = 0.3
# Characters of context around highlighted terms, per field with a snippet (the other weighted fields are short).
SNIPPET_CHARS = {"name": 200, "pitch": 300, "description": 240}


def fuzzy_words(text: str) -> list[str]:
    """The words of a typed query that typo tolerance looks for, lowercased without accents; none for a pasted
    need. Shared by the backends."""
    if len(text.split()) > suggest.MAX_QUERY_WORDS:
        return []
    words = dict.fromkeys(folded_words_analyzer().analyze(text))
    return [w for w in words if len(w) >= FUZZY_MIN_TERM_LENGTH and w.isalpha() and analyze(w)]
