"""A real forward pass behind `/v1/embeddings`: Qwen3-Embedding-4B's architecture, random weights.

    python bench/gpu_server.py [--port 0] [--batch-tokens 16384] [--tiny] [--device cuda]

For the GPU benchmark (`bench/scaling.py gpu`): what the SGLang stand-in pretends, done for
real. The model is transformers' `Qwen3Model` built from a hand-written config with the 4B
model's shapes (hidden 2560, 36 layers, 32 heads, 8 KV heads, intermediate 9728, vocabulary
151,665, bf16) and random weights: nothing is downloaded, and the arithmetic per token is the
real model's. Documents are tokenized with Qwen's tokenizer (as `ragindex.tokens` ships it) plus
the end token, and pooled as Qwen3-Embedding does: the last token's hidden state, L2-normalised
(a `dimensions` field cuts it Matryoshka-style and renormalises).

Batching is SGLang's kind: every input goes into one queue; a scheduler thread takes as many
as fit a token budget per forward pass, counting padding (inputs of similar length go
together: the budget is the batch's longest input times its size), runs the pass, and answers
each request once all its inputs are done. `GET /stats` reports the GPU's busy time (CUDA
events around each pass), tokens, padded tokens and passes, like the stand-in's.
`--tiny` builds a two-layer model of the same vocabulary, for trying the server on a CPU.

The first line on stdout is `{"url": ..., "capacity_tokens_per_s": ...}`: the server's own
throughput on full batches of 512-token inputs, measured at start, before any client.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import queue
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ragindex.tokens import qwen_tokenizer

MODEL = "Qwen/Qwen3-Embedding-4B"
END_TOKEN = 151643  # <|endoftext|>: Qwen3-Embedding appends it to every input
CONTEXT = 32768


@dataclass
class Item:
    ids: list[int]
    done: Future[np.ndarray] = field(default_factory=Future)


@dataclass
class Stats:
    busy_seconds: float = 0.0
    tokens: int = 0
    padded_tokens: int = 0
    batches: int = 0
    requests: int = 0
    first_request_at: float | None = None
    last_request_at: float | None = None


def build_model(device: str, tiny: bool) -> Any:
    import torch
    from transformers import Qwen3Config, Qwen3Model

    shapes: dict[str, Any] = (
        dict(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            intermediate_size=128,
        )
        if tiny
        else dict(
            hidden_size=2560,
            num_hidden_layers=36,
            num_attention_heads=32,
            num_key_value_heads=8,
            head_dim=128,
            intermediate_size=9728,
        )
    )
    config = Qwen3Config(
        vocab_size=151665,
        max_position_embeddings=40960,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        attn_implementation="sdpa",
        **shapes,
    )
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device != "cpu" else torch.float32
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen3Model(config)  # random weights, initialised on the device
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


class Engine:
    """The scheduler thread: a queue of inputs, a padded-token budget per forward pass."""

    def __init__(self, model: Any, device: str, batch_tokens: int) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.device = device
        self.batch_tokens = batch_tokens
        self.stats = Stats()
        self.inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="gpu-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _take(self, waiting: list[Item]) -> list[Item]:
        """Everything queued joins the waiting list; the longest inputs go first, and the
        batch grows while its padded size (size x longest) stays within the budget."""
        if not waiting:
            waiting.append(self.inbox.get())
        while True:
            try:
                waiting.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        waiting.sort(key=lambda item: len(item.ids), reverse=True)
        longest = len(waiting[0].ids)
        size = max(1, min(len(waiting), self.batch_tokens // longest))
        batch = waiting[:size]
        del waiting[:size]
        return batch

    def _run(self) -> None:
        waiting: list[Item] = []
        while True:
            batch = self._take(waiting)
            try:
                vectors, seconds = self.forward([item.ids for item in batch])
            except Exception as error:  # one bad pass fails its inputs, not the server
                for item in batch:
                    item.done.set_exception(error)
                continue
            self.stats.busy_seconds += seconds
            self.stats.batches += 1
            self.stats.tokens += sum(len(item.ids) for item in batch)
            self.stats.padded_tokens += len(batch) * max(len(item.ids) for item in batch)
            for item, vector in zip(batch, vectors, strict=True):
                item.done.set_result(vector)

    def forward(self, inputs: list[list[int]]) -> tuple[np.ndarray, float]:
        """One pass; the vectors and the device's busy time for it."""
        torch = self.torch
        longest = max(map(len, inputs))
        ids = np.zeros((len(inputs), longest), dtype=np.int64)
        mask = np.zeros((len(inputs), longest), dtype=np.int64)
        for row, item in enumerate(inputs):
            ids[row, : len(item)] = item
            mask[row, : len(item)] = 1
        lengths = torch.tensor([len(item) for item in inputs], device=self.device)
        cuda = self.device.startswith("cuda")
        with torch.inference_mode():
            started = time.perf_counter()
            if cuda:
                begin, end = (
                    torch.cuda.Event(enable_timing=True),
                    torch.cuda.Event(enable_timing=True),
                )
                begin.record()
            hidden = self.model(
                input_ids=torch.from_numpy(ids).to(self.device, non_blocking=True),
                attention_mask=torch.from_numpy(mask).to(self.device, non_blocking=True),
            ).last_hidden_state
            last = hidden[torch.arange(len(inputs), device=self.device), lengths - 1]
            vectors = torch.nn.functional.normalize(last.float(), dim=-1)
            if cuda:
                end.record()
            result = vectors.cpu().numpy()  # waits for the pass
            seconds = begin.elapsed_time(end) / 1000 if cuda else time.perf_counter() - started
        return result, seconds

    def capacity(self, tokens_each: int = 512, passes: int = 5) -> float:
        """Tokens/s on full batches of `tokens_each`-token inputs (random ids), after a warm-up."""
        rng = np.random.default_rng(0)
        size = max(1, self.batch_tokens // tokens_each)
        batches = [
            [list(rng.integers(0, 150_000, tokens_each)) for _ in range(size)]
            for _ in range(passes + 1)
        ]
        self.forward(batches[0])
        busy = sum(self.forward(batch)[1] for batch in batches[1:])
        return passes * size * tokens_each / busy


class Server:
    def __init__(self, engine: Engine, model_name: str) -> None:
        self.engine = engine
        self.model_name = model_name
        self.tokenizer = qwen_tokenizer()

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
                status, answer = await self.route(method, path, body)
                writer.write(
                    (
                        f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                        f"content-type: application/json\r\ncontent-length: {len(answer)}\r\n\r\n"
                    ).encode()
                    + answer
                )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def route(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if method == "GET" and path == "/health":
            return 200, b""
        if method == "GET" and path == "/v1/models":
            return 200, json.dumps(
                {
                    "object": "list",
                    "data": [{"id": self.model_name, "object": "model", "max_model_len": CONTEXT}],
                }
            ).encode()
        if method == "GET" and path == "/stats":
            return 200, json.dumps(self.engine.stats.__dict__).encode()
        if method == "POST" and path == "/v1/embeddings":
            return await self.embeddings(json.loads(body or b"{}"))
        return 404, _error("Not Found")

    async def embeddings(self, request: dict[str, Any]) -> tuple[int, bytes]:
        stats = self.engine.stats
        stats.requests += 1
        now = time.monotonic()
        stats.first_request_at = stats.first_request_at or now
        stats.last_request_at = now
        raw = request.get("input")
        texts = [raw] if isinstance(raw, str) else list(raw or [])
        if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
            return 400, _error("Input cannot be empty or whitespace only")
        items = []
        for text in texts:
            ids = [*self.tokenizer.encoding.encode_ordinary(text), END_TOKEN]
            if len(ids) > CONTEXT:
                return 400, _error(
                    f"The input ({len(ids)} tokens) is longer than the model's context "
                    f"length ({CONTEXT} tokens)."
                )
            items.append(Item(ids))
        for item in items:
            self.engine.inbox.put(item)
        vectors = [await asyncio.wrap_future(item.done) for item in items]
        dimensions = request.get("dimensions")
        if dimensions is not None:
            cut = np.stack(vectors)[:, : int(dimensions)]
            vectors = list(cut / np.linalg.norm(cut, axis=1, keepdims=True))
        as_base64 = request.get("encoding_format") == "base64"
        tokens = sum(len(item.ids) for item in items)
        data = [
            {
                "object": "embedding",
                "index": index,
                "embedding": base64.b64encode(vector.astype("<f4").tobytes()).decode()
                if as_base64
                else vector.tolist(),
            }
            for index, vector in enumerate(vectors)
        ]
        return 200, json.dumps(
            {
                "object": "list",
                "data": data,
                "model": self.model_name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        ).encode()


def _error(message: str) -> bytes:
    return json.dumps(
        {"object": "error", "message": message, "type": "BadRequestError", "code": 400}
    ).encode()


async def serve(arguments: argparse.Namespace) -> None:
    model = build_model(arguments.device, arguments.tiny)
    engine = Engine(model, arguments.device, arguments.batch_tokens)
    capacity = engine.capacity(tokens_each=64 if arguments.tiny else 512, passes=3)
    engine.start()
    server = Server(engine, MODEL)
    listener = await asyncio.start_server(server.connection, "127.0.0.1", arguments.port)
    port = listener.sockets[0].getsockname()[1]
    print(
        json.dumps({"url": f"http://127.0.0.1:{port}/v1", "capacity_tokens_per_s": capacity}),
        flush=True,
    )
    async with listener:
        await listener.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--batch-tokens", type=int, default=16384)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true")
    arguments = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(arguments))


if __name__ == "__main__":
    main()
