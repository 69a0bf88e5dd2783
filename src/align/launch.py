"""Processes and batch sizes: keep a recipe's global batch whatever the number of GPUs.

A recipe states its global batch (pairs per optimizer step); from the number of processes we
derive per-device micro-batch x gradient accumulation, so the same recipe reproduces the same
optimisation on 1, 8 or 16 GPUs.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from align.config.recipe import Recipe
from align.errors import AlignError


@dataclass(frozen=True)
class BatchPlan:
    world_size: int
    per_device: int
    grad_accum: int

    @property
    def global_batch(self) -> int:
        return self.world_size * self.per_device * self.grad_accum


def derive_batch(global_batch: int, world_size: int, max_per_device: int) -> BatchPlan:
    """Largest per-device micro-batch <= max_per_device that divides global_batch / world_size."""
    if global_batch % world_size:
        raise AlignError(
            f"method.global_batch_size={global_batch} cannot be split evenly over {world_size} processes. "
            f"Choose a global batch that is a multiple of {world_size}, or change launch.num_processes."
        )
    per_process = global_batch // world_size
    per_device = max(d for d in range(1, min(max_per_device, per_process) + 1) if per_process % d == 0)
    return BatchPlan(world_size, per_device, per_process // per_device)


def world_size(recipe: Recipe) -> int:
    """Processes of the current launch (from accelerate's env when launched) or the recipe's."""
    return int(os.environ.get("WORLD_SIZE", recipe.launch.num_processes))


def batch_plan(recipe: Recipe, world: int | None = None) -> BatchPlan:
    """The batch plan of a TRL-trainer method: derived from global_batch_size when it is set."""
    world = world or world_size(recipe)
    trainer = recipe.method.trainer
    per_device = int(trainer.get("per_device_train_batch_size", 8))
    if recipe.method.global_batch_size is None:
        return BatchPlan(world, per_device, int(trainer.get("gradient_accumulation_steps", 1)))
    if "gradient_accumulation_steps" in trainer:
        raise AlignError(
            "The recipe sets both method.global_batch_size and method.trainer.gradient_accumulation_steps. "
            "Keep global_batch_size (accumulation is derived from it and the number of processes) and remove "
            "gradient_accumulation_steps."
        )
    return derive_batch(recipe.method.global_batch_size, world, per_device)


def under_launcher() -> bool:
    return "LOCAL_RANK" in os.environ or "ACCELERATE_LAUNCH" in os.environ


def accelerate_command(recipe: Recipe, recipe_path: str, overrides: list[str]) -> list[str]:
    """The `accelerate launch` line that re-runs this recipe in every process."""
    launch = recipe.launch
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if launch.config_file:
        config = Path(launch.config_file)
        if not config.is_file():
            raise AlignError(
                f"launch.config_file {launch.config_file} does not exist. Use one of configs/accelerate/*.yaml "
                "(paths are relative to the directory you run align from)."
            )
        cmd += ["--config_file", str(config)]
    cmd += ["--num_processes", str(launch.num_processes), "--num_machines", str(launch.num_machines)]
    if launch.num_machines > 1:
        cmd += ["--machine_rank", str(launch.machine_rank)]
        if launch.main_process_ip:
            cmd += ["--main_process_ip", launch.main_process_ip]
    if launch.main_process_port:
        cmd += ["--main_process_port", str(launch.main_process_port)]
    if launch.mixed_precision:
        cmd += ["--mixed_precision", launch.mixed_precision]
    return [*cmd, "-m", "align.cli", "run", recipe_path, *overrides]


def describe(cmd: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd)
