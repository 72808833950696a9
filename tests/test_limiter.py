"""The adaptive concurrency limit of one replica, on a clock the test moves: it finds a small
queue and keeps it, however long the server stays saturated."""

from __future__ import annotations

from ragindex.embedding.limiter import AdaptiveLimiter

FULL = 16_384  # tokens in a full request


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def saturated(limiter: AdaptiveLimiter, clock: Clock, step_s: float, answers: int) -> None:
    """A server that runs one full request a step: each answer waited behind every request
    in flight, so its latency is as many steps as the limit lets through."""
    for _ in range(answers):
        clock.now += step_s
        limiter.observe(step_s * max(1, int(limiter.limit)), cost=FULL)


def test_limiter_halves_on_overload_and_recovers() -> None:
    limiter = AdaptiveLimiter(maximum=64, initial=16)
    limiter.overloaded()
    assert limiter.limit == 8
    for _ in range(50):
        limiter.observe(0.1)
    assert limiter.limit > 8


def test_a_saturated_server_gets_a_small_queue_however_long_it_lasts() -> None:
    # issue #13: the unloaded latency was forgotten after 30 s and the next answer, queued,
    # taken for it; the limit then grew without end and the replica took all the work
    clock = Clock()
    limiter = AdaptiveLimiter(maximum=256, unit_cost=FULL, clock=clock)
    limiter.observe(0.3, cost=FULL, alone=True)  # a lone request: one step, no queue
    saturated(limiter, clock, 0.3, answers=100)  # 30 s
    settled = limiter.limit
    saturated(limiter, clock, 0.3, answers=1_000)  # five minutes more
    assert 2 <= settled <= 2 * limiter.headroom + 1
    assert abs(limiter.limit - settled) < 1


def test_a_quick_small_answer_does_not_make_full_requests_look_overloaded() -> None:
    clock = Clock()
    small_first = AdaptiveLimiter(maximum=64, unit_cost=FULL, clock=clock)
    full_only = AdaptiveLimiter(maximum=64, unit_cost=FULL, clock=clock)
    small_first.observe(0.01, cost=200, alone=True)  # a window's last few chunks, unloaded
    for limiter in (small_first, full_only):
        for _ in range(30):  # full requests, unloaded: the server keeps up
            limiter.observe(0.3, cost=FULL)
    assert full_only.limit > 8 and abs(small_first.limit - full_only.limit) <= 1


def test_a_request_weighs_its_share_of_the_token_budget() -> None:
    limiter = AdaptiveLimiter(maximum=64, initial=4, unit_cost=FULL)
    shares = [limiter.take(FULL // 4) for _ in range(12)]  # three full requests' worth
    assert limiter.has_room and limiter.in_flight == 12
    assert abs(limiter.used - 0.75) < 1e-9
    full = limiter.take(FULL)
    assert not limiter.has_room
    limiter.release(full)
    for share in shares:
        limiter.release(share)
    assert limiter.in_flight == 0 and limiter.used == 0
