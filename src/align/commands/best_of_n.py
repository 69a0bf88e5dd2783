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

from align.commands.fields import add_field_flags, given, validated
from align.config.recipe import BestOfNMethod, ModelConfig, Recipe, RewardModelConfig, SamplingPromptsConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "best-of-n",
        help="Sample N completions per prompt, keep the reward model's best.",
        description=__doc__,
    )
    p.add_argument("--model", required=True, help="Policy: hub id, local directory or tiny://ultralm.")
    p.add_argument(
        "--chat-template",
        help="File with a Jinja chat template for the policy (UltraLM's); default: the tokenizer's own.",
    )
    p.add_argument(
        "--reward-model", required=True, help="Reward model: hub id, local directory or tiny://llama-rm."
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--prompts", help="JSON/JSONL file of rows with `instruction` (e.g. AlpacaEval's alpaca_eval.json)."
    )
    source.add_argument("--data", help="Raw UltraFeedback: hub id, local file or sample://ultrafeedback.")
    p.add_argument("--output-dir", required=True, help="Where the selections, tables and plot go.")
    # the rest are recipe fields: each section declares its own type, default and help
    fields = {
        "method": add_field_flags(p, BestOfNMethod, skip=["name"]),
        "prompts": add_field_flags(p, SamplingPromptsConfig, skip=["path"]),
        "model": add_field_flags(p, ModelConfig, ["dtype"]),
        "reward_model": add_field_flags(p, RewardModelConfig, ["template"]),
        "recipe": add_field_flags(p, Recipe, ["seed"]),
    }
    p.set_defaults(func=main, fields=fields)


def recipe_dict(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe the flags describe."""
    from align.paths import read_text

    fields = {section: given(args, names) for section, names in args.fields.items()}
    model: dict[str, Any] = {"name_or_path": args.model, **fields["model"]}
    if args.chat_template:
        model["chat_template"] = read_text(args.chat_template, "--chat-template")
    prompts = {"path": args.prompts, **fields["prompts"]} if args.prompts else fields["prompts"]
    return {
        "name": Path(args.model).name,
        "output_dir": args.output_dir,
        **fields["recipe"],
        "model": model,
        "reward_model": {"name_or_path": args.reward_model, **fields["model"], **fields["reward_model"]},
        "data": {"path": args.data, "format": "raw"} if args.data else None,
        "method": {"name": "best-of-n", **fields["method"], "prompts": prompts},
    }


def main(args: argparse.Namespace) -> int:
    from align.inputs import check_inputs
    from align.methods import best_of_n

    recipe = validated(Recipe.model_validate, recipe_dict(args), "best-of-n")
    check_inputs(recipe)
    best_of_n.run(recipe)
    return 0
