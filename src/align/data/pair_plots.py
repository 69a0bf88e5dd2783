"""Plots that show what a binarized preference set teaches: score gaps, length bias, chosen models.

Length bias matters because DPO readily learns "longer is better" when chosen answers are
systematically longer than rejected ones; the length plot and `chosen_longer` make it visible.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from align.data.argilla import is_argilla, to_pairs
from align.errors import AlignError
from align.paths import data_file, load_files

_TOP_MODELS = 25
log = logging.getLogger(__name__)


def _files(path: str) -> list[Path]:
    source = data_file(path, "--input", (".jsonl",), directory_ok=True)
    if source.is_dir():
        files = sorted(source.glob("*.jsonl"))
        if not files:
            raise AlignError(
                f"{path} holds no .jsonl files. Point --input at `align binarize` output or a JSONL file."
            )
        return files
    return [source]


def load_pairs(path: str | Path):
    """Binarized pairs from a JSONL file or every JSONL file of a directory: H4 format, or the
    argilla/ultrafeedback-binarized-preferences schema (converted as `data.format: argilla` does)."""
    files = _files(str(path))
    ds = load_files("json", [str(f) for f in files], "--input", "binarized JSON lines", split="train")
    if "chosen" not in ds.column_names and is_argilla(ds.column_names):
        ds, dropped = to_pairs(ds, str(path))
        if dropped:
            log.warning("%s: rows without a pair dropped: %s", path, dict(dropped))
    missing = [
        c for c in ("chosen", "rejected", "score_chosen", "score_rejected") if c not in ds.column_names
    ]
    if missing:
        raise AlignError(
            f"{path} is not binarized preference data: no {', '.join(missing)} field(s). Give `align binarize` "
            "output (raw UltraFeedback goes through `align binarize` first)."
        )
    return ds


def _reply(messages: Any) -> str:
    """The assistant's text of a conversational pair (or a plain string)."""
    if isinstance(messages, list):
        return "".join(m["content"] for m in messages if m.get("role") == "assistant")
    return messages or ""


def stats(ds) -> dict[str, Any]:
    """The numbers behind the plots."""
    chosen = [float(s) for s in ds["score_chosen"][:]]
    rejected = [float(s) for s in ds["score_rejected"][:]]
    margin = [c - r for c, r in zip(chosen, rejected, strict=True)]
    len_c = [len(_reply(m)) for m in ds["chosen"][:]]
    len_r = [len(_reply(m)) for m in ds["rejected"][:]]
    models = Counter(ds["chosen_model"][:]) if "chosen_model" in ds.column_names else Counter()
    n = len(ds)
    return {
        "pairs": n,
        "score_chosen": chosen,
        "score_rejected": rejected,
        "margin": margin,
        "length_chosen": len_c,
        "length_rejected": len_r,
        "chosen_longer": sum(c > r for c, r in zip(len_c, len_r, strict=True)) / n if n else 0.0,
        "ties": sum(m == 0 for m in margin),
        "chosen_models": dict(models.most_common()),
    }


def plot(s: dict[str, Any], output_dir: str | Path) -> list[Path]:
    """Write scores.png, margin.png, lengths.png and chosen_models.png from `stats`; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written.append(out / name)

    fig, ax = plt.subplots(figsize=(7, 4))
    lo, hi = min(s["score_rejected"] + s["score_chosen"]), max(s["score_rejected"] + s["score_chosen"])
    bins = 30 if hi > lo else 1
    ax.hist(s["score_chosen"], bins=bins, range=(lo, hi), alpha=0.6, label="chosen", color="tab:green")
    ax.hist(s["score_rejected"], bins=bins, range=(lo, hi), alpha=0.6, label="rejected", color="tab:red")
    ax.set(title=f"Scores of {s['pairs']} pairs", xlabel="score", ylabel="pairs")
    ax.legend()
    save(fig, "scores.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(s["margin"], bins=30, color="tab:blue")
    ax.set(title=f"Margin (score chosen - rejected); ties: {s['ties']}", xlabel="margin", ylabel="pairs")
    save(fig, "margin.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    top = max(s["length_chosen"] + s["length_rejected"] + [1])
    ax.hist(s["length_chosen"], bins=40, range=(0, top), alpha=0.6, label="chosen", color="tab:green")
    ax.hist(s["length_rejected"], bins=40, range=(0, top), alpha=0.6, label="rejected", color="tab:red")
    ax.set(
        title=f"Response length (characters): chosen longer in {s['chosen_longer']:.0%} of pairs",
        xlabel="characters",
        ylabel="pairs",
    )
    ax.legend()
    save(fig, "lengths.png")

    models = list(s["chosen_models"].items())[:_TOP_MODELS]
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.3 * max(len(models), 1)))
    if models:
        names, counts = zip(*reversed(models), strict=True)
        ax.barh(names, counts, color="tab:purple")
        ax.set(title="Chosen model", xlabel="pairs")
    else:
        ax.text(0.5, 0.5, "no chosen_model field", ha="center", va="center")
        ax.set_axis_off()
    save(fig, "chosen_models.png")
    return written
