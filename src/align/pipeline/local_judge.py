"""An in-process judge (`annotate.judge.backend: transformers` or `vllm`) behind the annotate loop's ChatModel API.

The annotate loop sends up to `max_in_flight` requests at once, as it would to a server; here they
are queued and the ones waiting are answered together, one `generate` call per group of equal
sampling settings, in a worker thread so the loop keeps filling the queue. For throughput on a GPU
a vLLM server (`vllm serve`) with the `openai` backend batches better still.
"""

from __future__ import annotations

import asyncio
from typing import Any

from align.config.generate import PoolModel, Sampling
from align.pipeline.backends import Request, open_backend
from align.pipeline.openai_client import Completion, RequestStats


class LocalChatModel:
    """A model loaded in this process, answering chat requests in batches of up to `batch_size`."""

    def __init__(self, backend: str, model: PoolModel, batch_size: int, seed: int) -> None:
        self.backend = open_backend(backend, model, None, batch_size, seed)
        self.batch_size = batch_size
        self.seed = seed
        self.stats = RequestStats()
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None

    @staticmethod
    def sampling(options: dict[str, Any]) -> Sampling:
        """OpenAI-style request options -> align's Sampling (max_tokens, temperature, top_p, stop)."""
        return Sampling(
            temperature=options.get("temperature", 0.0),
            top_p=options.get("top_p") or 1.0,
            max_new_tokens=options.get("max_tokens") or 1024,
            stop=options.get("stop") or [],
        )

    async def complete(self, messages: list[dict[str, str]], **options: Any) -> Completion:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._serve(self._queue))
        future: asyncio.Future[Completion] = loop.create_future()
        request = Request(None, messages, self.sampling(options), options.get("seed", self.seed))
        await self._queue.put((request, future))
        return await future

    async def _serve(self, queue: asyncio.Queue) -> None:
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < self.batch_size:
                batch.append(queue.get_nowait())
            groups: dict[str, list[tuple[Request, asyncio.Future]]] = {}
            for request, future in batch:
                groups.setdefault(request.sampling.model_dump_json(), []).append((request, future))
            for group in groups.values():
                requests = [Request(i, r.messages, r.sampling, r.seed) for i, (r, _) in enumerate(group)]
                self.stats.requests += len(requests)
                try:
                    replies = await asyncio.to_thread(lambda rs=requests: list(self.backend.generate(rs)))
                except Exception as exc:  # handed to every waiting caller
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for reply in replies:
                    completion = Completion(
                        reply.text, reply.prompt_tokens, reply.completion_tokens, reply.finish_reason
                    )
                    self.stats.record(completion)
                    future = group[reply.key][1]
                    if not future.done():
                        future.set_result(completion)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self.backend.close()
