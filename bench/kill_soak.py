"""The kill/resume test, longer: many SIGKILLs at random moments over a larger corpus.

    python bench/kill_soak.py [--files 1500] [--pdfs 40] [--kills 60] [--seed 1]

It generates the corpus, runs one clean ingest for reference, then starts `ragindex ingest`
again and again, killing its process group after a random number of embedding requests (or at a
random moment of start-up, every fourth time), until --kills kill points are done; a last run
finishes. The index must then equal the clean one: the same point ids, payloads and vectors,
the same manifest, no pending mark. Embedding goes through the SGLang stand-in (hash vectors,
so runs are comparable point by point); the checks are those of tests/test_crash_safety.py.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from conftest import write_mixed_corpus  # noqa: E402
from sglang_standin import StandIn  # noqa: E402
from test_crash_safety import (  # noqa: E402
    PROFILE,
    assert_same_index,
    kill_repeatedly,
    read_index,
    start,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1500)
    parser.add_argument("--pdfs", type=int, default=40)
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    print(f"$ python bench/kill_soak.py {' '.join(sys.argv[1:])}")
    rng = random.Random(arguments.seed)
    with (
        tempfile.TemporaryDirectory(prefix="ragindex-soak-") as workdir,
        StandIn(profile=PROFILE) as server,
    ):
        corpus = write_mixed_corpus(
            Path(workdir) / "corpus", arguments.files, pdfs=arguments.pdfs, seed=arguments.seed
        )
        before = len(server.requests)
        started = time.perf_counter()
        clean = start(server, corpus, Path(workdir) / "clean")
        clean.communicate()
        if clean.returncode != 0:
            raise SystemExit("the clean run failed")
        requests = len(server.requests) - before
        reference = read_index(Path(workdir) / "clean")
        print(
            f"clean run: {len(reference.documents)} documents, {len(reference.chunks)} chunks, "
            f"{requests} requests, {time.perf_counter() - started:.1f} s"
        )
        home = Path(workdir) / "killed"
        step = max(1, requests // arguments.kills)
        committed = kill_repeatedly(server, corpus, home, arguments.kills, step, rng)
        last = start(server, corpus, home)
        _, stderr = last.communicate()
        if last.returncode != 0:
            raise SystemExit(f"the final run failed: {stderr}")
        assert_same_index(read_index(home), reference)
        print(f"documents committed after each kill: {committed}")
        print(
            f"{arguments.kills} kill points survived: the resumed index equals the clean one "
            f"({len(reference.documents)} documents, {len(reference.chunks)} chunks)"
        )


if __name__ == "__main__":
    main()
