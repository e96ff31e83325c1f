"""Themes guessed at index time for profiles that declare none (vivier.themes): right when made, none when no
theme is clearly ahead, a facet value shown as a guess, never indexed text."""

from __future__ import annotations

import dataclasses

from embeddings.cache import embed_with_cache
from vivier import themes
from indexer.backends.base import facet_values
from indexer.build import update_index, with_guessed_themes
from indexer.documents import document_from_record
from vivier.db import Database
from vivier.profiles import upsert_profile

WASTE = {"id": "w", "name": "Bennéo", "pitch": "Capteurs de remplissage pour les conteneurs de tri",
         "description": "Nos sondes mesurent le niveau des colonnes à verre et des bacs d'ordures ménagères : la "
                        "collecte des déchets ne passe que lorsque le conteneur est plein."}
OFF_TOPIC = {"id": "o", "name": "Dupont Plomberie", "pitch": "Plombier chauffagiste à domicile",
             "description": "Dépannage de fuites, remplacement de chaudières et de chauffe-eau chez les particuliers."}


def guessed(encoder, db, records):
    documents = [document_from_record(r) for r in records]
    with db.session() as session:
        vectors, _ = embed_with_cache(session, encoder, [p for d in documents for p in d.passages])
        return with_guessed_themes(session, encoder, documents, vectors)


def test_a_profile_about_one_theme_gets_it_an_off_topic_one_gets_none(encoder, db):
    waste, off_topic = guessed(encoder, db, [WASTE, OFF_TOPIC])
    assert waste.inferred_categories == ("waste",) and waste.categories == ()
    assert off_topic.inferred_categories == ()


def test_declared_themes_are_kept_and_nothing_is_guessed_for_them(encoder, db):
    (document,) = guessed(encoder, db, [{**WASTE, "categories": ["public-lighting"]}])
    assert document.categories == ("public-lighting",) and document.inferred_categories == ()


def test_a_guess_is_a_facet_value_and_never_indexed_text(encoder, db):
    (document,) = guessed(encoder, db, [WASTE])
    assert facet_values(document, "category") == ("waste",)
    assert document.category_text == "" and all("Collecte" not in p for p in document.passages)
    assert themes.guess_thresholds_for("some/other-model") == themes.NO_GUESS  # an unmeasured model guesses nothing
    assert dataclasses.replace(document, categories=("waste",)).all_categories == ("waste",)


def test_the_supplier_page_and_the_api_show_a_guess_as_a_guess(private_settings, private_app, encoder):
    database = Database(private_settings)
    with database.session() as session:
        upsert_profile(session, {k: v for k, v in WASTE.items() if k != "id"}, "vitrines", "http://bennéo.test/")
    database.dispose()
    update_index(private_settings, encoder, export=False)
    client = private_app.test_client()
    hits = client.get("/api/v1/search?q=Bennéo").get_json()["hits"]
    hit = next(h for h in hits if h["name"] == "Bennéo")
    assert hit["categories"] == [] and hit["inferred_categories"] == ["waste"]
    page = client.get(f"/fournisseurs/{hit['slug']}").get_data(as_text=True)
    assert "Collecte des déchets (déduite)" in page
    assert "Vivier a déduit « Collecte des déchets » du texte de la fiche" in page
