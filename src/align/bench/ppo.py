"""PPO benchmark: rollouts (generation + scoring) and updates on random weights, and the generation share.

Policy, reference, value and reward model share the benchmark shape. The share of each step
spent generating is measured by timing TRL's `batch_generation`, the function PPOTrainer calls
for every rollout; wrapping it here, for the duration of one run, is the only reach into TRL.
"""

from __future__ import annotations

import copy
import tempfile
import time
from contextlib import contextmanager
from typing import Any

from align.bench.flops import non_embedding_params
from align.bench.run import TOKENIZER, BenchSettings, result_record, step_timer
from align.bench.shapes import model_config
from align.config.recipe import ModelConfig
from align.models.loading import load_tokenizer


@contextmanager
def timed_generation(cuda: bool):
    """Yield a list that collects (seconds, real tokens, padded slots) of every rollout generation."""
    import torch
    import trl.experimental.ppo.ppo_trainer as ppo_module

    calls: list[tuple[float, int, int]] = []
    original = ppo_module.batch_generation

    def timed(model, queries, batch_size, pad_token_id, generation_config):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        query_responses, logits = original(model, queries, batch_size, pad_token_id, generation_config)
        if cuda:
            torch.cuda.synchronize()
        real = int((query_responses != pad_token_id).sum())
        calls.append((time.perf_counter() - start, real, query_responses.numel()))
        return query_responses, logits

    ppo_module.batch_generation = timed
    try:
        yield calls
    finally:
        ppo_module.batch_generation = original


def run_ppo_bench(s: BenchSettings) -> dict[str, Any]:
    """`s.steps + 1` PPO iterations of `s.batch_size` prompts; the last `s.steps` are measured."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, set_seed
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name() if cuda else "cpu"
    set_seed(s.seed)
    tokenizer = load_tokenizer(ModelConfig(name_or_path=TOKENIZER))
    tokenizer.padding_side = "left"
    prompt_len = max(s.seq_len // 2, 1)
    config = model_config(s.shape, tokenizer, s.seq_len + 2)
    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if cuda else torch.float32}
    if s.attn:
        kwargs["attn_implementation"] = s.attn
    with torch.device("cuda" if cuda else "cpu"):
        policy = AutoModelForCausalLM.from_config(config, **kwargs)
        value = AutoModelForSequenceClassification.from_config(config, **kwargs)
    ref, reward = copy.deepcopy(policy), copy.deepcopy(value)
    low = len(tokenizer.all_special_ids)  # prompts of ordinary tokens only, all of the same length
    generator = torch.Generator().manual_seed(s.seed)
    ids = torch.randint(low, len(tokenizer), ((s.steps + 1) * s.batch_size, prompt_len), generator=generator)
    prompts = Dataset.from_dict({"input_ids": ids.tolist()})
    timer = step_timer(cuda)
    with tempfile.TemporaryDirectory(prefix="align-bench-") as tmp:
        args = PPOConfig(
            output_dir=tmp,
            per_device_train_batch_size=s.batch_size,
            total_episodes=(s.steps + 1) * s.batch_size,
            num_mini_batches=1,
            num_ppo_epochs=1,
            response_length=s.seq_len - prompt_len,
            local_rollout_forward_batch_size=s.batch_size,
            num_sample_generations=0,
            gradient_checkpointing=s.gradient_checkpointing,
            bf16=cuda,
            use_cpu=not cuda,
            report_to="none",
            save_strategy="no",
            seed=s.seed,
        )
        trainer = PPOTrainer(
            args=args,
            processing_class=tokenizer,
            model=policy,
            ref_model=ref,
            reward_model=reward,
            value_model=value,
            train_dataset=prompts,
            callbacks=[timer],
        )
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        with timed_generation(cuda) as generations:
            trainer.train()
    batches = [(real, slots) for _, real, slots in generations]
    record = result_record(s, timer.times, batches, non_embedding_params(policy), device, cuda)
    record["generation_share"] = sum(sec for sec, _, _ in generations[1:]) / record["seconds"]
    return record
