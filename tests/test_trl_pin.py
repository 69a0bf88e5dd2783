"""Guard the pinned TRL: fail loudly if an API the project relies on moves."""

from __future__ import annotations

import dataclasses
import inspect

import trl
from packaging.version import Version


def test_trl_is_the_pinned_minor():
    v = Version(trl.__version__)
    assert (v.major, v.minor) == (1, 12), f"align is built on TRL 1.12.x, found {trl.__version__}"


def test_trainers_and_configs_exist():
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    assert {
        "model",
        "ref_model",
        "args",
        "train_dataset",
        "eval_dataset",
        "processing_class",
        "peft_config",
    } <= set(inspect.signature(DPOTrainer.__init__).parameters)
    assert {"model", "args", "train_dataset", "eval_dataset", "processing_class", "peft_config"} <= set(
        inspect.signature(RewardTrainer.__init__).parameters
    )
    assert {
        "args",
        "processing_class",
        "model",
        "ref_model",
        "reward_model",
        "train_dataset",
        "value_model",
    } <= set(inspect.signature(PPOTrainer.__init__).parameters)
    dpo = {f.name for f in dataclasses.fields(DPOConfig)}
    assert {"beta", "loss_type", "max_length", "truncation_mode", "precompute_ref_log_probs"} <= dpo
    # TRL dropped max_prompt_length: align truncates prompts itself (align.methods.dpo)
    assert "max_prompt_length" not in dpo
    # align.methods.dpo checks and truncates TRL's token ids where DPOTrainer tokenizes
    assert list(inspect.signature(DPOTrainer._prepare_dataset).parameters) == [
        "self",
        "dataset",
        "processing_class",
        "args",
        "dataset_name",
    ]
    assert {"max_length", "center_rewards_coefficient"} <= {f.name for f in dataclasses.fields(RewardConfig)}
    assert {"kl_coef", "num_ppo_epochs", "response_length", "missing_eos_penalty", "whiten_rewards"} <= {
        f.name for f in dataclasses.fields(PPOConfig)
    }


def test_online_dpo_internals_align_calls():
    """align.methods.online_dpo passes a reward function, and its held-out evaluation calls the trainer's own
    sampling and log-prob helpers."""
    from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer

    assert {
        "model",
        "ref_model",
        "reward_funcs",
        "args",
        "train_dataset",
        "eval_dataset",
        "processing_class",
    } <= set(inspect.signature(OnlineDPOTrainer.__init__).parameters)
    assert list(inspect.signature(OnlineDPOTrainer._generate).parameters) == [
        "self",
        "model",
        "prompts",
        "images",
    ]
    assert list(inspect.signature(OnlineDPOTrainer._generate_vllm).parameters) == [
        "self",
        "prompts",
        "images",
    ]
    assert list(inspect.signature(OnlineDPOTrainer._forward).parameters)[:6] == [
        "self",
        "model",
        "prompt_ids",
        "prompt_mask",
        "completion_ids",
        "completion_mask",
    ]
    fields = {f.name for f in dataclasses.fields(OnlineDPOConfig)}
    assert {"beta", "max_new_tokens", "missing_eos_penalty", "use_vllm", "vllm_mode", "temperature"} <= fields
