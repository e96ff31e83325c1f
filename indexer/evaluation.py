"""Relevance evaluation: judged queries run against a corpus, scored per retrieval mode (`vivier eval`).

Corpus file: JSON Lines (UTF-8), one profile per line, ids unique:
    id           required, non-empty string (named by the judgments file)
    name         required, non-empty string
    pitch, description, department, commune                  optional strings
    categories   optional list of taxonomy codes (vivier/taxonomy.py CATEGORIES, e.g. "waste")
    keywords     optional list of strings
    labels       optional list of label codes (vivier/taxonomy.py LABELS, e.g. "esus")
    size_band    optional, one of vivier/taxonomy.py SIZE_BANDS ("1-9", "10-49", "50-249", "250+")
    latitude, longitude                                      optional numbers
    open_source  optional boolean
Judgments file: JSON Lines (UTF-8), one query per line:
    query        required, non-empty string: what a buyer types
    relevant     required list of corpus ids: every relevant profile, not only the expected first one; empty for a
                 need no profile answers (a no-answer need: the engine should say it found nothing)
    grades       optional {id: 1|2|3}; ids must be in `relevant`; a listed id without a grade has grade 1, an id
                 not listed has grade 0 (convention of the shipped file: 2 = does exactly this, 1 = partly)
    note         optional string: what kind of query it is (misspelt, very short, a paragraph...)
Blank lines are skipped. A malformed line, an unknown field, or an empty file is an EvaluationError naming the
file and line. A judged id missing from the corpus is an error too, or with `ignore_unknown` a warning (the id is
dropped, and a query left with no relevant id is skipped). Lines are split on "\n" only: a U+2028 or U+0085 inside
a JSON string is text, not a line break.

Metrics, per query then averaged over queries: nDCG@10 with graded gains 2^g - 1 and the ideal ranking built
from every judged grade (retrieved or not); precision@10 (relevant results in the first 10, over 10); recall@50
(relevant results in the first 50, over all relevant), over the answerable needs. The engine's honesty
(indexer.strength), per mode: the share of no-answer needs with no strong match ("nothing" said); answerable needs
with no strong match though a relevant profile is in the results ("nothing" said wrongly); relevant profiles of
the first 10 results that are only weaker neighbours (demoted). Each mode runs through SearchService.search exactly
as the web app calls it, so query cleaning, correction and query embedding are what users get.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.cache import embed_with_cache
from embeddings.encoder import Encoder
from indexer.backends.embedded import EmbeddedBackend
from indexer.build import DOCUMENT_VERSION
from indexer.documents import SearchDocument, document_from_record
from indexer.service import SearchService
from vivier.config import Settings
from vivier.db import Database
from vivier.taxonomy import CATEGORY_LABELS, LABEL_LABELS, SIZE_LABELS

NDCG_K = 10
PRECISION_K = 10
RECALL_K = 50
# Results read per query: the deepest cut-off of the three metrics.
EVAL_DEPTH = max(NDCG_K, PRECISION_K, RECALL_K)
# Keyword-only, dense-only, then the fused ranking users get, in the order the table shows them.
EVAL_MODES = ("keyword", "dense", "hybrid")
METRICS = (f"ndcg@{NDCG_K}", f"p@{PRECISION_K}", f"recall@{RECALL_K}")
GRADES = (1, 2, 3)
# The vector cache file under --data-dir: re-running on the same corpus encodes nothing.
CACHE_DB_NAME = "eval-cache.db"

_STRING_FIELDS = ("pitch", "description", "department", "commune")
_LIST_FIELDS = {"categories": CATEGORY_LABELS, "keywords": None, "labels": LABEL_LABELS}
CORPUS_FIELDS = ("id", "name", *_STRING_FIELDS, *_LIST_FIELDS, "size_band", "latitude", "longitude", "open_source")
JUDGMENT_FIELDS = ("query", "relevant", "grades", "note")


class EvaluationError(ValueError):
    """A corpus or judgments file cannot be used; the message names the file and line."""


# -- metrics (pure) ----------------------------------------------------------------------------------------------
def dcg_at_k(ranking: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """Discounted cumulative gain of the first k results: sum of (2^grade - 1) / log2(rank + 1), ranks 1-based.
    `ranking` holds distinct ids; an id without a grade has grade 0."""
    return sum((2 ** grades.get(doc_id, 0) - 1) / math.log2(rank + 1)
               for rank, doc_id in enumerate(ranking[:k], start=1))


def ndcg_at_k(ranking: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """DCG@k over the DCG@k of the ideal ranking of every judged grade; 0.0 when nothing is relevant."""
    ideal_grades = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    ideal = sum((2 ** g - 1) / math.log2(rank + 1) for rank, g in enumerate(ideal_grades, start=1))
    return dcg_at_k(ranking, grades, k) / ideal if ideal else 0.0


def precision_at_k(ranking: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Relevant ids among the first k results, over k (a short result list is not rewarded for being short)."""
    relevant = set(relevant)
    return sum(doc_id in relevant for doc_id in ranking[:k]) / k


def recall_at_k(ranking: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Relevant ids among the first k results, over all relevant ids; 0.0 when nothing is relevant."""
    relevant = set(relevant)
    return sum(doc_id in relevant for doc_id in ranking[:k]) / len(relevant) if relevant else 0.0


def query_metrics(ranking: Sequence[str], grades: Mapping[str, int]) -> dict[str, float]:
    relevant = [doc_id for doc_id, g in grades.items() if g > 0]
    return dict(zip(METRICS, (ndcg_at_k(ranking, grades, NDCG_K), precision_at_k(ranking, relevant, PRECISION_K),
                              recall_at_k(ranking, relevant, RECALL_K))))


# -- files -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Judgment:
    query: str
    grades: Mapping[str, int]  # every relevant id with its grade (>= 1)
    note: str = ""
    line: int = 0


def _read_jsonl(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; EvaluationError on unreadable, malformed or empty files."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvaluationError(f"{path}: no such {what} file") from None
    except UnicodeDecodeError as error:
        raise EvaluationError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    found = False
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise EvaluationError(f"{path}:{number}: invalid JSON ({error.msg}, column {error.colno})") from None
        if not isinstance(value, dict):
            raise EvaluationError(f"{path}:{number}: expected a JSON object, got {type(value).__name__}")
        found = True
        yield number, value
    if not found:
        raise EvaluationError(f"{path}: empty {what} file (one JSON object per line expected)")


def _unknown_fields(where: str, record: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(record) - set(allowed))
    if unknown:
        raise EvaluationError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")


def _non_empty_string(where: str, record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise EvaluationError(f"{where}: `{name}` must be a non-empty string")
    return value


def _check_corpus_record(where: str, record: dict[str, Any]) -> None:
    _unknown_fields(where, record, CORPUS_FIELDS)
    _non_empty_string(where, record, "id")
    _non_empty_string(where, record, "name")
    for name in _STRING_FIELDS:
        if record.get(name) is not None and not isinstance(record[name], str):
            raise EvaluationError(f"{where}: `{name}` must be a string")
    for name, vocabulary in _LIST_FIELDS.items():
        values = record.get(name)
        if values is None:
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise EvaluationError(f"{where}: `{name}` must be a list of strings")
        unknown = [v for v in values if vocabulary is not None and v not in vocabulary]
        if unknown and vocabulary is not None:
            raise EvaluationError(f"{where}: unknown {name} {', '.join(map(repr, unknown))}; "
                                  f"known: {', '.join(vocabulary)}")
    if record.get("size_band") is not None and record["size_band"] not in SIZE_LABELS:
        raise EvaluationError(f"{where}: unknown size_band {record['size_band']!r}; known: {', '.join(SIZE_LABELS)}")
    for name in ("latitude", "longitude"):
        value = record.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise EvaluationError(f"{where}: `{name}` must be a number")
    if record.get("open_source") is not None and not isinstance(record["open_source"], bool):
        raise EvaluationError(f"{where}: `open_source` must be true or false")


def load_corpus(path: Path) -> list[SearchDocument]:
    """The corpus's profiles as search documents, in file order."""
    documents: list[SearchDocument] = []
    seen: dict[str, int] = {}
    for number, record in _read_jsonl(path, "corpus"):
        where = f"{path}:{number}"
        _check_corpus_record(where, record)
        if record["id"] in seen:
            raise EvaluationError(f"{where}: duplicate id {record['id']!r} (first on line {seen[record['id']]})")
        seen[record["id"]] = number
        documents.append(document_from_record(record))
    return documents


def _judgment(where: str, line: int, record: dict[str, Any]) -> Judgment:
    _unknown_fields(where, record, JUDGMENT_FIELDS)
    query = _non_empty_string(where, record, "query")
    relevant = record.get("relevant")
    if not isinstance(relevant, list) or not all(isinstance(r, str) and r for r in relevant):
        raise EvaluationError(f"{where}: `relevant` must be a list of ids (empty: no profile answers the need)")
    duplicates = sorted({r for r in relevant if relevant.count(r) > 1})
    if duplicates:
        raise EvaluationError(f"{where}: id(s) listed twice in `relevant`: {', '.join(duplicates)}")
    grades = record.get("grades") or {}
    if not isinstance(grades, dict):
        raise EvaluationError(f"{where}: `grades` must be an object {{id: grade}}")
    for doc_id, grade in grades.items():
        if doc_id not in relevant:
            raise EvaluationError(f"{where}: `grades` names {doc_id!r}, which is not in `relevant`")
        if isinstance(grade, bool) or grade not in GRADES:
            raise EvaluationError(f"{where}: grade of {doc_id!r} must be one of {', '.join(map(str, GRADES))}, "
                                  f"got {grade!r}")
    note = record.get("note") or ""
    if not isinstance(note, str):
        raise EvaluationError(f"{where}: `note` must be a string")
    return Judgment(query=query, grades={r: grades.get(r, 1) for r in relevant}, note=note, line=line)


def load_judgments(path: Path, corpus_ids: Iterable[str],
                   ignore_unknown: bool = False) -> tuple[list[Judgment], list[str]]:
    """The judged queries, and warnings (unknown ids dropped when `ignore_unknown`)."""
    known = set(corpus_ids)
    judgments: list[Judgment] = []
    warnings: list[str] = []
    for number, record in _read_jsonl(path, "judgments"):
        where = f"{path}:{number}"
        judgment = _judgment(where, number, record)
        unknown = [doc_id for doc_id in judgment.grades if doc_id not in known]
        if unknown:
            message = f"{where}: id(s) not in the corpus: {', '.join(unknown)}"
            if not ignore_unknown:
                raise EvaluationError(message + " (--ignore-unknown drops them)")
            kept = {doc_id: g for doc_id, g in judgment.grades.items() if doc_id in known}
            if not kept:  # its relevant profiles are unknown here: it is not a no-answer need either
                warnings.append(message + "; query skipped, none of its ids is known")
                continue
            warnings.append(message + "; dropped")
            judgment = Judgment(judgment.query, kept, judgment.note, judgment.line)
        judgments.append(judgment)
    if not judgments:
        raise EvaluationError(f"{path}: no query left to evaluate")
    return judgments, warnings


# -- running -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueryResult:
    judgment: Judgment
    rankings: Mapping[str, tuple[str, ...]]  # mode -> ids returned, best first (at most EVAL_DEPTH)
    metrics: Mapping[str, Mapping[str, float]]  # mode -> metric -> value (empty for a no-answer need)
    strong: Mapping[str, frozenset[str]] = field(default_factory=dict)  # mode -> ids returned as strong matches

    @property
    def answerable(self) -> bool:
        return bool(self.judgment.grades)


ANSWER_METRICS = ("nothing_right", "nothing_wrong", "demoted")


@dataclass(frozen=True)
class EvaluationReport:
    corpus_size: int
    results: list[QueryResult]
    modes: tuple[str, ...] = EVAL_MODES
    warnings: list[str] = field(default_factory=list)

    @property
    def answerable(self) -> list[QueryResult]:
        return [r for r in self.results if r.answerable]

    @property
    def no_answer(self) -> list[QueryResult]:
        return [r for r in self.results if not r.answerable]

    def means(self) -> dict[str, dict[str, float]]:
        judged = self.answerable
        return {mode: {metric: float(np.mean([r.metrics[mode][metric] for r in judged])) if judged else 0.0
                       for metric in METRICS} for mode in self.modes}

    def answers(self) -> dict[str, dict[str, float]]:
        """Per mode: `nothing_right`, the share of no-answer needs with no strong match; `nothing_wrong`, the
        answerable needs with no strong match while a relevant profile is among the results; `demoted`, the share
        of relevant profiles in the first NDCG_K results that are only weaker neighbours."""
        report: dict[str, dict[str, float]] = {}
        for mode in self.modes:
            empty = [not r.strong.get(mode) for r in self.no_answer]
            wrong = sum(1 for r in self.answerable if not r.strong.get(mode)
                        and any(d in r.judgment.grades for d in r.rankings[mode]))
            shown = [(d in r.strong.get(mode, ())) for r in self.answerable for d in r.rankings[mode][:NDCG_K]
                     if d in r.judgment.grades]
            report[mode] = {"nothing_right": float(np.mean(empty)) if empty else float("nan"),
                            "nothing_wrong": float(wrong),
                            "demoted": float(1 - np.mean(shown)) if shown else 0.0}
        return report

    def to_dict(self, per_query: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"corpus": self.corpus_size, "queries": len(self.answerable),
                                "no_answer_queries": len(self.no_answer),
                                "metrics": {mode: {m: round(v, 4) for m, v in values.items()}
                                            for mode, values in self.means().items()},
                                "answers": {mode: {m: (None if math.isnan(v) else round(v, 4))
                                                   for m, v in values.items()}
                                            for mode, values in self.answers().items()},
                                "warnings": list(self.warnings)}
        if per_query:
            data["per_query"] = [
                {"query": r.judgment.query, "note": r.judgment.note, "line": r.judgment.line,
                 "relevant": len(r.judgment.grades),
                 "metrics": {mode: {m: round(v, 4) for m, v in values.items()} for mode, values in r.metrics.items()},
                 "strong": {mode: len(ids) for mode, ids in r.strong.items()},
                 "top": {mode: list(ranking[:NDCG_K]) for mode, ranking in r.rankings.items()}}
                for r in self.results]
        return data


def _evaluation_settings(settings: Settings, index_dir: Path, cache_dir: Path) -> Settings:
    """The caller's query settings (length cap, threads, model) over a private embedded index and vector cache."""
    return settings.with_overrides(data_dir=index_dir, backend="embedded",
                                   database_url=f"sqlite:///{cache_dir / CACHE_DB_NAME}")


@contextlib.contextmanager
def temporary_index(documents: Sequence[SearchDocument], encoder: Encoder, settings: Settings,
                    cache_dir: Path | None = None, progress: bool = False) -> Iterator[SearchService]:
    """A search service over a throw-away embedded index of `documents`, built like `vivier index build` builds
    one: passages embedded in batches through the vector cache (kept in `cache_dir`; a temporary one when None)."""
    with contextlib.ExitStack() as stack:
        cache = Path(cache_dir) if cache_dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        cache.mkdir(parents=True, exist_ok=True)
        index_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vivier-eval-")))
        local = _evaluation_settings(settings, index_dir, cache)
        database = Database(local)
        database.migrate()
        passages = [p for d in documents for p in d.passages]
        with database.session() as session:
            vectors, _ = embed_with_cache(session, encoder, passages, progress=progress)
        database.dispose()
        if not passages:
            vectors = np.zeros((0, encoder.dimension), dtype=np.float32)
        EmbeddedBackend(local.index_dir / "embedded").rebuild(
            documents, vectors, {"model": encoder.model_name, "dimension": int(vectors.shape[1]),
                                 "document_version": DOCUMENT_VERSION})
        yield SearchService(local, encoder)


def run_queries(service: SearchService, judgments: Sequence[Judgment],
                modes: Sequence[str] = EVAL_MODES) -> list[QueryResult]:
    results = []
    for judgment in judgments:
        rankings: dict[str, tuple[str, ...]] = {}
        strong: dict[str, frozenset[str]] = {}
        for mode in modes:
            response = service.search(judgment.query, per_page=EVAL_DEPTH, mode=mode)
            rankings[mode] = tuple(hit.id for hit in response.hits)
            strong[mode] = frozenset(hit.id for hit in response.hits if hit.strong)
        metrics = ({mode: query_metrics(rankings[mode], judgment.grades) for mode in modes} if judgment.grades
                   else {})
        results.append(QueryResult(judgment, rankings, metrics, strong))
    return results


def evaluate(documents: Sequence[SearchDocument], judgments: Sequence[Judgment], encoder: Encoder,
             settings: Settings, cache_dir: Path | None = None, modes: Sequence[str] = EVAL_MODES,
             progress: bool = False, warnings: Sequence[str] = ()) -> EvaluationReport:
    """Index `documents` in a temporary embedded index, run every judged query in every mode, score them."""
    with temporary_index(documents, encoder, settings, cache_dir, progress) as service:
        results = run_queries(service, judgments, modes)
    return EvaluationReport(len(documents), results, tuple(modes), list(warnings))


# -- output ------------------------------------------------------------------------------------------------------
def format_table(report: EvaluationReport) -> str:
    """The side-by-side table: one row per mode, one column per metric, then the honesty of the answers."""
    header = f"{'mode':<9}" + "".join(f"{m:>11}" for m in METRICS)
    rows = [f"{mode:<9}" + "".join(f"{values[m]:>11.3f}" for m in METRICS) for mode, values in report.means().items()]
    lines = [f"{len(report.answerable)} queries, {report.corpus_size} profiles", header, *rows]
    answers = report.answers()
    no_answer = len(report.no_answer)
    lines.append("")
    lines.append(f"{'mode':<9}{'nothing said rightly':>22}{'nothing said wrongly':>22}{'relevant demoted':>18}")
    for mode, values in answers.items():
        right = ("n/a" if not no_answer
                 else f"{round(values['nothing_right'] * no_answer)}/{no_answer} ({values['nothing_right']:.0%})")
        lines.append(f"{mode:<9}{right:>22}{int(values['nothing_wrong']):>22}{values['demoted']:>18.1%}")
    return "\n".join(lines)


def format_per_query(report: EvaluationReport, width: int = 46) -> str:
    """One row per query: nDCG@10 / P@10 / recall@50 for each mode, and the strong matches' count; a no-answer need
    shows only its strong matches (0 when the engine rightly said nothing)."""
    header = f"{'line':>4}  {'query':<{width}}" + "".join(f"  {mode + ' nDCG/P/R strong':<26}" for mode in report.modes)
    rows = [header]
    for r in report.results:
        query = r.judgment.query if len(r.judgment.query) <= width else r.judgment.query[:width - 1] + "…"
        cells = ""
        for mode in report.modes:
            figures = "/".join(f"{r.metrics[mode][m]:.2f}" for m in METRICS) if r.answerable else "no answer"
            cells += "  " + f"{figures} {len(r.strong.get(mode, ()))}".ljust(26)
        rows.append(f"{r.judgment.line:>4}  {query:<{width}}{cells}")
    return "\n".join(rows)
