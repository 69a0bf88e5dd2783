"""What a run prints: one start block, one progress bar per phase, one compact line per log step.

The third-party warnings a user cannot act on are silenced here, in one list (QUIET); every
other warning still shows. transformers' own progress callback prints each log event as a
Python dict of strings and nests an evaluation bar inside the training bar; `RunProgress`
replaces it.
"""

from __future__ import annotations

import logging
import re
import warnings
from typing import Any

# (category, message pattern, why it is silenced). Each is raised by a library on a path align takes
# on purpose, every run, with nothing the user could change in the recipe to avoid it.
QUIET: list[tuple[type[Warning], str, str]] = [
    (
        FutureWarning,
        r".*gradient[_ ]checkpointing.*",
        "transformers/TRL announce changes to gradient-checkpointing arguments at each model wrap",
    ),
]
# Loggers whose lines at this level or below carry nothing a user can act on: (logger, level, why).
QUIET_LOGGERS: list[tuple[str, int, str]] = [
    (
        "bitsandbytes.backends.cpu.ops",
        logging.ERROR,
        "bitsandbytes (imported by peft) warns on every CPU start that an optional hub kernel is missing; "
        "its fallback works",
    ),
]


def silence_known_warnings() -> None:
    """Install the QUIET filters and logger levels (idempotent)."""
    for category, pattern, _ in QUIET:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    for name, level, _ in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(level)


def start_block(recipe: Any, recipe_path: str, checkpoint: str | None, world: int) -> str:
    """The lines a run starts with: what runs, where it writes, fresh or resumed, processes and batches."""
    from align.launch import batch_plan

    lines = [
        f"align: recipe     {recipe.name} ({recipe.method.name}) from {recipe_path}",
        f"align: output_dir {recipe.output_dir}",
        "align: start      "
        + (
            f"resumed from {checkpoint} (method.resume=false starts over)"
            if checkpoint
            else "fresh (no checkpoint in output_dir)"
        ),
        f"align: processes  {world} on {recipe.launch.num_machines} machine(s)",
    ]
    if hasattr(recipe.method, "trainer"):
        bp = batch_plan(recipe, world)
        lines.append(
            f"align: batch      {bp.per_device} per device x {bp.grad_accum} accumulation x {world} = "
            f"{bp.global_batch} per optimizer step"
        )
    return "\n".join(lines)


def metrics_line(step: int, max_steps: int, logs: dict[str, Any]) -> str:
    """`step 3/48 | loss 0.6931 | rewards/accuracies 0.5`: numbers as numbers, runtime counters left out."""
    skip = re.compile(r"(total_flos|.*_runtime|.*_per_second|epoch)$")
    parts = [f"step {step}/{max_steps}"]
    for key, value in logs.items():
        if skip.match(key):
            continue
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return " | ".join(parts)


def run_progress_class() -> type:
    """RunProgress, built on transformers' ProgressCallback (imported only when a trainer is built)."""
    from transformers import ProgressCallback

    class RunProgress(ProgressCallback):
        """One bar for training (none with `bars=False`, as disable_tqdm asks), one for an evaluation outside
        training, and a metrics line per log event."""

        def __init__(self, bars: bool = True):
            super().__init__()
            self.bars = bars

        def on_train_begin(self, args, state, control, **kwargs):
            if self.bars:
                super().on_train_begin(args, state, control, **kwargs)

        def on_step_end(self, args, state, control, **kwargs):
            if self.training_bar is not None:
                super().on_step_end(args, state, control, **kwargs)

        def on_train_end(self, args, state, control, **kwargs):
            if self.training_bar is not None:
                super().on_train_end(args, state, control, **kwargs)

        def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
            if (
                self.bars and self.training_bar is None
            ):  # inside training the eval's line follows: no nested bar
                super().on_prediction_step(args, state, control, eval_dataloader=eval_dataloader, **kwargs)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                line = metrics_line(state.global_step, state.max_steps, logs)
                if self.training_bar is not None:
                    self.training_bar.write(line)
                else:
                    print(line, flush=True)

    return RunProgress


def use_run_console(trainer: Any) -> None:
    """Swap transformers' progress/printer callbacks for RunProgress (bar-less when tqdm is disabled)."""
    from transformers import PrinterCallback, ProgressCallback

    bars = any(type(cb) is ProgressCallback for cb in trainer.callback_handler.callbacks)
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(run_progress_class()(bars))
