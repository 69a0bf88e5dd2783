"""`make smoke` end to end: raw sample -> binarize -> DPO on the tiny model -> held-out evaluation."""

from __future__ import annotations

import json

from align.cli import main
from align.config import load_recipe
from align.plan import plan
from repo_paths import REPO

SMOKE = REPO / "recipes/smoke/dpo-full.yaml"


def test_smoke_run_learns_the_held_out_preference(tmp_path, capsys):
    assert main(["run", str(SMOKE), f"output_dir={tmp_path}", "method.trainer.report_to=[]"]) == 0
    printed = capsys.readouterr().out
    assert "align run summary" in printed and str(tmp_path) in printed
    summary = json.loads((tmp_path / "summary.json").read_text())
    # before training the policy is the reference: no pair is preferred (accuracy 0, margin 0)
    assert summary["before/rewards/accuracies"] <= 0.55
    assert abs(summary["before/rewards/margins"]) < 1e-3
    assert summary["after/rewards/accuracies"] >= summary["before/rewards/accuracies"] + 0.3
    assert summary["after/rewards/accuracies"] >= 0.75 and summary["after/rewards/margins"] > 1.0
    # the plan `align check` printed beforehand matches what ran
    expected = plan(load_recipe(SMOKE))
    assert expected["optimizer steps"].startswith(f"{summary['optimizer_steps']} ")
    assert int(expected["train rows"]) == summary["train_pairs"]
