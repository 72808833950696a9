"""One place that every stage reports to: latency percentiles, rates, retries and failures."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

import numpy as np

_LATENCY_WINDOW = 4096  # the most recent requests: percentiles follow the server as it changes


class Metrics:
    """Counters and a sliding latency window; safe to update from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._latencies: deque[float] = deque(maxlen=_LATENCY_WINDOW)
        self.requests = 0
        self.inputs = 0
        self.tokens = 0
        self.busy_seconds = 0.0
        self.retries: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.concurrency = 0

    def request(self, seconds: float, *, inputs: int, tokens: int = 0) -> None:
        with self._lock:
            self._latencies.append(seconds)
            self.requests += 1
            self.inputs += inputs
            self.tokens += tokens
            self.busy_seconds += seconds

    def retry(self, kind: str) -> None:
        with self._lock:
            self.retries[kind] += 1

    def failure(self, kind: str) -> None:
        with self._lock:
            self.failures[kind] += 1

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            elapsed = max(time.monotonic() - self._started, 1e-9)
            latencies = np.array(self._latencies, dtype=np.float64) * 1000.0
            figures: dict[str, float] = {
                "requests": self.requests,
                "inputs": self.inputs,
                "tokens": self.tokens,
                "requests_per_s": self.requests / elapsed,
                "inputs_per_s": self.inputs / elapsed,
                "tokens_per_s": self.tokens / elapsed,
                "retries": sum(self.retries.values()),
                "failures": sum(self.failures.values()),
                "concurrency": self.concurrency,
            }
            if latencies.size:
                p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
                figures |= {"latency_p50_ms": p50, "latency_p95_ms": p95, "latency_p99_ms": p99}
            for kind, count in self.retries.items():
                figures[f"retries_{kind}"] = count
            for kind, count in self.failures.items():
                figures[f"failures_{kind}"] = count
            return figures
