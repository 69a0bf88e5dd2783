"""Reward-model training: the smoke recipe learns held-out preferences, and the result scores like it trained."""

from __future__ import annotations

import json
import math

from align.cli import main
from align.config import load_recipe
from align.data.pairs import Pair
from align.methods import reward, runner

SMOKE = "recipes/smoke/reward.yaml"
FAST = ["method.trainer.max_steps=12", "method.trainer.eval_steps=6", "method.trainer.report_to=[]"]


def train(repo, tmp_path, *overrides: str) -> dict:
    return reward.run(load_recipe(repo / SMOKE, [f"output_dir={tmp_path}", *FAST, *overrides]))


def test_runner_is_registered():
    assert runner("reward") is reward


def chance_band(summary: dict) -> float:
    """Three standard deviations of a coin-flip ranker's accuracy on the held-out pairs."""
    return 3 * math.sqrt(0.25 / summary["eval_pairs"])


def test_smoke_recipe_rises_from_chance_on_held_out_pairs(repo, tmp_path):
    """The recipe as shipped: the sample's answer lengths say nothing about quality, so the untrained model
    ranks held-out pairs like a coin; training on the content lifts it well clear of chance."""
    summary = reward.run(load_recipe(repo / SMOKE, [f"output_dir={tmp_path}", "method.trainer.report_to=[]"]))
    assert summary["eval_pairs"] >= 80 and all(
        math.isfinite(v) for v in summary.values() if isinstance(v, float)
    )
    band = chance_band(summary)
    assert abs(summary["before/accuracy"] - 0.5) <= band
    assert summary["after/accuracy"] >= 0.5 + 2 * band
    assert summary["after/accuracy"] >= summary["before/accuracy"] + 0.2
    assert summary["after/loss"] < summary["before/loss"]
    assert summary["after/margin"] > summary["before/margin"] + 1.0
    for name in ("recipe.resolved.yaml", "metrics.jsonl", "summary.json", "README.md", "plots/accuracy.png"):
        assert (tmp_path / name).is_file(), name
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("eval_accuracy" in r for r in logged)
    # the saved model carries its training template, so `align score` lays text out the same way
    assert json.loads((tmp_path / "config.json").read_text())["reward_template"] == "ultrarm"
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": "Tell me about the moon.", "chosen": "a", "rejected": "b"}) + "\n")
    assert (
        main(["score", "--model", str(tmp_path), "--input", str(rows), "--output", str(tmp_path / "o.jsonl")])
        == 0
    )


def test_accuracy_rises_because_of_the_labels(repo, tmp_path, monkeypatch):
    """Trained on swapped labels (rude and vague answers preferred), the model learns that preference instead."""
    pair = reward.binarized_pair
    monkeypatch.setattr(
        reward, "binarized_pair", lambda row: Pair(pair(row).prompt, pair(row).rejected, pair(row).chosen)
    )
    summary = train(repo, tmp_path, "method.margin=false")
    assert summary["optimizer_steps"] == 12
    band = chance_band(summary)
    assert abs(summary["before/accuracy"] - 0.5) <= band < summary["after/accuracy"] - 0.5


def test_margin_column_only_when_asked(repo, tmp_path):
    from align.data.preferences import load_preferences
    from align.models.loading import load_tokenizer

    recipe = load_recipe(repo / SMOKE, [f"output_dir={tmp_path}"])
    train_rows = load_preferences(recipe.data, seed=0)["train"].select(range(4))
    tokenizer = load_tokenizer(recipe.model)
    with_margin = reward.prepare_pairs(train_rows, tokenizer, "ultrarm", True, "sample")
    assert set(with_margin.column_names) == {"chosen_ids", "rejected_ids", "margin"}
    assert all(m > 0 for m in with_margin["margin"])  # curated-mean: strictly better chosen
    without = reward.prepare_pairs(train_rows, tokenizer, "ultrarm", False, "sample")
    assert set(without.column_names) == {"chosen_ids", "rejected_ids"}
    # the ids are exactly what scoring will see
    row = train_rows[0]
    text = f"Human: {row['prompt']}\n\nAssistant: {row['chosen'][-1]['content']}"
    assert with_margin[0]["chosen_ids"] == tokenizer(text)["input_ids"]
