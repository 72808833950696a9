"""Make a smaller BEIR set from a large one, the same for every model: a fair comparison on a
machine where the full set would take hours with a slow model.

Keeps a fixed random sample of the judged queries (`--queries`), every document judged relevant
to one of them, and a fixed random sample of the other documents as distractors (`--others`);
the seed is fixed, so every run writes the same set. Fewer distractors make a set easier: compare
models on the same subset only, never a subset's figure with a full set's.

    python bench/eval_subset.py ../shared/eval/scifact-train bench/out/subsets/scifact-train-q100
    ragindex eval bench/out/subsets/scifact-train-q100 --json
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path


def read_qrels(path: Path) -> dict[str, dict[str, str]]:
    judged: dict[str, dict[str, str]] = {}
    with path.open(encoding="utf-8") as lines:
        next(lines)  # the header: query-id, corpus-id, score
        for line in lines:
            if line.strip():
                query_id, document_id, grade = line.rstrip("\n").split("\t")
                judged.setdefault(query_id, {})[document_id] = grade
    return judged


def make_subset(
    source: Path, target: Path, *, queries: int, others: int, seed: int
) -> dict[str, int]:
    qrels = read_qrels(source / "qrels" / "test.tsv")
    relevant_to = {q: docs for q, docs in qrels.items() if any(int(g) > 0 for g in docs.values())}
    query_records = [
        json.loads(line)
        for line in (source / "queries.jsonl").open(encoding="utf-8")
        if line.strip()
    ]
    judged = sorted(str(r["_id"]) for r in query_records if str(r["_id"]) in relevant_to)
    chosen = set(random.Random(seed).sample(judged, min(queries, len(judged))))
    needed = {doc for query in chosen for doc in qrels[query]}
    corpus_lines = [
        line for line in (source / "corpus.jsonl").open(encoding="utf-8") if line.strip()
    ]
    ids = [str(json.loads(line)["_id"]) for line in corpus_lines]
    rest = sorted(set(ids) - needed)
    distractors = set(random.Random(seed + 1).sample(rest, min(others, len(rest))))
    kept = needed | distractors

    if target.exists():
        shutil.rmtree(target)
    (target / "qrels").mkdir(parents=True)
    with (target / "corpus.jsonl").open("w", encoding="utf-8") as out:
        out.writelines(line for line, doc in zip(corpus_lines, ids, strict=True) if doc in kept)
    with (target / "queries.jsonl").open("w", encoding="utf-8") as out:
        for record in query_records:
            if str(record["_id"]) in chosen:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    with (target / "qrels" / "test.tsv").open("w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for query in sorted(chosen):
            for doc, grade in qrels[query].items():
                out.write(f"{query}\t{doc}\t{grade}\n")
    return {"queries": len(chosen), "documents": len(kept), "relevant": len(needed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a BEIR folder")
    parser.add_argument("target", type=Path, help="where to write the subset (replaced)")
    parser.add_argument("--queries", type=int, default=100, help="judged queries kept")
    parser.add_argument("--others", type=int, default=300, help="distractor documents kept")
    parser.add_argument("--seed", type=int, default=12)
    arguments = parser.parse_args()
    counts = make_subset(
        arguments.source,
        arguments.target,
        queries=arguments.queries,
        others=arguments.others,
        seed=arguments.seed,
    )
    print(f"{arguments.target}: {counts} (from {arguments.source}, seed {arguments.seed})")


if __name__ == "__main__":
    main()
