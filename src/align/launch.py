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


# Set by align on the processes it launches: such a process never launches again.
LAUNCHED_ENV = "ALIGN_LAUNCHED"
# What a launcher (torchrun, accelerate, DeepSpeed, SLURM wrappers) sets on the processes it starts.
RANK_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


def under_launcher() -> bool:
    """True in a process started by align or by any launcher: it runs the recipe, it never launches."""
    return any(k in os.environ for k in (LAUNCHED_ENV, "ACCELERATE_LAUNCH", *RANK_ENV))


def check_launched_rank(recipe: Recipe) -> None:
    """In a process align launched: the launcher must have given it its rank among all processes.

    A launcher that starts the script without ranks (accelerate's simple launcher does so on a
    GPU-less machine) would make every process train alone on its own copy of the data.
    """
    if LAUNCHED_ENV not in os.environ:
        return
    expected = os.environ[LAUNCHED_ENV]
    got = os.environ.get("WORLD_SIZE")
    if got != expected:
        raise AlignError(
            f"align launched {expected} processes for recipe {recipe.name!r} but this process was started with "
            f"WORLD_SIZE={got}: the accelerate config ({recipe.launch.config_file or 'none'}) did not start a "
            "distributed run. Use a multi-process config from configs/accelerate/ (multi_gpu, zero2, zero3, "
            "zero3_offload, fsdp) or leave launch.config_file unset."
        )


def distributed_type(config_file: str | None) -> str | None:
    """`distributed_type` of an accelerate config file (None without a file)."""
    if not config_file:
        return None
    import yaml

    return str((yaml.safe_load(Path(config_file).read_text()) or {}).get("distributed_type", "NO"))


def accelerate_command(recipe: Recipe, recipe_path: str, overrides: list[str]) -> list[str]:
    """The `accelerate launch` line that re-runs this recipe in every process.

    Without a config file (or with a DDP one) the torchrun-based launcher is asked for explicitly
    (`--multi_gpu`): on a machine without GPUs accelerate would otherwise pick its simple launcher,
    which starts one process without ranks. On CPU the children then run DDP over gloo (Trainer's
    use_cpu).
    """
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
    kind = distributed_type(launch.config_file)
    if kind == "NO":
        raise AlignError(
            f"launch.config_file {launch.config_file} runs one process (distributed_type: NO) but "
            f"launch.num_processes={launch.num_processes}. Use configs/accelerate/multi_gpu.yaml (DDP), a "
            "DeepSpeed or FSDP config, or set launch.num_processes=1."
        )
    if kind == "FSDP" and not has_accelerator():
        raise AlignError(
            f"launch.config_file {launch.config_file} asks for FSDP, which needs GPUs: accelerate's FSDP plugin "
            "stops on a machine without one ('There are currently no available devices found'). On CPU use "
            "configs/accelerate/multi_gpu.yaml (DDP) or a DeepSpeed config (zero2, zero3, zero3_offload)."
        )
    if kind is None:
        cmd += ["--multi_gpu"]
    cmd += ["--num_processes", str(launch.num_processes), "--num_machines", str(launch.num_machines)]
    if launch.num_machines > 1:
        cmd += ["--machine_rank", str(launch.machine_rank)]
        if launch.main_process_ip:
            cmd += ["--main_process_ip", launch.main_process_ip]
    if launch.main_process_port:
        cmd += ["--main_process_port", str(launch.main_process_port)]
    from align.precision import mixed_precision  # precision builds on this module

    cmd += ["--mixed_precision", mixed_precision(recipe)]  # the recipe's, never the config file's
    return [*cmd, "-m", "align.cli", "run", recipe_path, *overrides]


def has_accelerator() -> bool:
    """A GPU (CUDA or XPU) is visible to this process."""
    import torch

    return torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())


def machine_commands(recipe: Recipe, recipe_path: str, overrides: list[str]) -> list[list[str]]:
    """The launch line of every machine of a multi-node run, by machine_rank (what each node runs)."""
    return [
        accelerate_command(
            recipe.model_copy(update={"launch": recipe.launch.model_copy(update={"machine_rank": rank})}),
            recipe_path,
            overrides,
        )
        for rank in range(recipe.launch.num_machines)
    ]


def launch_env(recipe: Recipe) -> dict[str, str]:
    """The environment of the launched processes: ours plus the marker that forbids relaunching."""
    return {**os.environ, LAUNCHED_ENV: str(recipe.launch.num_processes)}


def end_distributed() -> None:
    """Tear the process group down before the interpreter exits.

    Left to interpreter shutdown, gloo's C++ worker threads can still hold work objects whose
    tensors reference Python objects; freeing them while the interpreter is finalizing aborts the
    process (`terminate called without an active exception`) after a finished run, now and then
    (pytorch/pytorch#190489; #179291 explains the mechanism, and torch does not register this
    teardown itself). A barrier first, so no process leaves while another still talks to it.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def describe(cmd: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd)
