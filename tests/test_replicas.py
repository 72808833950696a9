"""Several embedding replicas: one that dies is left out and its work goes to the others, one
that comes back is used again, and the index ends up as a clean run's."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from conftest import write_mixed_corpus
from sglang_standin import StandIn

from ragindex import Index, Settings
from ragindex.embedding.http import HttpEmbedder
from ragindex.embedding.replicas import ReplicaPool
from ragindex.errors import EmbeddingServerUnavailable
from ragindex.progress import Progress
from ragindex.store.edge import EdgeBackend
from ragindex.tokens import qwen_tokenizer

MODEL = "Qwen/Qwen3-Embedding-4B"
DIMENSION = 64


# --- the pool: cool-offs and choice, on a clock the test moves ----------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_replica_that_keeps_failing_cools_off_longer_each_time_up_to_a_cap() -> None:
    clock = Clock()
    pool = ReplicaPool(["http://a", "http://b"], max_concurrency=8, clock=clock)
    first = pool.replicas[0]
    cool_offs = []
    for _ in range(8):
        pool.mark_down(first, "refused")
        cool_offs.append(first.down_until - clock.now)
        assert pool.pick() is pool.replicas[1]  # while it cools off, the other takes the work
        clock.now = first.down_until  # its cool-off is over: it is tried again, and fails
    assert cool_offs == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    pool.mark_up(first)  # one answer brings it back for good
    pool.mark_down(first, "refused")
    assert first.down_until - clock.now == 1.0


def test_failures_of_one_outage_count_once() -> None:
    clock = Clock()
    pool = ReplicaPool(["http://a"], max_concurrency=8, clock=clock)
    replica = pool.replicas[0]
    for _ in range(5):  # requests that were in flight when it died all fail at once
        pool.mark_down(replica, "refused")
    assert replica.cool_off_s == 1.0
    assert pool.pick() is None and pool.seconds_to_next_return() == 1.0
    clock.now += 1.0
    assert pool.pick() is replica


async def test_work_goes_to_the_replica_with_the_most_spare_capacity() -> None:
    pool = ReplicaPool(["http://a", "http://b", "http://c"], max_concurrency=8)
    busy, idle, small = pool.replicas
    for _ in range(3):
        busy.limiter.take()  # three requests in flight out of a limit of four
    small.limiter.limit = 2.0  # a server that has shown it takes less
    assert pool.pick() is idle
    # equal spare capacity: they take turns rather than one taking everything
    idle.limiter.take()
    idle.limiter.take()
    picks = [slot[0] for _ in range(5) if (slot := await pool.acquire())]  # 1 + 2 + 2
    assert [picks.count(replica) for replica in (busy, idle, small)] == [1, 2, 2]
    # every replica full: the next request waits for a slot, wherever it frees
    waiting = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    pool.release(small, 1.0)
    assert (await asyncio.wait_for(waiting, 5) or [None])[0] is small


async def test_no_replica_sits_idle_while_another_holds_a_queue() -> None:
    # four replicas of unequal speed (their limits as their limiters learnt them: 8, 4, 2, 2)
    pool = ReplicaPool([f"http://{name}" for name in "abcd"], max_concurrency=64)
    _, medium, _, slower = pool.replicas
    for replica, limit in zip(pool.replicas, (8, 4, 2, 2), strict=True):
        replica.limiter.limit = float(limit)
    given = []
    for _ in range(16):  # every slot the pool has
        idle = [replica for replica in pool.replicas if replica.limiter.in_flight == 0]
        slot = await pool.acquire()
        assert slot is not None
        assert not idle or slot[0] in idle  # an idle replica is served before a busy one
        given.append(slot[0])
    # spread by capacity: each holds what its limit lets it, the fast one most
    assert [given.count(replica) for replica in pool.replicas] == [8, 4, 2, 2]
    # every replica full: requests wait for a slot, wherever it frees first
    waiting = [asyncio.ensure_future(pool.acquire()) for _ in range(2)]
    await asyncio.sleep(0.01)
    assert not any(request.done() for request in waiting)
    pool.release(slower, 1.0)
    pool.release(medium, 1.0)
    slots = [await asyncio.wait_for(request, 5) for request in waiting]
    assert sorted(slot[0].url for slot in slots if slot) == sorted([slower.url, medium.url])


async def test_a_replica_that_slows_down_gets_less() -> None:
    clock = Clock()
    pool = ReplicaPool(["http://steady", "http://slowing"], max_concurrency=64, clock=clock)
    steady, slowing = pool.replicas
    for replica in pool.replicas:
        replica.limiter.observe(0.3, alone=True)  # both answer a lone request in 0.3 s
    for answer in range(60):
        clock.now += 0.3
        steady.limiter.observe(0.3 * 1.5)  # a short queue: it keeps up
        slowing.limiter.observe(0.3 * (1 + answer / 5))  # its answers take longer and longer
    given = []
    while any(replica.limiter.has_room for replica in pool.replicas):  # fill every slot
        slot = await pool.acquire()
        assert slot is not None
        given.append(slot[0])
    assert given.count(slowing) < given.count(steady) / 2


async def test_a_replica_holding_small_requests_gets_the_next_one() -> None:
    # the end of a window makes smaller requests: they weigh their share of the token budget
    pool = ReplicaPool(["http://a", "http://b"], max_concurrency=64, unit_cost=16_384)
    full, small = pool.replicas
    for replica in pool.replicas:
        replica.limiter.limit = 8.0
    for _ in range(4):
        full.limiter.take(16_384)
    for _ in range(8):
        small.limiter.take(4_096)  # more requests, half the work
    slot = await pool.acquire(16_384)
    assert slot is not None and slot[0] is small


# --- the embedder over real HTTP -----------------------------------------------------------------
async def test_the_check_uses_the_replicas_that_answer() -> None:
    with StandIn() as alive, StandIn() as dead:
        dead.stop()
        embedder = HttpEmbedder(urls=[dead.url, alive.url], model=MODEL, max_attempts=1)
        await embedder.check()
        up = embedder.metrics()["replicas_up"]
        result = await embedder.embed_documents([f"text {i}" for i in range(20)])
        await embedder.aclose()
    assert up == 1
    assert not result.failed


async def test_the_check_fails_only_when_no_replica_answers() -> None:
    with StandIn() as first, StandIn() as second:
        pass  # both stopped: nothing listens on their ports any more
    embedder = HttpEmbedder(urls=[first.url, second.url], model=MODEL)
    with pytest.raises(EmbeddingServerUnavailable) as raised:
        await embedder.check()
    await embedder.aclose()
    assert first.url in str(raised.value) and second.url in str(raised.value)


async def test_a_request_whose_replica_is_down_goes_to_another_without_spending_an_attempt() -> (
    None
):
    with StandIn() as staying, StandIn() as leaving:
        # one attempt per request: reaching the dead replica must not be what uses it up
        embedder = HttpEmbedder(
            urls=[leaving.url, staying.url], model=MODEL, max_inputs=2, max_attempts=1
        )
        await embedder.check()
        leaving.stop()
        result = await embedder.embed_documents([f"text {i}" for i in range(40)])
        up = embedder.metrics()["replicas_up"]
        await embedder.aclose()
    assert not result.failed
    assert up == 1


async def test_the_requests_of_one_call_go_to_the_idle_replicas_first() -> None:
    with StandIn() as a, StandIn() as b, StandIn() as c, StandIn() as d:
        servers = (a, b, c, d)
        embedder = HttpEmbedder(
            urls=[server.url for server in servers],
            model=MODEL,
            dimension=DIMENSION,
            max_inputs=5,
        )
        await embedder.check()
        result = await embedder.embed_documents([f"text {i}" for i in range(20)])  # 4 requests
        await embedder.aclose()
    assert not result.failed
    # one each: none was left idle while another took two
    assert [len(server.requests) - 1 for server in servers] == [1, 1, 1, 1]


async def test_a_replica_that_stops_answering_holds_only_what_its_limit_let_it_have() -> None:
    # one replica takes requests and does not answer (a stuck GPU); the others answer the rest
    # of the work at once, instead of a share of it waiting behind the stuck one
    with StandIn() as a, StandIn() as b, StandIn() as c, StandIn(hold_after=1) as stuck:
        embedder = HttpEmbedder(
            urls=[a.url, b.url, c.url, stuck.url],
            model=MODEL,
            dimension=DIMENSION,
            batch_tokens=64,
            max_inputs=8,
        )
        await embedder.check()  # each replica's first request: the start-up probe
        texts = [f"passage {i}: " + "lorem ipsum dolor sit amet " * 6 for i in range(120)]
        embedding = asyncio.ensure_future(embedder.embed_documents(texts))

        def inputs_received() -> int:
            return sum(
                len(request["input"])
                for server in (a, b, c, stuck)
                for request in server.requests[1:]
            )

        async def everything_sent() -> None:
            while inputs_received() < len(texts):
                await asyncio.sleep(0.02)

        await asyncio.wait_for(everything_sent(), 60)
        held = [request["input"] for request in stuck.requests[1:]]
        stuck.release()
        result = await asyncio.wait_for(embedding, 60)
        await embedder.aclose()
    assert not result.failed
    # it had room for four full requests (64 tokens each; the last one taken while the load
    # was under four may pass it), and never answered to earn more: the rest went elsewhere
    held_tokens = sum(qwen_tokenizer().count(text) + 1 for request in held for text in request)
    assert held and held_tokens <= 5 * 64 < len(texts) * 40 // 4


# --- an ingest through three replicas: one dies, one goes and comes back -------------------------
@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mixed_corpus(tmp_path_factory.mktemp("replicas") / "corpus", 80, seed=11)


def settings_for(home: Path, urls: list[str]) -> Settings:
    return Settings.load(
        home=home,
        embed_url=",".join(urls),
        dim=DIMENSION,
        embed_max_inputs=4,
        embed_batch_tokens=2048,
        # few attempts: reaching a dead replica must not spend them (only the requests it drops
        # as it dies do, one each)
        embed_max_attempts=3,
    )


def index_content(home: Path) -> dict[str, Any]:
    """Every chunk (id -> payload, vector rounded) and every manifest record of the index."""

    async def read() -> dict[str, Any]:
        backend = EdgeBackend(home, "ragindex")
        try:
            assert await backend.open_manifest(create=False)
            assert await backend.open_chunks(DIMENSION, create=False)
            content: dict[str, Any] = {"chunks": {}, "manifest": {}}
            for collection in ("chunks", "manifest"):
                offset = None
                while True:
                    page, offset = await backend.scroll(
                        collection,  # type: ignore[arg-type]
                        None,
                        limit=500,
                        offset=offset,
                        with_dense=collection == "chunks",
                    )
                    for record in page:
                        vector = (
                            tuple(round(float(x), 4) for x in record.dense)
                            if record.dense is not None
                            else None
                        )
                        content[collection][str(record.id)] = (record.payload, vector)
                    if offset is None:
                        break
            return content
        finally:
            await backend.close()

    return asyncio.run(read())


def test_an_ingest_survives_a_dead_replica_and_one_that_comes_back(
    tmp_path: Path, folder: Path
) -> None:
    with StandIn() as clean:
        reference_home = tmp_path / "reference"
        with Index.open(settings_for(reference_home, [clean.url])) as index:
            reference = index.ingest([folder])
    assert reference.ok and reference.indexed

    # `dying` vanishes on its third embeddings request (the start-up probe is its first), with
    # requests of the run in flight; `returning` is stopped when the first document is committed
    # and started again on the same port ten documents later. Both moments come from the run's
    # own progress, not from the clock or the load.
    with StandIn() as steady, StandIn(die_after=3) as dying, StandIn() as returning:
        port = returning.port
        events: list[str] = []

        def progress(snapshot: Progress) -> None:
            if snapshot.files_done >= 1 and "stopped" not in events:
                returning.stop()
                events.append("stopped")
            if snapshot.files_done >= 11 and "restarted" not in events:
                returning.start(port)
                events.append("restarted")

        home = tmp_path / "replicas"
        with Index.open(settings_for(home, [steady.url, dying.url, returning.url])) as index:
            report = index.ingest([folder], progress=progress)
        dying_ran_to_the_end = dying.running
    assert not dying_ran_to_the_end, "the replica that should have died mid-run did not"
    assert events == ["stopped", "restarted"]
    assert report.ok, report.failed
    assert sorted(report.indexed) == sorted(reference.indexed)
    assert report.chunks == reference.chunks
    assert index_content(home) == index_content(reference_home)
