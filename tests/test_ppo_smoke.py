"""PPO recipes run end to end on CPU with tiny models, and the run outputs are complete.

The default test runs recipes/smoke/ppo.yaml (policy and reward model on different tokenizers
and templates). The slow test trains the smoke reward model and checks that PPO against it
raises the mean reward: `pytest -m slow tests/test_ppo_smoke.py`.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from align.cli import main
from align.config import load_recipe
from align.errors import AlignError
from align.jsonl import read_jsonl
from align.methods import ppo
from align.rundir.outputs import read_metrics
from repo_paths import REPO

SMOKE = REPO / "recipes/smoke/ppo.yaml"
CURVES = ("objective/scores", "objective/kl", "objective/entropy", "loss/policy_avg", "loss/value_avg")


pytestmark = pytest.mark.usefixtures("tiny_cpu")


def scores(out: Path) -> list[float]:
    return [row["objective/scores"] for row in read_metrics(out) if "objective/scores" in row]


def test_smoke_recipe_runs_across_tokenizers_with_finite_metrics(tmp_path):
    out = tmp_path / "ppo"
    assert main(["run", str(SMOKE), f"output_dir={out}"]) == 0

    rows = [row for row in read_metrics(out) if "objective/scores" in row]
    assert len(rows) == 4  # total_episodes 64 / 16 per iteration
    for row in rows:
        assert all(math.isfinite(row[key]) for key in CURVES), row
    for plot in ("mean_reward", "kl", "entropy", "losses"):
        assert (out / "plots" / f"{plot}.png").is_file()

    # split on "\n" only: sampled bytes may hold U+2028, which str.splitlines treats as a line break
    samples = read_jsonl(out / ppo.SAMPLES_FILE)
    assert {s["step"] for s in samples} >= {0, 1, 4}  # before training, TRL's sample generations, after
    assert all(
        set(s) == {"step", "prompt", "response", "reward"} and math.isfinite(s["reward"]) for s in samples
    )

    summary = json.loads((out / "summary.json").read_text())
    assert summary["ppo_iterations"] == 4 and summary["episodes"] == 64
    assert "## step 4" in (out / "samples.md").read_text()
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    # the policy every 10 iterations and at the last one (a restart point; TRL cannot resume)
    assert [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-4"]
    card = (out / "README.md").read_text()
    assert "tiny://llama-rm" in card and "`chat`" in card


def test_lora_policy_and_value_model_from_the_reward_model(tmp_path):
    """Same tokenizer: the critic starts from the reward model; LoRA on both, reference = adapter disabled."""
    recipe = load_recipe(
        SMOKE,
        [
            f"output_dir={tmp_path / 'lora'}",
            "model.name_or_path=tiny://llama",
            "model.lora={r: 4, lora_alpha: 8, target_modules: [q_proj, v_proj]}",
            "method.value_model_init=reward",
            "method.trainer.total_episodes=16",
        ],
    )
    summary = ppo.run(recipe)
    assert summary["ppo_iterations"] == 1
    assert (tmp_path / "lora" / "adapter_config.json").is_file()


def test_value_model_from_a_reward_model_on_another_tokenizer_is_refused(tmp_path):
    recipe = load_recipe(SMOKE, [f"output_dir={tmp_path}", "method.value_model_init=reward"])
    with pytest.raises(AlignError, match="value_model_init: policy"):
        ppo.build_trainer(recipe)


def test_mini_batches_with_gradient_accumulation_are_refused(tmp_path):
    """TRL 1.12 would step the optimizer once per rollout batch and ignore num_mini_batches."""
    recipe = load_recipe(SMOKE, [f"output_dir={tmp_path}", "method.trainer.per_device_train_batch_size=4"])
    with pytest.raises(AlignError, match="num_mini_batches=2"):
        ppo.build_trainer(recipe)


def test_a_run_with_checkpoints_is_not_silently_restarted(tmp_path):
    (tmp_path / "checkpoint-4").mkdir()
    recipe = load_recipe(SMOKE, [f"output_dir={tmp_path}"])
    with pytest.raises(AlignError, match="cannot resume"):
        ppo.run(recipe)


@pytest.mark.slow
def test_mean_reward_rises_against_the_smoke_reward_model(tmp_path):
    reward_dir, out = tmp_path / "reward", tmp_path / "ppo"
    assert main(["run", "recipes/smoke/reward.yaml", f"output_dir={reward_dir}"]) == 0
    assert (
        main(
            [
                "run",
                "recipes/smoke/ppo-long.yaml",
                f"output_dir={out}",
                f"reward_model.name_or_path={reward_dir}",
            ]
        )
        == 0
    )
    curve = scores(out)
    k = len(curve) // 5
    first, last = statistics.fmean(curve[:k]), statistics.fmean(curve[-k:])
    print(
        f"objective/scores: first {k} iterations {first:.3f}, last {k} {last:.3f}; curve {[round(s, 2) for s in curve]}"
    )
    trainer = load_recipe(REPO / "recipes/smoke/ppo-long.yaml").method.trainer
    assert (
        len(curve) == trainer["total_episodes"] // trainer["per_device_train_batch_size"]
    )  # one per iteration
    assert last > first + 0.3
