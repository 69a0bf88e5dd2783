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
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
    from align.pipeline.local_server import local_server

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the judge is a local model; the server needs no hub
    model = resolve(args.model)
    keep = ("model", "principle", "custom_system_prompt", "response")
    rows = read_jsonl(REPO / "src/align/data/sample/ultrafeedback_sample.jsonl")[: args.rows]
    rows = [{**r, "completions": [{k: c[k] for k in keep} for c in r["completions"]]} for r in rows]
    extra = ["--continuous-batching"] if args.continuous_batching else []
    with (
        tempfile.TemporaryDirectory(prefix="bench-annotate-") as tmp,
        local_server(model, Path(tmp) / "serve.log", device=args.device, extra_args=extra) as url,
    ):
        source = write_jsonl(Path(tmp) / "generated.jsonl", rows)
        completions = sum(len(r["completions"]) for r in rows)
        print(
            f"{len(rows)} rows, {completions} completions; judge {args.model}, max_tokens {args.max_tokens}"
        )
        for in_flight in args.in_flight:
            cfg = AnnotateConfig(
                judge={
                    "base_url": url,
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
    print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
