"""Everything a recipe reads, checked before any weights load: the one function behind `align check` and `align run`.

Both commands call `check_inputs`, so `check` refuses every path `run` would refuse: a missing or
wrong-kind local file or directory, an unknown tiny:// or sample:// name, a method without the
data or reward model it needs. The only difference: a hub id that cannot be reached from this
machine is an error for `run` and a note for `check` (the machine that runs may have the network).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from align.config.recipe import DataConfig, Recipe, RewardModelConfig
from align.data.filters import TRUTHFULQA_HUB, TRUTHFULQA_SOURCE
from align.errors import AlignError
from align.paths import HubUnavailable, data_file, hub_repo, model_path

RAW_SUFFIXES = (".jsonl", ".json", ".parquet")
PROMPT_SUFFIXES = (".jsonl", ".json", ".parquet")
QUESTION_SUFFIXES = (".jsonl", ".json", ".txt")
ACCELERATE_SUFFIXES = (".yaml", ".yml", ".json")


def producer_hint(value: str, recipe_path: str | Path | None) -> str | None:
    """'run recipes/x.yaml first' when `value` is the output_dir of a recipe next to (or beside the folder of) this one."""
    from align.config.loader import read_recipe_dict

    if recipe_path is None or "://" in value or Path(value).expanduser().exists():
        return None
    target = Path(value).expanduser().resolve()
    here = Path(recipe_path).resolve().parent
    candidates = set(here.glob("*.yaml"))
    if here.parent != here.parent.parent and here.parent != Path.home():  # not from / or ~ downwards
        candidates |= set(here.parent.glob("*/*.yaml"))
    for path in sorted(candidates)[:500]:
        try:
            out = read_recipe_dict(path).get("output_dir")
        except AlignError:
            continue
        if isinstance(out, str) and Path(out).expanduser().resolve() == target:
            try:
                shown = path.relative_to(Path.cwd())
            except ValueError:
                shown = path
            return f"It is the output_dir of {shown}: run `align run {shown}` first."
    return None


def decontamination_source(value: str, argument: str) -> Path | str:
    """'truthful_qa' (the hub questions, which must be reachable) or a local question file."""
    source = data_file(value, argument, QUESTION_SUFFIXES, extra=(TRUTHFULQA_SOURCE,))
    if source == TRUTHFULQA_SOURCE:
        hub_repo(TRUTHFULQA_HUB, f"{argument}={TRUTHFULQA_SOURCE} (the hub's questions)", "dataset")
    return source


def data_source(data: DataConfig, argument: str = "data.path") -> Path | str:
    """The data section's input: a raw file / binarized directory (Path) or a hub dataset id (str)."""
    from align.data.loader import hub_revision
    from align.data.preferences import train_file

    if data.format == "raw":
        source = data_file(
            data.path, argument, RAW_SUFFIXES, hub="dataset", revision=hub_revision(data.path, data.revision)
        )
    else:
        files = (".jsonl", ".json", ".parquet") if data.format == "argilla" else (".jsonl",)
        source = data_file(
            data.path, argument, files, hub="dataset", revision=data.revision, directory_ok=True
        )
        if isinstance(source, Path) and source.is_file() and data.format != "argilla":
            raise AlignError(
                f"{argument} {data.path} is a file, but format: binarized expects a directory holding "
                f"{data.train_split}.jsonl (and {data.test_split}.jsonl), or a hub id. Use format: raw for a raw "
                "UltraFeedback file, or format: argilla for argilla/ultrafeedback-binarized-preferences rows."
            )
        if isinstance(source, Path) and source.is_dir():
            train_file(source, data.train_split)
    return source


def require_reward_model(recipe: Recipe, needs: str) -> RewardModelConfig:
    """The recipe's reward_model section, or a one-paragraph error saying what `needs` it for."""
    if recipe.reward_model is None:
        raise AlignError(
            f"Recipe {recipe.name!r} has no `reward_model` section; {needs} "
            "(e.g. reward_model: {name_or_path: openbmb/UltraRM-13b, template: ultrarm})."
        )
    return recipe.reward_model


def require_data(recipe: Recipe) -> DataConfig | None:
    """The recipe's data section, or a one-paragraph error when the method needs one (None: prompts come from
    method.prompts.path instead)."""
    prompts = getattr(recipe.method, "prompts", None)
    if recipe.data is None and (prompts is None or prompts.path is None):
        need = "its preference pairs" if prompts is None else "its prompts (or set method.prompts.path)"
        raise AlignError(
            f"Recipe {recipe.name!r} (method {recipe.method.name}) has no `data` section, which it needs for {need}. "
            "Add one, e.g. data: {path: openbmb/UltraFeedback, format: raw}, or sample://ultrafeedback offline."
        )
    return recipe.data


def check_inputs(
    recipe: Recipe, recipe_path: str | Path | None = None, *, strict_hub: bool = True
) -> list[str]:
    """Resolve every model and data path of `recipe`; raise AlignError on the first problem.

    With `strict_hub` False, hub ids that cannot be reached here are returned as notes instead.
    """
    notes: list[str] = []

    def resolve(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except HubUnavailable as exc:
            if strict_hub:
                raise
            notes.append(str(exc))

    def hint(value: str) -> str | None:
        return producer_hint(value, recipe_path)

    model, method = recipe.model, recipe.method
    resolve(
        model_path,
        model.name_or_path,
        "model.name_or_path",
        revision=model.revision,
        hint=hint(model.name_or_path),
    )
    if model.tokenizer:
        resolve(model_path, model.tokenizer, "model.tokenizer", marker="tokenizer_config.json")
    if method.judged:
        require_reward_model(recipe, f"method {method.name} scores its samples with one")
    if recipe.reward_model:
        rm = recipe.reward_model
        resolve(
            model_path,
            rm.name_or_path,
            "reward_model.name_or_path",
            revision=rm.revision,
            hint=hint(rm.name_or_path),
        )
    require_data(recipe)
    prompts = getattr(method, "prompts", None)
    if recipe.data:
        resolve(data_source, recipe.data)
        if recipe.data.format == "raw" and recipe.data.binarize.decontaminate:
            resolve(decontamination_source, recipe.data.binarize.decontaminate, "data.binarize.decontaminate")
    if prompts is not None:
        if prompts.path:
            resolve(data_file, prompts.path, "method.prompts.path", PROMPT_SUFFIXES)
        if prompts.decontaminate:
            resolve(decontamination_source, prompts.decontaminate, "method.prompts.decontaminate")
    if recipe.launch.config_file and recipe.launch.num_processes > 1:  # only a launch reads it
        data_file(recipe.launch.config_file, "launch.config_file", ACCELERATE_SUFFIXES)
    return notes
