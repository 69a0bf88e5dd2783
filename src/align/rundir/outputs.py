"""Run outputs a user reads without a notebook.

output_dir/recipe.resolved.yaml   the merged recipe (rerun it with `align run`)
output_dir/metrics.jsonl          one JSON object per logging event
output_dir/plots/*.png            curves of the method's key metrics
output_dir/README.md              a model card: base model, data, settings, final metrics
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from transformers import TrainerCallback

from align.config.loader import resolved_dict, write_resolved
from align.config.recipe import Recipe
from align.jsonl import read_jsonl, write_jsonl
from align.rundir.claim import claim_run_dir, is_main_process

METRICS_FILE = "metrics.jsonl"


def prepare_run(recipe: Recipe) -> Path:
    """Claim output_dir for this recipe (align.rundir.claim) and record the recipe there, on the main process."""
    out = Path(recipe.output_dir)
    if is_main_process():
        claim_run_dir(recipe)
        write_resolved(recipe, out)
    return out


def read_metrics(output_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(output_dir) / METRICS_FILE
    return read_jsonl(path) if path.is_file() else []


def tensorboard_into_output_dir(trainer: Any) -> None:
    """Give TensorBoard its folder (output_dir/runs/TIME_HOST) before anything is logged.

    transformers sets it only when training begins; a writer opened earlier, by the evaluation
    before training, would otherwise write every curve to ./runs of the current directory.
    """
    from transformers.integrations import TensorBoardCallback
    from transformers.integrations.integration_utils import default_logdir

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and callback.logging_dir is None:
            callback.logging_dir = str(Path(trainer.args.output_dir) / default_logdir())


def keep_metrics_until(output_dir: str | Path, step: int | None) -> None:
    """Drop metrics.jsonl rows logged after `step` (all of them for None): a run restarting there relogs them."""
    path = Path(output_dir) / METRICS_FILE
    if not path.is_file():
        return
    kept = [] if step is None else [r for r in read_metrics(output_dir) if r["step"] <= step]
    write_jsonl(path, kept)


class MetricsCallback(TrainerCallback):
    """Append every `log` event to metrics.jsonl and redraw the plots when training ends."""

    def __init__(self, output_dir: str | Path, plots: Mapping[str, Sequence[str]]):
        self.output_dir = Path(output_dir)
        self.plots = plots
        self.last_logs: dict[str, Any] = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        self.last_logs = dict(logs)
        row = {"step": state.global_step, "epoch": state.epoch, **logs}
        write_jsonl(self.output_dir / METRICS_FILE, [row], append=True)

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            plot_metrics(self.output_dir, self.plots)


def plot_metrics(output_dir: str | Path, plots: Mapping[str, Sequence[str]]) -> list[Path]:
    """One PNG per entry of `plots` (title -> metric keys), each key a line over steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(output_dir)
    written = []
    plot_dir = Path(output_dir) / "plots"
    for title, keys in plots.items():
        series = {
            k: [(r["step"], r[k]) for r in rows if isinstance(r.get(k), int | float) and math.isfinite(r[k])]
            for k in keys
        }
        series = {k: v for k, v in series.items() if v}
        if not series:
            continue
        plot_dir.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for key, points in series.items():
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, label=key)
        ax.set_xlabel("optimizer step")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        target = plot_dir / f"{title.lower().replace(' ', '_').replace('/', '_')}.png"
        fig.savefig(target, dpi=100)
        plt.close(fig)
        written.append(target)
    return written


# What each method leaves in output_dir, as the hub's pipeline_tag: a causal LM, or a scalar reward head.
def _hub_id(value: str | None) -> str | None:
    """`value` when it names a hub repository (not tiny://, sample://, nor an existing local path)."""
    from align.paths import is_hub_id

    if not value or "://" in value or Path(value).expanduser().exists():
        return None
    return value if is_hub_id(value) else None


def _base_license(cfg: Any) -> str | None:
    """The license of the base model's card: a local model's README.md, the hub cache's copy, or the hub
    (when online); None when none of them says."""
    from huggingface_hub import ModelCard, try_to_load_from_cache

    from align.paths import offline

    repo = _hub_id(cfg.name_or_path)
    local = Path(cfg.name_or_path).expanduser() / "README.md"
    found = try_to_load_from_cache(repo, "README.md", revision=cfg.revision) if repo else None
    source = local if local.is_file() else Path(found) if isinstance(found, str) else None
    try:
        if source is not None:
            return ModelCard.load(source).data.license
        if repo and not offline():
            from huggingface_hub import HfApi

            info = HfApi().model_info(repo, revision=cfg.revision, timeout=10)
            return info.card_data.license if info.card_data else None
    except Exception:  # noqa: BLE001 - a missing or unreadable card only leaves the license out
        return None
    return None


def card_metadata(recipe: Recipe) -> dict[str, Any]:
    """The card's YAML header, as the hub reads it (huggingface_hub.ModelCardData fields).

    base_model and datasets are hub ids only (local paths and tiny:// mean nothing on another
    machine); their revisions go into base_model_revision / dataset_revisions beside them.
    """
    from align.data.loader import hub_revision

    method = recipe.method.name
    meta: dict[str, Any] = {
        "library_name": "peft" if recipe.model.lora else "transformers",
        # a reward model scores texts; every other method leaves a policy that writes them
        "pipeline_tag": "text-classification" if method == "reward" else "text-generation",
        "tags": ["align", "trl", method],
        "model_name": recipe.name,
    }
    base = _hub_id(recipe.model.name_or_path)
    if base:
        meta["base_model"] = base
        if recipe.model.revision:
            meta["base_model_revision"] = recipe.model.revision
    if recipe.model.lora:
        meta["tags"].append("lora")
    license_ = _base_license(recipe.model)
    if license_:
        meta["license"] = license_
    dataset = _hub_id(recipe.data.path) if recipe.data else None
    if dataset:
        meta["datasets"] = [dataset]
        revision = hub_revision(dataset, recipe.data.revision)
        if revision:
            meta["dataset_revisions"] = {dataset: revision}
    return meta


def write_summary(recipe: Recipe, summary: Mapping[str, Any], card: Mapping[str, Any]) -> None:
    """summary.json, and the model card with every metric named `.../...` in its table and `card` as lines."""
    Path(recipe.output_dir, "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    write_model_card(recipe, {k: v for k, v in summary.items() if "/" in k and v is not None}, card)


def write_model_card(
    recipe: Recipe, metrics: Mapping[str, Any], extra: Mapping[str, Any] | None = None
) -> Path:
    """A README.md model card the hub reads: YAML metadata (card_metadata), then what was trained from
    what, how, and how it scored."""
    from importlib.metadata import version

    from huggingface_hub import ModelCard, ModelCardData

    from align import __version__

    cfg = resolved_dict(recipe)
    lines = [
        f"# {recipe.name}",
        "",
        recipe.description or "",
        "",
        f"- **method**: {recipe.method.name}",
        f"- **base model**: `{recipe.model.name_or_path}`"
        + (f" @ `{recipe.model.revision}`" if recipe.model.revision else "")
        + (f" + adapter `{recipe.model.adapter}` (merged)" if recipe.model.adapter else ""),
    ]
    if recipe.data:
        d = recipe.data
        data_line = f"`{d.path}`" + (f" @ `{d.revision}`" if d.revision else "")
        trains_on_pairs = recipe.method.name in ("dpo", "reward")
        if d.format == "raw" and trains_on_pairs:
            data_line += f", binarized with `{d.binarize.strategy}` (score: {d.binarize.score}, seed {d.binarize.seed})"
        elif not trains_on_pairs:
            data_line += " (prompts only)"
        lines.append(f"- **data**: {data_line}")
    for key, value in (extra or {}).items():
        lines.append(f"- **{key}**: {value}")
    lines += ["", "## Final metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items()]
    lines += ["", "## Recipe", "", "```yaml", yaml.safe_dump(cfg, sort_keys=False).rstrip(), "```", ""]
    lines += [
        f"Trained with align {__version__} over [TRL](https://github.com/huggingface/trl) {version('trl')}; "
        "rerun with `align run recipe.resolved.yaml`.",
        "",
    ]
    header = ModelCardData(**card_metadata(recipe)).to_yaml()
    card = ModelCard(f"---\n{header}\n---\n\n" + "\n".join(lines))
    target = Path(recipe.output_dir) / "README.md"
    card.save(target)
    return target
