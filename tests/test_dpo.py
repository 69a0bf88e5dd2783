"""DPO wiring: prompt truncation, every smoke variant trains, resume reproduces an uninterrupted run."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, TrainerCallback

from align.config import load_recipe
from align.methods import dpo
from align.models.tiny import resolve
from align.rundir.outputs import prepare_run
from repo_paths import REPO


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve("tiny://llama"))


def test_max_prompt_length_keeps_the_tail_and_the_response(tokenizer):
    words = " ".join(f"w{i}" for i in range(300))
    long_prompt = f"{words} So, what is the last word?"
    row = {
        "chosen": [{"role": "user", "content": long_prompt}, {"role": "assistant", "content": "It is w299."}],
        "rejected": [{"role": "user", "content": long_prompt}, {"role": "assistant", "content": "No idea."}],
    }
    from datasets import Dataset

    out = dpo.prepare_pairs(Dataset.from_list([row]), tokenizer, max_prompt_length=40)[0]
    kept = out["prompt"][0]["content"]
    rendered = tokenizer.apply_chat_template(out["prompt"], tokenize=True, add_generation_prompt=True)
    ids = rendered["input_ids"] if hasattr(rendered, "keys") else rendered
    assert len(ids) <= 40
    assert out["prompt_ids"] == list(ids)  # the cut's own ids are the rendered prompt's
    assert long_prompt.endswith(kept) and kept.endswith("what is the last word?")
    assert len(kept) < len(long_prompt) / 4
    assert out["chosen"] == [{"role": "assistant", "content": "It is w299."}]
    assert out["rejected"] == [{"role": "assistant", "content": "No idea."}]


def test_short_prompts_are_left_alone(tokenizer):
    msgs = [{"role": "user", "content": "Name a colour."}]
    kept, ids = dpo.truncate_prompts([msgs], tokenizer, 64)
    assert kept == [msgs]
    assert ids == [
        list(tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_dict=True)["input_ids"])
    ]


def _finite(summary: dict) -> bool:
    return all(math.isfinite(v) for v in summary.values() if isinstance(v, float))


VARIANTS = ["dpo-full", "dpo-lora", "dpo-precompute", "dpo-qlora"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_smoke_variant_trains_in_the_right_direction(variant, tmp_path):
    if variant == "dpo-qlora" and importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip("bitsandbytes is a GPU extra (make install-gpu); the QLoRA path needs it")
    recipe = load_recipe(
        REPO / f"recipes/smoke/{variant}.yaml",
        [
            f"output_dir={tmp_path}",
            "method.trainer.max_steps=6",
            "method.trainer.eval_steps=3",
            "method.trainer.report_to=[]",
        ],
    )
    summary = dpo.run(recipe)
    assert summary["optimizer_steps"] == 6 and _finite(summary)
    assert summary["after/loss"] < summary["before/loss"]
    assert summary["after/rewards/margins"] > summary["before/rewards/margins"]
    # the run leaves what a user needs next to the weights
    for name in ("recipe.resolved.yaml", "metrics.jsonl", "summary.json", "README.md", "plots/loss.png"):
        assert (tmp_path / name).is_file(), name
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" in r for r in logged) and any("eval_rewards/accuracies" in r for r in logged)


class _StopAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True


def test_resume_matches_an_uninterrupted_run(tmp_path):
    overrides = [
        "method.trainer.max_steps=6",
        "method.trainer.save_steps=3",
        "method.trainer.eval_strategy=no",
        "method.trainer.report_to=[]",
        "data.binarize.test_size=0",
        "data.test_split=null",
    ]
    smoke = REPO / "recipes/smoke/dpo-full.yaml"
    straight = load_recipe(smoke, [*overrides, f"output_dir={tmp_path / 'straight'}"])
    dpo.run(straight)

    interrupted = load_recipe(smoke, [*overrides, f"output_dir={tmp_path / 'resumed'}"])
    prepare_run(interrupted)
    trainer = dpo.build_trainer(interrupted)
    trainer.add_callback(_StopAt(3))
    trainer.train()
    assert (tmp_path / "resumed" / "checkpoint-3").is_dir()
    summary = dpo.run(interrupted)  # a new process would do the same: finds checkpoint-3 and continues
    assert summary["resumed_from"].endswith("checkpoint-3") and summary["optimizer_steps"] == 6

    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    moved = max(
        (a[k] - load_file(Path(resolve("tiny://llama")) / "model.safetensors")[k]).abs().max() for k in a
    )
    assert moved > 1e-4  # training did change the weights, so the equality above means something


def test_precomputed_reference_logps_are_reused_by_a_rerun(tmp_path, monkeypatch):
    """TRL caches them keyed by data fingerprint + model hash (+ settings): a rerun computes none."""
    from trl import DPOTrainer

    # caches of its own (align's and datasets'): the prepared and tokenized pairs' fingerprints are stable, so
    # another run of this recipe would already have left the log-probs there
    monkeypatch.setenv("ALIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", str(tmp_path / "datasets"))

    calls: list[int] = []
    original = DPOTrainer.compute_ref_log_probs

    def counting(self, model, inputs):
        calls.append(1)
        return original(self, model, inputs)

    monkeypatch.setattr(DPOTrainer, "compute_ref_log_probs", counting)
    recipe = load_recipe(
        REPO / "recipes/smoke/dpo-precompute.yaml", [f"output_dir={tmp_path}", "method.trainer.report_to=[]"]
    )
    dpo.build_trainer(recipe)
    first = len(calls)
    dpo.build_trainer(recipe)
    assert first > 0 and len(calls) == first


def _between_pair_padding(trainer) -> float:
    """Padding that batching adds beyond each pair's own longer side (what bucketing can remove)."""
    excess = total = 0
    for batch in trainer.get_train_dataloader():
        pair_lengths = batch["attention_mask"].sum(dim=1).view(2, -1).max(dim=0).values
        excess += int((batch["attention_mask"].shape[1] - pair_lengths).sum())
        total += batch["attention_mask"].shape[1] * len(pair_lengths)
    return excess / total


def test_group_by_length_cuts_padding(tmp_path):
    """Bucketing needs a length column that DPOTrainer would drop: guards align's override of it."""
    base = [
        f"output_dir={tmp_path}",
        "method.trainer.report_to=[]",
        "method.trainer.per_device_train_batch_size=8",
    ]
    smoke = REPO / "recipes/smoke/dpo-full.yaml"
    random_order = _between_pair_padding(dpo.build_trainer(load_recipe(smoke, base)))
    grouped = dpo.build_trainer(
        load_recipe(smoke, [*base, "method.trainer.train_sampling_strategy=group_by_length"])
    )
    assert "length" in grouped.train_dataset.column_names
    assert _between_pair_padding(grouped) < 0.5 * random_order
