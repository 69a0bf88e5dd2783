"""Time DPO data preparation on generated preference pairs: align's pair preparation, then TRL's tokenization.

Usage: python scripts/bench_prepare.py [--pairs 60000] [--num-proc 1 0] [--repeat 2]

For each value of --num-proc (0: align's default, one worker per core for a large set) a fresh
process with an empty datasets cache builds the DPO trainer of a recipe on tiny://llama over the
generated pairs, as `align run` does, and prints the seconds spent in
  prepare   loading the pairs and align's preparation (conversational format, prompt truncation)
  tokenize  the rest of trainer construction: the tokenization DPOTrainer needs (align's batched
            form of TRL's) and its checks (the tiny model loads in well under a second; imports
            happen before the clock starts)
and the total (and the CPU seconds it took, workers included), with its speedup over the first
--num-proc value. The machine's load average is
printed next to each figure: on a shared machine the figures are only comparable when measured
back to back at a similar load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "you",
    "that",
    "it",
    "he",
    "was",
    "for",
    "on",
    "are",
    "as",
    "with",
    "his",
    "they",
    "at",
    "be",
    "this",
    "have",
    "from",
]


def generate_pairs(n: int, seed: int) -> list[dict[str, Any]]:
    """H4-format pairs with UltraFeedback-like lengths (prompts ~60 words, responses ~150)."""
    rng = random.Random(seed)

    def text(mean: int) -> str:
        return " ".join(rng.choices(WORDS, k=max(1, int(rng.expovariate(1 / mean)))))

    rows = []
    for i in range(n):
        prompt = f"Q{i}: " + text(60)
        user = {"role": "user", "content": prompt}
        rows.append(
            {
                "prompt": prompt,
                "prompt_id": str(i),
                "chosen": [user, {"role": "assistant", "content": text(150)}],
                "rejected": [user, {"role": "assistant", "content": text(150)}],
                "score_chosen": 8.0,
                "score_rejected": 4.0,
            }
        )
    return rows


def cpu_seconds() -> float:
    """CPU time of this process (tokenizer threads included) and of its finished worker processes."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def measure(data_dir: str, output_dir: str, num_proc: int) -> dict[str, float]:
    """In this process: prepare the pairs, then build the DPO trainer; seconds of each phase."""
    import trl  # noqa: F401  (imports are not preparation)

    from align.config import load_recipe
    from align.methods import dpo

    recipe_path = Path(__file__).resolve().parents[1] / "recipes/smoke/dpo-full.yaml"
    overrides = [
        f"output_dir={output_dir}",
        f"data={{path: {data_dir}, format: binarized}}",
        "method.trainer.report_to=[]",
    ]
    if num_proc:
        overrides += [f"data.num_proc={num_proc}", f"method.trainer.dataset_num_proc={num_proc}"]
    recipe = load_recipe(recipe_path, overrides)
    prepare_splits, seconds = dpo.prepare_splits, {}

    def timed_prepare(*args: Any) -> Any:  # build_trainer's own call, timed
        begin = time.perf_counter()
        out = prepare_splits(*args)
        seconds["prepare"] = time.perf_counter() - begin
        return out

    dpo.prepare_splits = timed_prepare
    start, cpu = time.perf_counter(), cpu_seconds()
    # as `align run`: the pairs prepared, the models loaded, TRL's tokenization
    trainer = dpo.build_trainer(recipe)
    total = time.perf_counter() - start
    return {
        "prepare": seconds["prepare"],
        "tokenize": total - seconds["prepare"],
        "cpu": cpu_seconds() - cpu,
        "pairs": len(trainer.train_dataset),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-proc", type=int, nargs="+", default=[1, 0], help="0: align's default")
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure every --num-proc value this many times"
    )
    parser.add_argument("--child", nargs=3, metavar=("DATA", "OUT", "NUM_PROC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        data_dir, out, num_proc = args.child
        print("RESULT " + json.dumps(measure(data_dir, out, int(num_proc))), flush=True)
        return

    from align.data.workers import cores, map_workers
    from align.jsonl import write_jsonl

    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        data_dir = Path(tmp) / "pairs"
        write_jsonl(data_dir / "train_prefs.jsonl", generate_pairs(args.pairs, args.seed))
        size = (data_dir / "train_prefs.jsonl").stat().st_size / 1e6
        print(f"{args.pairs} pairs, {size:.0f} MB; {cores()} cores", flush=True)
        first: float | None = None
        for round_ in range(args.repeat):
            for num_proc in args.num_proc:
                run = f"{round_}-{num_proc}"
                env = {**os.environ, "HF_DATASETS_CACHE": str(Path(tmp) / f"hf-{run}")}
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    str(data_dir),
                    str(Path(tmp) / f"out-{run}"),
                    str(num_proc),
                ]
                load = os.getloadavg()[0]
                lines = subprocess.run(
                    cmd, env=env, capture_output=True, text=True, check=True
                ).stdout.splitlines()
                result = json.loads(
                    next(line for line in lines if line.startswith("RESULT "))[len("RESULT ") :]
                )
                total = result["prepare"] + result["tokenize"]
                first = first or total
                workers = map_workers(num_proc or None, args.pairs) or 1
                label = f"{num_proc}" if num_proc else f"default ({workers} workers)"
                print(
                    f"num_proc={label}: prepare {result['prepare']:.1f} s, tokenize {result['tokenize']:.1f} s, "
                    f"total {total:.1f} s (cpu {result['cpu']:.1f} s) for {result['pairs']} pairs; {first / total:.2f}x vs the first line; "
                    f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after",
                    flush=True,
                )


if __name__ == "__main__":
    main()
