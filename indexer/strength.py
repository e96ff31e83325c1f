"""Strong matches and weaker neighbours: when a result answers the need, and when the engine must say "nothing".

A hybrid engine always finds neighbours: "déneigement" has no supplier in the fixture directory, yet dense
retrieval returns its 50 nearest profiles and keyword retrieval every profile holding "routes". A buyer must be
told which results answer the need and which are only close. A result is a *strong match* when

- it holds (nearly) all the query's words, weighted by rarity (`coverage` >= COVERAGE_ALONE), or
- it is very close in meaning (`similarity` >= the model's `similarity_alone`), or
- it holds most of the words and is close in meaning (`coverage` >= COVERAGE_WITH_MEANING and `similarity` >=
  the model's `similarity_with_words`).

Coverage (indexer.backends: the share of the query's idf mass a document holds) is the model-independent half: a
query word the index has never seen ("déneigement", "orgue") lowers every document's coverage, which is what makes
a need nobody answers come out empty. Similarities are not comparable between models (multilingual-e5-small puts
unrelated French texts at 0.80, the Universal Sentence Encoder at 0.1), so the dense thresholds are measured per
model, on the fixture judgments and their no-answer needs (benchmarks/relevance.py, benchmarks/RESULTS.md "Strong
matches"). A model without measured thresholds gets none: only coverage makes its results strong.

In a hybrid search (the default), strong matches come first, in their fused order, then the weaker neighbours;
facet counts and exports cover the strong matches unless the buyer asks for the neighbours too, or there are none.
A keyword-only or dense-only search (diagnostic modes) has half the evidence and lists its retrieval as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# A document holding the query's words worth this share of their idf is a match whatever its meaning score: all
# of a short query's words, or all but a common one.
COVERAGE_ALONE = 0.95
# With a similarity of at least the model's `similarity_with_words`, half the words' weight suffices.
COVERAGE_WITH_MEANING = 0.5


@dataclass(frozen=True)
class ModelThresholds:
    """Cosine similarities of one embedding model (indexer.dense's document similarity)."""
    # A document at least this close in meaning is a strong match, whatever words it holds.
    similarity_alone: float
    # With COVERAGE_WITH_MEANING of the words, this closeness suffices.
    similarity_with_words: float
    # Dense neighbours below this are not results at all (the dense retrieval's floor).
    dense_floor: float


# Per configured model (the model identity without its "#engine-version" suffix). Measured with
# `python -m benchmarks.relevance --calibrate` on fixtures/eval (60 judged needs, 16 needs no fixture supplier
# answers) and checked on the api.gouv.fr judgments (benchmarks/RESULTS.md, "Strong matches"):
# - multilingual-e5-small: 14 of the 16 unanswerable needs come out empty; one of the 72 answerable ones does too
#   (api.gouv.fr "données culturelles : musées...", whose judged APIs never say musée).
# - USE multilingual: its similarities do not separate answerable needs from the others (at 13 of 16 empty, 6
#   answerable needs were also empty); its thresholds are set for few false "nothing"s.
# - all-MiniLM-L6-v2: the dense floor it always had (0.35); no strong match by meaning alone.
THRESHOLDS: dict[str, ModelThresholds] = {
    "packaged:multilingual-e5-small": ModelThresholds(similarity_alone=0.86, similarity_with_words=0.83,
                                                      dense_floor=0.80),
    "packaged:use-multilingual-v3": ModelThresholds(similarity_alone=0.40, similarity_with_words=0.20,
                                                    dense_floor=0.10),
    "packaged:all-MiniLM-L6-v2": ModelThresholds(similarity_alone=math.inf, similarity_with_words=0.35,
                                                 dense_floor=0.35),
}
# A model nobody measured: coverage alone decides, every dense neighbour is a result.
UNMEASURED = ModelThresholds(similarity_alone=math.inf, similarity_with_words=math.inf, dense_floor=-1.0)


def thresholds_for(model_identity: str) -> ModelThresholds:
    """The thresholds of a model identity (embeddings.encoder.model_identity), UNMEASURED when none were measured."""
    return THRESHOLDS.get(model_identity.split("#", 1)[0], UNMEASURED)


def strong_mask(coverage: np.ndarray | None, similarity: np.ndarray | None,
                thresholds: ModelThresholds) -> np.ndarray:
    """Which documents are strong matches, from their coverage and similarity arrays over the same documents (NaN
    or -inf: not computed for that document, which then counts as no evidence). A search without a keyword
    retrieval (no query term) has only its similarities; one without a query vector only its coverage."""
    if coverage is None and similarity is None:
        raise ValueError("a strong match needs a coverage or a similarity")
    size = len(coverage) if coverage is not None else len(similarity)  # type: ignore[arg-type]
    words = np.zeros(size, dtype=np.float32) if coverage is None else np.nan_to_num(coverage, nan=0.0)
    meaning = (np.full(size, -np.inf, dtype=np.float32) if similarity is None
               else np.nan_to_num(similarity, nan=-np.inf, neginf=-np.inf))
    return ((words >= COVERAGE_ALONE) | (meaning >= thresholds.similarity_alone)
            | ((words >= COVERAGE_WITH_MEANING) & (meaning >= thresholds.similarity_with_words)))
