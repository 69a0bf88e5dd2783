"""The memory preview counts parameters like the loaded model does and sums the parts correctly."""

from __future__ import annotations

import re

import pytest
from peft import get_peft_model

from align.config.recipe import ModelConfig
from align.memory import GIB, count_params, estimate, estimate_bytes
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


def test_a_dpo_step_holds_the_bytes_the_estimate_counts(repo):
    """Single process, model.dtype bf16: the policy and the reference load in fp32 (align.precision), the
    gradients are fp32, AdamW keeps two fp32 states and no separate master copy. Measured on real tensors."""
    import torch

    from align.config import load_recipe
    from align.precision import trained_model_config

    recipe = load_recipe(repo / "recipes/smoke/dpo-full.yaml", ["model.dtype=bfloat16"])
    estimated = estimate_bytes(recipe, 1, count_params(recipe.model))
    policy, reference = (load_causal_lm(trained_model_config(recipe)) for _ in range(2))
    optimizer = torch.optim.AdamW(policy.parameters())
    ids = torch.tensor([[1, 5, 9, 12]])
    policy(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    params = [p for model in (policy, reference) for p in model.parameters()]
    assert estimated.weights == sum(p.numel() * p.element_size() for p in params)
    assert estimated.grads == sum(p.grad.numel() * p.grad.element_size() for p in policy.parameters())
    assert estimated.optimizer == sum(
        t.numel() * t.element_size()
        for state in optimizer.state.values()
        for k, t in state.items()
        if k != "step"
    )


@pytest.mark.parametrize(
    ("launch", "per_param"),
    [
        # fp32 weights (their own masters) 4 + fp32 grads 4 + two Adam states 8, reference 4
        ("{}", 4 + 4 + 8 + 4),
        ("{num_processes: 2, config_file: configs/accelerate/multi_gpu.yaml}", 4 + 4 + 8 + 4),
        # DeepSpeed keeps bf16 weights and grads and fp32 masters: 2 + 2 + (8 + 4), reference 2;
        # ZeRO-2 shards grads and optimizer over the 2 processes
        ("{num_processes: 2, config_file: configs/accelerate/zero2.yaml}", 2 + 2 / 2 + (8 + 4) / 2 + 2),
        ("{num_processes: 2, config_file: configs/accelerate/zero3.yaml}", (2 + 2 + 8 + 4 + 2) / 2),
    ],
)
def test_full_adamw_bf16_counts_fp32_masters_where_they_exist(write_recipe, repo, launch, per_param):
    from align.config import load_recipe

    launch = launch.replace("configs/", f"{repo}/configs/")
    path = write_recipe(
        "name: m\noutput_dir: o\nmodel: {name_or_path: org/model-2b, dtype: bfloat16}\n"
        f"method: {{name: dpo, trainer: {{optim: adamw_torch}}}}\nlaunch: {launch}\n"
    )
    recipe = load_recipe(path)
    line = estimate(recipe, world=recipe.launch.num_processes)
    total = float(re.match(r"~([\d.]+) GiB", line).group(1))
    assert abs(total - 2e9 * per_param / GIB) < 0.1
