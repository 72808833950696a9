"""The embedding replicas (one per base URL): which are up, and which one takes the next request.

A replica that cannot be reached is taken out for a cool-off that doubles on every new failure
(1 s, 2 s, 4 s … 30 s) and is tried again when it ends; one answer brings it fully back.

Work goes to the replica with the most spare capacity: the smallest part of its adaptive limit
in use (`limiter.py`), so an idle replica is served first, and a slower or smaller server, whose
limit is lower, gets less than a fast one instead of an equal share. A request waits here, in
one queue for the whole pool, until some replica has room, and only then is given one: a request
is never tied to a replica that is full while another runs out of work. So each replica gets a
new request when it answers one, at the pace it works, and at the end of a run the last requests
go to whichever replicas free up first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ragindex.embedding.limiter import AdaptiveLimiter

MIN_COOL_OFF_S = 1.0
MAX_COOL_OFF_S = 30.0


@dataclass
class Replica:
    url: str
    limiter: AdaptiveLimiter
    down_until: float = 0.0
    cool_off_s: float = 0.0  # the last cool-off; 0 while it answers
    reason: str = ""  # why it was last taken out
    last_picked: int = 0

    def is_up(self, now: float) -> bool:
        return now >= self.down_until


class ReplicaPool:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        max_concurrency: int,
        unit_cost: float = 1.0,
        min_cool_off_s: float = MIN_COOL_OFF_S,
        max_cool_off_s: float = MAX_COOL_OFF_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.replicas = [
            Replica(url, AdaptiveLimiter(maximum=max_concurrency, unit_cost=unit_cost, clock=clock))
            for url in urls
        ]
        self.min_cool_off_s = min_cool_off_s
        self.max_cool_off_s = max_cool_off_s
        self._clock = clock
        self._picks = itertools.count(1)
        self._slot_freed: asyncio.Event | None = None  # set, and replaced, when a slot frees

    def __iter__(self) -> Iterator[Replica]:
        return iter(self.replicas)

    def up(self) -> list[Replica]:
        now = self._clock()
        return [replica for replica in self.replicas if replica.is_up(now)]

    def pick(self) -> Replica | None:
        """The up replica with the most spare capacity: the smallest part of its limit in use
        (ties: the one given a request longest ago, so equal replicas share the work); None
        while every replica is cooling off."""
        candidates = self.up()
        if not candidates:
            return None
        return min(candidates, key=lambda replica: (replica.limiter.used, replica.last_picked))

    async def acquire(self, cost: float = 1.0) -> tuple[Replica, float] | None:
        """A slot for one request of `cost` at the replica with the most spare capacity,
        waiting while every replica that is up is full; None while every replica is cooling
        off. With the replica comes the request's share of its limit: give both back to
        `release`."""
        while True:
            best = self.pick()
            if best is None:
                return None
            if best.limiter.has_room:
                best.last_picked = next(self._picks)
                return best, best.limiter.take(cost)
            # a slot frees when a request ends; a replica cooling off may come back first
            if self._slot_freed is None:
                self._slot_freed = asyncio.Event()
            now = self._clock()
            returns = [replica.down_until for replica in self.replicas if not replica.is_up(now)]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._slot_freed.wait(), max(0.0, min(returns) - now) if returns else None
                )

    def release(self, replica: Replica, share: float) -> None:
        """Give a request's slot back (its limiter has learnt from it already); the requests
        waiting for one look again."""
        replica.limiter.release(share)
        if self._slot_freed is not None:
            self._slot_freed.set()
            self._slot_freed = None

    def mark_down(self, replica: Replica, reason: str) -> None:
        now = self._clock()
        if not replica.is_up(now):
            # requests that were already on their way fail too: one outage, one cool-off
            return
        replica.cool_off_s = min(
            self.max_cool_off_s,
            replica.cool_off_s * 2 if replica.cool_off_s else self.min_cool_off_s,
        )
        replica.down_until = now + replica.cool_off_s
        replica.reason = reason

    def mark_up(self, replica: Replica) -> None:
        replica.cool_off_s = 0.0
        replica.down_until = 0.0
        replica.reason = ""

    def seconds_to_next_return(self) -> float:
        """How long until a replica that is cooling off may be tried again (0 if one is up)."""
        now = self._clock()
        return max(0.0, min(replica.down_until for replica in self.replicas) - now)

    def describe_down(self) -> str:
        now = self._clock()
        return "; ".join(
            replica.reason or replica.url for replica in self.replicas if not replica.is_up(now)
        )

    @property
    def in_flight(self) -> int:
        return sum(replica.limiter.in_flight for replica in self.replicas)

    @property
    def limit(self) -> float:
        return sum(replica.limiter.limit for replica in self.replicas)
