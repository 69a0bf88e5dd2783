"""`align run RECIPE [key.path=value ...]`: run a recipe, under accelerate when it asks for several processes."""

from __future__ import annotations

import argparse
import subprocess

from align.commands.fields import add_recipe_args
from align.config import load_recipe
from align.console import start_block
from align.inputs import check_inputs
from align.launch import (
    accelerate_command,
    check_launched_rank,
    describe,
    end_distributed,
    launch_env,
    machine_commands,
    under_launcher,
    world_size,
)
from align.methods import runner
from align.precision import apply_mixed_precision
from align.rundir.claim import is_main_process

EPILOG = """\
outputs:
  Everything goes to the recipe's output_dir (override: output_dir=PATH): checkpoints
  (checkpoint-N), the trained weights, recipe.resolved.yaml, metrics.jsonl, plots/, a model
  card README.md and summary.json; TensorBoard logs under output_dir/runs.

resume:
  Running the same recipe again continues from the newest checkpoint-N in output_dir
  (method.resume: true, the default); a finished run is reported, not retrained. Settings
  that do not change the training (logging, eval and save steps, report_to, workers) may
  differ; any other difference is refused. PPO cannot resume.

start fresh:
  method.resume=false renames the earlier run to OUTPUT_DIR.previous-TIME (nothing is
  deleted) and trains from the start; or give another output_dir=PATH.

example:
  align run recipes/smoke/dpo-full.yaml output_dir=runs/try1 method.trainer.learning_rate=1e-3
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="Run a recipe.",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_recipe_args(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="Print the launch command (one per machine) instead of running it.",
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe, args.overrides)
    # every path resolved before a process starts or a weight loads; a dry run previews like `check`
    for note in check_inputs(recipe, args.recipe, strict_hub=not args.dry_run):
        print(f"align: note: {note}")
    if recipe.launch.num_processes > 1 and not under_launcher():
        if args.dry_run and recipe.launch.num_machines > 1:
            for rank, node_cmd in enumerate(machine_commands(recipe, args.recipe, args.overrides)):
                print(f"align: machine {rank} of {recipe.launch.num_machines}: {describe(node_cmd)}")
            return 0
        cmd = accelerate_command(recipe, args.recipe, args.overrides)
        print(f"align: launching {recipe.launch.num_processes} processes: {describe(cmd)}", flush=True)
        return 0 if args.dry_run else subprocess.call(cmd, env=launch_env(recipe))
    check_launched_rank(recipe)
    if args.dry_run:
        print(f"align: would run {recipe.name} ({recipe.method.name}) in this process")
        return 0
    apply_mixed_precision(recipe)
    if is_main_process():
        from align.methods.training import last_checkpoint  # imports transformers: not at check time

        resume = getattr(recipe.method, "resume", False)
        checkpoint = last_checkpoint(recipe.output_dir) if resume else None
        print(start_block(recipe, args.recipe, checkpoint, world_size(recipe)), flush=True)
    runner(recipe.method.name).run(recipe)
    end_distributed()
    return 0
