"""`align generate RECIPE [key.path=value ...]`: completions from a pool of models, steered by principles.

Writes the recipe's generate.output in the raw UltraFeedback schema (annotations empty), its
progress beside it (OUTPUT.progress.jsonl: rerun the same command to continue an interrupted
run) and OUTPUT.report.json (rows, requests, tokens, time per model).
"""

from __future__ import annotations

import argparse

from align.commands.fields import add_recipe_args
from align.errors import AlignError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate", help="Generate completions from a model pool (UltraFeedback).", description=__doc__
    )
    add_recipe_args(p, "A pipeline recipe with a `generate:` section (see recipes/ultrafeedback/).")
    p.add_argument(
        "--overwrite", action="store_true", help="Replace the output and discard earlier progress."
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from align.config.pipeline import load_pipeline
    from align.pipeline.generate import generate

    recipe = load_pipeline(args.recipe, args.overrides)
    if recipe.generate is None:
        raise AlignError(
            f"Recipe {args.recipe} has no `generate:` section. Add one (see recipes/ultrafeedback/smoke.yaml), "
            "or run `align annotate` for an annotate-only recipe."
        )
    report = generate(recipe.generate, recipe.seed, overwrite=args.overwrite)
    for label, stats in report["models"].items():
        if stats:
            print(
                f"{label}: {stats['requests']} completions, {stats['completion_tokens']} new tokens "
                f"({stats['truncated']} cut at max_new_tokens) in {stats['seconds']:.1f}s"
            )
    print(f"wrote {report['rows']} rows ({report['completions']} completions) to {report['output']}")
    return 0
