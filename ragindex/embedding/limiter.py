"""Concurrency that finds a server's limit by itself (a gradient limiter, as in Netflix's
concurrency-limits): grow while latency stays near the unloaded latency, shrink when it rises,
halve on overload (429, 503, timeouts). The requests themselves wait in the replica pool
(`replicas.py`), which takes a slot here for each: this only says how many a replica may hold.

Why latency is the signal: a GPU server doing dynamic batching answers a lone request in about
its compute time; once it is saturated, extra requests only queue and latency grows. Keeping a
small queue (`headroom` requests beyond the knee) keeps the GPU busy between steps without
piling up work that only adds latency, or that another replica could have done.

Requests are counted by their cost (tokens for the embedder, in units of a full request's
budget), and latency is compared per unit of cost: token-budget batching makes most requests
cost the same, but not all (a window's last request, the first ones of a run). A replica whose
queue holds small requests has room for more, so the replicas' queues hold the same work, not
the same number of requests, and they run out of it together at the end of a run; and a small
request's quick answer does not make every full one look overloaded.

The unloaded latency is the best seen. It is never taken from a request that may have queued
behind others of ours at the same replica: a limiter that did so (say, to forget an old best
after a while) would take a queued latency for the unloaded one, see no gradient any more and
grow without bound, each step giving the replica more requests and more queue, while the other
replicas ran out of work (issue #13: 0.88 of four replicas busy, 0.50 with a higher maximum).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

FORGET_AFTER_S = 30.0


class AdaptiveLimiter:
    def __init__(
        self,
        *,
        maximum: int,
        initial: int = 4,
        headroom: float = 4.0,
        tolerance: float = 2.0,
        smoothing: float = 0.2,
        unit_cost: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maximum = maximum
        self.limit = float(min(initial, maximum))  # in full requests (`unit_cost` each)
        self.headroom = headroom
        self.tolerance = tolerance
        self.smoothing = smoothing
        self.unit_cost = unit_cost
        self.in_flight = 0  # requests
        self.load = 0.0  # the same, in full requests: a request of half the budget is 0.5
        self._unloaded_latency: float | None = None  # seconds per unit of cost
        self._unloaded_seen_at = 0.0
        self._last_backoff = -math.inf
        self._clock = clock

    @property
    def used(self) -> float:
        """The part of the limit in use (0: idle; 1: full)."""
        return self.load / self.limit

    @property
    def has_room(self) -> bool:
        # against the limit itself, not its integer part: of two equal replicas, one at 7.95
        # would otherwise hold a full request less than one at 8.0, and finish a step early;
        # and never more requests than the maximum, however small (the client's connections)
        return self.load < self.limit and self.in_flight < self.maximum

    def take(self, cost: float = 1.0) -> float:
        """Count a request of `cost` in (the replica pool does, when it gives the request this
        replica); returns its share of the limit, for `release`."""
        share = max(cost, 1.0) / self.unit_cost
        self.in_flight += 1
        self.load += share
        return share

    def release(self, share: float) -> None:
        """Count a request out, whatever became of it."""
        self.in_flight -= 1
        self.load = max(0.0, self.load - share) if self.in_flight else 0.0

    def observe(self, latency: float, *, cost: float = 1.0, alone: bool = False) -> None:
        """Learn from a request that succeeded: its latency, its cost (tokens; 1 when requests
        are not measured), and whether it was alone in flight when it was sent (nothing of
        ours ahead of it at the server: its latency holds no queueing behind us)."""
        self._observe(max(latency, 1e-9) / max(cost, 1.0), alone=alone)

    def overloaded(self) -> None:
        """Learn that the server refused a request as overloaded (429, 503, a timeout)."""
        self._back_off()

    def _observe(self, latency: float, *, alone: bool) -> None:
        now = self._clock()
        if (
            self._unloaded_latency is None
            or latency < self._unloaded_latency
            # an old best is forgotten (the inputs or the server changed) only for a
            # latency that holds no queueing of ours
            or (alone and now - self._unloaded_seen_at > FORGET_AFTER_S)
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
        now = self._clock()
        # one halving per burst: a dozen refusals of the same moment are one signal
        if now - self._last_backoff > 0.5:
            self.limit = max(1.0, self.limit / 2)
            self._last_backoff = now
