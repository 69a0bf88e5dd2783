"""Best-of-N on the tiny models: selections, AlpacaEval JSON, table and plot, checked on real output."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from align.cli import main
from align.config import load_recipe
from align.errors import AlignError
from align.jsonl import read_jsonl
from align.methods.best_of_n import sampling_engine, select
from repo_paths import REPO

SMOKE = REPO / "recipes/smoke/best-of-n.yaml"


pytestmark = pytest.mark.usefixtures("tiny_cpu")


def test_select_is_the_argmax_of_the_first_n():
    rewards = [[0.1, 0.5, 0.3, 0.9], [2.0, 1.0, 2.0, -1.0]]
    assert select(rewards, [1, 2, 4]) == {1: [0, 0], 2: [1, 0], 4: [3, 0]}  # ties keep the earliest


def check_outputs(out: Path, ns: list[int], generator_prefix: str) -> list[dict]:
    samples = read_jsonl(out / "samples.jsonl")
    table = json.loads((out / "reward_vs_n.json").read_text())
    assert [row["n"] for row in table] == ns
    means = [row["mean_reward"] for row in table]
    assert means == sorted(means), f"mean reward must not decrease with N: {means}"
    for row in table:
        n = row["n"]
        chosen = read_jsonl(out / f"best-of-{n}.jsonl")
        assert len(chosen) == len(samples)
        for pick, sample in zip(chosen, samples, strict=True):
            assert pick["prompt"] == sample["prompt"]
            assert pick["reward"] == max(sample["rewards"][:n])
            assert pick["response"] == sample["responses"][pick["index"]]
        assert row["mean_reward"] == pytest.approx(statistics.fmean(p["reward"] for p in chosen))
        alpaca = json.loads((out / "alpaca_eval" / f"best-of-{n}.json").read_text())
        assert [set(a) for a in alpaca] == [{"instruction", "output", "generator"}] * len(samples)
        assert [a["output"] for a in alpaca] == [p["response"] for p in chosen]
        assert {a["generator"] for a in alpaca} == {f"{generator_prefix}-best-of-{n}"}
    assert f"| {ns[-1]} |" in (out / "reward_vs_n.md").read_text()
    assert (out / "plots" / "reward_vs_n.png").stat().st_size > 0
    return table


def test_smoke_recipe_reward_is_non_decreasing_in_n(tmp_path):
    out = tmp_path / "bon"
    assert main(["run", str(SMOKE), f"output_dir={out}"]) == 0
    samples = read_jsonl(out / "samples.jsonl")
    assert len(samples) == 24 and all(len(s["responses"]) == len(s["rewards"]) == 8 for s in samples)
    table = check_outputs(out, [1, 2, 4, 8], "smoke-best-of-n")
    assert table[-1]["mean_reward"] > table[0]["mean_reward"]  # 8 random samples beat 1 on 24 prompts
    summary = json.loads((out / "summary.json").read_text())
    assert summary["engine"] == "hf" and summary["reward_template"] == "chat"
    assert (out / "README.md").is_file()


def test_command_line_with_a_prompt_file(tmp_path):
    prompts = tmp_path / "alpaca_eval.json"
    rows = [
        {"instruction": f"Question {i}?", "output": "", "generator": "x", "dataset": "d"} for i in range(5)
    ]
    prompts.write_text(json.dumps(rows))
    out = tmp_path / "bon"
    argv = [
        "best-of-n",
        "--model",
        "tiny://ultralm",
        "--reward-model",
        "tiny://llama-rm",
        "--prompts",
        str(prompts),
    ]
    argv += ["--n", "1", "3", "--max-new-tokens", "8", "--output-dir", str(out)]
    assert main(argv) == 0
    check_outputs(out, [1, 3], "ultralm")
    assert sorted(s["prompt"] for s in read_jsonl(out / "samples.jsonl")) == [r["instruction"] for r in rows]


def test_vllm_asked_for_but_missing_is_explained(tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    recipe = load_recipe(SMOKE, [f"output_dir={tmp_path}", "method.engine=vllm"])
    with pytest.raises(AlignError, match="vLLM is not installed"):
        sampling_engine(recipe.method)
