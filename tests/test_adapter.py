"""model.adapter: start from an existing PEFT adapter, merged into its base the way the handbook's QLoRA DPO did."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from align.cli import main
from align.config import load_recipe
from align.config.recipe import ModelConfig
from align.errors import AlignError
from align.methods import dpo
from align.models.loading import load_causal_lm, load_tokenizer
from align.models.tiny import resolve
from repo_paths import REPO

BASE = "tiny://llama"
MARK = "{# the adapter's own template #}"
IDS = torch.tensor([[1, 17, 42, 99, 7, 23, 64, 5]])


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    """A LoRA adapter on tiny://llama with random (non-zero) B matrices, saved with a tokenizer as SFT repos are."""
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(resolve(BASE), dtype=torch.float32)
    model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.05)
    out = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(resolve(BASE))
    tokenizer.chat_template += MARK
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def expected(adapter) -> torch.Tensor:
    """Logits of base + adapter computed by peft itself, unmerged (the adapter layers run beside the base)."""
    base = AutoModelForCausalLM.from_pretrained(resolve(BASE), dtype=torch.float32)
    with torch.no_grad():
        return PeftModel.from_pretrained(base, adapter).eval()(IDS).logits


def _logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(IDS.to(model.device)).logits.cpu()


def test_loaded_model_is_base_plus_adapter(adapter, expected, tiny_cpu):
    model = load_causal_lm(ModelConfig(name_or_path=BASE, adapter=str(adapter), dtype="float32"))
    assert not isinstance(model, PeftModel)  # merged: a plain model the trainers can wrap again
    torch.testing.assert_close(_logits(model), expected, rtol=1e-4, atol=1e-4)
    plain = load_causal_lm(ModelConfig(name_or_path=BASE, dtype="float32"))
    assert (_logits(plain) - expected).abs().max() > 1e-2  # the adapter changes the model


def test_tokenizer_comes_from_the_adapter_unless_set(adapter, tmp_path):
    cfg = ModelConfig(name_or_path=BASE, adapter=str(adapter))
    assert load_tokenizer(cfg).chat_template.endswith(MARK)
    assert not load_tokenizer(cfg.model_copy(update={"tokenizer": BASE})).chat_template.endswith(MARK)
    bare = tmp_path / "bare"
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(resolve(BASE)), adapter).save_pretrained(
        bare
    )
    with pytest.raises(AlignError, match="model.tokenizer"):
        load_tokenizer(ModelConfig(name_or_path=BASE, adapter=str(bare)))


def _recipe(variant: str, adapter: Path, out: Path, *extra: str):
    return load_recipe(
        REPO / f"recipes/smoke/{variant}.yaml",
        [f"model.adapter={adapter}", f"output_dir={out}", "method.trainer.report_to=[]", *extra],
    )


def test_lora_dpo_trains_a_new_adapter_against_the_merged_reference(adapter, expected, tmp_path, tiny_cpu):
    recipe = _recipe(
        "dpo-lora", adapter, tmp_path, "method.trainer.max_steps=6", "method.trainer.eval_steps=3"
    )
    trainer = dpo.build_trainer(recipe)
    assert list(trainer.model.peft_config) == ["default"] and trainer.model.peft_config["default"].r == 16
    with trainer.model.disable_adapter():  # TRL's reference for a LoRA policy
        torch.testing.assert_close(_logits(trainer.model), expected, rtol=1e-4, atol=1e-4)
    summary = dpo.run(recipe)
    assert summary["optimizer_steps"] == 6 and math.isfinite(summary["train_loss"])
    assert summary["after/loss"] < summary["before/loss"]
    assert "adapter" in (tmp_path / "README.md").read_text()


def test_full_dpo_starts_policy_and_reference_from_the_merged_model(adapter, expected, tmp_path, tiny_cpu):
    trainer = dpo.build_trainer(_recipe("dpo-full", adapter, tmp_path))
    torch.testing.assert_close(_logits(trainer.model), expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(_logits(trainer.ref_model), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="bitsandbytes is a GPU extra")
def test_qlora_dpo_from_the_adapter_runs(adapter, tmp_path, tiny_cpu):
    recipe = _recipe(
        "dpo-qlora", adapter, tmp_path, "method.trainer.max_steps=2", "method.trainer.eval_strategy=no"
    )
    summary = dpo.run(recipe)
    assert summary["optimizer_steps"] == 2 and math.isfinite(summary["train_loss"])


def test_check_shows_the_qlora_recipe_adapter(capsys, tiny_cpu):
    assert main(["check", "recipes/zephyr-7b-beta/dpo-qlora.yaml", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "model: mistralai/Mistral-7B-v0.1" in out
    assert "adapter: alignment-handbook/zephyr-7b-sft-qlora" in out


def test_paths_that_cannot_merge_refuse_clearly(adapter, tmp_path, capsys, tiny_cpu):
    from align.methods.ppo import load_value_model
    from align.rm.load import load_reward_base

    with pytest.raises(AlignError, match="not a PEFT adapter"):
        load_causal_lm(ModelConfig(name_or_path=BASE, adapter=str(tmp_path)))
    with pytest.raises(AlignError, match="reward-model training"):
        load_reward_base(ModelConfig(name_or_path=BASE, adapter=str(adapter)))
    ppo = load_recipe(REPO / "recipes/smoke/ppo.yaml", [f"model.adapter={adapter}"])
    with pytest.raises(AlignError, match="value_model_init: reward"):
        load_value_model(ppo, None, None)
    assert main(["check", "recipes/smoke/ppo.yaml", "--quiet", f"reward_model.adapter={adapter}"]) == 2
    assert "reward_model.adapter" in capsys.readouterr().err
