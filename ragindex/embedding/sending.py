"""One request to a pool of replicas, as the embedder and the reranker both send it: in a slot of
the replica with the most spare capacity under its adaptive concurrency limit (`replicas.py`),
retried with capped full-jitter backoff on answers worth another try (429 with Retry-After, 5xx,
timeouts, cut connections), and moved to another replica at once when one cannot be reached.

(Not tenacity: its stop and wait cannot tell an attempt spent on a server's answer from a
replica that was never reached.)
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ragindex.embedding.limiter import AdaptiveLimiter
from ragindex.embedding.replicas import Replica, ReplicaPool
from ragindex.embedding.wire import Retryable

MAX_BACKOFF_S = 30.0

T = TypeVar("T")


async def send_with_retries(
    pool: ReplicaPool,
    send: Callable[[Replica], Awaitable[T]],
    *,
    max_attempts: int,
    on_retry: Callable[[str], None],
    all_down: Callable[[str], Exception],
    wait_for_replicas: bool = True,
    cost: float = 1.0,
) -> T:
    """`send` to a replica until one answers.

    A replica that cannot be reached (`Retryable` of kind "connect") is taken out and the request
    goes to another at once, without spending an attempt (it never reached a server); attempts
    are spent on answers worth retrying and, when `wait_for_replicas`, on waits while every
    replica is out. `all_down(reasons)` is raised when no replica is left (at once without
    `wait_for_replicas`); the last `Retryable` when the attempts run out. `cost`: what the
    request weighs in its replica's limit (`AdaptiveLimiter.take`)."""
    attempts = 0
    while True:
        slot = await pool.acquire(cost)
        if slot is None:
            attempts += 1
            if not wait_for_replicas or attempts >= max_attempts:
                raise all_down(pool.describe_down())
            await asyncio.sleep(pool.seconds_to_next_return())
            continue
        replica, share = slot
        try:
            result = await send(replica)
        except Retryable as error:
            on_retry(error.kind)
            if error.kind == "connect":
                pool.mark_down(replica, str(error))
            failure = error
        else:
            pool.mark_up(replica)
            return result
        finally:
            pool.release(replica, share)  # before any backoff: a request that waits holds no slot
        if failure.kind == "connect":
            continue
        attempts += 1
        if attempts >= max_attempts:
            raise failure
        await asyncio.sleep(backoff(attempts, failure.retry_after))


async def limited(
    limiter: AdaptiveLimiter, call: Callable[[], Awaitable[T]], *, cost: float = 1.0
) -> tuple[T, float]:
    """`call()`, sent in the slot `send_with_retries` holds at the limiter's replica; the limiter
    learns its latency per unit of `cost` (tokens, for the embedder), or that the server was
    overloaded. Returns the result and the latency in seconds."""
    alone = limiter.in_flight == 1  # nothing else of ours at the server: no queueing behind us
    started = time.perf_counter()
    try:
        result = await call()
    except Retryable as error:
        if error.overload:
            limiter.overloaded()
        raise
    latency = time.perf_counter() - started
    limiter.observe(latency, cost=cost, alone=alone)
    return result, latency


def backoff(attempt: int, retry_after: float) -> float:
    """Full-jitter exponential backoff, but never sooner than the server's Retry-After."""
    jitter = random.uniform(0, min(MAX_BACKOFF_S, 0.5 * 2**attempt))
    return max(jitter, min(retry_after, MAX_BACKOFF_S))
