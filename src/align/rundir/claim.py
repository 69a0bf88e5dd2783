"""Whose output_dir is it: a run continues only in a folder started by the same recipe.

A rerun of a recipe resumes from the newest checkpoint in its output_dir. That is right only
when the folder's recipe.resolved.yaml describes the same training; otherwise the weights of
one recipe would be reported under another. Settings that do not change what is trained
(how often to log, evaluate or save, where to report, worker counts) may differ: they are
listed once, in RUNTIME_KEYS.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from align.config.loader import RESOLVED_FILE, resolved_dict
from align.config.recipe import Recipe
from align.errors import AlignError
from align.publish import check_parent

# Dotted recipe keys (a key covers everything below it) that a resumed run may change.
RUNTIME_KEYS = (
    "name",
    "description",
    "output_dir",
    "method.resume",
    "data.num_proc",
    "data.max_eval_samples",
    "launch.machine_rank",
    "launch.main_process_ip",
    "launch.main_process_port",
    *(
        f"method.trainer.{field}"
        for field in (
            "logging_steps",
            "logging_strategy",
            "logging_first_step",
            "eval_strategy",
            "eval_steps",
            "eval_delay",
            "eval_on_start",
            "per_device_eval_batch_size",
            "save_strategy",
            "save_steps",
            "save_total_limit",
            "report_to",
            "run_name",
            "disable_tqdm",
            "push_to_hub",
            "hub_model_id",
            "hub_strategy",
            "hub_private_repo",
            "hub_token",
            "dataloader_num_workers",
            "dataset_num_proc",
        )
    ),
)
UNSET = "unset"


def is_main_process() -> bool:
    """Rank 0 of a launch (or a single process): the one that decides about output_dir."""
    return int(os.environ.get("RANK", "0")) == 0


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        return {k: v for key, value in data.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): data}


def _runtime(key: str) -> bool:
    return any(key == k or key.startswith(f"{k}.") for k in RUNTIME_KEYS)


def recipe_differences(stored: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Keys whose values differ and change training: key -> (stored value, current value)."""
    old, new = _flatten(stored), _flatten(current)
    return {
        key: (old.get(key, UNSET), new.get(key, UNSET))
        for key in sorted(old.keys() | new.keys())
        if not _runtime(key) and old.get(key, UNSET) != new.get(key, UNSET)
    }


def stored_recipe(path: Path) -> dict[str, Any]:
    """The recipe a run folder was started with, with today's defaults filled in where it still validates."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise AlignError(
            f"{path} cannot be read ({exc}), so align cannot tell which recipe started the run in {path.parent}. "
            "Give this run a new output_dir."
        ) from None
    try:
        return resolved_dict(Recipe.model_validate(data))
    except ValidationError:
        return data if isinstance(data, dict) else {}


def claim_run_dir(recipe: Recipe) -> None:
    """Allow `recipe` to write into its output_dir, or raise AlignError saying why not and what to do.

    A new or empty folder (or one holding only the recipe of a run that never started) is
    free. A folder of another recipe is refused, naming the keys that differ. A folder of
    files align did not write is refused. `method.resume: false` starts over: the earlier
    run is renamed to OUTPUT_DIR.previous-TIME (nothing is deleted) and a fresh folder used.
    """
    out = Path(recipe.output_dir)
    check_parent(out, "output_dir")
    if out.exists() and not out.is_dir():
        raise AlignError(f"output_dir {out} is a file. Give the run a folder path.")
    entries = {p.name for p in out.iterdir()} - {RESOLVED_FILE} if out.is_dir() else set()
    if not entries:
        return
    stored = out / RESOLVED_FILE
    if not stored.is_file():
        shown = ", ".join(sorted(entries)[:5]) + (", ..." if len(entries) > 5 else "")
        raise AlignError(
            f"output_dir {out} already holds files that no align run wrote ({shown}); align does not write "
            "a run into such a folder. Give the run a new or empty output_dir."
        )
    resume = getattr(recipe.method, "resume", None)
    if resume is False:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        moved = next(
            p
            for n in itertools.count()
            if not (p := out.with_name(f"{out.name}.previous-{stamp}" + (f"-{n}" if n else ""))).exists()
        )
        out.rename(moved)
        print(
            f"align: method.resume=false: the earlier run in {out} is now in {moved} (delete it when done)."
        )
        return
    differ = recipe_differences(stored_recipe(stored), resolved_dict(recipe))
    if differ:
        listed = "; ".join(f"{key}: {old!r} there, {new!r} now" for key, (old, new) in differ.items())
        start_over = (
            ", or set method.resume=false to start over (the earlier run is renamed to "
            f"{out.name}.previous-<time>; nothing is deleted)"
            if resume is not None
            else f", or move {out} away"
        )
        raise AlignError(
            f"output_dir {out} holds a run of a different recipe ({listed}). A run continues only with the recipe "
            f"it started with (see {stored}). Give this recipe a new output_dir{start_over}."
        )
