"""What a recipe will do, computed without loading weights: the body of `align check`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from align.config.recipe import TRAINER_DEFAULTS, DataConfig, Recipe, TrainerMethod
from align.data.filters import TRUTHFULQA_SOURCE
from align.data.samples import PREFIX as SAMPLE_PREFIX
from align.launch import BatchPlan, batch_plan
from align.memory import estimate
from align.models.tiny import is_tiny
from align.precision import describe as precision_line


def _local(path: str) -> bool:
    return is_tiny(path) or path.startswith(SAMPLE_PREFIX) or Path(path).exists()


def plan(recipe: Recipe, num_processes: int | None = None) -> dict[str, str]:
    world = num_processes or recipe.launch.num_processes
    out: dict[str, str] = {
        "method": recipe.method.name,
        "model": recipe.model.name_or_path + (f"@{recipe.model.revision}" if recipe.model.revision else ""),
    }
    if recipe.model.adapter:
        revision = f"@{recipe.model.adapter_revision}" if recipe.model.adapter_revision else ""
        out["adapter"] = f"{recipe.model.adapter}{revision} (PEFT, merged into the model when loaded)"
    if recipe.reward_model:
        out["reward model"] = recipe.reward_model.name_or_path
    if recipe.data:
        out["data"] = _data(recipe)
    out["processes"] = f"{world} on {recipe.launch.num_machines} machine(s)"
    if isinstance(recipe.method, TrainerMethod):
        out["precision"] = precision_line(recipe)
    if isinstance(recipe.method, TrainerMethod):
        bp = batch_plan(recipe, world)
        out["batch"] = (
            f"{bp.per_device} per device x {bp.grad_accum} accumulation x {world} = {bp.global_batch} global"
        )
        trainer = recipe.method.trainer
        if recipe.method.name == "iterative-dpo":
            _iterations(recipe, bp, out)
        elif recipe.method.name == "ppo":
            episodes = trainer.get("total_episodes")
            out["ppo iterations"] = (
                f"{episodes // bp.global_batch} x {bp.global_batch} rollout samples"
                if episodes
                else "one pass over the prompts (total_episodes not set)"
            )
        elif recipe.method.name == "online-dpo":
            _online_dpo(recipe, bp.global_batch, out)
        else:
            _steps(recipe, bp, out)
        memory = estimate(recipe, world)
        if memory:
            resident = " (frozen: reference and reward model, both counted resident)"
            out["memory"] = memory + (resident if recipe.method.name == "iterative-dpo" else "")
    out["output_dir"] = recipe.output_dir
    return out


def _steps(recipe: Recipe, bp: BatchPlan, out: dict[str, str]) -> None:
    """Train rows and optimizer steps of a pair-trained method (DPO, reward)."""
    trainer = recipe.method.trainer
    epochs = float(trainer.get("num_train_epochs", 3.0))
    rows = _train_rows(recipe, out)
    if rows is not None:
        out["train rows"] = str(rows)
    if trainer.get("max_steps", -1) > 0:
        out["optimizer steps"] = str(trainer["max_steps"])
    elif rows is not None:
        per_epoch = max(rows // bp.global_batch, 1)  # full global batches only (align.methods.batches)
        out["optimizer steps"] = f"{math.ceil(epochs * per_epoch)} ({epochs:g} epochs of {per_epoch})"
    else:
        out["optimizer steps"] = f"{epochs:g} epochs x rows / {bp.global_batch} (rows counted at run time)"


def _pairs_per_prompt(strategy: str, k: int) -> int:
    """The most pairs one prompt's K ranked samples give under a strategy (all-pairs: every ordered gap)."""
    return k * (k - 1) // 2 if strategy == "all-pairs" else 1


def _iterations(recipe: Recipe, bp: BatchPlan, out: dict[str, str]) -> None:
    """Samples, pairs and optimizer steps of each iteration of iterative DPO (prompts counted when local)."""
    method = recipe.method
    epochs = float(method.trainer.get("num_train_epochs", 3.0))
    prompts = _prompt_count(recipe)
    per = method.prompts_per_iteration
    if per is None and prompts is not None:
        rest = prompts - method.eval_prompts
        per = rest // method.iterations if method.prompt_schedule == "split" else rest
    if per is None:
        out["iterations"] = (
            f"{method.iterations} x (prompts x {method.samples_per_prompt} samples -> pairs -> DPO), prompts "
            f"{method.prompt_schedule} (counted at run time: the prompts are not local)"
        )
        return
    pairs = per * _pairs_per_prompt(method.strategy, method.samples_per_prompt)
    if method.trainer.get("max_steps", -1) > 0:
        steps = str(method.trainer["max_steps"])
    else:
        steps = f"at most {math.ceil(epochs * max(pairs // bp.global_batch, 1))} ({epochs:g} epochs)"
    out["iterations"] = (
        f"{method.iterations} x ({per} prompts x {method.samples_per_prompt} samples = "
        f"{per * method.samples_per_prompt} samples -> at most {pairs} {method.strategy} pairs -> {steps} optimizer "
        f"steps), prompts {method.prompt_schedule}, DPO reference: {method.reference} policy"
    )
    out["held-out evaluation"] = (
        f"{method.eval_prompts} prompts x {method.eval_samples_per_prompt} samples, for the initial policy and after "
        f"each iteration ({method.eval_prompts * method.eval_samples_per_prompt * (method.iterations + 1)} in all)"
    )


def _prompt_count(recipe: Recipe) -> int | None:
    """Prompts a sampling method (iterative or online DPO) draws from, when the data, prompt file and tokenizer
    are local; remembered while those files and settings stay the same (counting loads the tokenizer)."""
    prompts = recipe.method.prompts
    source = prompts.path or (recipe.data.path if recipe.data else None)
    tokenizer = recipe.model.tokenizer or recipe.model.name_or_path
    if source is None or not _local(source) or not _local(tokenizer):
        return None
    if prompts.decontaminate and not Path(prompts.decontaminate).exists():
        return None  # the hub's TruthfulQA questions: check never contacts the hub
    from align.cache import file_stamps, installed_versions, remember
    from align.data.samples import resolve as resolve_sample
    from align.models.tiny import resolve as resolve_model

    files = [resolve_sample(source), resolve_model(tokenizer), prompts.decontaminate]
    key = (
        prompts.model_dump(mode="json"),
        recipe.data.model_dump(mode="json") if recipe.data else None,
        recipe.model.model_dump(mode="json"),
        recipe.method.eval_prompts,
        recipe.seed,
        [file_stamps(Path(f)) for f in files if f],
        installed_versions("transformers", "tokenizers"),
    )
    return remember("prompts", key, lambda: _count_prompts(recipe))


def _count_prompts(recipe: Recipe) -> int:
    from align.methods.prompts import load_prompts
    from align.models.loading import load_tokenizer

    return len(load_prompts(recipe, recipe.method.prompts, load_tokenizer(recipe.model)).prompts)


def _online_dpo(recipe: Recipe, global_batch: int, out: dict[str, str]) -> None:
    """Prompts (counted when local), samples per step, optimizer steps, evaluations, reward, sampler."""
    method, trainer = recipe.method, recipe.method.trainer
    n_prompts = _prompt_count(recipe)
    n_train = None if n_prompts is None else n_prompts - method.eval_prompts
    if n_train is not None:
        out["prompts"] = f"{n_train} to train on + {method.eval_prompts} held out"
    else:
        out["prompts"] = f"counted at run time; {method.eval_prompts} held out for the reward evaluation"
    out["samples per step"] = f"{2 * global_batch} ({global_batch} prompts x 2 completions of up to " + (
        f"{trainer.get('max_new_tokens', 64)} tokens), each scored by the reward model"
    )
    epochs = float(trainer.get("num_train_epochs", 3.0))
    if trainer.get("max_steps", -1) > 0:
        out["optimizer steps"] = str(trainer["max_steps"])
    elif n_train is not None:
        per_epoch = max(n_train // global_batch, 1)  # full global batches only (align.methods.batches)
        out["optimizer steps"] = f"{math.ceil(epochs * per_epoch)} ({epochs:g} epochs of {per_epoch})"
    else:
        out["optimizer steps"] = f"{epochs:g} epochs x prompts / {global_batch} (prompts counted at run time)"
    if method.eval_prompts:
        every = trainer.get("eval_steps", trainer.get("logging_steps", TRAINER_DEFAULTS["logging_steps"]))
        out["reward evaluation"] = (
            f"{2 * method.eval_prompts} samples ({method.eval_prompts} held-out prompts x 2) before training, every "
            f"{every:g} steps and after"
        )
    shaping = f", minus {method.length_penalty:g} per completion token" if method.length_penalty else ""
    out["reward"] = f"{recipe.reward_model.name_or_path if recipe.reward_model else '(none)'}{shaping}"
    out["sampler"] = {
        "auto": "vLLM on a CUDA machine with vLLM installed, else transformers",
        "hf": "transformers",
    }.get(method.engine, "vLLM (needs a CUDA GPU)")


def _data(recipe: Recipe) -> str:
    """The data line: path and format, how the test split is made, ties."""
    data = recipe.data
    text = f"{data.path} ({data.format})"
    if data.test_size:
        shuffled = f" after shuffle(seed={data.shuffle_seed})" if data.shuffle_seed is not None else ""
        text += (
            f", test = {data.test_size} rows held out by train_test_split(seed={data.split_seed}){shuffled}"
        )
    if data.format != "raw":
        text += ", ties dropped" if data.drop_ties else ", ties kept"
    return text


def _offline(data: DataConfig) -> bool:
    """Whether the data can be counted without the network: local, and not decontaminated with the hub's questions."""
    hub_questions = data.format == "raw" and data.binarize.decontaminate == TRUTHFULQA_SOURCE
    return _local(data.path) and not hub_questions


def _train_rows(recipe: Recipe, out: dict[str, str]) -> int | None:
    """Rows of the training split, when they can be counted offline (check never contacts the hub).

    Counted by loading the pairs once, then remembered while the data files and settings stay the same.
    """
    if recipe.data is None or not _offline(recipe.data):
        return None
    from align.cache import file_stamps, remember
    from align.data.binarize import CODE_VERSION
    from align.data.samples import resolve

    data = recipe.data
    files = [Path(resolve(p)) for p in (data.path, data.binarize.decontaminate) if p and _local(p)]
    key = (data.model_dump(mode="json"), recipe.seed, [file_stamps(f) for f in files], CODE_VERSION)
    rows, described = remember("rows", key, lambda: _count_rows(recipe))
    if data.format != "raw":
        out["data rows"] = described
    return rows


def _count_rows(recipe: Recipe) -> list[Any]:
    from align.data.preferences import load_pairs_counted

    splits, counts = load_pairs_counted(recipe.data, seed=recipe.seed)
    return [len(splits["train"]), counts.describe()]
