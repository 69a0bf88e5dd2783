"""`align generate`: the per-row plan, the principle mix, recipe errors, and a real run with tiny models
(resumed after an interruption, then fed to `align binarize`)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from align.config.generate import GenerateConfig
from align.config.pipeline import load_pipeline
from align.errors import AlignError
from align.jsonl import read_jsonl
from align.pipeline.generate import load_instructions, plan, progress_path
from align.pipeline.principles import load_principles

POOL = [{"name": f"m{i}", "name_or_path": "tiny://llama"} for i in range(5)]
SMOKE_INSTRUCTIONS = "recipes/ultrafeedback/smoke-instructions.jsonl"


def config(**changes) -> GenerateConfig:
    data = {
        "instructions": {"path": SMOKE_INSTRUCTIONS, "source_column": "source"},
        "pool": POOL,
        "models_per_instruction": 3,
        "output": "unused.jsonl",
        **changes,
    }
    return GenerateConfig.model_validate(data)


def test_plan_draws_distinct_models_and_principles_from_the_sources_mix(repo, monkeypatch):
    monkeypatch.chdir(repo)
    cfg = config()
    principles = load_principles(cfg.principles)
    rows = load_instructions(cfg.instructions)
    slots = plan(rows, cfg, principles, seed=3)
    by_row: dict[int, list] = {}
    for slot in slots:
        by_row.setdefault(slot.row, []).append(slot)
    assert sorted(by_row) == list(range(len(rows)))
    for index, row_slots in by_row.items():
        models = [s.model for s in row_slots]
        assert len(models) == 3 and len(set(models)) == 3
        assert [s.slot for s in row_slots] == [0, 1, 2]
        allowed = {p for p, w in principles.weights(rows[index]["source"]).items() if w > 0}
        for s in row_slots:
            assert s.principle in allowed
            assert s.system_prompt in principles.prompts[s.principle]
    # the same seed gives the same plan, another seed another one
    assert plan(rows, cfg, principles, seed=3) == slots
    assert plan(rows, cfg, principles, seed=4) != slots


def test_principle_mix_is_followed_over_many_draws():
    import random

    cfg = config(principles={"mix": {"default": {"honesty": 3, "truthfulness": 1}}})
    principles = load_principles(cfg.principles)
    rng = random.Random(0)
    counts = Counter(principles.draw("anything", rng)[0] for _ in range(4000))
    assert set(counts) == {"honesty", "truthfulness"}
    assert abs(counts["honesty"] / 4000 - 0.75) < 0.03


def test_recipe_errors_name_the_field(write_recipe):
    base = "name: x\ngenerate:\n  instructions: {path: a.jsonl}\n  output: o.jsonl\n"
    path = write_recipe(base + "  pool: [{name_or_path: tiny://llama}]\n  models_per_instruction: 2\n")
    with pytest.raises(AlignError, match=r"generate.*models_per_instruction=2 exceeds the pool's 1"):
        load_pipeline(path)
    path = write_recipe(base + "  pool: [{name_or_path: tiny://llama, temprature: 1}]\n")
    with pytest.raises(AlignError, match=r"generate\.pool\.0\.temprature. is not a known key"):
        load_pipeline(path)
    cfg = config(principles={"mix": {"default": {"kindness": 1.0}}})
    with pytest.raises(AlignError, match=r"generate.principles.mix.default names principles \['kindness'\]"):
        load_principles(cfg.principles)
    cfg = config(principles={"mix": {"flan": {"helpfulness": 1.0}}})
    with pytest.raises(AlignError, match="no 'default' entry"):
        load_principles(cfg.principles)


def test_missing_instruction_column_is_named(repo, monkeypatch):
    monkeypatch.chdir(repo)
    cfg = config(instructions={"path": SMOKE_INSTRUCTIONS, "instruction_column": "prompt"})
    with pytest.raises(AlignError, match=r"instruction_column is 'prompt'.*has no such column.*instruction"):
        load_instructions(cfg.instructions)


RECIPE = """
name: gen-test
seed: 5
generate:
  instructions: {{path: {instructions}, source_column: source, max_instructions: 4}}
  pool:
    - {{name: a, name_or_path: "tiny://llama", dtype: float32}}
    - {{name: b, name_or_path: "tiny://ultralm", dtype: float32, principle_in: user}}
  models_per_instruction: 2
  sampling: {{max_new_tokens: 6}}
  batch_size: 1
  output: {output}
"""


def _run(recipe: Path, *extra: str) -> int:
    from align.cli import main

    return main(["generate", str(recipe), *extra])


def test_generate_resumes_and_its_rows_go_through_binarize(tmp_path, write_recipe, repo, tiny_cpu):
    output = tmp_path / "gen.jsonl"
    recipe = write_recipe(RECIPE.format(instructions=repo / SMOKE_INSTRUCTIONS, output=output))
    assert _run(recipe) == 0
    full = output.read_text(encoding="utf-8")
    rows = read_jsonl(output)
    assert [r["instruction"] for r in rows] == [r["instruction"] for r in read_jsonl(SMOKE_INSTRUCTIONS)[:4]]
    for row in rows:
        assert sorted(row["models"]) == ["a", "b"]
        assert [c["model"] for c in row["completions"]] == row["models"]
        assert all(isinstance(c["response"], str) and c["annotations"] == {} for c in row["completions"])
        assert row["correct_answers"] and row["incorrect_answers"]
    report = json.loads(output.with_suffix(".report.json").read_text())
    assert report["completions"] == 8 and report["resumed_completions"] == 0
    assert sum(m["requests"] for m in report["models"].values()) == 8

    # interrupt: keep the header, three replies and half of a fourth line, drop the output
    log = progress_path(output)
    lines = log.read_text(encoding="utf-8").split("\n")
    log.write_text("\n".join(lines[:4]) + "\n" + lines[4][:10], encoding="utf-8")
    output.unlink()
    assert _run(recipe) == 0
    report = json.loads(output.with_suffix(".report.json").read_text())
    assert report["resumed_completions"] == 3
    assert sum(m.get("requests", 0) for m in report["models"].values()) == 5
    assert output.read_text(encoding="utf-8") == full  # per-request seeds: the same text either way

    # a changed plan is refused rather than mixed with the old progress
    output.unlink()
    with pytest.raises(AlignError, match="different generate plan"):
        from align.config.pipeline import load_pipeline as load
        from align.pipeline.generate import generate

        generate(load(recipe, ["seed=6"]).generate, 6)

    # the raw schema binarize reads; not annotated yet, so every row is dropped with its reason counted
    from align.config.recipe import BinarizeConfig
    from align.data.binarize import binarize

    assert _run(recipe) == 0
    with pytest.raises(AlignError, match=r"all 4 rows were dropped \(fewer_than_2_rankable: 4\)"):
        binarize(str(output), BinarizeConfig(test_size=0), tmp_path / "bin")


def test_check_prints_requests_and_tokens_per_thousand_instructions(repo, monkeypatch, capsys):
    from align.cli import main

    monkeypatch.chdir(repo)
    path = "recipes/ultrafeedback/smoke.yaml"
    assert main(["check", path, "--quiet", "annotate.critique=false"]) == 0
    out = capsys.readouterr().out
    recipe = load_pipeline(path)
    k = recipe.generate.models_per_instruction
    assert f"completions / 1k: {1000 * k:,} requests" in out
    assert f"new tokens / 1k: at most {1000 * k * recipe.generate.sampling.max_new_tokens:,}" in out
    assert f"judge requests / 1k: {1000 * len(recipe.annotate.aspects):,} (" in out
    assert f"judge new tokens / 1k: at most {1000 * 4 * recipe.annotate.judge.max_tokens:,}" in out
