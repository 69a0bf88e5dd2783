"""An async client for any OpenAI-compatible `/v1/chat/completions` endpoint (OpenAI, vLLM, `transformers serve`).

Both pipeline stages are bound by the model behind the endpoint, so the client keeps it busy:
up to `max_in_flight` requests run at once, and the transient failures of a shared server
(429 rate limits, 5xx errors, time-outs, dropped connections) are retried with exponential
backoff and full jitter, honouring a `Retry-After` header. Every request, retry and failure is
counted by reason, and the `usage` tokens are summed, so a run can report what it cost.

The API key is read from the environment variable the caller names; it is sent in the
Authorization header and never logged, printed, stored on disk or put in an error message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import random
import threading
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable

import httpx

from align.errors import AlignError

log = logging.getLogger(__name__)

# Statuses worth retrying: the server is busy or broke for a moment, the request itself is fine.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
# Statuses that no request of this run can get past: stop the run at the first one.
FATAL_STATUSES = {
    401: "the API key was refused: set the environment variable named by judge.api_key_env",
    403: "the API key may not use this model or endpoint",
    404: "the endpoint or model does not exist: check judge.base_url (it ends in /v1) and judge.model",
}


@dataclass(frozen=True, slots=True)
class Completion:
    """One chat completion: its text, the tokens `usage` reported, and why generation stopped."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None


@dataclass
class RequestStats:
    """Counters shared by every request of a run; retries and failures are keyed by reason."""

    requests: int = 0
    succeeded: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def record(self, completion: Completion) -> None:
        self.succeeded += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "succeeded": self.succeeded,
            "retries": sum(self.retries.values()),
            "retries_by_reason": dict(sorted(self.retries.items())),
            "failures_by_reason": dict(sorted(self.failures.items())),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


@runtime_checkable
class ChatModel(Protocol):
    """What the pipeline needs from a model: the HTTP client below, or an in-process backend."""

    stats: RequestStats

    async def complete(self, messages: list[dict[str, str]], **sampling: Any) -> Completion: ...


class RequestFailed(Exception):
    """A request that failed for good (retries spent, or a status not worth retrying); `reason` names why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def api_key(env_name: str | None) -> str | None:
    """The key from the environment variable `env_name`; None when no name is given (local servers)."""
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise AlignError(
            f"judge.api_key_env names the environment variable {env_name!r}, which is not set. Export it with "
            "the API key (`export NAME=...`), or set judge.api_key_env to null for a server without keys."
        )
    return value


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (Retry-After as seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import datetime, timezone

    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _reason(status: int) -> str:
    return "rate_limited" if status == 429 else f"http_{status}"


class ChatClient:
    """Chat completions from one model at an OpenAI-compatible base URL (e.g. http://127.0.0.1:8000/v1)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = None,
        max_in_flight: int = 8,
        retries: int = 6,
        backoff: float = 1.0,
        backoff_max: float = 60.0,
        timeout: float = 120.0,
        seed: int = 0,
    ) -> None:
        api_key(api_key_env)  # fail now, not at the first request, when the variable is unset
        self.api_key_env = api_key_env  # the key itself is read when connections open, never kept here
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.stats = RequestStats()
        self.max_in_flight = max_in_flight
        self._jitter = random.Random(seed)  # jitter only spreads retries out; it never changes a result
        self._http_args: dict[str, Any] = {
            "timeout": timeout,
            "limits": httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight),
        }
        # Opened in the event loop that uses them (asyncio objects belong to one loop).
        self._http: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections; the client stays usable (a later call opens new ones), stats are kept."""
        if self._http is not None:
            await self._http.aclose()
        self._http = self._slots = None

    def complete_all(
        self, requests: Iterable[tuple[Hashable, list[dict[str, str]], dict[str, Any]]]
    ) -> Iterator[tuple[Hashable, Completion | RequestFailed]]:
        """For synchronous callers: (key, messages, sampling) in, (key, result) out in finishing order.

        The requests run concurrently (up to max_in_flight) on an event loop in a helper thread; a
        request that failed for good yields its RequestFailed instead of a Completion. Closing the
        iterator early (or an interrupt) cancels what is still in flight.
        """
        results: queue.Queue = queue.Queue()
        done = object()
        loop = asyncio.new_event_loop()

        async def one(key: Hashable, messages: list[dict[str, str]], sampling: dict[str, Any]) -> None:
            try:
                results.put((key, await self.complete(messages, **sampling)))
            except RequestFailed as exc:
                results.put((key, exc))

        async def run_all() -> None:
            try:
                await asyncio.gather(*(one(*r) for r in requests))
            finally:
                await self.aclose()

        def thread() -> None:
            try:
                loop.run_until_complete(run_all())
            except BaseException as exc:  # handed to the caller's thread below
                results.put((done, exc))
            else:
                results.put((done, None))

        worker = threading.Thread(target=thread, name="chat-client", daemon=True)
        worker.start()
        try:
            while True:
                key, value = results.get()
                if key is done:
                    if value is not None and not isinstance(value, asyncio.CancelledError):
                        raise value
                    return
                yield key, value
        finally:
            if worker.is_alive():
                loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
                worker.join()
            loop.close()

    def _delay(self, attempt: int, server_asked: float | None) -> float:
        """Full-jitter exponential backoff, never shorter than what the server asked for."""
        ceiling = min(self.backoff_max, self.backoff * 2**attempt)
        return max(server_asked or 0.0, self._jitter.uniform(0, ceiling))

    async def complete(self, messages: list[dict[str, str]], **sampling: Any) -> Completion:
        """One chat completion; transient failures are retried, others raise RequestFailed."""
        body = {"model": self.model, "messages": messages, **sampling}
        for attempt in range(self.retries + 1):
            server_asked = None
            if self._http is None or self._slots is None:
                key = api_key(self.api_key_env)
                headers = {"Authorization": f"Bearer {key}"} if key else {}
                self._http = httpx.AsyncClient(headers=headers, **self._http_args)
                self._slots = asyncio.Semaphore(self.max_in_flight)
            async with self._slots:
                self.stats.requests += 1
                try:
                    response = await self._http.post(self.url, json=body)
                except httpx.TimeoutException as exc:
                    reason, detail = "timeout", repr(exc)
                except httpx.TransportError as exc:
                    reason, detail = "connection", repr(exc)
                else:
                    if response.status_code == 200:
                        completion = self._parse(response)
                        self.stats.record(completion)
                        return completion
                    reason, detail = _reason(response.status_code), response.text[:200]
                    if response.status_code in FATAL_STATUSES:
                        self.stats.failures[reason] += 1
                        raise AlignError(
                            f"The judge endpoint {self.url} answered HTTP {response.status_code}: "
                            f"{FATAL_STATUSES[response.status_code]}."
                        )
                    if response.status_code not in RETRY_STATUSES:
                        self.stats.failures[reason] += 1
                        raise RequestFailed(reason, detail)
                    server_asked = retry_after(response)
            if attempt == self.retries:
                self.stats.failures[reason] += 1
                raise RequestFailed(reason, f"{detail} (after {self.retries} retries)")
            self.stats.retries[reason] += 1
            log.debug("retrying a request to %s after %s: %s", self.url, reason, detail)
            await asyncio.sleep(self._delay(attempt, server_asked))
        raise AssertionError("unreachable")

    def _parse(self, response: httpx.Response) -> Completion:
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            self.stats.failures["bad_response"] += 1
            raise RequestFailed("bad_response", f"not a chat completion ({exc!r})") from None
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=choice.get("finish_reason"),
        )
