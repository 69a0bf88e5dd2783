"""What every trainer-backed method shares: its TRL config, built from the recipe, and the run shape.

TRL config (method.trainer + the batch plan) -> evaluate (before, at step 0 inside train) -> train,
resuming from the newest checkpoint -> evaluate (after) -> save -> summary.json, model card,
printed summary -> optional push to the hub.

A resumed run reports the whole run: the `before/*` figures of its first part (logged at step
0 in metrics.jsonl) and the training loss over every step, not only the steps since the resume.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from align.config.recipe import TRAINER_DEFAULTS, Recipe
from align.console import use_run_console
from align.errors import AlignError
from align.launch import batch_plan, has_accelerator
from align.rundir.outputs import (
    MetricsCallback,
    keep_metrics_until,
    read_metrics,
    tensorboard_into_output_dir,
    write_summary,
)


def build_trainer_args(
    recipe: Recipe, cls: type, world_size: int | None = None, has_eval: bool = False, **extra: Any
) -> Any:
    """Instantiate `cls` (DPOConfig, RewardConfig, PPOConfig) with the batch plan applied.

    `world_size` defaults to the current launch. With `has_eval` (a test split exists) the run
    evaluates as often as it logs unless the recipe says otherwise. TRL's own validation (in
    __post_init__) is turned into a one-paragraph AlignError.
    """
    plan = batch_plan(recipe, world_size)
    logging_steps = recipe.method.trainer.get("logging_steps", TRAINER_DEFAULTS["logging_steps"])
    evaluation = (
        {"eval_strategy": "steps", "eval_steps": logging_steps} if has_eval else {"eval_strategy": "no"}
    )
    kwargs: dict[str, Any] = {
        **TRAINER_DEFAULTS,
        **evaluation,
        "run_name": recipe.name,
        **extra,
        **recipe.method.trainer,
        "output_dir": recipe.output_dir,
        "seed": recipe.seed,
        "per_device_train_batch_size": plan.per_device,
        "gradient_accumulation_steps": plan.grad_accum,
    }
    if "use_cpu" not in kwargs and not has_accelerator():
        kwargs["use_cpu"] = True  # transformers refuses to start on a GPU-less machine otherwise
    try:
        return cls(**kwargs)
    except (ValueError, TypeError, ImportError) as exc:
        raise AlignError(
            f"TRL's {cls.__name__} rejected the settings of recipe {recipe.name!r} (method.trainer): {exc} "
            "Fix the field in the recipe or override it with method.trainer.FIELD=VALUE."
        ) from None


def last_checkpoint(output_dir: str) -> str | None:
    """The newest checkpoint-N in output_dir, so a rerun continues where it stopped."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None


def _logged(logs: dict[str, Any], label: str, keys: tuple[str, ...]) -> dict[str, float]:
    return {f"{label}/{k}": logs[f"eval_{k}"] for k in keys if f"eval_{k}" in logs}


def _evaluate(trainer: Any, label: str, keys: tuple[str, ...]) -> dict[str, float]:
    """Evaluate and keep `keys`. TRL adds its own metrics (rewards, accuracy) to the logged dict only."""
    trainer.evaluate()
    logs = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, MetricsCallback)).last_logs
    return _logged(logs, label, keys)


class _FirstEvalLogs(TrainerCallback):
    """Keeps the logs of the first evaluation: the one `eval_on_start` runs before the first step."""

    def __init__(self) -> None:
        self.logs: dict[str, Any] | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.logs is None and logs and any(k.startswith("eval_") for k in logs):
            self.logs = dict(logs)


def _earlier_before(out: str, keys: tuple[str, ...]) -> dict[str, float]:
    """The before-training evaluation of the run's first part: its eval row at step 0."""
    rows = [r for r in read_metrics(out) if r["step"] == 0 and any(k.startswith("eval_") for k in r)]
    return {f"before/{k}": rows[0][f"eval_{k}"] for k in keys if rows and f"eval_{k}" in rows[0]}


def _finished(checkpoint: str) -> bool:
    """Whether the checkpoint is the run's last step (transformers would train one step more from it)."""
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    return state["global_step"] >= state["max_steps"]


def whole_run_loss(rows: list[dict[str, Any]], start_step: int, end_step: int, session_loss: float) -> float:
    """Mean training loss per step over the whole run.

    `session_loss` is the trainer's mean over steps start_step+1..end_step; the steps before come
    from the `loss` rows logged up to start_step (each the mean since the previous row).
    """
    total, last = 0.0, 0
    for row in sorted((r for r in rows if "loss" in r and r["step"] <= start_step), key=lambda r: r["step"]):
        total += row["loss"] * (row["step"] - last)
        last = row["step"]
    steps = last + end_step - start_step
    return (total + session_loss * (end_step - start_step)) / steps if steps else session_loss


def run_trainer(
    recipe: Recipe, trainer: Any, summary_keys: tuple[str, ...], details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train with eval before/after, save next to the run outputs; return the summary.

    `details` (e.g. the scoring template) go into the summary and the model card.
    """
    out = recipe.output_dir
    has_eval = trainer.eval_dataset is not None
    tensorboard_into_output_dir(trainer)
    use_run_console(trainer)
    checkpoint = last_checkpoint(out) if recipe.method.resume else None
    start_step = int(Path(checkpoint).name.rpartition("-")[2]) if checkpoint else 0
    if checkpoint and _finished(checkpoint) and (Path(out) / "summary.json").is_file():
        print(f"align: {out} holds this recipe's finished run ({start_step} steps); nothing to train.")
        print("align: to train it again, set method.resume=false (the earlier run is kept, renamed).")
        return json.loads((Path(out) / "summary.json").read_text())
    if trainer.is_world_process_zero():  # rows logged after the checkpoint belong to lost work
        keep_metrics_until(out, start_step if checkpoint else None)
    first_eval = _FirstEvalLogs()
    if has_eval and checkpoint is None:
        # evaluated inside train(), once the model is wrapped for training: an evaluation before train()
        # would build DeepSpeed's inference engine, and train() would then never build the training one
        trainer.args.eval_on_start = True
        trainer.add_callback(first_eval)
    result = trainer.train(resume_from_checkpoint=checkpoint)
    if checkpoint is None:
        before = _logged(first_eval.logs, "before", summary_keys) if first_eval.logs else {}
    else:
        before = _earlier_before(out, summary_keys)
    after = _evaluate(trainer, "after", summary_keys) if has_eval else {}
    trainer.save_model(out)
    summary = {
        "recipe": recipe.name,
        **(details or {}),
        "train_pairs": len(trainer.train_dataset),
        "eval_pairs": len(trainer.eval_dataset) if has_eval else 0,
        "optimizer_steps": result.global_step,
        "train_loss": whole_run_loss(read_metrics(out), start_step, result.global_step, result.training_loss),
        "resumed_from": checkpoint,
        **before,
        **after,
        "output_dir": str(out),
    }
    card = {"optimizer steps": result.global_step, **{k: repr(v) for k, v in (details or {}).items()}}
    finish_run(recipe, trainer, summary, card)
    return summary


def finish_run(recipe: Recipe, trainer: Any, summary: dict[str, Any], card: dict[str, Any]) -> None:
    """On the main process: summary.json, the optional hub push, the model card, the printed summary.

    Metrics named `before/...`, `after/...` (any key with a '/') go into the card's table; `card`
    adds lines about the run.
    """
    if not trainer.is_world_process_zero():
        return
    if trainer.args.push_to_hub:  # before our card: Trainer writes its own README.md when it pushes
        trainer.push_to_hub(commit_message=f"align: {recipe.name}")
    write_summary(recipe, summary, card)
    if trainer.args.push_to_hub:
        _upload_card(trainer, recipe.output_dir)
    print_summary(summary)


def _upload_card(trainer: Any, out: str) -> None:
    """Replace the card Trainer pushed with align's (data, strategy, recipe, metrics)."""
    from huggingface_hub import upload_file

    upload_file(path_or_fileobj=f"{out}/README.md", path_in_repo="README.md", repo_id=trainer.hub_model_id)


def print_summary(summary: dict[str, Any]) -> None:
    print("\n== align run summary ==")
    for key, value in summary.items():
        print(f"{key:>28}: {value:.4f}" if isinstance(value, float) else f"{key:>28}: {value}")
