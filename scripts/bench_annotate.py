"""Annotation throughput against a local `transformers serve`: rows/min and tokens/s, by requests in flight.

Usage: python scripts/bench_annotate.py [--rows 8] [--in-flight 1 8] [--model tiny://llama]
       [--max-tokens 32] [--continuous-batching] [--device cpu]

Starts `transformers serve` on a free 127.0.0.1 port with the model (tiny://NAME is built
offline), annotates the first --rows rows of the shipped UltraFeedback sample (annotations
removed, as `align generate` writes them) once per --in-flight value, and prints each run's
report numbers. The judge's replies from a tiny random model are noise (every rating N/A);
what is measured is how busy the client keeps the server. Note the machine's load (`uptime`)
next to the numbers: on a shared machine they move with it.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"transformers serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    sys.exit("transformers serve did not become healthy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--model", default="tiny://llama")
    parser.add_argument("--max-tokens", type=int, default=32, help="Token limit of every judge reply.")
    parser.add_argument("--continuous-batching", action="store_true", help="Pass it to transformers serve.")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from align.config.annotate import AnnotateConfig
    from align.jsonl import read_jsonl, write_jsonl
    from align.models.tiny import resolve
    from align.pipeline.judge.annotate import annotate_file

    model = resolve(args.model)
    keep = ("model", "principle", "custom_system_prompt", "response")
    rows = read_jsonl(REPO / "src/align/data/sample/ultrafeedback_sample.jsonl")[: args.rows]
    rows = [{**r, "completions": [{k: c[k] for k in keep} for c in r["completions"]]} for r in rows]
    port = free_port()
    command = [str(Path(sys.executable).with_name("transformers")), "serve", model]
    command += ["--host", "127.0.0.1", "--port", str(port), "--device", args.device]
    if args.continuous_batching:
        command.append("--continuous-batching")
    proc = subprocess.Popen(
        command,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        with tempfile.TemporaryDirectory(prefix="bench-annotate-") as tmp:
            source = write_jsonl(Path(tmp) / "generated.jsonl", rows)
            completions = sum(len(r["completions"]) for r in rows)
            print(
                f"{len(rows)} rows, {completions} completions; judge {args.model}, max_tokens {args.max_tokens}"
            )
            for in_flight in args.in_flight:
                cfg = AnnotateConfig(
                    judge={
                        "base_url": f"{url}/v1",
                        "model": model,
                        "max_tokens": args.max_tokens,
                        "critique_max_tokens": args.max_tokens,
                    },
                    max_in_flight=in_flight,
                )
                r = annotate_file(source, Path(tmp) / f"out-{in_flight}.jsonl", cfg, progress=False)
                print(
                    f"max_in_flight={in_flight}: {r['wall_s']:.1f} s, {r['rows_per_min']:.2f} rows/min, "
                    f"{r['tokens_per_s']:.0f} tokens/s ({r['completion_tokens_per_s']:.1f} generated/s), "
                    f"{r['requests']} requests, {r['retries']} retries"
                )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
