"""Iterative DPO on the tiny models: pairs, per-iteration metrics, resume after a real interruption, the plan.

The fast tests run recipes/smoke/iterative-dpo.yaml shortened to 2 iterations against the untrained tiny reward
model. The slow test trains the reward smoke's model and checks that the held-out mean reward rises at every one
of the smoke recipe's 3 iterations: `pytest -m slow tests/test_iterative_dpo.py`.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from align.cli import main
from align.config import load_recipe
from align.errors import AlignError
from align.jsonl import read_jsonl
from align.methods import iterative_dpo
from align.methods.prompts import PromptSet
from repo_paths import REPO

SMOKE = REPO / "recipes/smoke/iterative-dpo.yaml"
# 2 iterations of 16 prompts; iteration 2 trains 8 optimizer steps with a checkpoint every 2
FAST = [
    "reward_model.name_or_path=tiny://llama-rm",
    "method.iterations=2",
    "method.prompts_per_iteration=16",
    "method.eval_prompts=8",
    "method.eval_samples_per_prompt=2",
    "method.max_new_tokens=16",
    "method.trainer.num_train_epochs=4",
    "method.trainer.save_steps=2",
]


pytestmark = pytest.mark.usefixtures("tiny_cpu")


def run_cli(out: Path, overrides: list[str]) -> None:
    assert main(["run", str(SMOKE), f"output_dir={out}", *overrides]) == 0


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """One uninterrupted fast run, shared by the tests that read its outputs."""
    torch.set_num_threads(1)
    os.chdir(REPO)
    out = tmp_path_factory.mktemp("iterative") / "straight"
    run_cli(out, FAST)
    return out


def test_pairs_are_the_best_and_worst_sample_of_each_prompt(straight):
    for k in (1, 2):
        samples = read_jsonl(straight / f"iteration-{k}" / "samples.jsonl")
        assert len(samples) == 16 and all(len(s["responses"]) == len(s["rewards"]) == 4 for s in samples)
        pairs = read_jsonl(straight / f"iteration-{k}" / "pairs" / "train_prefs.jsonl")
        by_prompt = {s["prompt"]: s for s in samples}
        for pair in pairs:
            sample = by_prompt[pair["prompt"]]
            assert pair["score_chosen"] == max(sample["rewards"])
            assert pair["score_rejected"] == min(sample["rewards"]) < pair["score_chosen"]
            assert (
                pair["chosen"][-1]["content"]
                == sample["responses"][sample["rewards"].index(max(sample["rewards"]))]
            )
            assert pair["chosen"][0] == {"role": "user", "content": pair["prompt"]}
        ties = sum(1 for s in samples if max(s["rewards"]) == min(s["rewards"]))
        report = json.loads((straight / f"iteration-{k}" / "pairs" / "report.json").read_text())
        assert len(pairs) == report["pairs"] == 16 - ties


def test_prompts_are_split_across_iterations_and_held_out(straight):
    train = [{s["prompt"] for s in read_jsonl(straight / f"iteration-{k}" / "samples.jsonl")} for k in (1, 2)]
    held = [r["prompt"] for r in read_jsonl(straight / "iteration-0" / "eval.jsonl")]
    assert len(held) == 8 and held == [
        r["prompt"] for r in read_jsonl(straight / "iteration-2" / "eval.jsonl")
    ]
    assert not train[0] & train[1] and not set(held) & (train[0] | train[1])


def test_per_iteration_metrics_match_the_files(straight, capsys):
    rows = read_jsonl(straight / "iterations.jsonl")
    assert [r["iteration"] for r in rows] == [0, 1, 2]
    for row in rows:
        k = row["iteration"]
        evals = read_jsonl(straight / f"iteration-{k}" / "eval.jsonl")
        rewards = [r for e in evals for r in e["rewards"]]
        assert row["eval_mean_reward"] == pytest.approx(statistics.fmean(rewards))
        assert row["eval_median_reward"] == pytest.approx(statistics.median(rewards))
        assert row["eval_mean_length"] == pytest.approx(
            statistics.fmean(len(t) for e in evals for t in e["responses"])
        )
        if k == 0:
            assert "eval_kl_to_reference" not in row
            continue
        pairs = read_jsonl(straight / f"iteration-{k}" / "pairs" / "train_prefs.jsonl")
        assert row["pairs"] == len(pairs)
        assert row["pair_mean_gap"] == pytest.approx(statistics.fmean(p["margin"] for p in pairs))
        assert row["optimizer_steps"] == 4 * (len(pairs) // 8)  # full global batches of 8, 4 epochs
        assert row["eval_kl_to_reference"] > 0  # the trained policy moved away from its reference
        assert json.loads((straight / f"iteration-{k}" / "iteration.json").read_text()) == row
    summary = json.loads((straight / "summary.json").read_text())
    assert summary["iteration-2/eval_mean_reward"] == rows[2]["eval_mean_reward"]
    assert (straight / "plots" / "reward_and_length.png").stat().st_size > 0
    assert "| 2 |" in (straight / "iterations.md").read_text()
    assert "tiny://llama-rm" in (straight / "README.md").read_text()

    # the final policy is iteration 2's, and differs from iteration 1's
    final = load_file(straight / "model.safetensors")
    last = load_file(straight / "iteration-2" / "train" / "model.safetensors")
    first = load_file(straight / "iteration-1" / "train" / "model.safetensors")
    assert all(torch.equal(final[k], last[k]) for k in final)
    assert any(not torch.equal(last[k], first[k]) for k in last)

    # the pairs are in the H4 format data-report reads
    report_dir = straight.parent / "report"
    assert (
        main(["data-report", "--input", str(straight / "iteration-1" / "pairs"), "--output", str(report_dir)])
        == 0
    )
    assert (report_dir / "lengths.png").is_file()


def test_run_interrupted_in_iteration_2_resumes_to_the_same_policy(straight, tmp_path):
    out = tmp_path / "resumed"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "align.cli", "run", str(SMOKE), f"output_dir={out}", *FAST]
    checkpoint = out / "iteration-2" / "train" / "checkpoint-2" / "trainer_state.json"
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while not _complete_json(checkpoint) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode != 0, "the run ended before it could be interrupted"
    assert checkpoint.is_file() and not (out / "iteration-2" / "iteration.json").exists()
    assert (out / "iteration-1" / "iteration.json").is_file()

    run_cli(out, FAST)
    summary = json.loads((out / "iteration-2" / "train" / "summary.json").read_text())
    assert summary["resumed_from"] is not None and summary["resumed_from"].startswith(str(out))
    for k in (1, 2):
        for name in ("samples.jsonl", "pairs/train_prefs.jsonl", "eval.jsonl"):
            assert (out / f"iteration-{k}" / name).read_text() == (
                straight / f"iteration-{k}" / name
            ).read_text(), (
                k,
                name,
            )
    a, b = load_file(straight / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


def _complete_json(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True


def _prompts(n: int) -> PromptSet:
    return PromptSet([f"p{i}" for i in range(n)], [[i] for i in range(n)])


def test_prompt_slices_split_reuse_and_refuse_too_few():
    recipe = load_recipe(SMOKE, ["method.eval_prompts=4", "method.prompts_per_iteration=null"])
    held, parts = iterative_dpo.prompt_slices(_prompts(34), recipe)
    assert held.prompts == ["p0", "p1", "p2", "p3"]
    assert [p.prompts for p in parts] == [[f"p{i}" for i in range(4 + 10 * j, 14 + 10 * j)] for j in range(3)]
    reuse = load_recipe(SMOKE, ["method.eval_prompts=4", "method.prompt_schedule=reuse"])
    _, parts = iterative_dpo.prompt_slices(_prompts(40), reuse)
    assert [p.prompts for p in parts] == [[f"p{i}" for i in range(4, 36)]] * 3
    with pytest.raises(AlignError, match="eval_prompts"):
        iterative_dpo.prompt_slices(
            _prompts(40),
            recipe.model_copy(
                update={"method": recipe.method.model_copy(update={"prompts_per_iteration": 13})}
            ),
        )


def test_pairs_follow_strategy_ties_margin_and_length_penalty():
    recipe = load_recipe(SMOKE)
    samples = [["a", "bb", "ccc"], ["x", "y"], ["short", "a much longer answer"]]
    rewards = [[0.1, 0.5, -0.2], [0.3, 0.3], [1.0, 1.5]]
    pairs, dropped = iterative_dpo.build_pairs(["p0", "p1", "p2"], samples, rewards, recipe, "m")
    assert [(p["chosen"][-1]["content"], p["rejected"][-1]["content"]) for p in pairs] == [
        ("bb", "ccc"),
        ("a much longer answer", "short"),
    ]
    assert dropped == {"all_tied": 1}
    margin = recipe.model_copy(update={"method": recipe.method.model_copy(update={"min_margin": 0.6})})
    pairs, dropped = iterative_dpo.build_pairs(["p0", "p1", "p2"], samples, rewards, margin, "m")
    assert [p["prompt"] for p in pairs] == ["p0"] and dropped == {"all_tied": 1, "below_min_margin": 1}
    # 0.05 per character: 1.5 - 0.05 * 20 = 0.5 < 1.0 - 0.05 * 5 = 0.75, so the short answer wins
    penalised = recipe.model_copy(
        update={"method": recipe.method.model_copy(update={"length_penalty": 0.05})}
    )
    pairs, _ = iterative_dpo.build_pairs(["p2"], samples[2:], rewards[2:], penalised, "m")
    assert pairs[0]["chosen"][-1]["content"] == "short" and pairs[0]["score_chosen"] == pytest.approx(0.75)


def test_check_plans_every_iteration(capsys):
    from align.methods.prompts import load_prompts
    from align.models.loading import load_tokenizer

    overrides = ["reward_model.name_or_path=tiny://llama-rm", "method.prompts_per_iteration=null"]
    assert main(["check", str(SMOKE), "--quiet", *overrides]) == 0
    plan = capsys.readouterr().out
    recipe = load_recipe(SMOKE, overrides)
    method = recipe.method
    per = (
        len(load_prompts(recipe, method.prompts, load_tokenizer(recipe.model)).prompts) - method.eval_prompts
    ) // 3
    steps = 3 * (per // 8)  # 3 epochs of full global batches of 8, one best-vs-worst pair per prompt at most
    assert f"3 x ({per} prompts x 4 samples = {per * 4} samples -> at most {per} best-vs-worst pairs" in plan
    assert f"at most {steps} (3 epochs) optimizer steps" in plan
    assert "2 frozen model(s)" in plan and "reference and reward model" in plan


def test_lora_is_refused_with_the_fix(tmp_path):
    recipe = load_recipe(SMOKE, [f"output_dir={tmp_path}", "model.lora={r: 4}", *FAST[:1]])
    with pytest.raises(AlignError, match="model.lora"):
        iterative_dpo.run(recipe)


@pytest.mark.slow
def test_held_out_reward_rises_every_iteration_against_the_smoke_reward_model(tmp_path):
    reward_dir, out = tmp_path / "reward", tmp_path / "iterative"
    assert main(["run", "recipes/smoke/reward.yaml", f"output_dir={reward_dir}"]) == 0
    run_cli(out, [f"reward_model.name_or_path={reward_dir}"])
    rows = read_jsonl(out / "iterations.jsonl")
    means = [r["eval_mean_reward"] for r in rows]
    for row in rows:  # the table is what the held-out files hold
        evals = read_jsonl(out / f"iteration-{row['iteration']}" / "eval.jsonl")
        assert row["eval_mean_reward"] == pytest.approx(
            statistics.fmean(r for e in evals for r in e["rewards"])
        )
    print(f"held-out mean reward per iteration: {[round(m, 4) for m in means]}")
    assert len(means) == 4 and all(b > a for a, b in zip(means, means[1:], strict=False)), means


def test_reference_initial_trains_iteration_2_against_the_initial_policy(straight):
    """`reference: initial`: iteration 2 starts from iteration 1's policy but its DPO reference is the initial model."""
    from align.methods import dpo
    from align.models.tiny import resolve

    recipe = load_recipe(SMOKE, [f"output_dir={straight}", *FAST, "method.reference=initial"])
    layout = iterative_dpo.Layout(straight)
    step = iterative_dpo.iteration_recipe(recipe, layout, 2)
    trainer = dpo.build_trainer(step, reference=recipe.model)
    initial = load_file(Path(resolve("tiny://llama")) / "model.safetensors")
    start = load_file(straight / "iteration-1" / "train" / "model.safetensors")
    ref, policy = trainer.ref_model.state_dict(), trainer.model.state_dict()
    assert all(torch.equal(ref[k], initial[k]) for k in initial)
    assert all(torch.equal(policy[k], start[k]) for k in start)
    assert iterative_dpo.reference_of(recipe, layout, 2) == recipe.model
