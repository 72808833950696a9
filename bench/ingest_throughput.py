"""Ingest throughput: ragindex against the pipelines people use, on one corpus and one server.

    python bench/ingest_throughput.py [CORPUS] [--profiles h100,ceiling] [--only ragindex,...]

For each server profile it starts the SGLang stand-in (tests/sglang_standin.py) in its own
process, then runs, one after the other and each into its own embedded Qdrant:
  ragindex    Index.ingest with RAGINDEX_EMBED_URL (Qdrant Edge)
  tutorial    the async client of the popular tutorials: one text per request under an
              asyncio.Semaphore(16), httpx.AsyncClient (qdrant-client, in memory)
  langchain   RecursiveCharacterTextSplitter + OpenAIEmbeddings + QdrantVectorStore (in memory)
  llamaindex  SentenceSplitter + OpenAILikeEmbedding + QdrantVectorStore in an IngestionPipeline
              (in memory)
Every pipeline chunks to 512 tokens of Qwen's tokenizer (the peers would otherwise download a
tokenizer, which fails offline). It prints wall time, chunks/s, tokens/s (as the server counted
them), the server's utilization (busy time of the pretend GPU / wall time) and the ratio of each
pipeline's throughput to ragindex's.
Profiles: h100 = 60,000 tokens/s, 4 ms a step, 16,384 tokens a batch; ceiling = no compute
cost, so the figure is what the client itself can push.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "code"
MODEL = "Qwen/Qwen3-Embedding-4B"
CHUNK_TOKENS = 512
CHUNK_OVERLAP = 32


@dataclass
class Run:
    name: str
    seconds: float
    chunks: int
    tokens: int
    busy_seconds: float

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds

    @property
    def utilization(self) -> float:
        return self.busy_seconds / self.seconds


# --- the server -----------------------------------------------------------------------------
class Server:
    def __init__(self, profile: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tests" / "sglang_standin.py"),
                "--profile",
                profile,
                "--port",
                "0",
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO / "tests",
        )
        assert self.process.stdout is not None
        self.url = json.loads(self.process.stdout.readline())["url"]

    def stats(self) -> dict[str, float]:
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/stats") as response:
            stats: dict[str, float] = json.loads(response.read())
            return stats

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def source_files(corpus: Path) -> list[Path]:
    from ragindex.discovery import Candidate, Discovery

    discovery = Discovery(max_bytes=20_000_000, excludes=[], follow_symlinks=False, portable=False)
    return [found.path for found in discovery.walk(corpus) if isinstance(found, Candidate)]


def qwen_count() -> Callable[[str], int]:
    from ragindex.tokens import qwen_tokenizer

    return qwen_tokenizer().count


# --- the pipelines --------------------------------------------------------------------------
def run_ragindex(corpus: Path, url: str, workdir: Path) -> int:
    from ragindex import Index, Settings

    settings = Settings(
        home=workdir / "ragindex",
        embed_url=url,
        embed_model=MODEL,
        chunk_tokens=CHUNK_TOKENS,
        chunk_overlap=CHUNK_OVERLAP,
    )
    with Index.open(settings) as index:
        report = index.ingest([corpus])
    if report.failed:
        raise RuntimeError(f"ragindex failed on {len(report.failed)} files")
    return report.chunks


def _split_texts(corpus: Path) -> list[str]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_TOKENS, chunk_overlap=CHUNK_OVERLAP, length_function=qwen_count()
    )
    texts: list[str] = []
    for path in source_files(corpus):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        texts.extend(piece for piece in splitter.split_text(text) if piece.strip())
    return texts


def run_tutorial(corpus: Path, url: str, workdir: Path) -> int:
    import httpx
    from qdrant_client import QdrantClient, models

    texts = _split_texts(corpus)

    async def embed_all() -> list[list[float]]:
        semaphore = asyncio.Semaphore(16)
        async with httpx.AsyncClient(timeout=120) as client:

            async def embed(text: str) -> list[float]:
                async with semaphore:
                    response = await client.post(
                        f"{url}/embeddings", json={"model": MODEL, "input": text}
                    )
                    response.raise_for_status()
                    vector: list[float] = response.json()["data"][0]["embedding"]
                    return vector

            return await asyncio.gather(*(embed(text) for text in texts))

    vectors = asyncio.run(embed_all())
    client = QdrantClient(location=":memory:")
    client.create_collection(
        "tutorial",
        vectors_config=models.VectorParams(size=len(vectors[0]), distance=models.Distance.COSINE),
    )
    for start in range(0, len(texts), 64):
        client.upsert(
            "tutorial",
            [
                models.PointStruct(id=start + i, vector=vectors[start + i], payload={"text": text})
                for i, text in enumerate(texts[start : start + 64])
            ],
        )
    return len(texts)


def run_langchain(corpus: Path, url: str, workdir: Path) -> int:
    from langchain_core.documents import Document
    from langchain_openai import OpenAIEmbeddings
    from langchain_qdrant import QdrantVectorStore
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_TOKENS, chunk_overlap=CHUNK_OVERLAP, length_function=qwen_count()
    )
    documents = []
    for path in source_files(corpus):
        try:
            documents.append(
                Document(
                    page_content=path.read_text(encoding="utf-8"), metadata={"source": str(path)}
                )
            )
        except (UnicodeDecodeError, OSError):
            continue
    chunks = [chunk for chunk in splitter.split_documents(documents) if chunk.page_content.strip()]
    embeddings = OpenAIEmbeddings(
        model=MODEL,
        base_url=url,
        api_key="not-needed",  # type: ignore[arg-type]
        check_embedding_ctx_length=False,  # it would download tiktoken's vocabulary otherwise
    )
    QdrantVectorStore.from_documents(
        chunks, embeddings, location=":memory:", collection_name="langchain"
    )
    return len(chunks)


def run_llamaindex(corpus: Path, url: str, workdir: Path) -> int:
    from llama_index.core import Document
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.openai_like import OpenAILikeEmbedding
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    from ragindex.tokens import qwen_tokenizer

    qwen = qwen_tokenizer().encoding
    documents = []
    for path in source_files(corpus):
        try:
            documents.append(
                Document(text=path.read_text(encoding="utf-8"), metadata={"source": str(path)})
            )
        except (UnicodeDecodeError, OSError):
            continue
    pipeline = IngestionPipeline(
        transformations=[
            SentenceSplitter(
                chunk_size=CHUNK_TOKENS,
                chunk_overlap=CHUNK_OVERLAP,
                tokenizer=qwen.encode_ordinary,
            ),
            OpenAILikeEmbedding(model_name=MODEL, api_base=url, api_key="not-needed"),
        ],
        vector_store=QdrantVectorStore(
            client=QdrantClient(location=":memory:"), collection_name="llamaindex"
        ),
    )
    nodes = pipeline.run(documents=documents)
    return len(nodes)


PIPELINES: dict[str, Callable[[Path, str, Path], int]] = {
    "ragindex": run_ragindex,
    "tutorial": run_tutorial,
    "langchain": run_langchain,
    "llamaindex": run_llamaindex,
}


def measure(name: str, corpus: Path, server: Server) -> Run:
    before = server.stats()
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as workdir:
        started = time.perf_counter()
        chunks = PIPELINES[name](corpus, server.url, Path(workdir))
        seconds = time.perf_counter() - started
    after = server.stats()
    tokens = int(after.get("tokens", 0) - before.get("tokens", 0))
    return Run(name, seconds, chunks, tokens, after["busy_seconds"] - before["busy_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--profiles", default="h100,ceiling")
    parser.add_argument("--only", default=",".join(PIPELINES))
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()
    names = arguments.only.split(",")
    size = sum(path.stat().st_size for path in source_files(arguments.corpus))
    print(f"$ python bench/ingest_throughput.py {' '.join(sys.argv[1:])}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; corpus {arguments.corpus} "
        f"({len(source_files(arguments.corpus))} files, {size / 1e6:.1f} MB)"
    )
    results: dict[str, list[dict[str, float | str]]] = {}
    for profile in arguments.profiles.split(","):
        server = Server(profile)
        try:
            runs = [measure(name, arguments.corpus, server) for name in names]
        finally:
            server.stop()
        base = next((run for run in runs if run.name == "ragindex"), runs[0])
        print(f"\nprofile {profile}")
        print(
            f"{'pipeline':<11} {'wall s':>8} {'chunks':>7} {'chunks/s':>9} {'tokens/s':>10} "
            f"{'GPU util':>8} {'vs ragindex':>11}"
        )
        for run in runs:
            ratio = run.chunks_per_s / base.chunks_per_s
            print(
                f"{run.name:<11} {run.seconds:>8.1f} {run.chunks:>7} {run.chunks_per_s:>9.1f} "
                f"{run.tokens / run.seconds:>10.0f} {run.utilization:>8.2f} {ratio:>10.2f}x"
            )
        results[profile] = [
            {
                "pipeline": run.name,
                "seconds": run.seconds,
                "chunks": run.chunks,
                "tokens": run.tokens,
                "utilization": run.utilization,
            }
            for run in runs
        ]
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
