"""Generation backends: one model at a time answers a list of chat requests.

- `transformers`: `model.generate` in this process (CPU or GPU), batched with left padding.
- `vllm`: vLLM's offline `LLM.chat` (GPU; the `vllm` extra), imported only when selected.
- `openai`: any OpenAI-compatible `/v1/chat/completions` server (vLLM serve, TGI, llama.cpp server,
  `transformers serve`, a hosted API), with requests in flight up to the endpoint's bound.

Each backend yields replies as they finish, so the caller can append them to its progress file
and an interrupted run loses at most the replies in flight.
"""

from __future__ import annotations

import gc
import importlib.util
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from align.config.generate import Endpoint, PoolModel, Sampling
from align.errors import AlignError


@dataclass(frozen=True)
class Request:
    key: Any
    messages: list[dict[str, str]]
    sampling: Sampling
    seed: int


@dataclass(frozen=True)
class Reply:
    key: Any
    text: str
    finish_reason: str  # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int


class Backend(Protocol):
    failures: dict[str, int]  # requests that got no reply, by reason (only remote backends have any)

    def generate(self, requests: Sequence[Request]) -> Iterator[Reply]: ...

    def close(self) -> None: ...


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """`text` up to the first stop string (excluded, as the OpenAI API does), and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


class TransformersBackend:
    """`generate` on the local device; one batch shares the first request's seed."""

    def __init__(self, model: PoolModel, batch_size: int) -> None:
        import torch

        from align.config.recipe import ModelConfig
        from align.models.loading import load_causal_lm, load_tokenizer

        cfg = ModelConfig(
            name_or_path=model.name_or_path,
            revision=model.revision,
            dtype=model.dtype,
            chat_template=model.chat_template,
            trust_remote_code=model.trust_remote_code,
        )
        self.tokenizer = load_tokenizer(cfg)
        self.tokenizer.padding_side = "left"
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = load_causal_lm(cfg).to(self.device).eval()
        self.batch_size = batch_size
        self.failures: dict[str, int] = {}

    def _ids(self, messages: list[dict[str, str]]) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def generate(self, requests: Sequence[Request]) -> Iterator[Reply]:
        import torch

        for start in range(0, len(requests), self.batch_size):
            batch = requests[start : start + self.batch_size]
            ids = [self._ids(r.messages) for r in batch]
            inputs = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt").to(self.device)
            sampling = batch[0].sampling
            sample = sampling.temperature > 0
            torch.manual_seed(batch[0].seed)
            with torch.no_grad():
                out = self.model.generate(
                    **inputs,
                    do_sample=sample,
                    temperature=sampling.temperature if sample else None,
                    top_p=sampling.top_p if sample else None,
                    top_k=0
                    if sample
                    else None,  # no top-k cut: vLLM and the OpenAI API sample from all tokens
                    max_new_tokens=sampling.max_new_tokens,
                    stop_strings=sampling.stop or None,
                    tokenizer=self.tokenizer if sampling.stop else None,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            width = inputs["input_ids"].shape[1]
            for request, prompt, row in zip(batch, ids, out[:, width:].tolist(), strict=True):
                eos = self.tokenizer.eos_token_id
                ended = eos in row
                tokens = (
                    row[: row.index(eos)] if ended else [t for t in row if t != self.tokenizer.pad_token_id]
                )
                text, stopped = cut_at_stop(
                    self.tokenizer.decode(tokens, skip_special_tokens=True), sampling.stop
                )
                yield Reply(
                    request.key,
                    text,
                    "stop" if ended or stopped or len(tokens) < sampling.max_new_tokens else "length",
                    len(prompt),
                    len(tokens) + int(ended),
                )

    def close(self) -> None:
        del self.model
        _free_memory()


class VLLMBackend:
    """vLLM's offline engine for one model; all of its prompts go in one `chat` call."""

    def __init__(self, model: PoolModel, seed: int) -> None:
        if importlib.util.find_spec("vllm") is None:
            raise AlignError(
                f"Pool model {model.label!r} uses backend 'vllm' but vLLM is not installed. Install it with "
                "`pip install -e '.[vllm]'` on a GPU machine, or set backend: transformers."
            )
        from vllm import LLM

        from align.models.tiny import resolve

        self.chat_template = model.chat_template
        self.failures: dict[str, int] = {}
        self.llm = LLM(
            model=resolve(model.name_or_path),
            revision=model.revision,
            dtype=model.dtype,
            trust_remote_code=model.trust_remote_code,
            seed=seed,
        )

    def generate(self, requests: Sequence[Request]) -> Iterator[Reply]:
        from vllm import SamplingParams

        params = [
            SamplingParams(
                temperature=r.sampling.temperature,
                top_p=r.sampling.top_p,
                max_tokens=r.sampling.max_new_tokens,
                stop=r.sampling.stop or None,
                seed=r.seed,
            )
            for r in requests
        ]
        outputs = self.llm.chat(
            [r.messages for r in requests], params, chat_template=self.chat_template, use_tqdm=True
        )
        for request, out in zip(requests, outputs, strict=True):
            done = out.outputs[0]
            yield Reply(
                request.key,
                done.text,
                "length" if done.finish_reason == "length" else "stop",
                len(out.prompt_token_ids or []),
                len(done.token_ids),
            )

    def close(self) -> None:
        del self.llm
        _free_memory()


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server, up to `max_in_flight` requests at once.

    A request that fails for good (its retries spent) yields no reply: it is counted in `failures`
    and generated again by the next run."""

    def __init__(self, model: PoolModel, endpoint: Endpoint, seed: int) -> None:
        from align.pipeline.openai_client import ChatClient

        self.client = ChatClient(
            endpoint.base_url,
            model.name_or_path,
            api_key_env=endpoint.api_key_env,
            max_in_flight=endpoint.max_in_flight,
            retries=endpoint.retries,
            backoff=endpoint.backoff,
            timeout=endpoint.timeout,
            seed=seed,
        )

    @property
    def failures(self) -> dict[str, int]:
        return dict(self.client.stats.failures)

    def generate(self, requests: Sequence[Request]) -> Iterator[Reply]:
        from align.pipeline.openai_client import RequestFailed

        sampling = [
            {
                "temperature": r.sampling.temperature,
                "top_p": r.sampling.top_p,
                "max_tokens": r.sampling.max_new_tokens,
                "seed": r.seed,
                **({"stop": r.sampling.stop} if r.sampling.stop else {}),
            }
            for r in requests
        ]
        work = [(r.key, r.messages, s) for r, s in zip(requests, sampling, strict=True)]
        for key, result in self.client.complete_all(work):
            if isinstance(result, RequestFailed):
                continue
            finish = "length" if result.finish_reason == "length" else "stop"
            yield Reply(key, result.text, finish, result.prompt_tokens, result.completion_tokens)

    def close(self) -> None:
        """Nothing to release: complete_all closes its connections."""


def open_backend(
    kind: str, model: PoolModel, endpoint: Endpoint | None, batch_size: int, seed: int
) -> Backend:
    if kind == "vllm":
        return VLLMBackend(model, seed)
    if kind == "openai":
        assert endpoint is not None  # GenerateConfig checks it
        return OpenAIBackend(model, endpoint, seed)
    return TransformersBackend(model, batch_size)


def _free_memory() -> None:
    """Release the model before the next one of the pool loads."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
