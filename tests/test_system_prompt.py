"""model.system_prompt: one system turn, rendered the same way by DPO, reward training, PPO/best-of-N and scoring.

tiny://llama carries a Zephyr chat template (`<|role|>\\n{content}</s>\\n` per turn, `<|assistant|>\\n` to generate),
which renders exactly as the handbook's (huggingface/alignment-handbook/src/alignment/data.py@a0b8d49). The
expected texts below are written out by hand in the published layout, not produced by the template.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from align.config import load_recipe
from align.config.recipe import Recipe, RewardModelConfig
from align.errors import AlignError
from align.methods import dpo, reward
from align.methods.prompts import encode
from align.rm.templates import CHAT, SYSTEM_ATTR, render, resolve_system_prompt

PAIRS = [
    ("Name a colour.", "Blue is a colour.", "No."),
    ("What is two plus two?\nAnswer briefly.", "Four.", "Two plus two is five, I think."),
]


def zephyr_prompt(prompt: str, system_prompt: str | None) -> str:
    system = "" if system_prompt is None else f"<|system|>\n{system_prompt}</s>\n"
    return f"{system}<|user|>\n{prompt}</s>\n<|assistant|>\n"


@pytest.fixture
def tokenizer(llama_tokenizer):
    return llama_tokenizer


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def dpo_recipe(tmp_path: Path, folder: Path, system_prompt: str | None) -> Recipe:
    return Recipe.model_validate(
        {
            "name": "system-turn",
            "output_dir": str(tmp_path / "out"),
            "model": {"name_or_path": "tiny://llama", "dtype": "float32", "system_prompt": system_prompt},
            "data": {"path": str(folder), "format": "binarized", "test_split": None},
            "method": {
                "name": "dpo",
                "max_prompt_length": 64,
                "trainer": {"report_to": [], "max_length": 256},
            },
        }
    )


@pytest.mark.parametrize("system_prompt", ["", None, "Be kind."])
def test_dpo_trains_on_the_published_layout(system_prompt, tmp_path, tokenizer, write_pairs, tiny_cpu):
    trainer = dpo.build_trainer(dpo_recipe(tmp_path, write_pairs(PAIRS), system_prompt))
    rows = sorted(trainer.train_dataset, key=lambda r: r["prompt"][-1]["content"])
    assert len(rows) == len(PAIRS)
    for row, (prompt, chosen, rejected) in zip(rows, sorted(PAIRS), strict=True):
        layout = zephyr_prompt(prompt, system_prompt)
        assert row["prompt_ids"] == ids(tokenizer, layout)
        assert row["prompt_ids"] + row["chosen_ids"] == ids(tokenizer, f"{layout}{chosen}</s>\n")
        assert row["prompt_ids"] + row["rejected_ids"] == ids(tokenizer, f"{layout}{rejected}</s>\n")
    if system_prompt is None:
        assert all(tokenizer.convert_tokens_to_ids("<|system|>") not in row["prompt_ids"] for row in rows)


def test_reward_training_renders_the_system_turn(tokenizer, write_pairs):
    from datasets import Dataset

    rows = [json.loads(line) for line in (write_pairs(PAIRS) / "train_prefs.jsonl").read_text().splitlines()]
    out = reward.prepare_pairs(Dataset.from_list(rows), tokenizer, CHAT, False, "pairs", system_prompt="")
    for row, (prompt, chosen, rejected) in zip(out, PAIRS, strict=True):
        layout = zephyr_prompt(prompt, "")
        assert row["chosen_ids"] == tokenizer(f"{layout}{chosen}</s>\n")["input_ids"]
        assert row["rejected_ids"] == tokenizer(f"{layout}{rejected}</s>\n")["input_ids"]


def test_reward_training_refuses_a_system_turn_its_template_cannot_render(tmp_path):
    recipe = Recipe.model_validate(
        {
            "name": "rm",
            "output_dir": str(tmp_path),
            "model": {"name_or_path": "tiny://llama-rm", "system_prompt": ""},
            "method": {"name": "reward", "template": "ultrarm"},
        }
    )
    with pytest.raises(AlignError, match="model.system_prompt"):
        reward.training_system_prompt(recipe, "ultrarm")


@pytest.mark.parametrize("system_prompt", ["", None, "Be kind."])
def test_ppo_and_best_of_n_prompts_follow_the_setting(system_prompt, tokenizer):
    prompts = [p for p, _, _ in PAIRS]
    expected = [ids(tokenizer, zephyr_prompt(p, system_prompt)) for p in prompts]
    assert encode(tokenizer, prompts, system_prompt) == expected


@pytest.mark.parametrize("system_prompt", ["", None])
def test_chat_scoring_renders_the_system_turn(system_prompt, tokenizer):
    text = render(CHAT, "Hi", "Hello.", tokenizer, system_prompt=system_prompt)
    assert text == zephyr_prompt("Hi", system_prompt) + "Hello.</s>\n"


def test_scoring_defaults_to_the_system_turn_the_reward_model_recorded():
    model = SimpleNamespace(config=SimpleNamespace(**{SYSTEM_ATTR: ""}))
    recorded = RewardModelConfig(name_or_path="rm")
    assert resolve_system_prompt(recorded, model, CHAT) == ""
    assert resolve_system_prompt(recorded, model, "ultrarm") is None  # UltraRM's template has no system turn
    assert (
        resolve_system_prompt(RewardModelConfig(name_or_path="rm", system_prompt=None), model, CHAT) is None
    )
    with pytest.raises(AlignError, match="reward_model.system_prompt"):
        resolve_system_prompt(RewardModelConfig(name_or_path="rm", system_prompt="x"), model, "ultrarm")


def test_the_old_prompts_key_points_to_the_new_one(write_recipe):
    path = write_recipe(
        "name: p\noutput_dir: out\nmodel: {name_or_path: tiny://ultralm}\n"
        "method: {name: ppo, prompts: {system_prompt: Be brief.}}\n"
    )
    with pytest.raises(AlignError, match=r"moved to model\.system_prompt") as err:
        load_recipe(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "name",
    [
        "zephyr-7b-beta/dpo-full.yaml",
        "zephyr-7b-beta/dpo-full-handbook.yaml",
        "zephyr-7b-beta/dpo-qlora.yaml",
        "notus-7b-v1/dpo-full.yaml",
        "notus-7b-v1/dpo-lora.yaml",
    ],
)
def test_reproduction_recipes_render_and_truncate_as_published(name, repo, tokenizer):
    recipe = load_recipe(repo / "recipes" / name)
    assert encode(tokenizer, ["Hi"], recipe.model.system_prompt)[0] == ids(
        tokenizer, "<|system|>\n</s>\n<|user|>\nHi</s>\n<|assistant|>\n"
    )
    method = recipe.method  # TRL 0.7's rule with the published lengths (tests/test_dpo_truncation.py)
    assert (method.truncation, method.max_prompt_length, method.trainer["max_length"]) == (
        "trl-0.7",
        512,
        1024,
    )
