"""A stand-in for an SGLang embedding server (`--is-embedding`), for tests and benchmarks.

There is no GPU here, so this answers the way SGLang does over real HTTP on loopback:
`POST /v1/embeddings` (string or list input, `dimensions`, `encoding_format`), `GET /v1/models`,
`GET /health` (and `GET /stats`, the pretend GPU's busy time, for benchmarks), SGLang's error
bodies (`{"object": "error", "message", "type", "param", "code"}`)
for empty inputs and inputs longer than the context, and a latency model of a GPU doing dynamic
batching: each step takes a fixed overhead plus its tokens divided by the throughput, and holds
at most `max_batch_tokens` tokens. Faults can be injected: 5xx, 429 with Retry-After, stalls past
the client's timeout, connections cut mid-response, wrong vector counts, NaN vectors, and death:
`die_after=N` makes the server vanish on its Nth embeddings request (listener closed, every open
connection dropped, that request unanswered), as a killed process would; `stop()` does the same
from outside, and `start(port)` brings it back on the same port.

Vectors come from a hash of the text (fast, deterministic) or from the packaged USE model (so
that search results stay meaningful; an `Instruct: …\\nQuery:` prefix is stripped as Qwen3 would
understand it).

`POST /v1/rerank` answers as SGLang serving a reranker does (`sglang_rerank.py`: its checks and
messages, a word-overlap score a test can predict, SGLang's bare list or, with
`rerank_format="cohere"`, Cohere/Jina's `{"results": …}`), with the same fault injection.

Run alone for benchmarks: `python tests/sglang_standin.py --profile h100 --port 30000`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import json
import os
import random
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import orjson
import pybase64
from sglang_rerank import RerankFormat, overlap_score
from sglang_rerank import answer as rerank_answer
from sglang_rerank import problem as rerank_problem

from ragindex.tokens import qwen_tokenizer


@dataclass(frozen=True)
class Profile:
    """How fast the pretend GPU is. `tokens_per_s=None` costs nothing: the client's ceiling."""

    tokens_per_s: float | None
    step_overhead_s: float
    max_batch_tokens: int


H100 = Profile(tokens_per_s=60_000, step_overhead_s=0.004, max_batch_tokens=16_384)
CEILING = Profile(tokens_per_s=None, step_overhead_s=0.0, max_batch_tokens=1 << 30)
PROFILES = {"h100": H100, "ceiling": CEILING}


@dataclass
class Faults:
    """Probabilities per request (drawn from a seeded generator: runs are repeatable)."""

    error_500: float = 0.0
    error_503: float = 0.0
    error_429: float = 0.0
    retry_after_s: float = 0.05
    cut: float = 0.0  # send half the response, then drop the connection
    stall: float = 0.0  # answer only after `stall_s`, past a client's timeout
    stall_s: float = 5.0
    wrong_count: float = 0.0  # one vector fewer than inputs
    nan: float = 0.0  # a NaN inside the first vector
    # the first `fail_first` requests answer `fail_status`, whatever the draws: a fault that
    # is retried and then passes, with no dependence on the seed
    fail_first: int = 0
    fail_status: Literal[429, 500, 503] = 503


@dataclass(eq=False)  # a server is itself, not equal to one configured alike
class StandIn:
    model: str = "Qwen/Qwen3-Embedding-4B"
    native_dimension: int = 2560
    context_tokens: int = 32768
    vectors: Literal["hash", "use"] = "hash"
    # what the server does with `dimensions`: SGLang with is_matryoshka truncates; older
    # releases ignore the field; some servers refuse it
    dimensions_mode: Literal["matryoshka", "ignore", "reject"] = "matryoshka"
    base64_supported: bool = True
    max_running_requests: int | None = None  # a longer input list hangs (sgl-project/sglang#22518)
    api_key: str | None = None
    profile: Profile = CEILING
    faults: Faults = field(default_factory=Faults)
    seed: int = 0
    # vanish on this embeddings request, counted since creation (so for good: a restarted
    # server dies again on its next one)
    die_after: int | None = None
    # answer this many embeddings requests, then hold every later one until `release()`: a
    # run is caught part-way whatever the machine's load, as a server stuck on a long batch is
    hold_after: int | None = None
    # the shape of `/v1/rerank` answers: SGLang's bare list, or Cohere/Jina's {"results": …}
    rerank_format: RerankFormat = "sglang"

    def __post_init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # every embeddings body received, in order
        self.rerank_requests: list[dict[str, Any]] = []  # every rerank body, in order
        self._failed_first = 0
        self.held = 0  # requests waiting for `release()`
        self._released: asyncio.Event | None = None
        self.request_times: list[float] = []
        self.busy_seconds = 0.0
        self.batches = 0
        self.tokens = 0  # tokens embedded, as the server counts them (one end token per input)
        # every step of the pretend GPU: (start, seconds, inputs, tokens, inputs left queued),
        # for benchmarks that look for idle gaps (`GET /timeline`)
        self.steps: list[tuple[float, float, int, int, int]] = []
        self._random = random.Random(self.seed)
        self._tokenizer = qwen_tokenizer()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._queue: asyncio.Queue[tuple[int, asyncio.Future[None]]] | None = None
        self._started_at = 0.0
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        _LIVE.add(self)

    # --- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, port: int = 0) -> StandIn:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(port, ready), daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the stand-in server did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and self._thread is not None and self._thread.is_alive():
            # the loop may have closed itself meanwhile (`die_after`): then it is down already
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._halt, loop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def release(self) -> None:
        """Let the requests held by `hold_after` through, and every later one."""
        loop, released = self._loop, self._released
        if loop is not None and released is not None:
            loop.call_soon_threadsafe(released.set)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _halt(self, loop: asyncio.AbstractEventLoop) -> None:
        """Die as a killed process does: no new connections, open ones dropped at once (a
        client must not wait for an answer that will never come)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        loop.stop()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def utilization(self) -> float:
        """Busy time of the pretend GPU over the time since the first request."""
        if not self.request_times:
            return 0.0
        return self.busy_seconds / max(time.monotonic() - self.request_times[0], 1e-9)

    def reset_counters(self) -> None:
        self.requests.clear()
        self.request_times.clear()
        self.busy_seconds = 0.0
        self.batches = 0
        self.tokens = 0
        self.steps.clear()

    def _run(self, port: int, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)

        async def serve() -> None:
            self._queue = asyncio.Queue()
            self._released = asyncio.Event()
            self._writers = set()  # those of a previous life were dropped with it
            self._server = await asyncio.start_server(self._connection, "127.0.0.1", port)
            self.port = self._server.sockets[0].getsockname()[1]
            self._started_at = time.monotonic()
            self._gpu_task = asyncio.ensure_future(self._gpu())

        self._loop.run_until_complete(serve())
        # ready only once the loop runs for good: a `stop()` right after `start()` must not have
        # its loop.stop() spent on the start-up, leaving run_forever() with no one to stop it
        self._loop.call_soon(ready.set)
        try:
            self._loop.run_forever()
        finally:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    def _release_sockets_in_child(self) -> None:
        """In a forked child: let go of this server's listener and connections, as a child of
        the client would hold nothing of a server running in its own process. Each descriptor
        is pointed at /dev/null rather than closed, so that the child's copies of the socket
        objects can never close a number that has meanwhile been reused."""
        sockets = [socket for socket in (self._server.sockets if self._server else ())]
        sockets += [writer.get_extra_info("socket") for writer in self._writers]
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            for socket in sockets:
                with contextlib.suppress(OSError, AttributeError, ValueError):
                    os.dup2(devnull, socket.fileno())
        finally:
            os.close(devnull)

    # --- the pretend GPU: dynamic batching ---------------------------------------------------
    async def _gpu(self) -> None:
        assert self._queue is not None
        while True:
            first = await self._queue.get()
            step = [first]
            tokens = first[0]
            while not self._queue.empty() and tokens < self.profile.max_batch_tokens:
                item = self._queue.get_nowait()
                step.append(item)
                tokens += item[0]
            if self.profile.tokens_per_s is not None:
                cost = self.profile.step_overhead_s + tokens / self.profile.tokens_per_s
                started = time.monotonic()
                await asyncio.sleep(cost)
                self.busy_seconds += cost
                self.steps.append((started, cost, len(step), tokens, self._queue.qsize()))
            self.batches += 1
            for _, done in step:
                if not done.done():
                    done.set_result(None)

    async def _compute(self, token_counts: list[int]) -> None:
        if self.profile.tokens_per_s is None:
            return
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        pending = []
        for count in token_counts:
            done: asyncio.Future[None] = loop.create_future()
            await self._queue.put((count, done))
            pending.append(done)
        await asyncio.gather(*pending)

    # --- HTTP -------------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    name.strip().lower(): value.strip()
                    for name, value in (line.split(":", 1) for line in lines[1:] if ":" in line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                keep_going = await self._route(method, path, headers, body, writer)
                if not keep_going or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            # the server is stopping: end quietly (asyncio logs a cancelled connection task as
            # an error of its own callback), the connection is dropped below
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _route(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        writer: asyncio.StreamWriter,
    ) -> bool:
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            return await self._send(writer, 401, _error("Unauthorized", "AuthenticationError", 401))
        if method == "GET" and path == "/health":
            return await self._send(writer, 200, b"")
        if method == "GET" and path == "/v1/models":
            models = {
                "object": "list",
                "data": [
                    {
                        "id": self.model,
                        "object": "model",
                        "created": int(self._started_at),
                        "owned_by": "sglang",
                        "root": self.model,
                        "max_model_len": self.context_tokens,
                    }
                ],
            }
            return await self._send(writer, 200, json.dumps(models).encode())
        if method == "GET" and path == "/stats":
            # not an SGLang endpoint: the benchmarks read the pretend GPU's busy time here
            stats = {
                "busy_seconds": self.busy_seconds,
                "batches": self.batches,
                "requests": len(self.requests),
                "tokens": self.tokens,
                "first_request_at": self.request_times[0] if self.request_times else None,
                "last_request_at": self.request_times[-1] if self.request_times else None,
            }
            return await self._send(writer, 200, json.dumps(stats).encode())
        if method == "GET" and path == "/timeline":
            # not an SGLang endpoint either: every step and request arrival, for benchmarks
            timeline = {"steps": self.steps, "arrivals": self.request_times}
            return await self._send(writer, 200, json.dumps(timeline).encode())
        if method == "POST" and path == "/v1/embeddings":
            return await self._embeddings(json.loads(body or b"{}"), writer)
        if method == "POST" and path == "/v1/rerank":
            return await self._rerank(json.loads(body or b"{}"), writer)
        return await self._send(writer, 404, _error("Not Found", "NotFoundError", 404))

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        extra_headers: dict[str, str] | None = None,
        *,
        cut: bool = False,
    ) -> bool:
        reason = {
            200: "OK",
            400: "Bad Request",
            401: "Unauthorized",
            404: "Not Found",
            429: "Too Many Requests",
            500: "Internal Server Error",
            503: "Service Unavailable",
        }[status]
        header_lines = [
            f"HTTP/1.1 {status} {reason}",
            "content-type: application/json",
            f"content-length: {len(body)}",
        ]
        header_lines += [f"{name}: {value}" for name, value in (extra_headers or {}).items()]
        writer.write(("\r\n".join(header_lines) + "\r\n\r\n").encode())
        if cut:
            writer.write(body[: len(body) // 2])
            await writer.drain()
            writer.transport.abort()  # the connection drops mid-response
            return False
        writer.write(body)
        await writer.drain()
        return True

    async def _embeddings(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        self.requests.append(request)
        if self.hold_after is not None and len(self.requests) > self.hold_after:
            assert self._released is not None
            self.held += 1
            await self._released.wait()
        self.request_times.append(time.monotonic())
        if self.die_after is not None and len(self.requests) >= self.die_after:
            self._halt(asyncio.get_running_loop())
            return False
        inputs = request.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        problem = _validate(inputs, texts)
        if problem:
            return await self._send(writer, 400, _error(problem, "BadRequestError", 400))
        counts = [self._tokenizer.count(t) + 1 for t in texts]
        for count in counts:
            if count > self.context_tokens:
                message = (
                    f"The input ({count} tokens) is longer than the model's context "
                    f"length ({self.context_tokens} tokens)."
                )
                return await self._send(writer, 400, _error(message, "BadRequestError", 400))
        dimensions = request.get("dimensions")
        if dimensions is not None and self.dimensions_mode == "reject":
            message = f"Model {self.model} does not support matryoshka representation"
            return await self._send(writer, 400, _error(message, "BadRequestError", 400))
        if (
            dimensions is not None
            and self.dimensions_mode == "matryoshka"
            and not 1 <= dimensions <= self.native_dimension
        ):
            # a Matryoshka server cuts vectors, it cannot lengthen them
            message = (
                f"Requested dimensions {dimensions} is out of range: the model's embedding "
                f"size is {self.native_dimension}"
            )
            return await self._send(writer, 400, _error(message, "BadRequestError", 400))
        if self.max_running_requests is not None and len(texts) > self.max_running_requests:
            await asyncio.sleep(3600)  # the hang of sgl-project/sglang#22518
        faulted = await self._injected_fault(writer)
        if faulted is not None:
            return faulted
        faults = self.faults
        await self._compute(counts)
        self.tokens += sum(counts)
        vectors = self._vectors(texts, dimensions)
        if self._random.random() < faults.nan:
            vectors[0][0] = np.nan
        if self._random.random() < faults.wrong_count and len(vectors) > 1:
            vectors = vectors[:-1]
        use_base64 = self.base64_supported and request.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": index,
                "embedding": pybase64.b64encode(vector.astype("<f4").tobytes()).decode()
                if use_base64
                else vector.tolist(),
            }
            for index, vector in enumerate(vectors)
        ]
        answer = {
            "object": "list",
            "data": data,
            "model": self.model,
            "usage": {"prompt_tokens": sum(counts), "total_tokens": sum(counts)},
        }
        # orjson, fast enough that the ceiling profile measures the client, not this server;
        # float lists through json, which writes a NaN vector as NaN (orjson: null)
        body = orjson.dumps(answer) if use_base64 else json.dumps(answer).encode()
        cut = self._random.random() < faults.cut
        return await self._send(writer, 200, body, cut=cut)

    async def _injected_fault(self, writer: asyncio.StreamWriter) -> bool | None:
        """An error answer drawn from `faults` (its `_send` result), or a stall; None: go on."""
        faults = self.faults
        if self._failed_first < faults.fail_first:
            self._failed_first += 1
            return await self._send_fault(writer, faults.fail_status)
        draw = self._random.random()
        for threshold, status in (
            (faults.error_500, 500),
            (faults.error_500 + faults.error_503, 503),
            (faults.error_500 + faults.error_503 + faults.error_429, 429),
        ):
            if draw < threshold:
                return await self._send_fault(writer, status)
        draw = self._random.random()
        if draw < faults.stall:
            await asyncio.sleep(faults.stall_s)
        return None

    async def _send_fault(self, writer: asyncio.StreamWriter, status: int) -> bool:
        kind, message = _FAULT_BODIES[status]
        headers = {"retry-after": f"{self.faults.retry_after_s:g}"} if status == 429 else None
        return await self._send(writer, status, _error(message, kind, status), headers)

    async def _rerank(self, request: Any, writer: asyncio.StreamWriter) -> bool:
        self.rerank_requests.append(request)
        problem = rerank_problem(request)
        if problem:
            return await self._send(writer, 400, _error(problem, "BadRequestError", 400))
        query, documents = request["query"], request["documents"]
        query_tokens = self._tokenizer.count(query)
        for document in documents:
            # a cross-encoder reads the pair as one input: query, document and 3 special tokens
            count = query_tokens + self._tokenizer.count(document) + 3
            if count > self.context_tokens:
                message = (
                    f"The input ({count} tokens) is longer than the model's context "
                    f"length ({self.context_tokens} tokens)."
                )
                return await self._send(writer, 400, _error(message, "BadRequestError", 400))
        faulted = await self._injected_fault(writer)
        if faulted is not None:
            return faulted
        scores = [overlap_score(query, document) for document in documents]
        body = rerank_answer(request, scores, self.rerank_format, self.model)
        return await self._send(writer, 200, body, cut=self._random.random() < self.faults.cut)

    def _vectors(self, texts: list[str], dimensions: int | None) -> list[np.ndarray]:
        if self.vectors == "use":
            matrix = _use_vectors([_strip_instruction(text) for text in texts])
        else:
            matrix = _hash_vectors(texts, self.native_dimension)
        if dimensions is not None and self.dimensions_mode == "matryoshka":
            matrix = matrix[:, :dimensions]
            matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        return list(matrix.astype(np.float32))


_FAULT_BODIES = {
    500: ("InternalServerError", "Internal server error: CUDA error: an illegal memory access"),
    503: ("ServiceUnavailableError", "Service Unavailable"),
    429: ("TooManyRequests", "Too many requests"),
}
_LIVE: weakref.WeakSet[StandIn] = weakref.WeakSet()


def _release_sockets_in_child() -> None:
    # The ingest's reader processes are forked from the test process, and a fork inherits every
    # descriptor: a stopped stand-in's port would stay bound, and its connections open, for as
    # long as they live. A real server is its own process; this keeps the stand-in one too.
    for server in list(_LIVE):
        server._release_sockets_in_child()


os.register_at_fork(after_in_child=_release_sockets_in_child)


def _validate(raw: Any, texts: list[str]) -> str | None:
    """SGLang's own input checks, with its messages."""
    if not raw:
        return "Input cannot be empty"
    if isinstance(raw, str):
        return None if raw.strip() else "Input cannot be empty or whitespace only"
    for index, item in enumerate(texts):
        if not isinstance(item, str):
            return "All items in input list must be strings"
        if not item.strip():
            return f"Input at index {index} cannot be empty or whitespace only"
    return None


def _error(message: str, kind: str, code: int) -> bytes:
    return json.dumps(
        {"object": "error", "message": message, "type": kind, "param": None, "code": code}
    ).encode()


def _hash_vectors(texts: list[str], dimension: int) -> np.ndarray:
    """A pseudo-random unit vector for each text, always the same for the same text: four
    64-byte digests of it, repeated to the dimension, weigh a fixed random vector.
    Elementwise, for all texts at once: a generator seeded per text cost the ceiling profile
    more than the client it measures, and a matrix product would start BLAS threads that take
    its cores. (Rank 128: two texts' vectors are nearly orthogonal, |cos| ~0.07 on average.)"""
    digests = b"".join(
        hashlib.blake2b(text.encode(), digest_size=64, salt=bytes([salt]) * 16).digest()
        for text in texts
        for salt in range(_HASH_DIGESTS)
    )
    width = 32 * _HASH_DIGESTS
    weights = np.frombuffer(digests, dtype="<i2").reshape(len(texts), width).astype(np.float32)
    repeats = -(-dimension // width)
    matrix = np.tile(weights, (1, repeats))[:, :dimension] * _hash_basis(dimension)
    unit: np.ndarray = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return unit


_HASH_DIGESTS = 4


@functools.cache
def _hash_basis(dimension: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(dimension).astype(np.float32)


def _strip_instruction(text: str) -> str:
    marker = "\nQuery:"
    return text.split(marker, 1)[1] if text.startswith("Instruct:") and marker in text else text


_use_lock = threading.Lock()


def _use_vectors(texts: list[str]) -> np.ndarray:
    from ragindex.embedding.local import _load_model

    with _use_lock:
        return np.asarray(_load_model(1).encode(texts), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=30000)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="h100")
    parser.add_argument("--dimension", type=int, default=2560)
    parser.add_argument("--vectors", choices=["hash", "use"], default="hash")
    arguments = parser.parse_args()
    server = StandIn(
        native_dimension=arguments.dimension,
        vectors=arguments.vectors,
        profile=PROFILES[arguments.profile],
    ).start(arguments.port)
    print(json.dumps({"url": server.url}), flush=True)
    try:
        while True:
            time.sleep(1.0)
            print(
                json.dumps(
                    {
                        "busy_seconds": server.busy_seconds,
                        "batches": server.batches,
                        "requests": len(server.requests),
                    }
                ),
                flush=True,
            )
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
