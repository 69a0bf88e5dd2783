"""Time DPO data preparation on generated preference pairs: align's pair preparation, then TRL's tokenization.

Usage: python scripts/bench_prepare.py [--pairs 60000] [--num-proc 1 0]

For each value of --num-proc (0: align's default, every core for a large set) a fresh process
with an empty datasets cache builds the DPO trainer of a recipe on tiny://llama over the
generated pairs, as `align run` does, and prints the seconds spent in
  prepare   loading the pairs and align's preparation (conversational format, prompt truncation)
  tokenize  the rest of trainer construction: TRL's tokenization and length filter (the tiny
            model loads in well under a second)
`--num-proc 1` is the single-core preparation align did before it used the machine's cores.
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


def measure(data_dir: str, output_dir: str, num_proc: int) -> dict[str, float]:
    """In this process: prepare the pairs, then build the DPO trainer; seconds of each phase."""
    from align.config import load_recipe
    from align.data.preferences import load_preferences
    from align.data.workers import map_workers
    from align.methods import dpo
    from align.models.loading import load_tokenizer

    recipe_path = Path(__file__).resolve().parents[1] / "recipes/smoke/dpo-full.yaml"
    overrides = [
        f"output_dir={output_dir}",
        f"data={{path: {data_dir}, format: binarized}}",
        "method.trainer.report_to=[]",
    ]
    if num_proc:
        overrides += [f"data.num_proc={num_proc}", f"method.trainer.dataset_num_proc={num_proc}"]
    recipe = load_recipe(recipe_path, overrides)
    start = time.perf_counter()
    splits = load_preferences(recipe.data, seed=recipe.seed)
    tokenizer = load_tokenizer(recipe.model)
    dpo.prepare_pairs(
        splits["train"],
        tokenizer,
        recipe.method.max_prompt_length,
        map_workers(recipe.data.num_proc, len(splits["train"])),
    )
    prepared = time.perf_counter()
    dpo.build_trainer(recipe)  # the pairs again, from the datasets cache, then TRL's tokenization
    done = time.perf_counter()
    return {"prepare": prepared - start, "tokenize": done - prepared}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-proc", type=int, nargs="+", default=[1, 0], help="0: align's default")
    parser.add_argument("--child", nargs=3, metavar=("DATA", "OUT", "NUM_PROC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        data_dir, out, num_proc = args.child
        print("RESULT " + json.dumps(measure(data_dir, out, int(num_proc))), flush=True)
        return

    from align.jsonl import write_jsonl

    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        data_dir = Path(tmp) / "pairs"
        write_jsonl(data_dir / "train_prefs.jsonl", generate_pairs(args.pairs, args.seed))
        size = (data_dir / "train_prefs.jsonl").stat().st_size / 1e6
        print(f"{args.pairs} pairs, {size:.0f} MB; {os.cpu_count()} cores")
        for num_proc in args.num_proc:
            env = {**os.environ, "HF_DATASETS_CACHE": str(Path(tmp) / f"hf-{num_proc}")}
            cmd = [
                sys.executable,
                __file__,
                "--child",
                str(data_dir),
                str(Path(tmp) / f"out-{num_proc}"),
                str(num_proc),
            ]
            lines = subprocess.run(
                cmd, env=env, capture_output=True, text=True, check=True
            ).stdout.splitlines()
            result = json.loads(next(line for line in lines if line.startswith("RESULT "))[len("RESULT ") :])
            label = "default" if num_proc == 0 else str(num_proc)
            print(
                f"num_proc={label}: prepare {result['prepare']:.1f} s, tokenize {result['tokenize']:.1f} s, "
                f"total {result['prepare'] + result['tokenize']:.1f} s"
            )


if __name__ == "__main__":
    main()
