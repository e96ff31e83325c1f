"""The fixtures' vector seed (fixtures/vectors/, embeddings.seeds) is fresh: it holds every passage the fixture crawls
and the relevance corpus produce, its vectors are the default model's own, and the embedding cache reads it only for
that model."""

from __future__ import annotations

import numpy as np

from embeddings import seeds
from embeddings.cache import content_hash, embed_with_cache
from embeddings.encoder import Encoder
from fixtures.build_vectors import database_passages, fixed_texts, seed_path
from tests.conftest import make_settings
from vivier.config import DEFAULT_MODEL
from vivier.db import Database

# Texts re-encoded to compare with the seed: enough to catch a seed of another model or model version.
SAMPLE = 8


def test_the_seed_is_the_default_models_and_complete_for_the_fixtures(crawled_data_dir, all_sources_data_dir):
    model, rows, _ = seeds.read(seed_path())
    assert model == Encoder(DEFAULT_MODEL).model_name, "run `python -m fixtures.build_vectors`"
    texts = fixed_texts() + database_passages(crawled_data_dir) + database_passages(all_sources_data_dir)
    missing = sorted({t for t in texts if content_hash(t) not in rows})
    assert not missing, f"{len(missing)} fixture texts are not in the seed (python -m fixtures.build_vectors): " \
                        f"{missing[:3]}"


def test_the_seeds_vectors_are_what_the_model_computes():
    _, rows, vectors = seeds.read(seed_path())
    texts = fixed_texts()
    sample = [texts[i] for i in np.linspace(0, len(texts) - 1, SAMPLE).round().astype(int)]
    fresh = Encoder(DEFAULT_MODEL).encode(sample, threads=1)  # no seed: the model itself
    stored = np.vstack([vectors[rows[content_hash(t)]] for t in sample])
    assert np.allclose(fresh, stored, atol=1e-5)


def test_the_cache_reads_a_seed_of_its_model_only(tmp_path):
    texts = ["Réservation des repas de la cantine", "Capteurs de remplissage des colonnes à verre"]
    fake = {content_hash(t): np.full(384, 0.05, dtype=np.float32) for t in texts}
    seed = tmp_path / "seed.npz"
    encoder = Encoder(DEFAULT_MODEL, seeds=[seed])
    database = Database(make_settings(tmp_path / "data"))
    database.migrate()
    seeds.write(seed, encoder.model_name, fake)
    with database.session() as session:
        vectors, encoded = embed_with_cache(session, encoder, texts)
    assert encoded == 0 and np.allclose(vectors, 0.05)  # read from the seed, not encoded
    with database.session() as session:  # and kept in the cache like encoded vectors
        again, encoded_again = embed_with_cache(session, Encoder(DEFAULT_MODEL), texts)
    assert encoded_again == 0 and np.allclose(again, 0.05)

    other_texts = [t + " (bis)" for t in texts]
    seeds.write(seed, "packaged:another-model#x-1",
                {content_hash(t): np.full(384, 0.05, dtype=np.float32) for t in other_texts})
    with database.session() as session:
        vectors, encoded = embed_with_cache(session, encoder, other_texts)
    assert encoded == 2 and not np.allclose(vectors, 0.05)  # another model's seed is never read
    database.dispose()
