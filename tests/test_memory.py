"""The memory preview counts parameters like the loaded model does and sums the parts correctly."""

from __future__ import annotations

import re

from peft import get_peft_model

from align.config.recipe import ModelConfig
from align.memory import GIB, count_params, estimate
from align.models.loading import load_causal_lm, lora_config


def test_param_count_matches_the_loaded_model():
    cfg = ModelConfig(name_or_path="tiny://llama", lora={"r": 4, "target_modules": ["q_proj", "v_proj"]})
    counted = count_params(cfg)
    model = load_causal_lm(cfg)
    assert counted.total == sum(p.numel() for p in model.parameters())
    peft_model = get_peft_model(model, lora_config(cfg))
    assert counted.trainable == sum(p.numel() for p in peft_model.parameters() if p.requires_grad)


def test_name_fallback_when_offline():
    counted = count_params(ModelConfig(name_or_path="someone/unknown-model-13b-chat"))
    assert counted.total == 13_000_000_000 and "name" in counted.source


def test_full_adamw_bf16_without_sharding_is_16_bytes_per_param_plus_reference(write_recipe):
    from align.config import load_recipe

    path = write_recipe(
        "name: m\noutput_dir: o\nmodel: {name_or_path: org/model-2b, dtype: bfloat16}\n"
        "method: {name: dpo, trainer: {optim: adamw_torch}}\n"
    )
    line = estimate(load_recipe(path), world=1)
    total = float(re.match(r"~([\d.]+) GiB", line).group(1))
    # weights 2 + grads 2 + fp32 master 4 + two fp32 Adam states 8 = 16 bytes, reference copy 2 more
    assert abs(total - 2e9 * 18 / GIB) < 0.1
