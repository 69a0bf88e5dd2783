"""A small real OpenAI-compatible chat-completions server on 127.0.0.1, for the client and annotation tests.

It answers with whatever `reply(body)` returns, and can be told to misbehave on schedule:
"429" (rate limit with Retry-After), "500", "503", "hang" (answer after the client's time-out),
"drop" (close the connection without answering), "404". It records what a test checks: requests
seen, the most in flight at once, Authorization headers, and the usage it reported.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ChatServer:
    def __init__(
        self,
        reply: Callable[[dict[str, Any]], str],
        schedule: list[str] | None = None,
        delay: float = 0.0,
        retry_after: str = "0",
        hang: float = 2.0,
    ) -> None:
        self.reply = reply
        self.schedule = list(schedule or [])
        self.delay = delay
        self.retry_after = retry_after
        self.hang = hang
        self.lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.authorization: list[str | None] = []
        self.arrivals: list[float] = []
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}
        self.bodies: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests += 1
                    server.arrivals.append(time.monotonic())
                    server.authorization.append(self.headers.get("Authorization"))
                    action = server.schedule.pop(0) if server.schedule else "ok"
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    server._answer(self, body, action)
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, payload: dict, headers: dict | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], action: str) -> None:
        if action == "drop":
            handler.close_connection = True
            return
        if action == "hang":
            time.sleep(self.hang)
        if action in ("429", "500", "503", "404"):
            headers = {"Retry-After": self.retry_after} if action in ("429", "503") else {}
            self._send(handler, int(action), {"error": {"message": action}}, headers)
            return
        time.sleep(self.delay)
        text = self.reply(body)
        prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
        completion_tokens = len(text.split())
        max_tokens = body.get("max_tokens")
        finish = "length" if max_tokens is not None and completion_tokens >= max_tokens else "stop"
        with self.lock:
            self.usage["prompt_tokens"] += prompt_tokens
            self.usage["completion_tokens"] += completion_tokens
            self.bodies.append(body)
        self._send(
            handler,
            200,
            {
                "id": f"chatcmpl-{self.requests}",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
