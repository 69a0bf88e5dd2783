"""Build a TRL config object from a recipe: the recipe's `method.trainer` plus what align manages."""

from __future__ import annotations

from typing import Any

from align.config.recipe import Recipe
from align.errors import AlignError
from align.launch import batch_plan, has_accelerator

# Defaults a practitioner expects from a run; any of them can be overridden in method.trainer.
DEFAULTS: dict[str, Any] = {
    "report_to": ["tensorboard"],
    "logging_steps": 10,
    "save_total_limit": 2,
    "project": "align",  # trackio's project: every align run in one dashboard (`trackio show --project align`)
}


def build_trainer_args(
    recipe: Recipe, cls: type, world_size: int | None = None, has_eval: bool = False, **extra: Any
) -> Any:
    """Instantiate `cls` (DPOConfig, RewardConfig, PPOConfig) with the batch plan applied.

    `world_size` defaults to the current launch. With `has_eval` (a test split exists) the run
    evaluates as often as it logs unless the recipe says otherwise. TRL's own validation (in
    __post_init__) is turned into a one-paragraph AlignError.
    """
    plan = batch_plan(recipe, world_size)
    logging_steps = recipe.method.trainer.get("logging_steps", DEFAULTS["logging_steps"])
    evaluation = (
        {"eval_strategy": "steps", "eval_steps": logging_steps} if has_eval else {"eval_strategy": "no"}
    )
    kwargs: dict[str, Any] = {
        **DEFAULTS,
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
    from pathlib import Path

    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None
