"""Time `align binarize` on a synthetic raw file against an H4-style datasets.map script on the same file.

Usage: python scripts/bench_binarize.py [--rows 64000] [--seed 0] [--num-proc 1 2] [--repeat 1]

For each --num-proc value, `align binarize` (best-vs-random, the H4 strategy) and `h4_style` below
each run in a fresh process with an empty datasets cache on the same file, with that many worker
processes. The clock runs from loading the file to the written train/test files (imports before
it), and the line ends with the ratio h4-style / align and the machine's load average: on a
shared machine compare only figures measured back to back.

`h4_style` is our own script in the shape of the alignment-handbook's UltraFeedback binarization
(HuggingFaceH4/ultrafeedback_binarized): one datasets.map call per row that picks the completion
with the highest overall_score as chosen and a random other one as rejected, a filter, a seeded
train/test split and Dataset.to_json. The synthetic file mixes types within fields as the real
data does, which arrow's JSON reader refuses, so it reads lines and parses each in the map, and it
skips the rows and completions it cannot use rather than counting them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TEST_SIZE = 2000  # align's default binarize.test_size


def h4_style(path: str, out: Path, num_proc: int | None, seed: int) -> int:
    """Binarize `path` into out/{train,test}_prefs.jsonl the H4 way; return the number of pairs."""
    from datasets import Features, load_dataset

    from align.data.binarize import pair_features

    # the columns of HuggingFaceH4/ultrafeedback_binarized, typed as align types them
    h4_columns = ("prompt", "prompt_id", "chosen", "rejected", "messages", "score_chosen", "score_rejected")
    features = Features({name: pair_features()[name] for name in h4_columns})

    def binarize(example: dict[str, Any], index: int) -> dict[str, Any]:
        empty = dict.fromkeys(features)
        try:
            row = json.loads(example["text"])
        except ValueError:
            return empty
        if not isinstance(row, dict) or not isinstance(row.get("instruction"), str):
            return empty
        scored = []
        for completion in row.get("completions") or []:
            if not isinstance(completion, dict) or not isinstance(completion.get("response"), str):
                continue
            try:
                scored.append((float(completion.get("overall_score")), completion["response"]))
            except (TypeError, ValueError):
                continue
        if len(scored) < 2:
            return empty
        best = max(range(len(scored)), key=lambda i: scored[i][0])
        rejected = random.Random(seed + index).choice([c for i, c in enumerate(scored) if i != best])
        prompt = row["instruction"]

        def turns(response: str) -> list[dict[str, str]]:
            return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]

        return {
            "prompt": prompt,
            "prompt_id": hashlib.sha256(prompt.encode("utf-8", "replace")).hexdigest(),
            "chosen": turns(scored[best][1]),
            "rejected": turns(rejected[1]),
            "messages": turns(scored[best][1]),
            "score_chosen": scored[best][0],
            "score_rejected": rejected[0],
        }

    ds = load_dataset("text", data_files=path, split="train")
    ds = ds.map(binarize, with_indices=True, num_proc=num_proc, remove_columns=["text"], features=features)
    ds = ds.filter(lambda row: row["chosen"] is not None, num_proc=num_proc)
    splits = ds.train_test_split(test_size=TEST_SIZE, seed=seed)
    splits["train"].to_json(out / "train_prefs.jsonl", force_ascii=False)
    splits["test"].to_json(out / "test_prefs.jsonl", force_ascii=False)
    return len(ds)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished worker processes: less sensitive to a busy machine."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def measure(tool: str, path: str, out: Path, num_proc: int, seed: int) -> dict[str, float]:
    """In this process: seconds from loading `path` to the written splits, and the pairs written."""
    import datasets  # noqa: F401  (imports are not binarization)

    from align.config.recipe import BinarizeConfig
    from align.data.binarize import binarize

    start, cpu = time.perf_counter(), cpu_seconds()
    if tool == "align":
        report = binarize(path, BinarizeConfig(test_size=TEST_SIZE, seed=seed), out, num_proc=num_proc)
        pairs = sum(report["rows_written"].values())
    else:
        pairs = h4_style(path, out, num_proc if num_proc > 1 else None, seed)
    return {"seconds": time.perf_counter() - start, "cpu": cpu_seconds() - cpu, "pairs": pairs}


def run_child(tmp: Path, tool: str, source: Path, num_proc: int, seed: int, tag: str) -> dict[str, float]:
    """measure() in a fresh process, with its own copy of the file and an empty datasets cache."""
    copy = tmp / f"raw-{tag}.jsonl"
    copy.write_bytes(source.read_bytes())
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp / f"hf-{tag}")}
    cmd = [
        sys.executable,
        __file__,
        "--child",
        tool,
        str(copy),
        str(tmp / f"out-{tag}"),
        str(num_proc),
        str(seed),
    ]
    lines = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout.splitlines()
    return json.loads(next(line for line in lines if line.startswith("RESULT "))[len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-proc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1, help="measure every configuration this many times")
    parser.add_argument(
        "--child", nargs=5, metavar=("TOOL", "FILE", "OUT", "NUM_PROC", "SEED"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        tool, path, out, num_proc, seed = args.child
        print("RESULT " + json.dumps(measure(tool, path, Path(out), int(num_proc), int(seed))), flush=True)
        return

    from align.data.synthetic import generate_raw
    from align.jsonl import write_jsonl

    with tempfile.TemporaryDirectory(prefix="bench-binarize-") as tmp_name:
        tmp = Path(tmp_name)
        source = write_jsonl(tmp / "raw.jsonl", generate_raw(args.rows, args.seed))
        print(f"{args.rows} rows, {source.stat().st_size / 1e6:.1f} MB", flush=True)
        for round_ in range(args.repeat):
            for num_proc in args.num_proc:
                load = os.getloadavg()[0]
                align = run_child(tmp, "align", source, num_proc, args.seed, f"{round_}-{num_proc}-align")
                h4 = run_child(tmp, "h4", source, num_proc, args.seed, f"{round_}-{num_proc}-h4")
                print(
                    f"num_proc={num_proc}: align {align['seconds']:.1f} s (cpu {align['cpu']:.1f} s, {align['pairs']:.0f} pairs), "
                    f"h4-style {h4['seconds']:.1f} s (cpu {h4['cpu']:.1f} s, {h4['pairs']:.0f} pairs): align "
                    f"{h4['seconds'] / align['seconds']:.2f}x faster ({h4['cpu'] / align['cpu']:.2f}x less cpu); "
                    f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after",
                    flush=True,
                )


if __name__ == "__main__":
    main()
