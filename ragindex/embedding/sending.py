"""One request to a pool of replicas, as the embedder and the reranker both send it: under each
replica's adaptive concurrency limit, retried with capped full-jitter backoff on answers worth
another try (429 with Retry-After, 5xx, timeouts, cut connections), and moved to another replica
at once when one cannot be reached.

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
) -> T:
    """`send` to a replica until one answers.

    A replica that cannot be reached (`Retryable` of kind "connect") is taken out and the request
    goes to another at once, without spending an attempt (it never reached a server); attempts
    are spent on answers worth retrying and, when `wait_for_replicas`, on waits while every
    replica is out. `all_down(reasons)` is raised when no replica is left (at once without
    `wait_for_replicas`); the last `Retryable` when the attempts run out."""
    attempts = 0
    while True:
        replica = pool.pick()
        if replica is None:
            attempts += 1
            if not wait_for_replicas or attempts >= max_attempts:
                raise all_down(pool.describe_down())
            await asyncio.sleep(pool.seconds_to_next_return())
            continue
        try:
            result = await send(replica)
        except Retryable as error:
            on_retry(error.kind)
            if error.kind == "connect":
                pool.mark_down(replica, str(error))
                continue
            attempts += 1
            if attempts >= max_attempts:
                raise
            await asyncio.sleep(backoff(attempts, error.retry_after))
            continue
        pool.mark_up(replica)
        return result


async def limited(limiter: AdaptiveLimiter, call: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    """`call()` inside the limiter's concurrency limit; the limiter learns its latency, or that
    the server was overloaded. Returns the result and the latency in seconds."""
    await limiter.acquire()
    started = time.perf_counter()
    try:
        result = await call()
    except Retryable as error:
        await limiter.release(latency=None, overloaded=error.overload)
        raise
    except BaseException:
        await limiter.release(latency=None)
        raise
    latency = time.perf_counter() - started
    await limiter.release(latency=latency)
    return result, latency


def backoff(attempt: int, retry_after: float) -> float:
    """Full-jitter exponential backoff, but never sooner than the server's Retry-After."""
    jitter = random.uniform(0, min(MAX_BACKOFF_S, 0.5 * 2**attempt))
    return max(jitter, min(retry_after, MAX_BACKOFF_S))
