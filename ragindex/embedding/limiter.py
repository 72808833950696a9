"""Concurrency that finds the server's limit by itself (a gradient limiter, as in Netflix's
concurrency-limits): grow while latency stays near the unloaded latency, shrink when it rises,
halve on overload (429, 503, timeouts).

Why latency is the signal: a GPU server doing dynamic batching answers a lone request in about
its compute time; once it is saturated, extra requests only queue and latency grows. Keeping a
small queue (`headroom` requests beyond the knee) keeps the GPU busy between steps without
piling up work that only adds latency. Token-budget batching makes requests cost about the same,
which is what makes latency comparable from one request to the next.
"""

from __future__ import annotations

import asyncio
import time


class AdaptiveLimiter:
    def __init__(
        self,
        *,
        maximum: int,
        initial: int = 4,
        headroom: float = 4.0,
        tolerance: float = 2.0,
        smoothing: float = 0.2,
    ) -> None:
        self.maximum = maximum
        self.limit = float(min(initial, maximum))
        self.headroom = headroom
        self.tolerance = tolerance
        self.smoothing = smoothing
        self.in_flight = 0
        self._unloaded_latency: float | None = None
        self._unloaded_seen_at = 0.0
        self._last_backoff = 0.0
        self._changed = asyncio.Condition()

    @property
    def spare(self) -> float:
        return self.limit - self.in_flight

    async def acquire(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < max(1, int(self.limit)))
            self.in_flight += 1

    async def release(self, *, latency: float | None, overloaded: bool = False) -> None:
        """Report how a request went: its latency when it succeeded, or that it was refused."""
        async with self._changed:
            self.in_flight -= 1
            if overloaded:
                self._back_off()
            elif latency is not None:
                self._observe(latency)
            self._changed.notify_all()

    def _observe(self, latency: float) -> None:
        now = time.monotonic()
        # the unloaded latency is the best seen recently; forget it slowly, as inputs change
        if (
            self._unloaded_latency is None
            or latency < self._unloaded_latency
            or (now - self._unloaded_seen_at > 30.0)
        ):
            self._unloaded_latency = latency
            self._unloaded_seen_at = now
        gradient = min(1.0, max(0.5, self.tolerance * self._unloaded_latency / latency))
        target = self.limit * gradient + self.headroom
        self.limit = min(
            float(self.maximum),
            max(1.0, (1 - self.smoothing) * self.limit + self.smoothing * target),
        )

    def _back_off(self) -> None:
        now = time.monotonic()
        # one halving per burst: a dozen refusals of the same moment are one signal
        if now - self._last_backoff > 0.5:
            self.limit = max(1.0, self.limit / 2)
            self._last_backoff = now
