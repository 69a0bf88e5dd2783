"""The run shape every trainer-backed method shares.

evaluate (before, at step 0 inside train) -> train, resuming from the newest checkpoint -> evaluate (after) -> save ->
summary.json, model card, printed summary -> optional push to the hub.
"""

from __future__ import annotations

import json
from typing import Any

from transformers import TrainerCallback

from align.config.recipe import Recipe
from align.methods.trainer_args import last_checkpoint
from align.runs.outputs import MetricsCallback, write_model_card


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
        if self.logs is None and logs and "eval_loss" in logs:
            self.logs = dict(logs)


def train_and_report(
    recipe: Recipe, trainer: Any, summary_keys: tuple[str, ...], details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train with eval before/after, save next to the run outputs; return the summary.

    `details` (e.g. the scoring template) go into the summary and the model card.
    """
    out = recipe.output_dir
    has_eval = trainer.eval_dataset is not None
    checkpoint = last_checkpoint(out) if recipe.method.resume else None
    first_eval = _FirstEvalLogs()
    if has_eval and checkpoint is None:
        # evaluated inside train(), once the model is wrapped for training: an evaluation before train()
        # would build DeepSpeed's inference engine, and train() would then never build the training one
        trainer.args.eval_on_start = True
        trainer.add_callback(first_eval)
    result = trainer.train(resume_from_checkpoint=checkpoint)
    before = _logged(first_eval.logs, "before", summary_keys) if first_eval.logs else {}
    after = _evaluate(trainer, "after", summary_keys) if has_eval else {}
    trainer.save_model(out)
    summary = {
        "recipe": recipe.name,
        **(details or {}),
        "train_pairs": len(trainer.train_dataset),
        "eval_pairs": len(trainer.eval_dataset) if has_eval else 0,
        "optimizer_steps": result.global_step,
        "train_loss": result.training_loss,
        "resumed_from": checkpoint,
        **before,
        **after,
        "output_dir": str(out),
    }
    card = {"optimizer steps": result.global_step, **{k: repr(v) for k, v in (details or {}).items()}}
    report(recipe, trainer, summary, card)
    return summary


def report(recipe: Recipe, trainer: Any, summary: dict[str, Any], card: dict[str, Any]) -> None:
    """On the main process: summary.json, the optional hub push, the model card, the printed summary.

    Metrics named `before/...`, `after/...` (any key with a '/') go into the card's table; `card`
    adds lines about the run.
    """
    if not trainer.is_world_process_zero():
        return
    out = recipe.output_dir
    with open(f"{out}/summary.json", "w") as f:
        json.dump(summary, f, indent=2, default=str)
    if trainer.args.push_to_hub:  # before our card: Trainer writes its own README.md when it pushes
        trainer.push_to_hub(commit_message=f"align: {recipe.name}")
    write_model_card(recipe, {k: v for k, v in summary.items() if "/" in k and v is not None}, card)
    if trainer.args.push_to_hub:
        _upload_card(trainer, out)
    print_summary(summary)


def _upload_card(trainer: Any, out: str) -> None:
    """Replace the card Trainer pushed with align's (data, strategy, recipe, metrics)."""
    from huggingface_hub import upload_file

    upload_file(path_or_fileobj=f"{out}/README.md", path_in_repo="README.md", repo_id=trainer.hub_model_id)


def print_summary(summary: dict[str, Any]) -> None:
    print("\n== align run summary ==")
    for key, value in summary.items():
        print(f"{key:>28}: {value:.4f}" if isinstance(value, float) else f"{key:>28}: {value}")
