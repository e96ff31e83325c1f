"""A plain BM25, the yardstick of relevance on real text: what thirty lines of a well-known library give.

bm25s (Lucene's BM25, k1 1.5, b 0.75) over each profile's name, pitch, keywords and description as one text,
tokenised into words of two letters or more, lowercased, French stop words removed (bm25s' list), stemmed by the
Snowball French stemmer (PyStemmer), accents folded after stemming: the same text Vivier indexes, analysed the
way any French search engine would, with no field weights, fusion or typo handling. Benchmark-only dependencies
(`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from indexer.documents import SearchDocument

_WORD = re.compile(r"\w\w+")


def _fold(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


class PlainBM25:
    def __init__(self, documents: Sequence[SearchDocument]):
        import bm25s
        import Stemmer
        from bm25s.stopwords import STOPWORDS_FRENCH

        self._stemmer = Stemmer.Stemmer("french")
        self._stop = set(STOPWORDS_FRENCH) | {_fold(w) for w in STOPWORDS_FRENCH}
        self.ids = [d.id for d in documents]
        self._retriever = bm25s.BM25()
        self._retriever.index([self.tokens(self.text(d)) for d in documents], show_progress=False)

    @staticmethod
    def text(document: SearchDocument) -> str:
        return " ".join((document.name, document.pitch, " ".join(document.keywords), document.description))

    def tokens(self, text: str) -> list[str]:
        words = [w for w in _WORD.findall(text.lower()) if w not in self._stop]
        return [_fold(stem) for stem in self._stemmer.stemWords(words)]

    def search(self, query: str, depth: int) -> list[str]:
        """Ids of the best `depth` documents holding a query term, best first."""
        tokens = self.tokens(query)
        if not tokens:
            return []
        results, scores = self._retriever.retrieve([tokens], k=min(depth, len(self.ids)), show_progress=False)
        return [self.ids[int(i)] for i, score in zip(results[0], scores[0]) if score > 0]
