"""Start `transformers serve` on 127.0.0.1 for one local model, and stop it: a real OpenAI-compatible judge
for the smoke test and for measuring annotation throughput on one machine.

`transformers serve` comes with the `transformers[serving]` extra (FastAPI, Uvicorn). Pinned to one
model (its FORCE_MODEL argument), it answers only requests naming that model by the same string.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from align.errors import AlignError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def local_server(
    model: str | Path,
    log: Path,
    start_timeout: float = 600.0,
    device: str = "cpu",
    extra_args: Sequence[str] = (),
) -> Iterator[str]:
    """Serve `model` (a local directory) on a free port of 127.0.0.1; yields the base URL (…/v1).

    `extra_args` go to `transformers serve` (e.g. --continuous-batching). The server's output goes
    to `log`; the process is stopped (terminate, then kill) on exit.
    """
    port = free_port()
    command = [
        sys.executable, "-m", "transformers.cli.transformers", "serve", str(model),
        "--host", "127.0.0.1", "--port", str(port), "--device", device, "--log-level", "warning", *extra_args,
    ]  # fmt: skip
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + start_timeout
            while not _healthy(f"http://127.0.0.1:{port}/health"):
                if process.poll() is not None:
                    raise AlignError(
                        f"transformers serve exited with code {process.returncode} before answering; see {log}. "
                        "It needs the serving extra: pip install 'transformers[serving]'."
                    )
                if time.monotonic() > deadline:
                    raise AlignError(
                        f"transformers serve did not answer within {start_timeout:.0f}s; see {log}."
                    )
                time.sleep(0.5)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
