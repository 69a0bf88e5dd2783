"""`align bench --method dpo|reward`: tokens/s, MFU and peak memory of training steps on random weights.

Synthetic pairs of a chosen length distribution go through TRL's trainer at a model shape built from
its config (no download). `--mode both` also runs plain TRL with its example-script defaults and
prints the speed-up of align's settings over them. Speed flags apply to `align` mode only.
"""

from __future__ import annotations

import argparse
import importlib.util

from align.bench.shapes import SHAPES
from align.commands.argtypes import positive_int
from align.commands.fields import field_choices
from align.config.recipe import ModelConfig
from align.errors import AlignError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="Benchmark training throughput at a model shape.", description=__doc__)
    p.add_argument("--method", choices=["dpo", "reward", "ppo"], default="dpo")
    p.add_argument("--shape", choices=list(SHAPES), default="tiny")
    p.add_argument(
        "--steps", type=positive_int, default=5, help="Timed optimizer steps (one warm-up step runs first)."
    )
    p.add_argument("--batch-size", type=positive_int, default=4, help="Pairs per step.")
    p.add_argument("--seq-len", type=int, default=256, help="Mean tokens of prompt + response.")
    p.add_argument(
        "--len-spread", type=float, default=0.5, help="Lengths vary uniformly by +- this fraction."
    )
    p.add_argument("--mode", choices=["align", "trl-defaults", "both"], default="align")
    p.add_argument("--lora", action="store_true", help="Train LoRA adapters (r=128, all linear layers).")
    p.add_argument(
        "--attn",
        choices=field_choices(ModelConfig, "attn_implementation"),
        help="model.attn_implementation",
    )
    p.add_argument(
        "--gradient-checkpointing", action="store_true", help="method.trainer.gradient_checkpointing"
    )
    p.add_argument("--liger", action="store_true", help="method.trainer.use_liger_kernel")
    p.add_argument(
        "--precompute-ref", action="store_true", help="method.trainer.precompute_ref_log_probs (DPO)"
    )
    p.add_argument("--torch-compile", action="store_true", help="method.trainer.torch_compile")
    p.add_argument(
        "--bucket-by-length",
        action="store_true",
        help="method.trainer.train_sampling_strategy=group_by_length (DPO): batches of similar length, less padding",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--output", default="runs/bench/results.jsonl", help="JSONL file each result is appended to."
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from align.bench.ppo import run_ppo_bench
    from align.bench.run import BenchSettings, run_bench, summary
    from align.jsonl import write_jsonl
    from align.publish import check_jsonl_log

    if args.steps < 1 or args.batch_size < 1 or args.seq_len < 2 or not 0 <= args.len_spread < 1:
        raise AlignError(
            "align bench needs --steps >= 1, --batch-size >= 1, --seq-len >= 2 and 0 <= --len-spread < 1 "
            f"(got {args.steps}, {args.batch_size}, {args.seq_len}, {args.len_spread})."
        )
    if args.precompute_ref and args.method != "dpo":
        raise AlignError(
            "--precompute-ref is a DPO option (reference log-probs); drop it for --method reward."
        )
    if args.method == "ppo" and (args.mode != "align" or args.lora or args.liger or args.torch_compile):
        raise AlignError(
            "align bench --method ppo measures TRL's PPOTrainer as align runs it; --mode trl-defaults, --lora, "
            "--liger and --torch-compile are not offered for it. Drop those flags."
        )
    if args.bucket_by_length and args.method != "dpo":
        raise AlignError("--bucket-by-length is implemented for DPO only; drop it for --method reward.")
    if args.liger and importlib.util.find_spec("liger_kernel") is None:
        raise AlignError(
            "--liger needs the liger-kernel package, which is not installed: pip install liger-kernel."
        )
    check_jsonl_log(args.output)
    modes = ["align", "trl-defaults"] if args.mode == "both" else [args.mode]
    records = []
    for mode in modes:
        settings = BenchSettings(
            method=args.method, shape=args.shape, steps=args.steps, batch_size=args.batch_size,
            seq_len=args.seq_len, len_spread=args.len_spread, mode=mode, lora=args.lora, attn=args.attn,
            gradient_checkpointing=args.gradient_checkpointing, liger=args.liger,
            precompute_ref=args.precompute_ref, torch_compile=args.torch_compile, seed=args.seed,
            bucket_by_length=args.bucket_by_length,
        )  # fmt: skip
        record = run_ppo_bench(settings) if args.method == "ppo" else run_bench(settings)
        write_jsonl(args.output, [record], append=True)
        records.append(record)
        print(f"\n== align bench: {args.method} {args.shape} ==\n{summary(record)}")
    if len(records) == 2:
        ratio = records[0]["tokens_per_s"] / records[1]["tokens_per_s"]
        print(f"\nalign / TRL-defaults tokens/s: {ratio:.3f}")
    print(f"\nappended {len(records)} result(s) to {args.output}")
    return 0
