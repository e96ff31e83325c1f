"""The SearchBackend contract, run for every backend (Elasticsearch only when ELASTICSEARCH_URL is set)."""

from __future__ import annotations

import json
import os
import threading
import uuid

import numpy as np
import pytest

from indexer.backends.base import FACET_FIELDS, GeoFilter, IndexNotReady, SearchRequest
from indexer.documents import SearchDocument
from indexer.fusion import FUSION_WEIGHTS, RRF_K
from vivier.geo import region_of


# A real town per department of the corpus: (latitude, longitude).
TOWNS = {"29": (47.9960, -4.1020), "35": (48.1173, -1.6778), "44": (47.2184, -1.5536), "69": (45.7640, 4.8357),
         "13": (43.2965, 5.3698)}
OPEN_SOURCE = {"8", "10"}
INTEROP = {"3": ("open_standards", "documented_api"), "6": ("open_standards",), "7": ("data_export",)}


def doc(id, name, pitch="", description="", categories=(), labels=(), department=None, size=None):
    latitude, longitude = TOWNS.get(department, (None, None))
    return SearchDocument(id=id, slug=f"s{id}", name=name, pitch=pitch, description=description,
                          categories=tuple(categories), labels=tuple(labels), keywords=(), department=department,
                          region=region_of(department), commune=None, size_band=size, open_source=id in OPEN_SOURCE,
                          latitude=latitude, longitude=longitude, interop=INTEROP.get(id, ()),
                          passages=(f"{name}. {pitch}", *([description] if description else [])))


CORPUS = [
    doc("1", "Cantinéo", "Réservation des repas à la cantine scolaire", "Portail famille et paiement en ligne.",
        ["school-services"], ["ess"], "29", "1-9"),
    doc("2", "Menus Malins", "Gestion des menus", "Les familles inscrivent leurs enfants à la cantine.",
        ["school-services", "e-services"], [], "35", "10-49"),
    doc("3", "Tri Connect", "Capteurs de remplissage des bornes de tri", "Optimisation des tournées de collecte.",
        ["waste", "iot-networks"], ["french-tech"], "29", "10-49"),
    doc("4", "Collecto", "Collecte des déchets ménagers optimisée", "Tournées de camions et redevance incitative.",
        ["waste"], ["ess", "esus"], "44", "50-249"),
    doc("5", "Lumière Nocturne", "Télégestion de l'éclairage public", "Extinction nocturne des candélabres.",
        ["public-lighting"], [], "35", "1-9"),
    doc("6", "Parkéo", "Capteurs de places de stationnement", "Guidage des automobilistes vers les places libres.",
        ["parking", "iot-networks"], ["jei"], "69", "1-9"),
    doc("7", "Air Vigie", "Mesure de la qualité de l'air", "Capteurs de particules fines près des écoles.",
        ["air-quality"], ["b-corp"], "69", "10-49"),
    doc("8", "Voix Citoyenne", "Budget participatif en ligne", "Consultations et votes des habitants.",
        ["citizen-participation"], ["societe-a-mission"], "13", "1-9"),
    doc("9", "Script <b>Kiddies</b>", "Sécurité <script>alert(1)</script> des écoles",
        "Vidéoprotection <img src=x onerror=alert(1)> et cantine sécurisée.", ["security"], [], "13", "250+"),
    doc("10", "Twin Alpha", "Plateforme de données", "Tableaux de bord identiques.", ["data-platforms"], [], "75"),
    doc("11", "Twin Beta", "Plateforme de données", "Tableaux de bord identiques.", ["data-platforms"], [], "75"),
]


def backend_factories():
    factories = [pytest.param("embedded", id="embedded")]
    marks = [pytest.mark.elasticsearch]
    if not os.environ.get("ELASTICSEARCH_URL"):
        marks.append(pytest.mark.skip(reason="ELASTICSEARCH_URL not set: no Elasticsearch on this machine"))
    factories.append(pytest.param("elasticsearch", id="elasticsearch", marks=marks))
    return factories


# Elasticsearch backends made by this run: each has its own index prefix, and its indices are deleted after its test.
ES_RUN_PREFIX = f"vivier-test-{uuid.uuid4().hex[:8]}"
_elasticsearch_backends: list = []


def make_backend(kind, tmp_path):
    if kind == "embedded":
        from indexer.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(tmp_path / "embedded")
    from indexer.backends.elasticsearch import ElasticsearchBackend

    backend = ElasticsearchBackend(os.environ["ELASTICSEARCH_URL"],
                                   prefix=f"{ES_RUN_PREFIX}-{len(_elasticsearch_backends)}")
    _elasticsearch_backends.append(backend)
    return backend


@pytest.fixture(autouse=True)
def drop_elasticsearch_indices():
    """Delete the indices (aliases go with them) of the Elasticsearch backends a test made. Named one by one:
    Elasticsearch 8 refuses wildcard deletes by default (action.destructive_requires_name)."""
    yield
    while _elasticsearch_backends:
        backend = _elasticsearch_backends.pop()
        names = list(backend.client.indices.get(index=f"{backend.prefix}-*", expand_wildcards="all"))
        if names:
            backend.client.indices.delete(index=",".join(names))


@pytest.fixture(scope="module")
def corpus_vectors(encoder):
    return encoder.encode([p for d in CORPUS for p in d.passages])


@pytest.fixture(params=backend_factories())
def backend(request, tmp_path, corpus_vectors):
    backend = make_backend(request.param, tmp_path)
    backend.rebuild(CORPUS, corpus_vectors, {"model": "test"})
    return backend


def search(backend, encoder, text="", mode="hybrid", **kwargs):
    vector = encoder.encode_query(text) if text and mode != "keyword" else None
    return backend.search(SearchRequest(text=text, mode=mode, query_vector=vector, **kwargs))


def ids(response):
    return [h.id for h in response.hits]


@pytest.mark.parametrize("kind", backend_factories())
def test_search_before_any_build_says_not_ready(kind, tmp_path):
    with pytest.raises(IndexNotReady):
        make_backend(kind, tmp_path).search(SearchRequest(text="cantine"))


def test_keyword_matches_analysed_terms_and_name_outweighs_description(backend, encoder):
    response = search(backend, encoder, "cantines", mode="keyword")
    assert set(ids(response)) == {"1", "2", "9"}
    assert ids(response)[0] == "1"  # "cantine" in the pitch beats "cantine" in a description
    assert ids(search(backend, encoder, "Cantinéo", mode="keyword"))[0] == "1"  # name, accents folded


def test_typo_tolerance_by_edit_distance(backend, encoder):
    assert "5" in ids(search(backend, encoder, "eclairrage", mode="keyword"))


def test_dense_retrieval_finds_meaning_without_shared_words(backend, encoder):
    response = search(backend, encoder, "ordures ménagères", mode="dense")
    assert ids(response)[0] == "4"
    assert all(h.dense_rank is not None and h.semantic_passage for h in response.hits)


def test_hybrid_fuses_both_retrievals(backend, encoder):
    response = search(backend, encoder, "collecte des déchets")
    assert ids(response)[0] == "4"
    top = response.hits[0]
    assert top.keyword_rank is not None and top.dense_rank is not None
    assert top.score == pytest.approx(FUSION_WEIGHTS["keyword"] / (RRF_K + top.keyword_rank)
                                      + FUSION_WEIGHTS["dense"] / (RRF_K + top.dense_rank))
    scores = [h.score for h in response.hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "dense"])
def test_filters_restrict_every_retrieval(backend, encoder, mode):
    response = search(backend, encoder, "capteurs", mode=mode, filters={"department": ["29"]})
    assert ids(response) and all(h.document.department == "29" for h in response.hits)
    response = search(backend, encoder, "capteurs", mode=mode, filters={"category": ["iot-networks"]})
    assert ids(response) and all("iot-networks" in h.document.categories for h in response.hits)


def test_values_or_within_a_facet_and_facets_and_together(backend, encoder):
    either = search(backend, encoder, "", filters={"department": ["29", "35"]})
    assert sorted(ids(either), key=int) == ["1", "2", "3", "5"]
    both = search(backend, encoder, "", filters={"department": ["29", "35"], "label": ["ess"]})
    assert ids(both) == ["1"]


def test_empty_query_lists_everything_by_name(backend, encoder):
    response = search(backend, encoder, "", per_page=50)
    assert response.total == len(CORPUS)
    names = [h.document.name for h in response.hits]
    assert names == sorted(names, key=str.casefold)


def test_facet_counts_are_disjunctive(backend, encoder):
    plain = search(backend, encoder, "", per_page=50)
    selected = search(backend, encoder, "", filters={"category": ["waste"]}, per_page=50)
    counts = lambda r, f: {v.value: v.count for v in r.facets[f]}  # noqa: E731
    # The category facet ignores its own selection: the other categories still show their full counts.
    assert counts(selected, "category") == counts(plain, "category")
    assert [v.value for v in selected.facets["category"] if v.selected] == ["waste"]
    # The other facets count only the selected result set.
    assert counts(selected, "department") == {"29": 1, "44": 1}
    assert counts(selected, "label") == {"ess": 1, "esus": 1, "french-tech": 1}
    assert counts(plain, "size") == {"1-9": 4, "10-49": 3, "50-249": 1, "250+": 1}
    assert set(FACET_FIELDS) == set(plain.facets)


def test_unknown_filter_values_match_nothing_but_still_show_as_selected(backend, encoder):
    response = search(backend, encoder, "", filters={"category": ["no-such-theme"]})
    assert response.total == 0 and response.hits == []
    assert [(v.value, v.count, v.selected) for v in response.facets["category"] if v.selected] == [
        ("no-such-theme", 0, True)]


def test_pagination_is_disjoint_and_complete(backend, encoder):
    pages = [search(backend, encoder, "", per_page=4, page=p) for p in (1, 2, 3, 4)]
    seen = [i for p in pages for i in ids(p)]
    assert len(seen) == len(set(seen)) == len(CORPUS) and ids(pages[3]) == []


def test_ranking_is_deterministic_and_ties_break_by_id(backend, encoder):
    first = ids(search(backend, encoder, "tableaux de bord identiques", mode="keyword"))
    assert first[:2] == ["10", "11"]
    assert first == ids(search(backend, encoder, "tableaux de bord identiques", mode="keyword"))


def test_highlights_are_escaped_and_fields_explained(backend, encoder):
    hit = next(h for h in search(backend, encoder, "vidéoprotection cantine sécurité").hits if h.id == "9")
    assert "description" in hit.matched_fields and "pitch" in hit.matched_fields
    assert "<b>Vidéoprotection</b>" in hit.highlights["description"]
    for html in hit.highlights.values():
        assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in hit.highlights["pitch"]


def test_similar_documents_exclude_the_document_itself(backend):
    similar = [d.id for d in backend.similar("3", limit=3)]
    assert "3" not in similar and len(similar) == 3
    assert backend.similar("unknown") == []
    assert backend.get("4").name == "Collecto" and backend.get("nope") is None


def test_rebuild_replaces_the_index_and_keeps_serving_meanwhile(backend, encoder, corpus_vectors):
    errors: list[Exception] = []
    stop = threading.Event()
    vector = encoder.encode_query("cantine")

    def searching():
        while not stop.is_set():
            try:
                response = backend.search(SearchRequest(text="cantine", query_vector=vector))
                assert response.total >= 2
            except Exception as error:  # pragma: no cover - reported below
                errors.append(error)

    thread = threading.Thread(target=searching)
    thread.start()
    try:
        for _ in range(3):
            backend.rebuild(CORPUS, corpus_vectors, {"model": "test"})
    finally:
        stop.set()
        thread.join()
    assert errors == []
    smaller = CORPUS[:3]
    backend.rebuild(smaller, corpus_vectors[: sum(len(d.passages) for d in smaller)], {"model": "test"})
    assert search(backend, encoder, "").total == 3


def test_rollback_serves_the_index_the_last_rebuild_replaced(backend, encoder, corpus_vectors):
    smaller = CORPUS[:3]
    backend.rebuild(smaller, corpus_vectors[: sum(len(d.passages) for d in smaller)], {"model": "test"})
    assert search(backend, encoder, "").total == 3
    backend.rollback()
    assert search(backend, encoder, "").total == len(CORPUS)
    assert backend.status()["documents"] == len(CORPUS)


def test_failed_rebuild_leaves_the_live_index_serving(backend, encoder, corpus_vectors):
    before = ids(search(backend, encoder, "cantine"))
    with pytest.raises(ValueError):
        backend.rebuild(CORPUS, corpus_vectors[:-1], {"model": "test"})  # one vector missing
    assert ids(search(backend, encoder, "cantine")) == before


def test_apply_changes_adds_replaces_and_removes_only_what_changed(backend, encoder):
    renamed = doc("3", "Tri Connect", "Capteurs de remplissage et pesée embarquée",
                  "Optimisation des tournées de collecte.", ["waste"], ["french-tech"], "56", "10-49")
    added = doc("12", "Compostéo", "Composteurs partagés de quartier", "Suivi du remplissage des composteurs.",
                ["waste"], ["ess"], "29", "1-9")
    vectors = encoder.encode([p for d in (renamed, added) for p in d.passages])
    backend.apply_changes([renamed, added], vectors, ["5", "404"], {"watermark": "2026-01-01T00:00:00"})
    everything = search(backend, encoder, "", per_page=50)
    assert sorted(ids(everything), key=int) == ["1", "2", "3", "4", "6", "7", "8", "9", "10", "11", "12"]
    assert backend.get("3").department == "56" and backend.get("5") is None
    assert ids(search(backend, encoder, "pesée embarquée", mode="keyword")) == ["3"]
    assert ids(search(backend, encoder, "composteurs", mode="keyword")) == ["12"]
    assert "5" not in ids(search(backend, encoder, "éclairage public"))
    assert {v.value: v.count for v in everything.facets["department"]}["56"] == 1
    # Unchanged documents keep their vectors: the same dense neighbours as before.
    assert ids(search(backend, encoder, "ordures ménagères", mode="dense"))[0] == "4"
    status = backend.status()
    assert status["documents"] == 11 and status["watermark"] == "2026-01-01T00:00:00" and status["model"] == "test"


def test_failed_apply_changes_leaves_the_live_index_serving(backend, encoder):
    before = ids(search(backend, encoder, "cantine"))
    with pytest.raises(ValueError):
        backend.apply_changes([doc("12", "Compostéo")], np.zeros((0, 384), dtype=np.float32), [], {})
    assert ids(search(backend, encoder, "cantine")) == before and backend.get("12") is None


def test_region_and_open_source_facets(backend, encoder):
    response = search(backend, encoder)
    regions = {fv.value: fv.count for fv in response.facets["region"]}
    assert regions == {"Bretagne": 4, "Pays de la Loire": 1, "Auvergne-Rhône-Alpes": 2,
                       "Provence-Alpes-Côte d'Azur": 2, "Île-de-France": 2}
    assert [(fv.value, fv.count) for fv in response.facets["open_source"]] == [("oui", 2)]
    assert sorted(ids(search(backend, encoder, filters={"open_source": ["oui"]}))) == ["10", "8"]
    assert set(ids(search(backend, encoder, filters={"region": ["Bretagne"]}))) == {"1", "2", "3", "5"}


def test_interoperability_facet(backend, encoder):
    response = search(backend, encoder, "capteurs")
    counts = {fv.value: fv.count for fv in response.facets["interop"]}
    assert counts["open_standards"] == 2 and counts["documented_api"] == 1
    assert sorted(ids(search(backend, encoder, filters={"interop": ["open_standards"]}))) == ["3", "6"]
    # OR within the facet, as every facet.
    assert sorted(ids(search(backend, encoder, filters={"interop": ["documented_api", "data_export"]}))) == ["3", "7"]


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "dense"])
def test_only_ids_restrict_every_retrieval_and_facet(backend, encoder, mode):
    allowed = frozenset({"3", "6", "7", "unknown"})
    response = search(backend, encoder, "capteurs collecte qualité de l'air", mode=mode, only_ids=allowed)
    assert response.hits and set(ids(response)) <= {"3", "6", "7"}
    assert sum(fv.count for fv in response.facets["department"]) == response.total
    everything = search(backend, encoder, only_ids=allowed)
    assert sorted(ids(everything)) == ["3", "6", "7"]
    assert {fv.value: fv.count for fv in everything.facets["department"]} == {"29": 1, "69": 2}
    # With facet filters and the distance filter, AND-ed; an empty set keeps nothing.
    assert ids(search(backend, encoder, filters={"department": ["69"]}, only_ids=frozenset({"3", "7"}))) == ["7"]
    near_lyon = GeoFilter(latitude=45.7640, longitude=4.8357, radius_km=50)
    assert sorted(ids(search(backend, encoder, near=near_lyon, only_ids=allowed))) == ["6", "7"]
    assert search(backend, encoder, "capteurs", mode=mode, only_ids=frozenset()).total == 0


def test_a_restriction_is_ranked_inside_the_embedded_keyword_query(tmp_path, encoder, corpus_vectors, monkeypatch):
    """The distance filter and the id restriction are clauses of the keyword query (the document number is
    indexed): with a keyword depth of 2, the restricted keyword top 2 is found however far down the unrestricted
    ranking it is, and the kept documents never crowd out others than the restriction's."""
    from indexer.backends import embedded

    backend = embedded.EmbeddedBackend(tmp_path / "embedded")
    backend.rebuild(CORPUS, corpus_vectors, {"model": "test"})
    monkeypatch.setattr(embedded, "KEYWORD_DEPTH", 2)
    unrestricted = ids(search(backend, encoder, "capteurs collecte tournées cantine", mode="keyword"))
    assert len(unrestricted) == 2
    later = frozenset(d.id for d in CORPUS) - set(unrestricted)
    restricted = search(backend, encoder, "capteurs collecte tournées cantine", mode="keyword", only_ids=later)
    assert len(restricted.hits) == 2 and set(ids(restricted)) <= later
    everything = frozenset(d.id for d in CORPUS)  # kept: all (the clause excludes nothing)
    assert ids(search(backend, encoder, "capteurs collecte tournées cantine", mode="keyword",
                      only_ids=everything)) == unrestricted
    near_lyon = GeoFilter(latitude=45.7640, longitude=4.8357, radius_km=50)  # Parkéo and Air Vigie
    assert sorted(ids(search(backend, encoder, "capteurs", mode="keyword", near=near_lyon))) == ["6", "7"]


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "dense"])
def test_distance_filter_keeps_nearby_documents_in_every_retrieval_and_facet(backend, encoder, mode):
    # 120 km around Rennes: Rennes (35) and Nantes (44, 100 km) are in, Quimper (29, 181 km) is out.
    near = GeoFilter(latitude=48.1173, longitude=-1.6778, radius_km=120)
    response = search(backend, encoder, "capteurs collecte cantine éclairage", mode=mode, near=near)
    assert response.hits and {h.document.department for h in response.hits} <= {"35", "44"}
    assert all(h.distance_km is not None and h.distance_km <= 120 for h in response.hits)
    assert sum(fv.count for fv in response.facets["department"]) == response.total
    everything = search(backend, encoder, near=near)
    assert set(ids(everything)) == {"2", "4", "5"}
    assert {fv.value for fv in everything.facets["department"]} == {"35", "44"}
    # Documents without coordinates are never "near"; a radius around nowhere in particular finds nothing.
    assert search(backend, encoder, near=GeoFilter(latitude=0.0, longitude=0.0, radius_km=50)).total == 0


def test_distance_is_great_circle_km(backend, encoder):
    lyon = GeoFilter(latitude=45.7640, longitude=4.8357, radius_km=300)
    hits = {h.id: h.distance_km for h in search(backend, encoder, near=lyon).hits}
    assert hits["6"] == 0.0 and hits["7"] == 0.0
    assert hits["8"] == pytest.approx(278, abs=3)  # Lyon - Marseille


def test_multi_row_query_vector_averages_best_passage_similarity(backend, encoder):
    rows = encoder.encode(["réservation des repas à la cantine scolaire", "éclairage public la nuit"])
    response = backend.search(SearchRequest(text="cantine éclairage", mode="dense", query_vector=rows))
    single = {h.id: h.dense_similarity for h in backend.search(SearchRequest(
        text="x", mode="dense", query_vector=rows[0])).hits}
    other = {h.id: h.dense_similarity for h in backend.search(SearchRequest(
        text="x", mode="dense", query_vector=rows[1])).hits}
    for hit in response.hits:
        if hit.id in single and hit.id in other:
            assert hit.dense_similarity == pytest.approx((single[hit.id] + other[hit.id]) / 2, abs=1e-5)
    assert {"1", "5"} <= set(ids(response))


def test_suggestion_corrects_unknown_words_from_the_index_vocabulary(backend, encoder):
    assert search(backend, encoder, "captuers de remplisage", mode="keyword").suggestion == "capteurs de remplissage"
    assert search(backend, encoder, "Eclairage public").suggestion is None  # accents are optional
    assert search(backend, encoder, "cantines").suggestion is None  # known word
    assert search(backend, encoder, "zzqxw").suggestion is None  # nothing close
    assert search(backend, encoder, "parmi eux selon nous").suggestion is None  # stop words are never corrected


def test_a_long_need_is_searched_by_its_distinctive_terms(backend, encoder):
    filler = " ".join(f"article{i} de la consultation" for i in range(60))
    text = filler + " Nous voulons des capteurs de remplissage pour les bornes de tri."
    response = search(backend, encoder, text, mode="keyword")
    assert "3" in ids(response)[:2]


@pytest.mark.parametrize("part", ["documents", "vectors"])
def test_embedded_rebuild_fails_cleanly_when_a_side_process_fails(tmp_path, encoder, corpus_vectors, monkeypatch,
                                                                   part):
    """The documents file and the vector files are written by forked processes: the failure of either fails the
    rebuild, removes the partial generation and leaves the live one serving."""
    from indexer.backends import ann, embedded

    backend = embedded.EmbeddedBackend(tmp_path / "embedded")
    backend.rebuild(CORPUS, corpus_vectors, {"model": "test"})
    live = sorted(p.name for p in (tmp_path / "embedded").glob("gen-*"))
    before = ids(search(backend, encoder, "cantine"))

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    if part == "vectors":
        monkeypatch.setattr(ann, "save", disk_full)
    else:
        class DocumentsFail:  # the documents file is the only JSON list a generation writes
            loads = staticmethod(json.loads)

            @staticmethod
            def dumps(value, **kwargs):
                return disk_full() if isinstance(value, list) else json.dumps(value, **kwargs)

        monkeypatch.setattr(embedded, "json", DocumentsFail)
    with pytest.raises(RuntimeError, match=f"writing the index's {part} failed"):
        backend.rebuild(CORPUS, corpus_vectors, {"model": "test"})
    assert sorted(p.name for p in (tmp_path / "embedded").glob("gen-*")) == live
    assert ids(search(backend, encoder, "cantine")) == before


# -- strong matches and weaker neighbours (indexer.strength) ----------------------------------------------------------
def test_documents_holding_the_needs_words_are_strong_and_come_first(backend, encoder):
    """With no measured similarity threshold, only coverage makes a strong match: the documents holding both query
    terms (Cantinéo and Menus Malins); the others found (by meaning, or by one word) are neighbours after them."""
    from indexer.strength import UNMEASURED

    response = search(backend, encoder, "cantine familles", thresholds=UNMEASURED)
    strong = [h.id for h in response.hits if h.strong]
    assert sorted(strong) == ["1", "2"] and response.strong_total == 2
    assert ids(response)[:len(strong)] == strong  # the strong matches first, then the neighbours
    assert all(h.coverage is None or h.coverage >= 0.95 for h in response.hits if h.strong)
    weak = [h for h in response.hits if not h.strong]
    assert weak and response.total == len(strong) + len(weak)
    # Facets count the strong matches; asked for, the neighbours too.
    counted = sum(v.count for v in response.facets["department"])
    assert counted == len(strong)
    everything = search(backend, encoder, "cantine familles", thresholds=UNMEASURED, include_weak=True)
    assert sum(v.count for v in everything.facets["department"]) == everything.total > counted


def test_a_need_no_document_mentions_has_no_strong_match_and_counts_its_neighbours(backend, encoder):
    from indexer.strength import UNMEASURED

    response = search(backend, encoder, "déneigement des routes", thresholds=UNMEASURED)
    assert response.strong_total == 0 and response.total > 0 and not any(h.strong for h in response.hits)
    assert sum(v.count for v in response.facets["department"]) == response.total  # none strong: all counted


def test_keyword_only_and_dense_only_searches_list_their_retrieval_as_it_is(backend, encoder):
    for mode in ("keyword", "dense"):
        response = search(backend, encoder, "déneigement des routes", mode=mode)
        assert all(h.strong for h in response.hits) and response.strong_total == response.total


def test_a_generation_written_by_another_process_is_loaded_in_the_background_then_swapped(tmp_path, corpus_vectors,
                                                                                          encoder):
    """The web app's backend (background_reload): a new generation made elsewhere (the worker, `vivier index
    build`) does not make a search wait for its loading: the previous one answers until the new one is in memory."""
    from indexer.backends.embedded import EmbeddedBackend

    writer = EmbeddedBackend(tmp_path / "embedded")
    writer.rebuild(CORPUS, corpus_vectors, {"model": "test"})
    web = EmbeddedBackend(tmp_path / "embedded", background_reload=True)
    assert "4" in ids(search(web, encoder, "Collecto", mode="keyword"))
    generation = web.status()["generation"]

    writer.apply_changes([], np.zeros((0, corpus_vectors.shape[1]), dtype=np.float32), ["4"], {"model": "test"})
    assert "4" in ids(search(web, encoder, "Collecto", mode="keyword"))  # answered from memory, loading started
    assert web._loader is not None
    web._loader.join(timeout=60)
    assert "4" not in ids(search(web, encoder, "Collecto", mode="keyword"))
    assert web.status()["generation"] != generation

    # Without it (the command line), the first search that sees the change loads it; refresh() loads it at once.
    cli = EmbeddedBackend(tmp_path / "embedded")
    start = sum(len(d.passages) for d in CORPUS[:3])
    writer.apply_changes([CORPUS[3]], corpus_vectors[start:start + len(CORPUS[3].passages)], [], {"model": "test"})
    assert "4" in ids(search(cli, encoder, "Collecto", mode="keyword"))
    web.refresh()
    assert "4" in ids(search(web, encoder, "Collecto", mode="keyword"))
