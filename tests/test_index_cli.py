"""`vivier index status` and `vivier index rollback` on the embedded backend, and rollback's semantics; the
Elasticsearch backend's rollback is exercised in tests/test_elasticsearch_transport.py."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from indexer.backends.base import IndexNotReady, NothingToRollBack, SearchRequest
from indexer.backends.embedded import FORMAT_VERSION, EmbeddedBackend
from indexer.documents import document_from_record
from vivier_cli.main import main


def documents(*names: str):
    return [document_from_record({"id": str(i), "name": name, "pitch": f"{name} pour les collectivités"})
            for i, name in enumerate(names, start=1)]


def vectors_for(docs, encoder):
    return encoder.encode([p for d in docs for p in d.passages])


def names(backend: EmbeddedBackend) -> list[str]:
    return sorted(h.document.name for h in backend.search(SearchRequest(per_page=50)).hits)


def cli(data_dir, *args):
    return CliRunner().invoke(main, list(args), env={"VIVIER_DATA_DIR": str(data_dir), "DATABASE_URL": "",
                                                     "ELASTICSEARCH_URL": "", "VIVIER_SEARCH_BACKEND": ""})


@pytest.fixture
def built(tmp_path, encoder):
    """Two rebuilds: the first generation (two suppliers) was replaced by the second (three)."""
    backend = EmbeddedBackend(tmp_path / "index" / "embedded")
    first, second = documents("Alpha", "Beta"), documents("Alpha", "Beta", "Gamma")
    backend.rebuild(first, vectors_for(first, encoder), {"model": "m1", "document_version": 1})
    backend.rebuild(second, vectors_for(second, encoder), {"model": "m1", "document_version": 1})
    return backend


def test_rollback_serves_the_replaced_generation_then_has_nothing_older(built):
    assert names(built) == ["Alpha", "Beta", "Gamma"]
    built.rollback()
    assert names(built) == ["Alpha", "Beta"]
    with pytest.raises(NothingToRollBack):
        built.rollback()
    assert names(built) == ["Alpha", "Beta"]


def test_rollback_without_an_index_says_so(tmp_path):
    with pytest.raises(IndexNotReady):
        EmbeddedBackend(tmp_path / "empty").rollback()


def test_index_status_shows_index_documents_model_and_mapping_version(built, tmp_path):
    result = cli(tmp_path, "index", "status")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.output.splitlines())
    assert lines["backend"].strip() == "embedded" and lines["ready"].strip() == "yes"
    assert lines["index"].strip() == built.status()["generation"]
    assert lines["documents"].strip() == "3" and lines["model"].strip() == "m1"
    assert lines["mapping version"].strip() == str(FORMAT_VERSION)
    as_json = json.loads(cli(tmp_path, "index", "status", "--json").output)
    assert as_json["documents"] == 3 and as_json["generation"] == built.status()["generation"]


def test_index_status_before_any_build(tmp_path):
    result = cli(tmp_path, "index", "status")
    assert result.exit_code == 0 and "no (run `vivier index build`)" in result.output


def test_index_rollback_command(built, tmp_path):
    live = built.status()["generation"]
    result = cli(tmp_path, "index", "rollback")
    assert result.exit_code == 0, result.output
    assert built.status()["generation"] != live and built.status()["documents"] == 2
    again = cli(tmp_path, "index", "rollback")
    assert again.exit_code == 1 and "no complete generation older than" in again.output
