"""Query preparation before the backend: cleaning, chunking of long needs, commune resolution."""

from __future__ import annotations

from indexer.documents import PASSAGE_MAX_WORDS
from indexer.service import MAX_QUERY_CHUNKS, clean_query, query_chunks


def test_clean_query_keeps_paragraphs_and_drops_control_characters():
    assert clean_query("  cantine\x00  scolaire \r\n\r\n\r\n  paiement\tfamilles ", 500) == \
        "cantine scolaire\n\npaiement familles"
    assert clean_query("mot " * 200, 50) == ("mot " * 12).strip()


def test_short_queries_are_one_chunk_and_long_needs_several():
    assert query_chunks("inscription cantine") == ["inscription cantine"]
    paragraph = " ".join(f"mot{i}" for i in range(PASSAGE_MAX_WORDS))
    chunks = query_chunks("\n\n".join([paragraph] * 3))
    assert len(chunks) == 3 and all(len(c.split()) <= PASSAGE_MAX_WORDS for c in chunks)


def test_very_long_needs_are_sampled_evenly_within_the_chunk_cap():
    paragraphs = [f"partie{i} " + " ".join(["texte"] * (PASSAGE_MAX_WORDS - 1)) for i in range(40)]
    chunks = query_chunks("\n\n".join(paragraphs))
    assert len(chunks) == MAX_QUERY_CHUNKS
    assert chunks[0].startswith("partie0 ") and chunks[-1].startswith("partie39 ")
