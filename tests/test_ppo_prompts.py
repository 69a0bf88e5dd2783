"""PPO / best-of-N prompts: deduplicated, TruthfulQA-decontaminated, length-filtered, in the policy's template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.config.recipe import Recipe
from align.errors import AlignError
from align.jsonl import write_jsonl
from align.methods.prompts import load_prompts
from align.models.loading import load_tokenizer


def raw_row(instruction: object, source: str = "flan") -> str:
    completion = {"model": "m", "response": "r", "annotations": {}, "overall_score": 5}
    return json.dumps({"source": source, "instruction": instruction, "completions": [completion, completion]})


def recipe(tmp_path: Path, data: dict | None, system_prompt: str | None = None, **prompts) -> Recipe:
    return Recipe.model_validate(
        {
            "name": "prompts",
            "output_dir": str(tmp_path / "out"),
            "model": {"name_or_path": "tiny://ultralm", "system_prompt": system_prompt},
            "data": data,
            "method": {"name": "ppo", "prompts": prompts},
        }
    )


@pytest.fixture
def raw_file(tmp_path: Path) -> Path:
    lines = [
        raw_row("Describe tea briefly."),
        raw_row("Describe tea briefly."),  # duplicate
        raw_row("What happens if you crack your knuckles a lot?", "truthful_qa"),  # TruthfulQA by source
        raw_row("Is the moon made of cheese?", "false_qa"),  # TruthfulQA by question
        raw_row("   "),  # empty
        raw_row(7),  # not a string
        "{not json",
        raw_row("Explain gravity in one sentence."),
        raw_row("Write a long essay. " * 30),  # too long once rendered
    ]
    path = tmp_path / "raw.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_raw_ultrafeedback_is_deduplicated_decontaminated_and_length_filtered(tmp_path, raw_file):
    questions = tmp_path / "questions.txt"
    questions.write_text("Is the moon made of cheese?\n")
    r = recipe(tmp_path, {"path": str(raw_file)}, decontaminate=str(questions), max_length=120)
    tokenizer = load_tokenizer(r.model)
    prompts = load_prompts(r, r.method.prompts, tokenizer)
    assert sorted(prompts.prompts) == ["Describe tea briefly.", "Explain gravity in one sentence."]
    assert dict(prompts.dropped) == {
        "duplicate": 1,
        "truthful_qa_source": 1,
        "truthful_qa_question": 1,
        "empty": 2,
        "too_long": 1,
    }
    for prompt, ids in zip(prompts.prompts, prompts.ids, strict=True):
        assert tokenizer.decode(ids) == f"User: {prompt}</s>\nAssistant: "


def test_no_decontamination_keeps_truthful_qa_and_max_prompts_subsamples(tmp_path, raw_file):
    r = recipe(tmp_path, {"path": str(raw_file)}, decontaminate=None, max_length=None)
    tokenizer = load_tokenizer(r.model)
    everything = load_prompts(r, r.method.prompts, tokenizer).prompts
    assert len(everything) == 5 and "What happens if you crack your knuckles a lot?" in everything
    r = recipe(tmp_path, {"path": str(raw_file)}, decontaminate=None, max_length=None, max_prompts=3)
    assert load_prompts(r, r.method.prompts, tokenizer).prompts == everything[:3]


def test_binarized_prompts_and_instruction_files(tmp_path):
    binarized = tmp_path / "binarized"
    binarized.mkdir()
    pair = {"chosen": [{"role": "user", "content": "q"}], "rejected": [{"role": "user", "content": "q"}]}
    rows = [{"prompt": p, **pair} for p in ("Name a colour.", "Name a fruit.", "Name a colour.")]
    write_jsonl(binarized / "train_prefs.jsonl", rows)
    r = recipe(tmp_path, {"path": str(binarized), "format": "binarized"}, decontaminate=None)
    assert sorted(load_prompts(r, r.method.prompts, load_tokenizer(r.model)).prompts) == [
        "Name a colour.",
        "Name a fruit.",
    ]

    alpaca = tmp_path / "alpaca_eval.json"
    alpaca.write_text(
        json.dumps([{"instruction": "Say hi.", "output": "", "generator": "g", "dataset": "d"}])
    )
    r = recipe(tmp_path, None, path=str(alpaca), decontaminate=None, system_prompt="Be brief.")
    tokenizer = load_tokenizer(r.model)
    prompts = load_prompts(r, r.method.prompts, tokenizer)
    assert prompts.prompts == ["Say hi."]
    assert tokenizer.decode(prompts.ids[0]) == "User: Be brief.</s>\nUser: Say hi.</s>\nAssistant: "


def test_user_errors_name_the_field(tmp_path, raw_file):
    r = recipe(tmp_path, None, decontaminate=None)
    with pytest.raises(AlignError, match="no prompts: add a `data` section"):
        load_prompts(r, r.method.prompts, load_tokenizer(r.model))
    r = recipe(tmp_path, None, path=str(tmp_path / "missing.json"), decontaminate=None)
    with pytest.raises(AlignError, match="method.prompts.path"):
        load_prompts(r, r.method.prompts, load_tokenizer(r.model))
    r = recipe(tmp_path, {"path": str(raw_file)}, decontaminate=None, max_length=4)
    with pytest.raises(AlignError, match="No prompts are left"):
        load_prompts(r, r.method.prompts, load_tokenizer(r.model))
    tokenizer = load_tokenizer(r.model)
    tokenizer.chat_template = None
    with pytest.raises(AlignError, match="model.chat_template"):
        load_prompts(r, r.method.prompts, tokenizer)
