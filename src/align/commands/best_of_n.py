"""`align best-of-n --model M --reward-model RM --prompts FILE`: best-of-N sampling without writing a recipe.

Samples max(N) completions per prompt once, scores them with the reward model in its own
template, and writes the argmax among the first N for each N, AlpacaEval JSON, and a
reward-vs-N table and plot (see align.methods.best_of_n). The flags build the same recipe a
`method: {name: best-of-n}` YAML would; `align run RECIPE` runs such a file. Under
`accelerate launch -m align.cli best-of-n ...` the prompts are shared out over the processes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from align.commands.argtypes import DefaultsHelp, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "best-of-n",
        help="Sample N completions per prompt, keep the reward model's best.",
        description=__doc__,
        formatter_class=DefaultsHelp,
    )
    p.add_argument("--model", required=True, help="Policy: hub id, local directory or tiny://ultralm.")
    p.add_argument(
        "--chat-template",
        help="File with a Jinja chat template for the policy (UltraLM's); default: the tokenizer's own.",
    )
    p.add_argument(
        "--reward-model", required=True, help="Reward model: hub id, local directory or tiny://llama-rm."
    )
    p.add_argument(
        "--template",
        help="Reward template: ultrarm, chat, or a format string with {prompt} and {response}; default: ultrarm "
        "for UltraRM checkpoints, else chat.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--prompts", help="JSON/JSONL file of rows with `instruction` (e.g. AlpacaEval's alpaca_eval.json)."
    )
    source.add_argument("--data", help="Raw UltraFeedback: hub id, local file or sample://ultrafeedback.")
    p.add_argument(
        "--n",
        type=positive_int,
        nargs="+",
        default=[1, 2, 4, 8, 16],
        help="Values of N: max(N) samples are drawn per prompt once, and the best of the first N kept for each.",
    )
    p.add_argument(
        "--max-prompts",
        type=positive_int,
        help="Use a seeded random subset of this many prompts; default: all of them.",
    )
    p.add_argument("--temperature", type=float, default=1.0, help="Sampling temperature (> 0).")
    p.add_argument("--top-p", type=float, default=1.0, help="Nucleus sampling: keep this probability mass.")
    p.add_argument("--max-new-tokens", type=positive_int, default=512, help="Longest completion, in tokens.")
    p.add_argument(
        "--engine",
        choices=["auto", "hf", "vllm"],
        default="auto",
        help="Sampler: auto is vLLM when it is installed and a GPU is present, else transformers' generate.",
    )
    p.add_argument(
        "--dtype",
        choices=["auto", "bfloat16", "float16", "float32"],
        default="auto",
        help="Weight dtype of both models; auto keeps each checkpoint's.",
    )
    p.add_argument("--seed", type=int, default=42, help="Seed of the sampling and of --max-prompts.")
    p.add_argument("--output-dir", required=True, help="Where the selections, tables and plot go.")
    p.set_defaults(func=main)


def recipe_dict(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe the flags describe."""
    from align.paths import read_text

    model: dict[str, Any] = {"name_or_path": args.model, "dtype": args.dtype}
    if args.chat_template:
        model["chat_template"] = read_text(args.chat_template, "--chat-template")
    prompts: dict[str, Any] = {"max_prompts": args.max_prompts}
    if args.prompts:
        prompts["path"] = args.prompts
    return {
        "name": Path(args.model).name,
        "output_dir": args.output_dir,
        "seed": args.seed,
        "model": model,
        "reward_model": {"name_or_path": args.reward_model, "dtype": args.dtype, "template": args.template},
        "data": {"path": args.data, "format": "raw"} if args.data else None,
        "method": {
            "name": "best-of-n",
            "n": args.n,
            "temperature": args.temperature,
            "top_p": args.top_p,
            "max_new_tokens": args.max_new_tokens,
            "engine": args.engine,
            "prompts": prompts,
        },
    }


def main(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from align.config.recipe import Recipe
    from align.errors import AlignError
    from align.inputs import check_inputs
    from align.methods import best_of_n

    try:
        recipe = Recipe.model_validate(recipe_dict(args))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise AlignError(
            f"The best-of-n options are invalid ({problems}). Fix the matching --flag."
        ) from None
    check_inputs(recipe)
    best_of_n.run(recipe)
    return 0
