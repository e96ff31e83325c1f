"""'Vouliez-vous dire': vocabulary building and word correction, without an index."""

from __future__ import annotations

from indexer.suggest import QueryRewrite, Vocabulary, build_vocabulary, fold, rewrite_query, suggest_query

VOCABULARY = build_vocabulary([
    "Capteurs de remplissage des bornes de tri, collecte des déchets.",
    "Réservation de la cantine scolaire ; capteurs connectés LoRaWAN.",
    "Éclairage public : télégestion des candélabres, éclairage nocturne.",
    "Déchets verts et déchèterie.",
])


def test_vocabulary_keys_are_folded_and_count_documents_not_occurrences():
    assert fold("Éclairage") == "eclairage"
    assert VOCABULARY.words["eclairage"] == ("éclairage", 1)  # twice in one document
    assert VOCABULARY.words["capteurs"][1] == 2
    assert VOCABULARY.words["dechets"] == ("déchets", 2)
    assert "de" not in VOCABULARY  # shorter than MIN_WORD_LENGTH


def test_unknown_words_are_replaced_by_the_closest_known_word():
    assert suggest_query("captuers de remplisage", VOCABULARY) == "capteurs de remplissage"
    assert suggest_query("Eclairrage public", VOCABULARY) == "Éclairage public"
    assert suggest_query("reservation cantine", VOCABULARY) is None  # accents are optional
    assert suggest_query("xylophone", VOCABULARY) is None  # nothing within two edits
    assert suggest_query("", VOCABULARY) is None
    assert suggest_query("captuers " + "cantine " * 20, VOCABULARY) is None  # a pasted need gets no suggestion


def test_words_the_index_finds_anyway_are_left_alone():
    assert suggest_query("cantinnes", VOCABULARY) == "cantine"
    assert suggest_query("cantinnes", VOCABULARY, matches=lambda word: word == "cantinnes") is None


def test_ties_go_to_the_more_frequent_word_then_alphabetical():
    vocabulary = Vocabulary({"bzrne": ("bzrne", 1), "bxrne": ("bxrne", 5), "bwrne": ("bwrne", 5)})
    assert suggest_query("byrne", vocabulary) == "bwrne"


def test_french_words_the_index_does_not_know_are_not_corrected_into_others():
    """A need nobody answers must not be "corrected" into one somebody does: "vitres" is not "titres"."""
    vocabulary = build_vocabulary(["Titres de transport", "Châteaux et patrimoine", "Grimpe et escalade"])
    assert suggest_query("nettoyage des vitres", vocabulary) is None
    assert suggest_query("location de chapiteaux", vocabulary) is None
    assert suggest_query("grippe", vocabulary) is None
    assert suggest_query("titrse", vocabulary) == "titres"  # not French: a typo


def test_a_correction_keeps_the_first_letter():
    vocabulary = build_vocabulary(["Enneigement des cols et salage des routes"])
    assert suggest_query("dneigement", vocabulary) is None
    assert suggest_query("enneigemnt", vocabulary) == "enneigement"


def test_rewrite_restores_omitted_accents_and_corrects_typos():
    rewrite = rewrite_query("Reservation cantinne electrique LoRaWAN", VOCABULARY)
    assert rewrite.restored == "Réservation cantinne electrique LoRaWAN"  # "electrique" is in no document
    assert rewrite.corrected == "Réservation cantine electrique LoRaWAN"
    assert rewrite.searched == rewrite.corrected
    assert rewrite_query("reservation des dechets", VOCABULARY) == QueryRewrite("réservation des déchets")
    assert rewrite_query("SMS LoRaWAN", VOCABULARY).restored == "SMS LoRaWAN"  # case kept when nothing to restore
    long_need = "reservation " * 20
    assert rewrite_query(long_need, VOCABULARY) == QueryRewrite(long_need)  # a pasted need is searched as written


def test_round_trip_through_json_dict():
    assert Vocabulary.from_dict(VOCABULARY.to_dict()).words == VOCABULARY.words


def test_the_embedded_index_counts_the_same_vocabulary_as_build_vocabulary(tmp_path):
    """The embedded backend takes its vocabulary from an index field; it must be build_vocabulary's."""
    import numpy as np

    from indexer.backends.embedded import EmbeddedBackend
    from indexer.documents import document_from_record

    records = [
        {"id": "1", "name": "Tri Connect", "pitch": "Capteurs de remplissage des bornes", "categories": ["waste"],
         "keywords": ["LoRaWAN", "3D"], "description": "Collecte des déchets ; déchets verts, Déchets ménagers."},
        {"id": "2", "name": "Cantinéo", "pitch": "Réservation de la cantine scolaire",
         "description": "Paiement en ligne des repas de cantine. Équipe à Brest (H24)."},
        {"id": "3", "name": "Equipe Lumière", "pitch": "Éclairage public et télégestion",
         "keywords": ["éclairage"], "description": "L'équipe pilote l'éclairage nocturne."},
    ]
    documents = [document_from_record(r) for r in records]
    rows = sum(len(d.passages) for d in documents)
    vectors = np.random.default_rng(0).standard_normal((rows, 8)).astype(np.float32)
    backend = EmbeddedBackend(tmp_path / "embedded")
    backend.rebuild(documents, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), {})
    indexed = backend._current().vocabulary.words
    expected = build_vocabulary(" ".join((d.name, d.pitch, d.category_text, " ; ".join(d.keywords), d.description))
                                for d in documents).words
    assert indexed == expected
    # "equipe": written "Équipe" in one document, "Equipe" and "équipe" in another (each form counts).
    assert indexed["dechets"] == ("déchets", 1) and indexed["equipe"] == ("équipe", 3) and "lorawan" in indexed
    assert "h24" not in indexed and "3d" not in indexed
