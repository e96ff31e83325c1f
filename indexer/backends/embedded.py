"""Embedded backend: tantivy for French BM25, a numpy matrix for exact dense search, files under one directory.

Layout of `root`:
    gen-<timestamp>-<random>/   one complete index generation (tantivy/, vectors.npy, docs.json, meta.json)
    CURRENT                     name of the live generation, replaced atomically (os.replace) after a rebuild
    .lock                       held while a rebuild runs
Searchers notice a new CURRENT on their next query and switch; older generations are kept a little while so
that a searcher still holding one keeps working, then deleted.

A generation's meta.json is written last and records the size and the SHA-256 of each of its files: a generation
without it is the debris of a build that did not finish (deleted by the next one), and a generation whose files are
missing, cut short, changed in place or unreadable is refused when opened (IndexCorrupted) rather than searched. A
searcher whose live generation is damaged serves the newest intact other one, with a warning, until a build replaces
it; with none, searches answer 503 until `vivier index build`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import tantivy

from vivier.analysis import (ANALYZER_NAME, FOLDED_WORDS_ANALYZER_NAME, WORDS_ANALYZER_NAME, analyze, bm25_idf,
                              folded_words_analyzer, french_analyzer, query_terms, words_analyzer)
from indexer import dense, pipeline, strength, suggest
from indexer.backends import ann
from indexer.backends.base import (DENSE_DEPTH, FACET_FIELDS, KEYWORD_DEPTH, MAX_QUERY_TERMS, GeoFilter, Hit,
                                   IndexNotReady, NothingToRollBack, facet_values, RebuildInProgress, SearchRequest,
                                   SearchResponse, SearchUnavailable, check_vectors)
from indexer.documents import SearchDocument
from indexer.keyword import FIELD_WEIGHTS, FUZZY_WEIGHT, KEYWORD_TIE_BREAKER, SNIPPET_CHARS, fuzzy_words
from vivier.geo import haversine_km

logger = logging.getLogger(__name__)

# The keyword retrieval's definition (field weights, dis_max tie breaker, typo tolerance, snippet sizes) is shared
# with the Elasticsearch backend: indexer.keyword. KEYWORD_TIE_BREAKER is read from this module's name at query time
# (benchmarks/relevance.py's sweep sets it here).
# Typo tolerance compares a typed query's fuzzy words (indexer.keyword.fuzzy_words) with FUZZY_FIELD, every word of
# the weighted fields unstemmed: a stemmed catch-all copy cost a third of a 100k-profile build, and fuzzy queries on
# each weighted field in turn 3 ms of keyword p95.
FUZZY_FIELD = "words_folded"
# Documents whose coverage of the query's terms is read (every one of a smaller index): the keyword retrieval's
# depth several times over, so that its hits are all among them but on very common words.
COVERAGE_DEPTH = 4 * KEYWORD_DEPTH
# Generations kept on disk: the live one and one previous, so a searcher that has not switched yet keeps working.
KEEP_GENERATIONS = 2
# Version 2: region and open-source facets, vocabulary for suggestions. Version 3: no stemmed catch-all field;
# vocabulary and typo tolerance on unstemmed word fields. Version 4: interoperability facet. Version 5: the document
# number (ord) is indexed, so that a distance or id restriction is a clause of the keyword query (its top
# KEYWORD_DEPTH are fetched, not every match). Older generations must be rebuilt.
FORMAT_VERSION = 5
VOCABULARY_FIELD = "vocabulary"
# Meta keys a generation computes itself (not carried over from the previous generation by an update).
_DERIVED_META = ("format", "documents", "passages", "dimension", "built_at", "files", "checksums")
# Written last: a generation without it did not finish; it lists the generation's files with their sizes and
# checksums.
META_FILE = "meta.json"
# Checksum of each file of a generation, "sha256:<hex>" in meta.json's "checksums", computed once the files are
# written and verified whenever a searcher opens the generation: a file changed in place at the same size (a disk
# fault, a bad copy) is caught there, not served. SHA-256 rather than BLAKE2b: with the SHA extensions of current
# x86 processors it hashed a 307 MB vectors.npy in 0.19 s (0.06 s per 100 MB, page cache warm; 0.2-0.6 s evicted
# from it), BLAKE2b in 0.35 s. A 100k-profile generation holds ~0.7 GB (vectors.npy alone 413 MB): ~0.3 s on the
# two hashing threads, once per build and once per searcher opening it. Generations written before checksums were
# recorded have none and are opened as before (sizes only).
CHECKSUM_ALGORITHM = "sha256"
CHECKSUM_ALGORITHMS = frozenset({"sha256", "blake2b"})  # accepted when verifying
# Bytes read per hashing step: streamed, whatever the file's size.
CHECKSUM_BLOCK = 1 << 20
# Files hashed at once: hashlib releases the GIL, so two threads halve the time on two cores.
CHECKSUM_THREADS = 2


class IndexCorrupted(SearchUnavailable):
    """The live generation's files are missing, cut short, unreadable or inconsistent (a disk fault, a copy cut
    short, a hand edit): no search is answered from it. Pages that search answer 503, like for a search server
    that does not answer; `vivier index build` writes a new generation."""


def _file_sizes(target: Path) -> dict[str, int]:
    """Size of every file of a generation but its meta.json, by path relative to it; tantivy's lock and
    bookkeeping files (names starting with a dot) aside."""
    return {str(path.relative_to(target)): path.stat().st_size for path in sorted(target.rglob("*"))
            if path.is_file() and not path.name.startswith(".") and path != target / META_FILE}


def _file_checksum(path: Path, algorithm: str = CHECKSUM_ALGORITHM) -> str:
    """"<algorithm>:<hex digest>" of a file, read in CHECKSUM_BLOCK blocks (never whole in memory)."""
    digest = hashlib.new(algorithm)
    block = bytearray(CHECKSUM_BLOCK)
    view = memoryview(block)
    with open(path, "rb", buffering=0) as file:
        while read := file.readinto(block):
            digest.update(view[:read])
    return f"{algorithm}:{digest.hexdigest()}"


def _file_checksums(target: Path, names: Sequence[str]) -> dict[str, str]:
    """Checksum of each of `names` (paths relative to the generation), hashed on CHECKSUM_THREADS threads."""
    with ThreadPoolExecutor(min(CHECKSUM_THREADS, os.cpu_count() or 1)) as pool:
        return dict(zip(names, pool.map(lambda name: _file_checksum(target / name), names)))


def _verify_checksums(target: Path, meta: Mapping[str, Any]) -> None:
    """Hash the generation's files and compare with the checksums its build recorded (each file read once: ~0.3 s
    for a 100k-profile generation). IndexCorrupted on a difference; nothing to do for a generation written before
    checksums were recorded."""
    checksums = meta.get("checksums")
    if checksums is None:
        return
    files = meta.get("files", {})
    if not isinstance(checksums, dict) or set(checksums) != set(files) or not all(
            isinstance(c, str) and c.partition(":")[0] in CHECKSUM_ALGORITHMS for c in checksums.values()):
        raise IndexCorrupted(f"{target.name}/{META_FILE} does not list a checksum of each of its files")

    def differs(name: str) -> bool:
        expected = checksums[name]
        return _file_checksum(target / name, expected.partition(":")[0]) != expected

    names = sorted(checksums)
    try:
        with ThreadPoolExecutor(min(CHECKSUM_THREADS, os.cpu_count() or 1)) as pool:
            changed = [name for name, bad in zip(names, pool.map(differs, names)) if bad]
    except OSError as error:
        raise IndexCorrupted(f"{target.name} cannot be read: {error}") from None
    if changed:
        raise IndexCorrupted(f"{target.name}/{changed[0]} is not what its build wrote (checksum mismatch"
                             + (f", and {len(changed) - 1} other files)" if len(changed) > 1 else ")"))


def _checked_meta(target: Path) -> dict[str, Any]:
    """The meta.json of a finished generation, once its files are found at the sizes its build wrote and its
    vectors' header matches (a few stat calls and one small read, not a checksum: a truncated, missing or replaced
    file is caught here; a file changed in place at the same size when the generation is opened, by
    _verify_checksums). IndexCorrupted when it is not; IndexNotReady when it was written in another format."""
    if not target.is_dir():
        raise IndexCorrupted(f"the generation {target.name} is not under {target.parent}")
    try:
        meta = json.loads((target / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorrupted(f"{target.name} is incomplete (no {META_FILE}): its build did not finish") from None
    except (OSError, ValueError) as error:
        raise IndexCorrupted(f"{target.name}/{META_FILE} is unreadable: {error}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("files", {}), dict):
        raise IndexCorrupted(f"{target.name}/{META_FILE} is not an index description")
    if meta.get("format") != FORMAT_VERSION:
        raise IndexNotReady(f"the index under {target.parent} has format {meta.get('format')}, this version reads "
                            f"{FORMAT_VERSION}: run `vivier index build`")
    for name, size in meta.get("files", {}).items():  # generations built before sizes were recorded have none
        try:
            actual = (target / name).stat().st_size
        except OSError:
            raise IndexCorrupted(f"{target.name}/{name} is missing") from None
        if actual != size:
            raise IndexCorrupted(f"{target.name}/{name} has {actual} bytes, its build wrote {size}")
    try:  # the vectors' header (a hundred bytes) must describe the matrix the build wrote
        with open(target / "vectors.npy", "rb") as file:
            shape, dtype, _ = ann._npy_layout(file)
    except (OSError, ValueError) as error:
        raise IndexCorrupted(f"{target.name}/vectors.npy is unreadable: {error}") from None
    if dtype != np.float32 or shape[:1] != (meta.get("passages"),):
        raise IndexCorrupted(f"{target.name}/vectors.npy holds {shape} {dtype}, its build wrote "
                             f"{meta.get('passages')} float32 rows")
    return meta


def _built_stamp(target: Path) -> int | None:
    """When a finished generation whose files have the sizes its build wrote was built (its meta.json's mtime, ns);
    None for any other. Cheap: checksums are not verified (see _verified)."""
    try:
        _checked_meta(target)
        return (target / META_FILE).stat().st_mtime_ns
    except (IndexCorrupted, IndexNotReady, OSError):
        return None


def _verified(target: Path) -> bool:
    """Whether a generation is intact, checksums included (reads all of its files)."""
    try:
        _verify_checksums(target, _checked_meta(target))
        return True
    except (IndexCorrupted, IndexNotReady, OSError):
        return False


def _start_in_child(work: Callable[[], None], what: str) -> Callable[[], None]:
    """Run `work` in a forked process and return a function that waits for it and raises, with the child's error
    ("No space left on device"...), if it failed. Where the platform cannot fork, `work` runs at once and the
    returned function does nothing."""
    if "fork" not in multiprocessing.get_all_start_methods():
        work()
        return lambda: None
    context = multiprocessing.get_context("fork")
    errors, error_out = context.Pipe(duplex=False)

    def run() -> None:
        try:
            work()
        except Exception as error:
            error_out.send(str(error))
            sys.exit(1)

    process = context.Process(target=run, name=f"vivier-index-{what}", daemon=True)
    process.start()

    def wait() -> None:
        process.join()
        if process.exitcode != 0:
            detail = errors.recv() if errors.poll() else f"exit code {process.exitcode}"
            raise RuntimeError(f"writing the index's {what} failed: {detail}")

    return wait


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # Fast, to read the hits' document numbers; indexed, to restrict the keyword query to a set of them.
    builder.add_unsigned_field("ord", indexed=True, fast=True)
    for name in FIELD_WEIGHTS:
        # Term frequencies without positions: no query here is a phrase, and positions are a third of the work.
        builder.add_text_field(name, tokenizer_name=ANALYZER_NAME, index_option="freq")
    for facet in FACET_FIELDS:
        builder.add_text_field(facet, tokenizer_name="raw", index_option="basic")
    # Every word of the weighted fields as written, lowercased, never searched: its term list with document counts
    # is the vocabulary of suggestions, counted by tantivy's threads rather than by Python (6 s of a 100k build).
    builder.add_text_field(VOCABULARY_FIELD, tokenizer_name=WORDS_ANALYZER_NAME, index_option="basic")
    builder.add_text_field(FUZZY_FIELD, tokenizer_name=FOLDED_WORDS_ANALYZER_NAME, index_option="basic")
    return builder.build()


def _register_analyzers(index: tantivy.Index) -> None:
    index.register_tokenizer(ANALYZER_NAME, french_analyzer())
    index.register_tokenizer(WORDS_ANALYZER_NAME, words_analyzer())
    index.register_tokenizer(FOLDED_WORDS_ANALYZER_NAME, folded_words_analyzer())


def _document_frequency(searcher: tantivy.Searcher, term: str) -> int:
    """Documents holding `term` in some weighted field, counted once per field: an upper bound of the true count,
    exact for "is it indexed anywhere" and close enough to rank a long need's terms by rarity."""
    return sum(searcher.doc_freq(field, term) for field in FIELD_WEIGHTS)


def _facet_code_matrix(masks: list[np.ndarray], size: int) -> np.ndarray:
    """(documents, most values per document) matrix of the positions in `masks` of each document's values; -1
    pads documents with fewer values."""
    if not masks:
        return np.full((size, 1), -1, dtype=np.int32)
    docs, values = np.nonzero(np.stack(masks, axis=1))  # sorted by document, then value
    slots = np.arange(len(docs)) - np.searchsorted(docs, docs)  # rank of each value within its document
    codes = np.full((size, max(1, int(slots.max(initial=0)) + 1)), -1, dtype=np.int32)
    codes[docs, slots] = values
    return codes


@dataclass
class _Snapshot:
    generation: str
    index: tantivy.Index
    schema: tantivy.Schema
    documents: list[SearchDocument]
    id_to_ord: dict[str, int]
    vectors: np.ndarray  # (passages, dim), normalised
    passage_starts: np.ndarray  # first passage row of each document
    passage_counts: np.ndarray  # passages of each document
    id_order: np.ndarray  # rank of each document's id in ascending id order, for tie-breaking
    name_order: np.ndarray  # ords sorted by name, for empty queries
    facet_masks: dict[str, dict[str, np.ndarray]]
    meta: dict[str, Any]
    coordinates: np.ndarray  # (documents, 2) latitude, longitude in degrees; NaN where unknown
    vocabulary: suggest.Vocabulary
    # Cluster index of the passages (indexer.backends.ann) when the index is large; None: exact dense search.
    ann_index: ann.PassageIndex | None = None
    # facet -> (documents, most values per document) value codes, positions in facet_masks[facet]; -1: none.
    # Built on first use from facet_masks: counting a facet is then one bincount instead of a mask per value.
    facet_codes: dict[str, np.ndarray] = dataclass_field(default_factory=dict)
    ids: list[str] = dataclass_field(default_factory=list)  # document id by ord
    # Why this generation is served instead of the one CURRENT names (damaged); None when it is the live one.
    problem: str | None = None

    @property
    def size(self) -> int:
        return len(self.documents)


@dataclass
class _Query:
    """One search request as the embedded backend runs it (EmbeddedBackend._prepare)."""
    request: SearchRequest
    filters: dict[str, tuple[str, ...]]  # the active facet selections
    has_query: bool  # some text was typed
    terms: list[str]  # analysed query terms
    keyword: tantivy.Query | None  # the keyword query; None without a keyword retrieval
    vector: np.ndarray | None  # the query vector; None without a dense retrieval
    similarities: np.ndarray | None  # per document (-inf where a clustered search has not computed it)
    coverage: np.ndarray | None  # per document, with a keyword retrieval
    distances: np.ndarray | None  # per document, km (NaN without coordinates), with a distance filter
    restriction: np.ndarray | None  # documents the distance filter and the id restriction keep; None: all
    restriction_clause: tuple[tantivy.Occur, tantivy.Query] | None  # the same, as a keyword query clause


class EmbeddedBackend:
    def __init__(self, root: Path, background_reload: bool = False):
        """`background_reload` (the web app's): when another process makes a new generation live, searches go on
        with the one in memory while a thread loads the new one (11 s at 100k profiles), then it is swapped in.
        Without it, the first search that sees the change loads it (the command line, tests)."""
        self.root = Path(root)
        self.background_reload = background_reload
        self._snapshot: _Snapshot | None = None
        self._current_stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._loader: threading.Thread | None = None

    # -- building -----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Held while a generation is written: two rebuilds or updates never interleave."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RebuildInProgress(f"a rebuild of {self.root} is already running") from None
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def rebuild(self, documents: Sequence[SearchDocument], passage_vectors: np.ndarray,
                meta: Mapping[str, Any]) -> str:
        check_vectors(documents, passage_vectors)
        with self._exclusive():
            return self._publish(documents, passage_vectors, meta)

    def apply_changes(self, documents: Sequence[SearchDocument], passage_vectors: np.ndarray,
                      deleted_ids: Sequence[str], meta: Mapping[str, Any]) -> str:
        """Add or replace `documents` and remove `deleted_ids` in a new generation built from the live one: no
        database read and no embedding for the profiles that did not change. Unknown deleted ids are ignored."""
        check_vectors(documents, passage_vectors)
        with self._exclusive():
            snap = self._current()
            replaced = {d.id for d in documents} | set(deleted_ids)
            keep = [o for o, d in enumerate(snap.documents) if d.id not in replaced]
            rows = [np.arange(snap.passage_starts[o], snap.passage_starts[o] + len(snap.documents[o].passages))
                    for o in keep]
            kept_vectors = snap.vectors[np.concatenate(rows)] if rows else snap.vectors[:0]
            if passage_vectors.size and kept_vectors.size and passage_vectors.shape[1] != kept_vectors.shape[1]:
                raise ValueError("the new vectors do not have the live index's dimension: rebuild the index")
            vectors = np.vstack([kept_vectors, passage_vectors]) if passage_vectors.size else kept_vectors
            merged_meta = {k: v for k, v in snap.meta.items() if k not in _DERIVED_META}
            return self._publish([snap.documents[o] for o in keep] + list(documents), vectors,
                                 {**merged_meta, **meta})

    def _publish(self, documents: Sequence[SearchDocument], passage_vectors: np.ndarray,
                 meta: Mapping[str, Any]) -> str:
        """Write a new generation and make it live atomically; on failure the live one stays."""
        generation = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        target = self.root / generation
        tmp = self.root / f"CURRENT.{uuid.uuid4().hex}"
        try:
            self._write_generation(target, documents, passage_vectors, meta)
            tmp.write_text(generation)
            os.replace(tmp, self.root / "CURRENT")
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            tmp.unlink(missing_ok=True)
            raise
        self._collect_garbage(generation)
        return generation

    def _write_generation(self, target: Path, documents: Sequence[SearchDocument], vectors: np.ndarray,
                          meta: Mapping[str, Any]) -> None:
        (target / "tantivy").mkdir(parents=True)

        def write_documents() -> None:  # tuples are written as JSON arrays: no to_dict copy of 100k documents
            (target / "docs.json").write_text(json.dumps([vars(d) for d in documents], ensure_ascii=False))

        def write_vectors() -> None:
            np.save(target / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
            ann.save(target, vectors)

        # The documents file is pure Python work, the cluster index numpy's: other processes write them while this
        # one feeds tantivy (on 2 cores, a 100k-profile build spent 16 s writing in sequence, 11 s so).
        waits = [_start_in_child(write_documents, "documents"), _start_in_child(write_vectors, "vectors")]
        try:
            self._write_index(target, documents)
        finally:
            for wait in waits:
                wait()
        sizes = _file_sizes(target)
        full_meta = {**meta, "format": FORMAT_VERSION, "documents": len(documents),
                     "passages": int(vectors.shape[0]), "dimension": int(vectors.shape[1]) if vectors.ndim == 2 else 0,
                     "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": sizes,
                     "checksums": _file_checksums(target, list(sizes))}
        (target / META_FILE).write_text(json.dumps(full_meta, ensure_ascii=False, indent=1))

    def _write_index(self, target: Path, documents: Sequence[SearchDocument]) -> None:
        schema = _schema()
        index = tantivy.Index(schema, path=str(target / "tantivy"))
        _register_analyzers(index)
        # Two indexing threads: analysis is most of a build's work, and the Python loop feeding it is far lighter.
        writer = index.writer(heap_size=128_000_000, num_threads=min(2, os.cpu_count() or 1))
        for ord_, doc in enumerate(documents):
            fields: dict[str, Any] = {
                "name": doc.name, "pitch": doc.pitch, "categories_text": doc.category_text,
                "keywords": " ; ".join(doc.keywords), "description": doc.description,
            }
            fields[VOCABULARY_FIELD] = fields[FUZZY_FIELD] = list(fields.values())
            for facet in FACET_FIELDS:
                values = facet_values(doc, facet)
                if values:
                    fields[facet] = list(values)
            tdoc = tantivy.Document(**fields)
            tdoc.add_unsigned("ord", ord_)
            writer.add_document(tdoc)
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        vocabulary = suggest.vocabulary_from_counts(index.searcher().terms_with_prefix(VOCABULARY_FIELD, ""))
        (target / "vocabulary.json").write_text(json.dumps(vocabulary.to_dict(), ensure_ascii=False))

    def rollback(self) -> str:
        """Make live again the newest complete generation older than the live one (the one the last rebuild or
        update replaced; KEEP_GENERATIONS keeps it). Returns its name."""
        with self._exclusive():
            pointer = self.root / "CURRENT"
            if not pointer.exists():
                raise IndexNotReady(f"no index under {self.root}: nothing to roll back")
            live = self.root / pointer.read_text().strip()
            live_built = _built_stamp(live) or 0
            older = sorted(((stamp, g.name) for g in self.root.glob("gen-*")
                            if g != live and (stamp := _built_stamp(g)) is not None and stamp < live_built),
                           reverse=True)
            # the newest one whose files are intact, checksums included
            previous = next((name for _, name in older if _verified(self.root / name)), None)
            if previous is None:
                damaged = f" ({', '.join(name for _, name in older)}: damaged)" if older else ""
                raise NothingToRollBack(f"no complete generation older than {live.name} is kept under {self.root}"
                                        f"{damaged}")
            tmp = self.root / f"CURRENT.{uuid.uuid4().hex}"
            tmp.write_text(previous)
            os.replace(tmp, pointer)
            return previous

    def _collect_garbage(self, live: str) -> None:
        """Delete the generations no searcher needs: unfinished or damaged ones (a build killed midway, a disk
        fault) and finished ones beyond the KEEP_GENERATIONS - 1 newest intact ones. Only the kept ones are
        verified against their checksums (one generation read per build, ~0.3 s at 100k profiles). Runs under the
        rebuild lock: no other generation is being written."""
        finished = []
        for path in self.root.glob("gen-*"):
            if path.name == live or not path.is_dir():
                continue
            stamp = _built_stamp(path)
            if stamp is None:
                shutil.rmtree(path, ignore_errors=True)
            else:
                finished.append((stamp, path.name))
        kept = 0
        for _, old in sorted(finished, reverse=True):
            if kept < KEEP_GENERATIONS - 1 and _verified(self.root / old):
                kept += 1
            else:
                shutil.rmtree(self.root / old, ignore_errors=True)
        for stale in self.root.glob("CURRENT.*"):
            stale.unlink(missing_ok=True)

    # -- loading ------------------------------------------------------------------------------------------------
    def _load(self, generation: str) -> _Snapshot:
        """Open a generation; IndexCorrupted when its files are not what its build wrote or do not read."""
        target = self.root / generation
        meta = _checked_meta(target)
        _verify_checksums(target, meta)
        try:
            return self._read(target, meta)
        except (OSError, ValueError, KeyError, TypeError) as error:  # tantivy and numpy raise ValueError
            raise IndexCorrupted(f"{generation} is damaged: {error}") from error

    def _read(self, target: Path, meta: dict[str, Any]) -> _Snapshot:
        generation = target.name
        index = tantivy.Index.open(str(target / "tantivy"))
        _register_analyzers(index)
        documents = [SearchDocument.from_dict(d) for d in json.loads((target / "docs.json").read_text())]
        # A large index searches its cluster-ordered copy (indexer.backends.ann): this matrix is then only read
        # row by row, so it is mapped rather than loaded.
        vectors = ann.map_rows(target / "vectors.npy") if ann.present(target) else np.load(target / "vectors.npy")
        passages, indexed = sum(len(d.passages) for d in documents), index.searcher().num_docs
        if not (meta.get("documents") == len(documents) == indexed and meta.get("passages") == passages
                == vectors.shape[0]):
            raise IndexCorrupted(f"{generation} is inconsistent: its build wrote {meta.get('documents')} documents "
                                 f"and {meta.get('passages')} passages; found {len(documents)} documents, {indexed} "
                                 f"in tantivy, {passages} passages, {vectors.shape[0]} vectors")
        vocabulary = suggest.Vocabulary.from_dict(json.loads((target / "vocabulary.json").read_text()))
        coordinates = np.array(
            [(d.latitude if d.latitude is not None else np.nan, d.longitude if d.longitude is not None else np.nan)
             for d in documents], dtype=np.float64).reshape(-1, 2)
        counts = np.array([len(d.passages) for d in documents], dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1])) if len(documents) else np.zeros(0, np.int64)
        ids = [d.id for d in documents]
        id_order = np.empty(len(ids), dtype=np.int64)
        id_order[np.argsort(np.array(ids, dtype=object), kind="stable")] = np.arange(len(ids))
        name_order = np.array(sorted(range(len(documents)), key=lambda o: (documents[o].name.casefold(), ids[o])),
                              dtype=np.int64)
        facet_masks: dict[str, dict[str, np.ndarray]] = {facet: {} for facet in FACET_FIELDS}
        for ord_, doc in enumerate(documents):
            for facet in FACET_FIELDS:
                for value in facet_values(doc, facet):
                    mask = facet_masks[facet].get(value)
                    if mask is None:
                        mask = facet_masks[facet][value] = np.zeros(len(documents), dtype=bool)
                    mask[ord_] = True
        return _Snapshot(generation, index, index.schema, documents, {d: i for i, d in enumerate(ids)}, vectors,
                         starts, counts, id_order, name_order, facet_masks, meta, coordinates, vocabulary,
                         ann.load(target, starts, int(vectors.shape[0])), ids=ids)

    def _stamp(self, pointer: Path) -> tuple[int, int]:
        try:
            stat = pointer.stat()
        except FileNotFoundError:
            raise IndexNotReady(f"no index under {self.root}: run `vivier index build`") from None
        except OSError as error:  # the directory is there but cannot be read (permissions, a file in its place)
            raise IndexCorrupted(f"the index under {self.root} cannot be read: {error.strerror}") from None
        return (stat.st_ino, stat.st_mtime_ns)

    def _current(self) -> _Snapshot:
        pointer = self.root / "CURRENT"
        stamp = self._stamp(pointer)
        with self._lock:
            if self._snapshot is not None and stamp == self._current_stamp:
                return self._snapshot
            if self._snapshot is not None and self.background_reload:
                if self._loader is None or not self._loader.is_alive():
                    self._loader = threading.Thread(target=self._reload, args=(pointer, stamp), daemon=True,
                                                    name="vivier-index-reload")
                    self._loader.start()
                return self._snapshot  # the previous generation answers until the new one is loaded
            self._snapshot = self._open_live(pointer)
            self._current_stamp = stamp
            return self._snapshot

    def _swap_in(self, pointer: Path, stamp: tuple[int, int]) -> _Snapshot:
        """Load the generation `pointer` names outside the lock searches take, then serve it."""
        snapshot = self._open_live(pointer)
        with self._lock:
            self._snapshot, self._current_stamp = snapshot, stamp
        return snapshot

    def _reload(self, pointer: Path, stamp: tuple[int, int]) -> None:
        try:
            snapshot = self._swap_in(pointer, stamp)
        except Exception as error:  # the generation in memory keeps answering; the next search tries again
            logger.warning("the new index generation could not be loaded: %s", error)
            return
        logger.info("index generation %s loaded in the background and swapped in", snapshot.generation)

    def refresh(self) -> None:
        """Load the live generation now and serve it from the next search."""
        pointer = self.root / "CURRENT"
        self._swap_in(pointer, self._stamp(pointer))

    def _open_live(self, pointer: Path) -> _Snapshot:
        """The generation CURRENT names; when it is damaged, the newest intact other one (a warning is logged and
        `status` says so) until a build replaces it; IndexCorrupted when there is none."""
        generation = ""
        try:
            try:
                generation = pointer.read_text(encoding="utf-8").strip()
            except (OSError, ValueError) as error:
                raise IndexCorrupted(f"{pointer} is unreadable: {error}") from None
            if not generation.startswith("gen-") or "/" in generation:
                raise IndexCorrupted(f"{pointer} holds {generation[:80]!r}, not a generation name")
            return self._load(generation)
        except IndexCorrupted as error:
            damaged = error
        intact = sorted(((stamp, p.name) for p in self.root.glob("gen-*")
                         if p.name != generation and (stamp := _built_stamp(p)) is not None), reverse=True)
        for _, fallback in intact:
            try:
                snapshot = self._load(fallback)
            except (IndexCorrupted, IndexNotReady):
                continue
            snapshot.problem = (f"the live index is damaged ({damaged}); serving the newest intact one, {fallback}, "
                                f"until `vivier index build` replaces it")
            logger.warning("%s", snapshot.problem)
            return snapshot
        raise IndexCorrupted(f"{damaged}: run `vivier index build`") from None

    # -- searching ----------------------------------------------------------------------------------------------
    def _keyword_query(self, snap: _Snapshot, terms: list[str], fuzzy_words: Sequence[str] = ()) -> tantivy.Query:
        clauses = []
        for term in terms:
            # A term counts once per document, in its best field: one word repeated in the name, pitch and
            # keywords must not outweigh a document that matches more of the query's words.
            clauses.append((tantivy.Occur.Should, tantivy.Query.disjunction_max_query(
                [tantivy.Query.boost_query(tantivy.Query.term_query(snap.schema, field, term), weight)
                 for field, weight in FIELD_WEIGHTS.items()], tie_breaker=KEYWORD_TIE_BREAKER)))
        for word in fuzzy_words:
            clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(
                tantivy.Query.fuzzy_term_query(snap.schema, FUZZY_FIELD, word, distance=1), FUZZY_WEIGHT)))
        return tantivy.Query.boolean_query(clauses)

    def _filter_mask(self, snap: _Snapshot, filters: Mapping[str, Sequence[str]]) -> np.ndarray:
        mask = np.ones(snap.size, dtype=bool)
        for facet, values in filters.items():
            if not values:
                continue
            selected = np.zeros(snap.size, dtype=bool)
            for value in values:
                value_mask = snap.facet_masks.get(facet, {}).get(value)
                if value_mask is not None:
                    selected |= value_mask
            mask &= selected
        return mask

    def _keyword_ranking(self, snap: _Snapshot, query: _Query, filters: Mapping[str, Sequence[str]]) -> list[int]:
        """The keyword top KEYWORD_DEPTH among the documents passing `filters` and the query's restriction."""
        if query.keyword is None or snap.size == 0:
            return []
        clauses = [(tantivy.Occur.Must, query.keyword)]
        for facet, values in filters.items():
            if values:
                clauses.append((tantivy.Occur.Must, tantivy.Query.const_score_query(
                    tantivy.Query.term_set_query(snap.schema, facet, list(values)), 0.0)))
        if query.restriction_clause is not None:
            clauses.append(query.restriction_clause)
        searcher = snap.index.searcher()
        hits = searcher.search(tantivy.Query.boolean_query(clauses), limit=KEYWORD_DEPTH, count=False).hits
        if not hits:
            return []
        # by score, then id, then ord (one vectorised sort)
        ords = np.asarray(searcher.fast_field_values("ord", [address for _, address in hits]), dtype=np.int64)
        return ords[np.lexsort((ords, snap.id_order[ords], -np.array([score for score, _ in hits])))].tolist()

    @staticmethod
    def _restriction_clause(snap: _Snapshot, restriction: np.ndarray) -> tuple[tantivy.Occur, tantivy.Query]:
        """The keyword query's clause keeping the documents of `restriction` (a boolean array), so that the engine
        ranks only them: their numbers, or the others' when fewer (a term set query costs by its terms)."""
        kept = np.flatnonzero(restriction)
        if kept.size <= snap.size - kept.size:
            return tantivy.Occur.Must, tantivy.Query.const_score_query(
                tantivy.Query.term_set_query(snap.schema, "ord", kept.tolist()), 0.0)
        return tantivy.Occur.MustNot, tantivy.Query.term_set_query(snap.schema, "ord",
                                                                    np.flatnonzero(~restriction).tolist())

    def _document_similarities(self, snap: _Snapshot, vector: np.ndarray) -> np.ndarray:
        """Best passage's cosine per document; for a multi-row query, the mean over rows of that best cosine.
        A large index (with a cluster index) computes it only for the documents its clusters find: -inf elsewhere."""
        query = np.atleast_2d(vector).astype(np.float32)
        if snap.size == 0:
            return np.zeros(0, dtype=np.float32)
        with ann.query_blas_threads():
            if snap.ann_index is not None:
                similarities = np.full(snap.size, -np.inf, dtype=np.float32)
                ann.fill_similarities(snap.ann_index, query, similarities)
                return similarities
            passage_scores = snap.vectors @ query.T  # (passages, rows)
        return dense.document_similarities(passage_scores, snap.passage_starts, snap.passage_counts)

    @staticmethod
    def _distance_km(snap: _Snapshot, near: GeoFilter) -> np.ndarray:
        """Great-circle distance of every document to the point; NaN for documents without coordinates."""
        return haversine_km(near.latitude, near.longitude, snap.coordinates[:, 0], snap.coordinates[:, 1])

    def _coverage(self, snap: _Snapshot, terms: list[str]) -> np.ndarray:
        """Per document, the share of the query's terms it holds, each term weighted by its rarity (BM25's idf):
        1.0 for a document holding every term, 0.0 for one holding none. One search whose clauses score a constant
        idf per matched term, so that a document's score is the idf mass it matched. Beyond the COVERAGE_DEPTH best
        documents (a large index and common words), the others count as holding none."""
        coverage = np.zeros(snap.size, dtype=np.float32)
        if not terms or snap.size == 0:
            return coverage
        searcher = snap.index.searcher()
        weights = {t: bm25_idf(snap.size, max(searcher.doc_freq(f, t) for f in FIELD_WEIGHTS)) for t in terms}
        total = sum(weights.values())
        clauses = [(tantivy.Occur.Should, tantivy.Query.const_score_query(tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(snap.schema, field, term)) for field in FIELD_WEIGHTS]),
            weight)) for term, weight in weights.items() if weight > 0]
        if not clauses or total <= 0:
            return coverage
        depth = min(snap.size, COVERAGE_DEPTH)
        hits = searcher.search(tantivy.Query.boolean_query(clauses), limit=depth, count=False).hits
        if not hits:
            return coverage
        ords = np.asarray(searcher.fast_field_values("ord", [address for _, address in hits]), dtype=np.int64)
        coverage[ords] = np.minimum(np.array([score for score, _ in hits], dtype=np.float32) / total, 1.0)
        return coverage

    def _keyword_terms(self, snap: _Snapshot, text: str) -> list[str]:
        """Analysed query terms. A long need keeps the MAX_QUERY_TERMS rarest terms the index knows, so that a
        pasted specification is searched by what distinguishes it, not by its first sentence."""
        terms = query_terms(text, 10_000)
        if len(terms) <= MAX_QUERY_TERMS:
            return terms
        searcher = snap.index.searcher()
        frequencies = {t: _document_frequency(searcher, t) for t in terms}
        known = [t for t in terms if frequencies[t] > 0]
        rarest = set(sorted(known, key=lambda t: (frequencies[t], t))[:MAX_QUERY_TERMS])
        return [t for t in known if t in rarest]

    def _dense_ranking(self, snap: _Snapshot, similarities: np.ndarray | None, mask: np.ndarray,
                       query_vector: np.ndarray | None = None, floor: float = -1.0) -> list[int]:
        if similarities is None or snap.size == 0:
            return []
        if snap.ann_index is not None and query_vector is not None and not mask.all():
            with ann.query_blas_threads():  # the filter's own candidates (exact when it keeps few documents)
                ann.fill_similarities(snap.ann_index, query_vector, similarities, mask)
        eligible = np.nonzero(mask & (similarities >= floor))[0]
        if eligible.size > DENSE_DEPTH:
            top = np.argpartition(-similarities[eligible], DENSE_DEPTH - 1)[:DENSE_DEPTH]
            eligible = eligible[top]
        order = np.lexsort((snap.id_order[eligible], -similarities[eligible]))
        return [int(o) for o in eligible[order]]

    def _prepare(self, snap: _Snapshot, request: SearchRequest) -> _Query:
        """What every retrieval of the request shares: terms, keyword query, query vector and similarities,
        coverage, distances, and the documents the distance filter and the id restriction keep."""
        has_query = bool(request.text.strip())
        terms = self._keyword_terms(snap, request.text) if has_query else []
        distances = self._distance_km(snap, request.near) if request.near is not None else None
        restriction = None  # documents the distance filter and the id restriction keep; None: all
        if distances is not None and request.near is not None:
            with np.errstate(invalid="ignore"):
                restriction = distances <= request.near.radius_km
        if request.only_ids is not None:
            allowed = np.zeros(snap.size, dtype=bool)
            allowed[[snap.id_to_ord[i] for i in request.only_ids if i in snap.id_to_ord]] = True
            restriction = allowed if restriction is None else restriction & allowed
        use_keyword = request.mode in ("hybrid", "keyword") and bool(terms)
        vector = request.query_vector if request.mode in ("hybrid", "dense") and has_query else None
        return _Query(
            request=request, filters=pipeline.active_filters(request.filters), has_query=has_query, terms=terms,
            keyword=self._keyword_query(snap, terms, fuzzy_words(request.text)) if use_keyword else None,
            vector=vector, similarities=self._document_similarities(snap, vector) if vector is not None else None,
            coverage=self._coverage(snap, terms) if use_keyword else None, distances=distances,
            restriction=restriction,
            restriction_clause=None if restriction is None else self._restriction_clause(snap, restriction))

    def _members(self, snap: _Snapshot, query: _Query,
                 filters: Mapping[str, Sequence[str]]) -> tuple[np.ndarray, pipeline.Retrievals[int]]:
        """The documents a scope holds (boolean array) and its retrievals: for a text query, what the keyword and
        dense retrievals found under `filters` and the restriction; for an empty query, every document passing
        them."""
        mask = self._filter_mask(snap, filters)
        if query.restriction is not None:
            mask &= query.restriction
        if not query.has_query:
            return mask, pipeline.Retrievals()
        keyword = self._keyword_ranking(snap, query, filters)
        dense = self._dense_ranking(snap, query.similarities, mask, query.vector,
                                    query.request.thresholds.dense_floor)
        found = np.zeros(snap.size, dtype=bool)
        found[keyword] = True
        found[dense] = True
        return found, pipeline.Retrievals(keyword, dense)

    def _strong(self, snap: _Snapshot, query: _Query, retrievals: pipeline.Retrievals[int]) -> np.ndarray:
        """The strong matches (indexer.strength), from coverage and similarities; the keyword hits' similarities
        are computed first when the dense search is clustered (it knows only its candidates')."""
        if query.vector is not None and query.similarities is not None and snap.ann_index is not None \
                and retrievals.keyword:
            with ann.query_blas_threads():
                ann.fill_similarities(snap.ann_index, query.vector, query.similarities,
                                      docs=np.array(retrievals.keyword, np.int64))
        return strength.strong_mask(query.coverage, query.similarities, query.request.thresholds)

    def search(self, request: SearchRequest) -> SearchResponse:
        snap = self._current()
        query = self._prepare(snap, request)
        results, retrievals = self._members(snap, query, query.filters)
        # Strong matches first (indexer.strength) takes both retrievals: a keyword-only or dense-only search (a
        # diagnostic mode) lists its retrieval as it is.
        strong = self._strong(snap, query, retrievals) if query.has_query and request.mode == "hybrid" else None

        def count_facets(facet: str, scope: str | None, strong_only: bool) -> dict[str, int]:
            members = results if scope is None else self._members(
                snap, query, {f: v for f, v in query.filters.items() if f != scope})[0]
            counts = self._facet_counts(snap, facet, members & strong if strong_only else members)
            return dict(zip(snap.facet_masks[facet], counts.tolist()))

        return pipeline.assemble(
            request, retrievals, id_of=lambda o: snap.ids[o], document=lambda o: snap.documents[o],
            count_facets=count_facets,
            ranked=None if query.has_query else [(o, 0.0) for o in snap.name_order[results[snap.name_order]].tolist()],
            is_strong=None if strong is None else (lambda o: bool(strong[o])),
            describe=lambda ords, hits: self._describe(snap, query, ords, hits),
            suggestion=(suggest.suggest_query(request.text, snap.vocabulary, self._matcher(snap))
                        if query.has_query else None))

    def _describe(self, snap: _Snapshot, query: _Query, ords: Sequence[int], hits: list[Hit]) -> None:
        """What the page's hits show besides their ranks: exact similarity, distance, coverage, best passage,
        highlights."""
        similarities = query.similarities
        if query.vector is not None and similarities is not None and snap.ann_index is not None:
            with ann.query_blas_threads():  # every hit's exact one
                ann.fill_similarities(snap.ann_index, query.vector, similarities, docs=np.array(ords, np.int64))
        for ord_, hit in zip(ords, hits):
            hit.dense_similarity = float(similarities[ord_]) if similarities is not None else None
            hit.distance_km = round(float(query.distances[ord_]), 1) if query.distances is not None else None
            hit.coverage = float(query.coverage[ord_]) if query.coverage is not None else None
            if hit.dense_rank is not None and query.vector is not None:
                hit.semantic_passage = self._best_passage(snap, ord_, query.vector)
        if query.keyword is not None:
            self._explain(snap, query.keyword, query.terms, hits)

    @staticmethod
    def _matcher(snap: _Snapshot) -> Callable[[str], bool]:
        """Whether the index finds a query word as it is: a stop word, or a word whose stem is indexed
        ("cantines")."""
        searcher = snap.index.searcher()

        def found(word: str) -> bool:
            stems = analyze(word)
            return not stems or any(_document_frequency(searcher, stem) for stem in stems)

        return found

    def rewrite_query(self, text: str) -> suggest.QueryRewrite:
        """The query with omitted accents restored and unknown words corrected (indexer.suggest.rewrite_query)."""
        snap = self._current()
        return suggest.rewrite_query(text, snap.vocabulary, self._matcher(snap))

    @staticmethod
    def _facet_counts(snap: _Snapshot, facet: str, scope: np.ndarray) -> np.ndarray:
        """Documents of `scope` (a boolean array) holding each value of `facet`, in facet_masks order."""
        codes = snap.facet_codes.get(facet)
        if codes is None:
            codes = snap.facet_codes[facet] = _facet_code_matrix(list(snap.facet_masks[facet].values()), snap.size)
        block = codes[np.flatnonzero(scope)].ravel()
        return np.bincount(block[block >= 0], minlength=len(snap.facet_masks[facet]))

    def _best_passage(self, snap: _Snapshot, ord_: int, vector: np.ndarray) -> str:
        start = int(snap.passage_starts[ord_])
        document = snap.documents[ord_]
        rows = (ann.passage_rows(snap.ann_index, start, len(document.passages)) if snap.ann_index is not None
                else snap.vectors[start:start + len(document.passages)])
        scores = rows @ np.atleast_2d(vector).astype(np.float32).T
        return document.passages[int(np.argmax(scores.mean(axis=1)))]

    def _explain(self, snap: _Snapshot, query: tantivy.Query, terms: list[str], hits: list[Hit]) -> None:
        """Highlights (HTML-escaped, <b> around matches) and the list of fields the query's terms hit."""
        if not hits:
            return
        searcher = snap.index.searcher()
        term_set = set(terms)
        generators: dict[str, tantivy.SnippetGenerator] = {}
        for field, chars in SNIPPET_CHARS.items():
            generator = tantivy.SnippetGenerator.create(searcher, query, snap.schema, field)
            generator.set_max_num_chars(chars)
            generators[field] = generator
        for hit in hits:
            doc = hit.document
            texts = {"name": doc.name, "pitch": doc.pitch, "categories_text": doc.category_text,
                     "keywords": " ; ".join(doc.keywords), "description": doc.description}
            matched = set()
            for field, text in texts.items():
                field_generator = generators.get(field)
                if field_generator is None:  # short fields: analysing them is cheaper than a snippet
                    if term_set.intersection(analyze(text)):
                        matched.add(field)
                    continue
                # The snippet's highlights are exactly the query's terms found in the field: no second analysis
                # of a long description.
                snippet = field_generator.snippet_from_doc(tantivy.Document(**{field: text}))
                if snippet.highlighted():
                    matched.add(field)
                    hit.highlights[field] = snippet.to_html()
            hit.matched_fields = [f for f in texts if f in matched]

    # -- other reads --------------------------------------------------------------------------------------------
    def get(self, doc_id: str) -> SearchDocument | None:
        snap = self._current()
        ord_ = snap.id_to_ord.get(doc_id)
        return None if ord_ is None else snap.documents[ord_]

    def similar(self, doc_id: str, limit: int = 5) -> list[SearchDocument]:
        """Nearest documents by their best passage-to-passage similarity with this document's headline."""
        snap = self._current()
        ord_ = snap.id_to_ord.get(doc_id)
        if ord_ is None:
            return []
        vector = snap.vectors[int(snap.passage_starts[ord_])]
        similarities = self._document_similarities(snap, vector)
        similarities[ord_] = -np.inf
        order = np.lexsort((snap.id_order, -similarities))[:limit]
        return [snap.documents[int(o)] for o in order]

    def status(self) -> dict[str, Any]:
        """The live generation's description; `problem` says what is wrong when the index is damaged (then not
        ready) or when an intact previous generation is served in place of a damaged live one."""
        try:
            snap = self._current()
        except IndexCorrupted as error:
            return {"backend": "embedded", "ready": False, "root": str(self.root), "problem": str(error)}
        except IndexNotReady:
            return {"backend": "embedded", "ready": False, "root": str(self.root)}
        meta = {k: v for k, v in snap.meta.items() if k not in ("files", "checksums")}
        return {"backend": "embedded", "ready": True, "root": str(self.root), "generation": snap.generation,
                **meta, **({"problem": snap.problem} if snap.problem else {})}
