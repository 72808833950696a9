"""`ragindex eval`: retrieval quality on a BEIR-format set, through the normal pipeline.

The corpus (`corpus.jsonl`: `_id`, `title`, `text`) is written out as one file per record and
ingested like any folder into a fresh collection; every query (`queries.jsonl`) is searched in
each mode; a search returns one hit per document (its best chunk), mapped back to the set's
document ids; the ranking is scored against `qrels/test.tsv` with nDCG@10, Recall@10, Recall@100
and MRR@10.
"""

from __future__ import annotations

import contextlib
import json
import math
import secrets
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ragindex.api import AsyncIndex
from ragindex.config import Settings
from ragindex.errors import ConfigError, RagindexError, RerankError, StoreError
from ragindex.types import SearchMode

Qrels = dict[str, dict[str, int]]  # query id -> document id -> relevance grade


@dataclass(frozen=True)
class BeirSet:
    name: str
    corpus: dict[str, str]  # document id -> title and text
    queries: dict[str, str]
    qrels: Qrels


@dataclass
class ModeResult:
    mode: str
    metrics: dict[str, float]
    latencies_ms: list[float] = field(repr=False, default_factory=list)

    @property
    def latency_p50_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0


@dataclass
class EvalReport:
    dataset: str
    documents: int
    queries: int
    chunks: int
    ingest_seconds: float
    modes: list[ModeResult]

    def as_dict(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "documents": self.documents,
            "queries": self.queries,
            "chunks": self.chunks,
            "ingest_seconds": self.ingest_seconds,
            "modes": {
                result.mode: {**result.metrics, "latency_p50_ms": result.latency_p50_ms}
                for result in self.modes
            },
        }


def load_beir(folder: Path) -> BeirSet:
    """Read a BEIR folder; only queries that have judgements are kept."""
    try:
        corpus = {
            str(record["_id"]): "\n\n".join(
                str(part) for part in (record.get("title"), record.get("text")) if part
            )
            for record in _jsonl(folder / "corpus.jsonl")
        }
        queries = {
            str(record["_id"]): str(record["text"]) for record in _jsonl(folder / "queries.jsonl")
        }
        qrels = read_qrels(folder / "qrels" / "test.tsv")
    except (OSError, KeyError, ValueError) as error:
        raise ConfigError(f"{folder} is not a readable BEIR set: {error}") from None
    judged = {query_id: text for query_id, text in queries.items() if qrels.get(query_id)}
    return BeirSet(folder.name, corpus, judged, qrels)


def _jsonl(path: Path) -> Iterable[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def read_qrels(path: Path) -> Qrels:
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            fields = line.rstrip("\n").split("\t")
            if number == 0 and fields[0] == "query-id":
                continue  # the header
            if len(fields) == 3:
                query_id, document_id, grade = fields
                qrels.setdefault(query_id, {})[document_id] = int(grade)
    return qrels


# --- the metrics (each tested against hand-computed cases and a reference implementation) ---
def ndcg_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain with linear gains (as trec_eval and BEIR)."""
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:k]))
    ideal = sorted((grade for grade in relevant.values() if grade > 0), reverse=True)[:k]
    idcg = sum(grade / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    wanted = {doc for doc, grade in relevant.items() if grade > 0}
    return len(wanted & set(ranking[:k])) / len(wanted) if wanted else 0.0


def mrr_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    for rank, doc in enumerate(ranking[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (rank + 1)
    return 0.0


def score(rankings: Mapping[str, Sequence[str]], qrels: Qrels) -> dict[str, float]:
    """Mean of each metric over the judged queries, as pytrec_eval (and so BEIR) computes it; a
    query with no results scores 0 (pytrec_eval would leave it out of the mean)."""
    judged = list(qrels)
    if not judged:
        return {}
    totals = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    for query_id in judged:
        ranking, relevant = rankings.get(query_id, []), qrels[query_id]
        totals["ndcg@10"] += ndcg_at(ranking, relevant, 10)
        totals["recall@10"] += recall_at(ranking, relevant, 10)
        totals["recall@100"] += recall_at(ranking, relevant, 100)
        totals["mrr@10"] += mrr_at(ranking, relevant, 10)
    return {name: total / len(judged) for name, total in totals.items()}


# --- running it ---------------------------------------------------------------------------
@dataclass
class PreparedSet:
    """A set's corpus ingested into a fresh, temporary index, ready to be searched."""

    dataset: BeirSet
    index: AsyncIndex
    names: dict[str, str]  # file name -> document id (ids may hold any character)
    chunks: int
    ingest_seconds: float

    def document_id(self, source: str) -> str:
        return self.names[Path(source).name]


@asynccontextmanager
async def prepared(folder: Path, settings: Settings) -> AsyncIterator[PreparedSet]:
    """Ingest the set's corpus once into a temporary collection (removed afterwards)."""
    dataset = load_beir(folder)
    with tempfile.TemporaryDirectory(prefix=f"ragindex-eval-{dataset.name}-") as scratch:
        documents_folder = Path(scratch) / "documents"
        documents_folder.mkdir()
        names: dict[str, str] = {}
        for number, (document_id, text) in enumerate(dataset.corpus.items()):
            name = f"{number:08}.txt"
            (documents_folder / name).write_text(text, encoding="utf-8")
            names[name] = document_id
        fresh = settings.model_copy(
            update={
                "home": Path(scratch) / "index",
                # unique: evaluations on one Qdrant server never share, or reuse, a collection
                "collection": f"eval_{dataset.name}".replace(".", "_")[:48]
                + f"_{secrets.token_hex(4)}",
                "portable_paths": True,
            }
        )
        index = await AsyncIndex.open(fresh)
        try:
            started = time.perf_counter()
            report = await index.ingest([documents_folder])
            ingest_seconds = time.perf_counter() - started
            yield PreparedSet(dataset, index, names, report.chunks, ingest_seconds)
        except BaseException:
            with contextlib.suppress(RagindexError):  # the first error is the one to report
                await _drop_temporary(index)
            raise
        else:
            await _drop_temporary(index)
        finally:
            await index.aclose()


async def _drop_temporary(index: AsyncIndex) -> None:
    """On a Qdrant server, drop the temporary collections (the embedded store's folder goes
    with the scratch folder)."""
    from ragindex.store.server import QdrantClientBackend

    backend = index.store.backend
    if not isinstance(backend, QdrantClientBackend):
        return
    for name in backend.names.values():
        try:
            await backend.client.delete_collection(name)
        except Exception as error:  # qdrant-client's many types, in one of ours
            raise StoreError(
                f"could not drop the temporary collection {name} at {backend.location}: "
                f"{error}; drop it by hand"
            ) from None


EvalMode = SearchMode | Literal["rerank"]  # rerank: hybrid, then the reranker's order


async def evaluate(
    folder: Path, settings: Settings, modes: Sequence[EvalMode], *, depth: int = 100
) -> EvalReport:
    """Ingest the set's corpus into a fresh collection and score every mode."""
    if "rerank" in modes and not settings.rerank_urls:
        raise ConfigError("--mode rerank needs a rerank server: set RAGINDEX_RERANK_URL")
    async with prepared(folder, settings) as ready:
        results = [await _run_mode(ready, mode, depth) for mode in modes]
    return EvalReport(
        dataset=ready.dataset.name,
        documents=len(ready.dataset.corpus),
        queries=len(ready.dataset.queries),
        chunks=ready.chunks,
        ingest_seconds=ready.ingest_seconds,
        modes=results,
    )


async def _run_mode(ready: PreparedSet, mode: EvalMode, depth: int) -> ModeResult:
    rankings: dict[str, list[str]] = {}
    latencies: list[float] = []
    reranked = mode == "rerank"
    for query_id, query in ready.dataset.queries.items():
        started = time.perf_counter()
        # one hit per document, best first: the document's best chunk stands for it
        hits = await ready.index.search(
            query,
            k=depth,
            mode="hybrid" if mode == "rerank" else mode,
            task="general",
            rerank=reranked,  # a configured reranker scores only its own mode
        )
        if hits.warning:  # never the fused order measured under the reranker's name
            raise RerankError(f"eval --mode rerank: {hits.warning}")
        latencies.append((time.perf_counter() - started) * 1000)
        rankings[query_id] = [ready.document_id(hit.source) for hit in hits]
    return ModeResult(mode, score(rankings, ready.dataset.qrels), latencies)
