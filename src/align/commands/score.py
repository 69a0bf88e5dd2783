"""`align score --model M --input IN.jsonl --output OUT.jsonl`: add reward-model scores to JSONL rows.

Rows with `prompt` + `response` get `reward`; rows with `prompt`, `chosen`, `rejected` get
`reward_chosen` and `reward_rejected`. Text is rendered in the reward model's template first.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from align.commands.argtypes import positive_int
from align.commands.fields import add_field_flags, given
from align.config.recipe import RewardModelConfig
from align.rm.templates import TEMPLATES


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Options shared by the commands that load a reward model (score, eval-rm)."""
    p.add_argument("--model", required=True, help="Reward model: hub id, local directory or tiny://llama-rm.")
    p.add_argument(
        "--template",
        help=f"Scoring template: {', '.join(TEMPLATES)}, chat, or a format string with {{prompt}} and "
        "{response}. Default: ultrarm for UltraRM checkpoints, else chat.",
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=8, help="Sequences per forward pass (default 8)."
    )
    add_field_flags(p, RewardModelConfig, ["dtype"])
    p.add_argument(
        "--append-eos", action="store_true", help="Append the EOS token to every text (UltraRM: no)."
    )
    p.add_argument(
        "--system-prompt",
        help="System turn rendered before the prompt in the chat template ('' for an empty one). Default: the "
        "one the reward model was trained with (recorded by align), else none.",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="Score JSONL rows with a reward model.", description=__doc__)
    add_model_args(p)
    p.add_argument("--input", required=True, type=Path, help="JSONL file to score.")
    p.add_argument("--output", required=True, type=Path, help="Where to write the scored JSONL.")
    p.add_argument("--overwrite", action="store_true", help="Replace --output if it exists.")
    p.set_defaults(func=main)


def load(args: argparse.Namespace):
    """The Scorer the shared options describe."""
    from align.paths import model_path
    from align.rm.load import inference_device
    from align.rm.scoring import load_scorer
    from align.rm.templates import check_template

    template = args.template and check_template(args.template)
    model_path(args.model, "--model")
    system = {} if args.system_prompt is None else {"system_prompt": args.system_prompt}
    cfg = RewardModelConfig(
        name_or_path=args.model,
        template=template,
        append_eos=args.append_eos,
        **system,
        **given(args, ["dtype"]),
    )
    return load_scorer(cfg, args.batch_size, inference_device())


def main(args: argparse.Namespace) -> int:
    from align.jsonl import write_jsonl
    from align.publish import check_output_file, staged_file
    from align.rm.scoring import read_rows, score_rows

    check_output_file(args.output, args.overwrite)
    rows, items = read_rows(args.input)  # a bad row fails here, before minutes of model loading
    scorer = load(args)
    with staged_file(args.output) as tmp:
        write_jsonl(tmp, score_rows(scorer, rows, items))
    print(f"align: scored {len(rows)} rows with template {scorer.template!r} -> {args.output}")
    return 0
