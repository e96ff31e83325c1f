"""The Elasticsearch backend through the real client and HTTP, against a loopback server that answers like
Elasticsearch 8 (indices, aliases and documents kept in memory, scripted faults played first) and records every
request. No Elasticsearch server can run here: what a real cluster computes (BM25, kNN, highlights, suggesters)
is canned, what the backend does with it and what it sends is checked."""

from __future__ import annotations

import copy
import fnmatch
import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import numpy as np
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from indexer.backends.base import FACET_FIELDS, IndexNotReady, RebuildInProgress, SearchRequest, SearchUnavailable
from indexer.strength import ModelThresholds
from indexer.backends.elasticsearch import (MAPPING_VERSION, TRANSPORT_RETRIES, ElasticsearchBackend,
                                            ElasticsearchRefused, IndexLoadError, NothingToRollBack, encode_vectors)
from indexer.documents import SearchDocument
from indexer.fusion import FUSION_WEIGHTS, RRF_K

PREFIX = "vivier-test"
ALIAS = f"{PREFIX}-profiles"
LOCK = f"{PREFIX}-rebuild-lock"
START = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)


def shards() -> dict[str, int]:
    return {"total": 1, "successful": 1, "skipped": 0, "failed": 0}


def es_error(status: int, kind: str, reason: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    """An error answer as Elasticsearch writes it."""
    cause = {"type": kind, "reason": reason, **extra}
    return status, {"error": {"root_cause": [cause], **cause}, "status": status}


def index_not_found(name: str) -> tuple[int, dict[str, Any]]:
    return es_error(404, "index_not_found_exception", f"no such index [{name}]", index=name)


@dataclass
class Recorded:
    method: str
    path: str
    args: dict[str, str]
    body: Any  # parsed JSON, a list of parsed NDJSON lines, or None


@dataclass
class FakeIndex:
    mappings: dict[str, Any]
    settings: dict[str, Any]
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    aliases: set[str] = field(default_factory=set)
    seq_no: int = 0


class FakeElasticsearch:
    """What the backend uses of Elasticsearch's REST API, in memory."""

    def __init__(self) -> None:
        self.indices: dict[str, FakeIndex] = {}
        self.requests: list[Recorded] = []
        # (method, path regex) -> answers played, in order, before the normal behaviour; an answer is
        # (status, body) or a number of seconds to sleep first (a slow node).
        self.scripts: list[tuple[str, str, list[Any]]] = []
        # document id -> bulk item errors played, one per bulk request carrying that document.
        self.item_faults: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        # The searches of one _msearch (body lines) -> their responses.
        self.on_msearch: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = lambda bodies: []
        self.routes = [
            ("GET", r"/_alias/(?P<name>[^/]+)", self.get_alias),
            ("POST", r"/_aliases", self.update_aliases),
            ("PUT", r"/_bulk", self.bulk),
            ("POST", r"/(?P<index>[^/]+)/_msearch", self.msearch),
            ("PUT", r"/(?P<index>[^/]+)/_create/(?P<id>[^/]+)", self.create_document),
            ("GET", r"/(?P<index>[^/]+)/_doc/(?P<id>[^/]+)", self.get_document),
            ("DELETE", r"/(?P<index>[^/]+)/_doc/(?P<id>[^/]+)", self.delete_document),
            ("PUT", r"/(?P<index>[^/]+)/_settings", self.put_settings),
            ("POST", r"/(?P<index>[^/]+)/_refresh", self.refresh),
            ("POST", r"/(?P<index>[^/]+)/_count", self.count),
            ("PUT", r"/(?P<index>[^/]+)/_mapping", self.put_mapping),
            ("GET", r"/(?P<index>[^/]+)/_mapping", self.get_mapping),
            ("PUT", r"/(?P<index>[^/_][^/]*)", self.create_index),
            ("GET", r"/(?P<index>[^/_][^/]*)", self.get_index),
            ("DELETE", r"/(?P<index>[^/_][^/]*)", self.delete_indices),
        ]
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll interval: shutdown() waits for the next poll.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    # -- plumbing -----------------------------------------------------------------------------------------------
    def script(self, method: str, path: str, *answers: Any) -> None:
        self.scripts.append((method, path, list(answers)))

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        return [r for r in self.requests
                if (method is None or r.method == method) and (path is None or re.fullmatch(path, r.path))]

    def trail(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    @Request.application
    def app(self, request: Request) -> Response:
        raw = request.get_data()
        if "ndjson" in (request.content_type or ""):
            body: Any = [json.loads(line) for line in raw.splitlines() if line.strip()]
        else:
            body = json.loads(raw) if raw else None
        self.requests.append(Recorded(request.method, request.path, dict(request.args), body))
        status, answer = self.answer(request.method, request.path, dict(request.args), body)
        return Response(json.dumps(answer), status, {"X-Elastic-Product": "Elasticsearch",
                                                     "Content-Type": "application/json"})

    def answer(self, method: str, path: str, args: dict[str, str], body: Any) -> tuple[int, Any]:
        for script_method, pattern, answers in self.scripts:
            if script_method == method and re.fullmatch(pattern, path) and answers:
                answer = answers.pop(0)
                if isinstance(answer, (int, float)):
                    time.sleep(answer)
                    break
                return answer
        for route_method, pattern, handler in self.routes:
            match = re.fullmatch(pattern, path)
            if route_method == method and match:
                return handler(args=args, body=body, **match.groupdict())
        return 405, {"error": f"no route for {method} {path}", "status": 405}

    def resolve(self, name: str) -> list[str]:
        """Concrete index names behind an index name, alias or wildcard pattern."""
        names = name.split(",")
        return [n for n, index in self.indices.items()
                if any(fnmatch.fnmatchcase(n, pattern) or pattern in index.aliases for pattern in names)]

    # -- index administration -----------------------------------------------------------------------------------
    def create_index(self, index: str, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        if index in self.indices:
            return es_error(400, "resource_already_exists_exception", f"index [{index}/abc] already exists",
                            index=index)
        body = copy.deepcopy(body or {})  # the recorded request stays as it was sent
        self.indices[index] = FakeIndex(mappings=body.get("mappings", {}), settings=body.get("settings", {}))
        return 200, {"acknowledged": True, "shards_acknowledged": True, "index": index}

    def get_index(self, index: str, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        names = self.resolve(index)
        if not names:
            return index_not_found(index)
        return 200, {n: {"aliases": {a: {} for a in self.indices[n].aliases}, "mappings": self.indices[n].mappings,
                         "settings": {"index": self.indices[n].settings}} for n in names}

    def delete_indices(self, index: str, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        for name in index.split(","):
            if name not in self.indices:
                return index_not_found(name)
        for name in index.split(","):
            del self.indices[name]
        return 200, {"acknowledged": True}

    def put_settings(self, index: str, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        for key, value in body["index"].items():
            if value is None:
                self.indices[index].settings.pop(key, None)
            else:
                self.indices[index].settings[key] = value
        return 200, {"acknowledged": True}

    def refresh(self, index: str, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        return 200, {"_shards": shards()}

    def count(self, index: str, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        names = self.resolve(index)
        if not names:
            return index_not_found(index)
        return 200, {"count": sum(len(self.indices[n].docs) for n in names), "_shards": shards()}

    def put_mapping(self, index: str, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        self.indices[index].mappings["_meta"] = body["_meta"]
        return 200, {"acknowledged": True}

    def get_mapping(self, index: str, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        return 200, {n: {"mappings": self.indices[n].mappings} for n in self.resolve(index)}

    def get_alias(self, name: str, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        found = {n: {"aliases": {name: {}}} for n, index in self.indices.items() if name in index.aliases}
        if not found:
            return 404, {"error": f"alias [{name}] missing", "status": 404}
        return 200, found

    def update_aliases(self, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        for action in body["actions"]:  # the fake applies them one by one; a real cluster, atomically
            (kind, target), = action.items()
            if kind == "add":
                self.indices[target["index"]].aliases.add(target["alias"])
            else:
                self.indices[target["index"]].aliases.remove(target["alias"])
        return 200, {"acknowledged": True}

    # -- documents ----------------------------------------------------------------------------------------------
    def create_document(self, index: str, id: str, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        target = self.indices[index]
        if id in target.docs:
            return es_error(409, "version_conflict_engine_exception",
                            f"[{id}]: version conflict, document already exists (current version [1])",
                            index=index, shard="0", index_uuid="abc")
        target.seq_no += 1
        target.docs[id] = {"_source": body, "_seq_no": target.seq_no}
        return 201, {"_index": index, "_id": id, "_version": 1, "result": "created", "_shards": shards(),
                     "_seq_no": target.seq_no, "_primary_term": 1}

    def get_document(self, index: str, id: str, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        names = self.resolve(index)
        if not names:
            return index_not_found(index)
        stored = self.indices[names[0]].docs.get(id)
        if stored is None:
            return 404, {"_index": names[0], "_id": id, "found": False}
        source = {k: v for k, v in stored["_source"].items() if k not in args.get("_source_excludes", "").split(",")}
        return 200, {"_index": names[0], "_id": id, "_version": 1, "_seq_no": stored["_seq_no"],
                     "_primary_term": 1, "found": True, "_source": source}

    def delete_document(self, index: str, id: str, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        target = self.indices[index]
        stored = target.docs.get(id)
        if stored is None:
            return 404, {"_index": index, "_id": id, "result": "not_found", "_shards": shards()}
        if "if_seq_no" in args and int(args["if_seq_no"]) != stored["_seq_no"]:
            return es_error(409, "version_conflict_engine_exception", f"[{id}]: version conflict")
        del target.docs[id]
        return 200, {"_index": index, "_id": id, "result": "deleted", "_shards": shards()}

    def bulk(self, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        items = []
        lines = iter(body)
        for line in lines:
            (operation, meta), = line.items()
            source = next(lines) if operation == "index" else None
            index, doc_id = meta["_index"], meta["_id"]
            faults = self.item_faults.get(doc_id)
            if faults:
                status, error = faults.pop(0)
                items.append({operation: {"_index": index, "_id": doc_id, "status": status, "error": error}})
                continue
            docs = self.indices[index].docs
            if operation == "delete":
                found = docs.pop(doc_id, None) is not None
                items.append({"delete": {"_index": index, "_id": doc_id, "_version": 1,
                                         "result": "deleted" if found else "not_found", "_shards": shards(),
                                         "_seq_no": 1, "_primary_term": 1, "status": 200 if found else 404}})
            else:
                created = doc_id not in docs
                docs[doc_id] = {"_source": source, "_seq_no": 1}
                items.append({"index": {"_index": index, "_id": doc_id, "_version": 1,
                                        "result": "created" if created else "updated", "_shards": shards(),
                                        "_seq_no": 1, "_primary_term": 1, "status": 201 if created else 200}})
        errors = any(200 > next(iter(i.values()))["status"] or next(iter(i.values()))["status"] >= 300
                     for i in items)
        return 200, {"took": 3, "errors": errors, "items": items}

    def msearch(self, index: str, body: Any, args: dict[str, str]) -> tuple[int, Any]:
        bodies = body[1::2]
        if not self.resolve(index):
            status, error = index_not_found(index)
            return 200, {"took": 1, "responses": [{**error, "status": status} for _ in bodies]}
        return 200, {"took": 5, "responses": self.on_msearch(bodies)}


@pytest.fixture()
def fake():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = FakeElasticsearch()
    server.thread.start()
    yield server
    server.server.shutdown()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def make_backend(url: str, clock: Clock | None = None, **options: Any) -> ElasticsearchBackend:
    return ElasticsearchBackend(url, prefix=PREFIX, timeout=options.pop("timeout", 2.0), backoff=0.001,
                                clock=clock or Clock(), **options)


def document(doc_id: str, name: str, categories=("waste",), department="29", passages=1) -> SearchDocument:
    return SearchDocument(id=doc_id, slug=f"s{doc_id}", name=name, pitch=f"{name} pitch", description="Longue. " * 3,
                          categories=tuple(categories), labels=(), keywords=("capteur",), department=department,
                          region="Bretagne", commune=None, size_band="1-9", open_source=False, latitude=48.0,
                          longitude=-4.0, passages=tuple(f"{name} passage {i}" for i in range(passages)))


# A model's thresholds (indexer.strength) for these toy vectors.
THRESHOLDS = ModelThresholds(similarity_alone=0.55, similarity_with_words=0.3, dense_floor=0.35)
DOCS = [document("a", "Alpha", passages=2), document("b", "Beta"), document("c", "Gamma", ["parking"], "35")]
# One unit row per passage, in order: a's two passages, then b's, then c's.
VECTORS = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0.6, 0, 0, 0.8]], dtype=np.float32)
META = {"model": "test-model", "dimension": 4, "document_version": 1, "watermark": "2026-03-01T09:00:00"}


def index_name(when: datetime) -> str:
    return f"{ALIAS}-v{MAPPING_VERSION}-{when.strftime('%Y%m%d%H%M%S%f')}"


def seed_index(fake: FakeElasticsearch, when: datetime, live: bool = False, complete: bool = True,
               docs: list[SearchDocument] = (), meta: dict[str, Any] | None = None) -> str:
    """An index as an earlier rebuild left it."""
    name = index_name(when)
    full_meta = {**META, "mapping_version": MAPPING_VERSION, "documents": len(docs), **(meta or {})}
    if complete:
        full_meta["complete"] = True
    fake.indices[name] = FakeIndex(mappings={"dynamic": False, "_meta": full_meta}, settings={},
                                   docs={d.id: {"_source": {"id": d.id}, "_seq_no": 1} for d in docs},
                                   aliases={ALIAS} if live else set())
    return name


# -- rebuild lifecycle ----------------------------------------------------------------------------------------------
def test_rebuild_loads_checks_swaps_and_collects_garbage_in_order(fake):
    old = [seed_index(fake, START - timedelta(days=d)) for d in (3, 2)]
    live = seed_index(fake, START - timedelta(days=1), live=True, docs=DOCS[:1])
    unfinished = seed_index(fake, START - timedelta(hours=5), complete=False)
    backend = make_backend(fake.url, keep=1)

    name = backend.rebuild(DOCS, VECTORS, META)

    assert name == index_name(START)
    assert fake.trail() == [
        ("PUT", f"/{LOCK}"), ("PUT", f"/{LOCK}/_create/rebuild"),
        ("PUT", f"/{name}"), ("PUT", "/_bulk"), ("PUT", f"/{name}/_settings"), ("POST", f"/{name}/_refresh"),
        ("POST", f"/{name}/_count"), ("PUT", f"/{name}/_mapping"),
        ("GET", f"/_alias/{ALIAS}"), ("POST", "/_aliases"),
        ("GET", f"/{ALIAS}-v*/_mapping"), ("DELETE", f"/{unfinished},{old[1]},{old[0]}"),
        ("DELETE", f"/{LOCK}/_doc/rebuild"),
    ]
    created = fake.calls("PUT", f"/{name}")[0].body
    assert created["settings"]["number_of_replicas"] == 0 and created["settings"]["refresh_interval"] == "-1"
    assert created["mappings"]["_meta"]["model"] == "test-model" and "complete" not in created["mappings"]["_meta"]
    assert fake.calls("PUT", f"/{name}/_settings")[0].body == {
        "index": {"number_of_replicas": None, "refresh_interval": None}}
    assert fake.indices[name].settings == {"number_of_shards": 1, "analysis": created["settings"]["analysis"]}
    assert fake.calls("PUT", f"/{name}/_mapping")[0].body["_meta"]["complete"] is True
    assert fake.calls("POST", "/_aliases")[0].body == {"actions": [
        {"remove": {"index": live, "alias": ALIAS}}, {"add": {"index": name, "alias": ALIAS}}]}
    # The live index before this one is kept for a rollback; the lock is released with its sequence number.
    assert set(fake.indices) == {LOCK, live, name} and fake.indices[name].aliases == {ALIAS}
    assert fake.calls("DELETE", f"/{LOCK}/_doc/rebuild")[0].args == {"if_seq_no": "1", "if_primary_term": "1"}
    assert fake.indices[LOCK].docs == {}


def test_bulk_carries_documents_with_their_own_vectors(fake):
    make_backend(fake.url).rebuild(DOCS, VECTORS, META)
    lines = fake.calls("PUT", "/_bulk")[0].body
    assert [next(iter(line.values()))["_id"] for line in lines[::2]] == ["a", "b", "c"]
    a, c = lines[1], lines[5]
    assert [chunk["vector"] for chunk in a["chunks"]] == [[1, 0, 0, 0], [0, 1, 0, 0]]
    assert c["vectors"] == encode_vectors(VECTORS[3:]) and c["facets"]["category"] == ["parking"]
    assert a["location"] == {"lat": 48.0, "lon": -4.0} and a["name_sort"] == "alpha"


def test_documents_rejected_with_429_are_resent_and_the_rebuild_succeeds(fake):
    fake.item_faults["b"] = [(429, {"type": "es_rejected_execution_exception",
                                    "reason": "rejected execution of coordinating operation"})] * 2
    name = make_backend(fake.url).rebuild(DOCS, VECTORS, META)
    bulks = fake.calls("PUT", "/_bulk")
    assert len(bulks) == 3
    assert [next(iter(line.values()))["_id"] for line in bulks[1].body[::2]] == ["b"]
    assert set(fake.indices[name].docs) == {"a", "b", "c"} and fake.indices[name].aliases == {ALIAS}


def test_documents_rejected_for_good_fail_the_rebuild_and_delete_the_partial_index(fake):
    live = seed_index(fake, START - timedelta(days=1), live=True, docs=DOCS)
    fake.item_faults["c"] = [(400, {"type": "mapper_parsing_exception",
                                    "reason": "failed to parse field [chunks.vector] of type [dense_vector]"})]
    with pytest.raises(IndexLoadError, match=r"1 of 3 documents .*c: mapper_parsing_exception"):
        make_backend(fake.url).rebuild(DOCS, VECTORS, META)
    new = index_name(START)
    assert ("DELETE", f"/{new}") in fake.trail() and new not in fake.indices
    assert fake.calls("POST", "/_aliases") == [] and fake.indices[live].aliases == {ALIAS}
    assert fake.indices[LOCK].docs == {}  # released


def test_a_document_count_that_does_not_match_fails_the_rebuild(fake):
    live = seed_index(fake, START - timedelta(days=1), live=True, docs=DOCS)
    fake.script("POST", r".*/_count", (200, {"count": 2, "_shards": shards()}))
    with pytest.raises(IndexLoadError, match="holds 2 documents after loading 3"):
        make_backend(fake.url).rebuild(DOCS, VECTORS, META)
    assert index_name(START) not in fake.indices and fake.calls("POST", "/_aliases") == []
    assert fake.indices[live].aliases == {ALIAS}


def test_a_rebuild_while_another_runs_is_refused(fake):
    fake.indices[LOCK] = FakeIndex(mappings={}, settings={}, docs={"rebuild": {"_seq_no": 7, "_source": {
        "owner": "web-1:42", "acquired_at": (START - timedelta(minutes=10)).isoformat()}}})
    with pytest.raises(RebuildInProgress, match="web-1:42"):
        make_backend(fake.url).rebuild(DOCS, VECTORS, META)
    assert fake.calls("PUT", r"/.*-profiles-v.*") == [] and "rebuild" in fake.indices[LOCK].docs


def test_a_stale_lock_is_taken_over(fake):
    fake.indices[LOCK] = FakeIndex(mappings={}, settings={}, seq_no=7, docs={"rebuild": {"_seq_no": 7, "_source": {
        "owner": "dead:1", "acquired_at": (START - timedelta(hours=3)).isoformat()}}})
    name = make_backend(fake.url).rebuild(DOCS, VECTORS, META)
    assert fake.calls("DELETE", f"/{LOCK}/_doc/rebuild")[0].args["if_seq_no"] == "7"
    assert fake.indices[name].aliases == {ALIAS}


def test_rollback_points_the_alias_at_the_previous_complete_index(fake):
    older = seed_index(fake, START - timedelta(days=3))
    previous = seed_index(fake, START - timedelta(days=2))
    seed_index(fake, START - timedelta(days=1, hours=12), complete=False)
    live = seed_index(fake, START - timedelta(days=1), live=True)
    backend = make_backend(fake.url)
    assert backend.rollback() == previous
    assert fake.calls("POST", "/_aliases")[-1].body == {"actions": [
        {"remove": {"index": live, "alias": ALIAS}}, {"add": {"index": previous, "alias": ALIAS}}]}
    assert backend.rollback() == older
    with pytest.raises(NothingToRollBack):
        backend.rollback()
    assert fake.indices[older].aliases == {ALIAS} and fake.indices[LOCK].docs == {}


# -- incremental updates --------------------------------------------------------------------------------------------
def test_apply_changes_writes_to_the_live_index_and_records_the_watermark(fake):
    live = seed_index(fake, START - timedelta(days=1), live=True, docs=DOCS, meta={"passages": 4})
    changed = document("b", "Beta renamed")
    backend = make_backend(fake.url)
    backend.apply_changes([changed], VECTORS[2:3], ["c", "unknown"], {"watermark": "2026-03-02T00:00:00"})
    bulk = fake.calls("PUT", "/_bulk")[0]
    assert bulk.args == {"refresh": "wait_for"}
    assert [line for line in bulk.body if "delete" in line] == [
        {"delete": {"_index": live, "_id": "c"}}, {"delete": {"_index": live, "_id": "unknown"}}]
    assert bulk.body[0] == {"index": {"_index": live, "_id": "b"}} and bulk.body[1]["name"] == "Beta renamed"
    assert set(fake.indices[live].docs) == {"a", "b"}
    meta = fake.indices[live].mappings["_meta"]
    assert meta["watermark"] == "2026-03-02T00:00:00" and meta["model"] == "test-model"
    assert meta["documents"] == 2 and meta["complete"] is True and "passages" not in meta
    status = backend.status()
    assert status["ready"] is True and status["index"] == live and status["documents"] == 2


def test_apply_changes_refuses_another_dimension_or_model_before_writing(fake):
    seed_index(fake, START - timedelta(days=1), live=True, docs=DOCS)
    backend = make_backend(fake.url)
    with pytest.raises(ValueError, match="dimension"):
        backend.apply_changes([DOCS[1]], np.ones((1, 8), dtype=np.float32), [], {})
    with pytest.raises(ValueError, match="other-model"):
        backend.apply_changes([DOCS[1]], VECTORS[2:3], [], {"model": "other-model"})
    assert fake.calls("PUT", "/_bulk") == [] and fake.indices[LOCK].docs == {}


# -- searching ------------------------------------------------------------------------------------------------------
def hit(doc: SearchDocument, vectors: np.ndarray | None = None, **extra: Any) -> dict[str, Any]:
    source = {**doc.to_dict(), "facets": {"category": list(doc.categories), "department": [doc.department]}}
    if vectors is not None:
        source["vectors"] = encode_vectors(vectors)
    return {"_index": index_name(START), "_id": doc.id, "_score": None, "_source": source, **extra}


def search_response(hits: list[dict[str, Any]]) -> dict[str, Any]:
    return {"took": 2, "timed_out": False, "_shards": shards(), "hits": {"max_score": None, "hits": hits},
            "status": 200}


def test_a_hybrid_search_is_one_msearch_fused_in_python(fake):
    seed_index(fake, START, live=True, docs=DOCS)
    # A query vector close to a's second passage and to c.
    query = np.array([0.0, 0.8, 0.0, 0.6], dtype=np.float32)
    a, b, c = DOCS

    def answer(bodies):
        keyword, dense, frequencies, suggestion = bodies
        assert "query" in keyword and dense["knn"]["query_vector"] == pytest.approx(query.tolist())
        assert dense["knn"]["similarity"] == pytest.approx(THRESHOLDS.dense_floor - 0.02)  # int8: a margin
        assert frequencies["track_total_hits"] is True
        return [
            search_response([
                hit(b, highlight={"name": ["<b>Beta</b> &lt;script&gt; l&#x27;x &#x2F; y"]},
                    matched_queries=["name", "keywords", "term:capteurz"]),
                hit(a, highlight={"pitch": ["<b>Alpha</b> pitch"]}, matched_queries=["pitch"])]),
            search_response([hit(c, VECTORS[3:]), hit(a, VECTORS[:2]), hit(b, VECTORS[2:3])]),
            {"took": 1, "timed_out": False, "_shards": shards(), "hits": {"total": {"value": 3}, "hits": []},
             "status": 200, "aggregations": {"frequencies": {"buckets": {"capteurz": {"doc_count": 1}}}}},
            {"took": 1, "timed_out": False, "_shards": shards(), "hits": {"hits": []}, "status": 200,
             "aggregations": {"known": {"buckets": {"key0": {"doc_count": 0}, "stem0": {"doc_count": 0}}}},
             "suggest": {"folded0": [{"text": "capteurz", "offset": 0, "length": 8, "options": [
                 {"text": "capteurs", "score": 0.875, "freq": 3}]}],
                 "written0": [{"text": "capteurz", "offset": 0, "length": 8, "options": [
                     {"text": "capteurs", "score": 0.875, "freq": 3}]}]}},
        ]

    fake.on_msearch = answer
    response = make_backend(fake.url).search(SearchRequest(text="capteurz", query_vector=query,
                                                           thresholds=THRESHOLDS))

    assert [(r.method, r.path) for r in fake.requests] == [("POST", f"/{ALIAS}/_msearch")]
    # Dense, exact (half best, half mean passage): a 0.6 (its second passage 0.8, its first 0), c 0.48, b 0
    # (under the floor).
    assert [h.id for h in response.hits] == ["a", "b", "c"]
    first = response.hits[0]
    assert (first.keyword_rank, first.dense_rank) == (2, 1)
    assert first.score == pytest.approx(FUSION_WEIGHTS["keyword"] / (RRF_K + 2) + FUSION_WEIGHTS["dense"] / (RRF_K + 1))
    assert first.dense_similarity == pytest.approx(0.6) and first.semantic_passage == "Alpha passage 1"
    assert first.highlights == {"pitch": "<b>Alpha</b> pitch"} and first.matched_fields == ["pitch"]
    second = response.hits[1]
    assert second.dense_rank is None and second.semantic_passage is None
    assert second.highlights == {"name": "<b>Beta</b> &lt;script&gt; l&#x27;x / y"}
    assert second.matched_fields == ["name", "keywords"]
    assert response.hits[2].keyword_rank is None and response.hits[2].dense_similarity == pytest.approx(0.48)
    # Strong: a by its meaning (0.6 >= 0.55), b by its words (the one query term); c is a neighbour.
    assert [h.strong for h in response.hits] == [True, True, False]
    assert (response.total, response.strong_total) == (3, 2)
    assert [(v.value, v.count) for v in response.facets["category"]] == [("waste", 2)]  # over the strong matches
    assert response.suggestion == "capteurs"


def test_a_typed_query_is_rewritten_from_one_suggestion_search(fake):
    """Accents restored ("donnees" indexed as written "données") and a typo corrected ("captuers"), from the
    vocabulary the suggesters and checks return; a long need needs no request."""
    seed_index(fake, START, live=True, docs=DOCS)

    def answer(bodies):
        (body,) = bodies
        assert set(body["suggest"]) == {"folded0", "written0", "folded1", "written1"}
        return [{"took": 1, "timed_out": False, "_shards": shards(), "hits": {"hits": []}, "status": 200,
                 "aggregations": {"known": {"buckets": {"key0": {"doc_count": 0}, "stem0": {"doc_count": 0},
                                                        "key1": {"doc_count": 4}, "stem1": {"doc_count": 0}}}},
                 "suggest": {
                     "folded0": [{"text": "captuers", "offset": 0, "length": 8, "options": [
                         {"text": "capteurs", "score": 0.75, "freq": 3}]}],
                     "written0": [{"text": "captuers", "offset": 0, "length": 8, "options": [
                         {"text": "capteurs", "score": 0.75, "freq": 3}]}],
                     "folded1": [{"text": "donnees", "offset": 0, "length": 7, "options": []}],
                     "written1": [{"text": "donnees", "offset": 0, "length": 7, "options": [
                         {"text": "données", "score": 0.7, "freq": 4}]}]}}]

    fake.on_msearch = answer
    backend = make_backend(fake.url)
    rewrite = backend.rewrite_query("captuers donnees")
    assert (rewrite.restored, rewrite.corrected) == ("captuers données", "capteurs données")
    assert [(r.method, r.path) for r in fake.requests] == [("POST", f"/{ALIAS}/_msearch")]
    long_need = "captuers " * 20
    assert backend.rewrite_query(long_need).searched == long_need and len(fake.requests) == 1


def test_a_selected_facet_is_counted_on_its_own_retrievals(fake):
    seed_index(fake, START, live=True, docs=DOCS)
    a, b, c = DOCS

    def answer(bodies):
        results, category = bodies[:2]
        assert results["query"]["bool"]["filter"] == [{"terms": {"facets.category": ["parking"]}}]
        assert "filter" not in category["query"]["bool"] and category["_source"] == {"includes": ["facets.category"]}
        return [search_response([hit(c)]),
                search_response([{"_index": index_name(START), "_id": d.id, "_score": None,
                                  "_source": {"facets": {"category": list(d.categories)}}} for d in (a, b, c)]),
                search_response([])]

    fake.on_msearch = answer
    response = make_backend(fake.url).search(SearchRequest(text="capteur", mode="keyword",
                                                           filters={"category": ["parking"]}))
    assert [h.id for h in response.hits] == ["c"]
    assert [(v.value, v.count, v.selected) for v in response.facets["category"]] == [
        ("waste", 2, False), ("parking", 1, True)]
    assert [(v.value, v.count) for v in response.facets["department"]] == [("35", 1)]


def test_an_empty_query_reads_hits_and_disjunctive_aggregations(fake):
    seed_index(fake, START, live=True, docs=DOCS)

    def answer(bodies):
        (body,) = bodies
        assert body["post_filter"] == {"bool": {"filter": [{"terms": {"facets.department": ["29"]}}]}}
        buckets = {facet: {"doc_count": 3, "values": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0,
                                                       "buckets": []}} for facet in
                   FACET_FIELDS}
        buckets["department"]["values"]["buckets"] = [{"key": "29", "doc_count": 2}, {"key": "35", "doc_count": 1}]
        return [{**search_response([hit(DOCS[0]), hit(DOCS[1])]), "aggregations": buckets,
                 "hits": {"total": {"value": 2, "relation": "eq"}, "hits": [hit(DOCS[0]), hit(DOCS[1])]}}]

    fake.on_msearch = answer
    response = make_backend(fake.url).search(SearchRequest(filters={"department": ["29"]}))
    assert response.total == 2 and [h.id for h in response.hits] == ["a", "b"]
    assert [(v.value, v.count, v.selected) for v in response.facets["department"]] == [
        ("29", 2, True), ("35", 1, False)]


def test_searching_before_any_build_says_not_ready(fake):
    backend = make_backend(fake.url)
    with pytest.raises(IndexNotReady):
        backend.search(SearchRequest(text="capteur"))
    with pytest.raises(IndexNotReady):
        backend.get("a")
    assert backend.status() == {"backend": "elasticsearch", "ready": False, "alias": ALIAS}


def test_get_and_similar_read_the_live_index(fake):
    live = seed_index(fake, START, live=True)
    for doc, rows in ((DOCS[0], VECTORS[:2]), (DOCS[1], VECTORS[2:3]), (DOCS[2], VECTORS[3:])):
        fake.indices[live].docs[doc.id] = {"_seq_no": 1, "_source": {**doc.to_dict(), "vectors": encode_vectors(rows)}}
    fake.on_msearch = lambda bodies: [search_response([hit(DOCS[1], VECTORS[2:3]), hit(DOCS[2], VECTORS[3:])])]
    backend = make_backend(fake.url)
    assert backend.get("a") == DOCS[0] and backend.get("nope") is None
    assert [d.id for d in backend.similar("a", limit=2)] == ["c", "b"]  # a's headline: 0.6 to c, 0 to b
    knn = fake.calls("POST", f"/{ALIAS}/_msearch")[0].body[1]["knn"]
    assert knn["query_vector"] == [1, 0, 0, 0] and knn["filter"] == [
        {"bool": {"must_not": [{"ids": {"values": ["a"]}}]}}]
    assert backend.similar("nope") == []


def test_a_long_need_first_asks_which_of_its_terms_are_rarest(fake):
    seed_index(fake, START, live=True, docs=DOCS)
    text = " ".join(f"article{i}" for i in range(60)) + " capteurs de remplissage"
    searches = []

    def answer(bodies):
        searches.append(bodies)
        if len(searches) == 1:
            (frequencies,) = bodies
            buckets = {term: {"doc_count": 0} for term in frequencies["aggs"]["frequencies"]["filters"]["filters"]}
            buckets.update({"capteur": {"doc_count": 5}, "remplissag": {"doc_count": 1}, "article7": {"doc_count": 2}})
            return [{**search_response([]), "aggregations": {"frequencies": {"buckets": buckets}}}]
        return [search_response([hit(DOCS[0])])]

    fake.on_msearch = answer
    response = make_backend(fake.url).search(SearchRequest(text=text, mode="keyword"))
    assert [h.id for h in response.hits] == ["a"] and response.suggestion is None
    assert len(searches) == 2 and len(searches[1]) == 1  # no suggestion search for a long need
    queried = [clause["dis_max"]["queries"][0]["term"]["name"]["value"]
               for clause in searches[1][0]["query"]["bool"]["should"] if "dis_max" in clause]
    assert queried == ["article7", "capteur", "remplissag"]  # unknown terms left out, order kept


def test_status_says_not_ready_for_an_index_of_another_mapping_version(fake):
    live = seed_index(fake, START, live=True, docs=DOCS, meta={"mapping_version": MAPPING_VERSION + 1})
    backend = make_backend(fake.url)
    status = backend.status()
    assert status["ready"] is False and status["index"] == live and status["model"] == "test-model"
    fake.on_msearch = lambda bodies: [search_response([hit(DOCS[0]) | {"_index": f"{ALIAS}-v99-1"}])] * len(bodies)
    with pytest.raises(IndexNotReady, match="mapping version 99"):
        backend.search(SearchRequest(text="capteur", mode="keyword"))
    with pytest.raises(ValueError, match="mapping version"):
        backend.apply_changes([DOCS[1]], VECTORS[2:3], [], {})


# -- failures -------------------------------------------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_connection_refused_is_search_unavailable():
    backend = make_backend(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(SearchUnavailable, match="did not answer"):
        backend.search(SearchRequest(text="capteur"))
    with pytest.raises(SearchUnavailable):
        backend.rebuild(DOCS, VECTORS, META)


def test_a_node_too_slow_is_search_unavailable_after_the_retries(fake):
    fake.script("POST", r".*/_msearch", *[0.6] * (TRANSPORT_RETRIES + 1))
    backend = make_backend(fake.url, timeout=0.2)
    with pytest.raises(SearchUnavailable):
        backend.search(SearchRequest(text="capteur"))
    assert len(fake.calls("POST", f"/{ALIAS}/_msearch")) == TRANSPORT_RETRIES + 1


@pytest.mark.parametrize("overload", [
    es_error(429, "es_rejected_execution_exception", "rejected execution of TimedRunnable"),
    (200, {"took": 1, "responses": [{**es_error(429, "es_rejected_execution_exception", "search queue full")[1]}]}),
], ids=["request", "one-search"])
def test_an_overloaded_cluster_is_retried_with_backoff(fake, overload):
    seed_index(fake, START, live=True, docs=DOCS)
    fake.script("POST", r".*/_msearch", overload)
    fake.on_msearch = lambda bodies: [search_response([hit(DOCS[1])])] + [search_response([])] * (len(bodies) - 1)
    response = make_backend(fake.url).search(SearchRequest(text="capteur", mode="keyword"))
    assert [h.id for h in response.hits] == ["b"]
    assert len(fake.calls("POST", f"/{ALIAS}/_msearch")) == 2


def test_an_overload_that_lasts_is_search_unavailable(fake):
    fake.script("POST", r".*/_msearch", *[es_error(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE]")]
                * 3)
    with pytest.raises(SearchUnavailable, match="503"):
        make_backend(fake.url).search(SearchRequest(text="capteur"))
    assert len(fake.calls("POST", f"/{ALIAS}/_msearch")) == 3


def test_a_licence_refusal_says_so_and_is_not_retried(fake):
    fake.script("POST", r".*/_msearch", es_error(403, "security_exception",
                                                 "current license is non-compliant for [knn]",
                                                 **{"license.expired.feature": "knn"}))
    with pytest.raises(ElasticsearchRefused, match="licence") as refused:
        make_backend(fake.url).search(SearchRequest(text="capteur"))
    assert isinstance(refused.value, SearchUnavailable)
    assert len(fake.calls("POST", f"/{ALIAS}/_msearch")) == 1


def test_missing_privileges_say_what_to_check(fake):
    fake.script("PUT", f"/{LOCK}", es_error(403, "security_exception",
                                            "action [indices:admin/create] is unauthorized for user [vivier]"))
    with pytest.raises(ElasticsearchRefused, match="privileges"):
        make_backend(fake.url).rebuild(DOCS, VECTORS, META)
