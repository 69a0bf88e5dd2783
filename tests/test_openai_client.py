"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1 that fails on schedule."""

from __future__ import annotations

import asyncio
import time

import pytest

from align.errors import AlignError
from align.pipeline.openai_client import ChatClient, Completion, RequestFailed
from judge_http import ChatServer

MESSAGES = [{"role": "user", "content": "say something"}]


def echo(body: dict) -> str:
    return "reply to " + body["messages"][-1]["content"]


def client(server: ChatServer, **kwargs) -> ChatClient:
    kwargs = {"retries": 5, "backoff": 0.01, "timeout": 5.0, **kwargs}
    return ChatClient(server.base_url, "judge-model", **kwargs)


async def _complete(c: ChatClient, messages=MESSAGES, **sampling) -> Completion:
    async with c:
        return await c.complete(messages, **sampling)


def test_transient_failures_are_retried_and_counted_by_reason():
    with ChatServer(echo, schedule=["429", "500", "drop", "503"]) as server:
        c = client(server)
        reply = asyncio.run(_complete(c, max_tokens=50))
    assert reply.text == "reply to say something"
    assert reply.finish_reason == "stop"
    assert server.requests == 5
    assert c.stats.requests == 5
    assert dict(c.stats.retries) == {"rate_limited": 1, "http_500": 1, "connection": 1, "http_503": 1}
    assert not c.stats.failures
    assert server.bodies[0]["model"] == "judge-model" and server.bodies[0]["max_tokens"] == 50


def test_a_timed_out_request_is_retried():
    with ChatServer(echo, schedule=["hang"], hang=1.5) as server:
        c = client(server, timeout=0.3)
        reply = asyncio.run(_complete(c))
    assert reply.text.startswith("reply to")
    assert dict(c.stats.retries) == {"timeout": 1}


def test_retries_run_out_into_a_named_failure():
    with ChatServer(echo, schedule=["500"] * 3) as server:
        c = client(server, retries=2)
        with pytest.raises(RequestFailed) as info:
            asyncio.run(_complete(c))
    assert info.value.reason == "http_500"
    assert server.requests == 3
    assert dict(c.stats.retries) == {"http_500": 2}
    assert dict(c.stats.failures) == {"http_500": 1}


def test_retry_after_is_honoured():
    with ChatServer(echo, schedule=["429"], retry_after="1") as server:
        c = client(server, backoff=0.001)
        asyncio.run(_complete(c))
    assert server.requests == 2
    assert server.arrivals[1] - server.arrivals[0] >= 0.95


def test_backoff_grows_exponentially_within_its_cap():
    c = ChatClient("http://127.0.0.1:9/v1", "m", backoff=0.5, backoff_max=3.0)
    for attempt in range(6):
        ceiling = min(3.0, 0.5 * 2**attempt)
        delays = [c._delay(attempt, None) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jitter spreads over the whole range
    assert c._delay(0, 7.0) >= 7.0


def test_client_errors_are_not_retried():
    with ChatServer(echo, schedule=["404"]) as server:
        with pytest.raises(AlignError, match="HTTP 404"):
            asyncio.run(_complete(client(server)))
        assert server.requests == 1


def test_requests_in_flight_are_bounded_and_tokens_add_up():
    with ChatServer(echo, delay=0.2) as server:
        c = client(server, max_in_flight=4)

        async def many() -> list[Completion]:
            async with c:
                return await asyncio.gather(
                    *(
                        c.complete([{"role": "user", "content": f"question {i} " * (i + 1)}])
                        for i in range(16)
                    )
                )

        replies = asyncio.run(many())
    assert server.max_in_flight == 4
    assert c.stats.prompt_tokens == server.usage["prompt_tokens"] == sum(r.prompt_tokens for r in replies)
    assert c.stats.completion_tokens == server.usage["completion_tokens"]
    assert c.stats.requests == c.stats.succeeded == 16


def test_api_key_comes_from_the_named_variable_and_is_never_recorded(monkeypatch):
    secret = "sk-test-do-not-leak-1234"
    monkeypatch.setenv("ALIGN_TEST_JUDGE_KEY", secret)
    with ChatServer(echo, schedule=["500", "ok", "404"]) as server:
        c = client(server, api_key_env="ALIGN_TEST_JUDGE_KEY")
        asyncio.run(_complete(c))
        with pytest.raises(AlignError) as info:
            asyncio.run(_complete(c))
    assert server.authorization == [f"Bearer {secret}"] * 3
    assert secret not in str(info.value)
    assert secret not in repr(c.stats.as_dict())
    assert secret not in repr(vars(c))


def test_a_missing_key_variable_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("ALIGN_TEST_UNSET_KEY", raising=False)
    with pytest.raises(AlignError, match="ALIGN_TEST_UNSET_KEY"):
        ChatClient("http://127.0.0.1:9/v1", "m", api_key_env="ALIGN_TEST_UNSET_KEY")


def test_complete_all_yields_every_key_and_failures_as_values():
    with ChatServer(echo, schedule=["500", "500"], delay=0.05) as server:
        c = client(server, retries=0, max_in_flight=1)
        requests = [(i, [{"role": "user", "content": f"q{i}"}], {"max_tokens": 5}) for i in range(5)]
        results = dict(c.complete_all(requests))
        assert sorted(results) == list(range(5))
        failed = [k for k, v in results.items() if isinstance(v, RequestFailed)]
        assert len(failed) == 2 and {results[k].reason for k in failed} == {"http_500"}
        assert all(results[k].text == f"reply to q{k}" for k in results if k not in failed)
        # the client can be used again afterwards, on a new event loop
        again = dict(c.complete_all([("x", MESSAGES, {})]))
    assert again["x"].text == "reply to say something"


def test_closing_complete_all_early_cancels_what_is_left():
    with ChatServer(echo, delay=0.3) as server:
        c = client(server, max_in_flight=2)
        results = c.complete_all((i, MESSAGES, {}) for i in range(20))
        first = next(results)
        results.close()
        sent = server.requests
        time.sleep(0.5)
        assert server.requests == sent < 20
    assert isinstance(first[1], Completion)
