"""`align check RECIPE [key.path=value ...]`: validate a recipe and print its plan, without training."""

from __future__ import annotations

import argparse

import yaml

from align.commands.argtypes import positive_int
from align.commands.fields import add_recipe_args
from align.config import load_recipe
from align.config.loader import resolved_dict
from align.inputs import check_inputs
from align.plan import plan


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="Validate a recipe and print its plan.", description=__doc__)
    add_recipe_args(p)
    p.add_argument(
        "--num-processes",
        type=positive_int,
        help="Plan for this many processes instead of launch.num_processes.",
    )
    p.add_argument("--quiet", action="store_true", help="Print only the plan, not the resolved recipe.")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from align.config.pipeline import is_pipeline

    if is_pipeline(args.recipe):
        return check_pipeline(args)
    recipe = load_recipe(args.recipe, args.overrides)
    notes = check_inputs(recipe, args.recipe, strict_hub=False)
    if not args.quiet:
        print("# resolved recipe")
        print(yaml.safe_dump(resolved_dict(recipe), sort_keys=False))
    print("# plan")
    for key, value in plan(recipe, args.num_processes).items():
        print(f"{key:>22}: {value}")
    for note in notes:
        print(f"align: note: {note}")
    return 0


def check_pipeline(args: argparse.Namespace) -> int:
    """A generate/annotate recipe: validate it and print requests and tokens per 1,000 instructions."""
    from align.config.pipeline import load_pipeline
    from align.pipeline.estimate import estimate

    recipe = load_pipeline(args.recipe, args.overrides)
    if not args.quiet:
        print("# resolved recipe")
        print(yaml.safe_dump(resolved_dict(recipe), sort_keys=False))
    print("# plan (per 1,000 instructions)")
    for key, value in estimate(recipe).items():
        print(f"{key:>22}: {value}")
    return 0
