"""One benchmark run: random weights of a shape, synthetic pairs, N timed optimizer steps after a warm-up.

`align` mode goes through the recipe machinery (align.methods.training, align.models.loading),
so a flag is validated exactly as the recipe field it stands for. `trl-defaults` is the baseline:
TRL's own example-script defaults (fp32 weights, DPOConfig/RewardConfig defaults, no align options).
"""

from __future__ import annotations

import copy
import importlib.metadata
import math
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

from align.bench.flops import device_peak, flops_per_token, non_embedding_params
from align.bench.shapes import model_config
from align.bench.synthetic import preference_rows
from align.config.recipe import ModelConfig, Recipe
from align.models.loading import load_tokenizer, lora_config, model_kwargs

TOKENIZER = "tiny://llama"
# LoRA adapters as in recipes/zephyr-7b-beta/dpo-qlora.yaml
LORA = {"r": 128, "lora_alpha": 128, "lora_dropout": 0.05, "target_modules": "all-linear"}
GIB = 1024**3


@dataclass(frozen=True)
class BenchSettings:
    method: str = "dpo"
    shape: str = "tiny"
    steps: int = 5
    batch_size: int = 4
    seq_len: int = 256
    len_spread: float = 0.5
    mode: str = "align"
    lora: bool = False
    attn: str | None = None
    gradient_checkpointing: bool = False
    liger: bool = False
    precompute_ref: bool = False
    torch_compile: bool = False
    bucket_by_length: bool = False
    seed: int = 0


class _TokenCounter:
    """Wraps the trainer's collator to record (real tokens, padded slots) of each batch, in order."""

    def __init__(self, collator: Any) -> None:
        self.collator = collator
        self.batches: list[tuple[int, int]] = []

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collator(examples)
        mask = batch["attention_mask"]
        self.batches.append((int(mask.sum()), mask.numel()))
        return batch


def step_timer(cuda: bool) -> Any:
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Wall-clock time at the end of every optimizer step (after the GPU has finished it)."""

        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
            self.times.append(time.perf_counter())

    return StepTimer()


def _common_fields(s: BenchSettings) -> dict[str, Any]:
    """What both modes share: the step count, the batch, and no truncation, checkpoints or logging backends."""
    return {
        "max_steps": s.steps + 1,
        "per_device_train_batch_size": s.batch_size,
        "max_length": None,
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": s.steps + 1,
    }


def _recipe(s: BenchSettings, output_dir: str, trainer: dict[str, Any], **model: Any) -> Recipe:
    """An in-memory recipe of the benchmark: the tiny tokenizer's model section (LoRA when asked) and `trainer`."""
    return Recipe(
        name=f"bench-{s.method}-{s.shape}-{s.mode}",
        output_dir=output_dir,
        seed=s.seed,
        model=ModelConfig(name_or_path=TOKENIZER, lora=LORA if s.lora else None, **model),
        method={"name": s.method, "trainer": trainer},
    )


def _align_args(s: BenchSettings, config_cls: type, output_dir: str, cuda: bool) -> tuple[Any, Recipe]:
    """The TRL config of an in-memory recipe carrying the speed flags, and the recipe."""
    from align.methods.training import build_trainer_args

    flags = {
        "gradient_checkpointing": s.gradient_checkpointing,
        "use_liger_kernel": s.liger,
        "torch_compile": s.torch_compile,
        "precompute_ref_log_probs": s.precompute_ref,
    }
    if s.bucket_by_length:
        flags["train_sampling_strategy"] = "group_by_length"
    # only the flags that are on: transformers warns about some fields whenever they are given
    trainer = _common_fields(s) | {"bf16": cuda} | {k: v for k, v in flags.items() if v}
    recipe = _recipe(
        s, output_dir, trainer, dtype="bfloat16" if cuda else "float32", attn_implementation=s.attn
    )
    return build_trainer_args(recipe, config_cls), recipe


def _trl_default_args(s: BenchSettings, config_cls: type, output_dir: str, cuda: bool) -> tuple[Any, Recipe]:
    """TRL's example-script defaults: fp32 weights (trl.ModelConfig.dtype), the config class's own defaults."""
    recipe = _recipe(s, output_dir, _common_fields(s), dtype="float32")
    return config_cls(output_dir=output_dir, use_cpu=not cuda, **recipe.method.trainer), recipe


def run_bench(s: BenchSettings) -> dict[str, Any]:
    """Train `s.steps + 1` steps and measure the last `s.steps`; return the result record."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, set_seed
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer

    cuda = torch.cuda.is_available()
    device_name = torch.cuda.get_device_name() if cuda else "cpu"
    from align.methods.dpo import add_pair_length, trainer_class

    config_cls, trainer_cls = (DPOConfig, DPOTrainer) if s.method == "dpo" else (RewardConfig, RewardTrainer)
    if s.method == "dpo" and s.mode == "align":
        trainer_cls = trainer_class()  # align's DPOTrainer: length bucketing when asked for
    model_cls = AutoModelForCausalLM if s.method == "dpo" else AutoModelForSequenceClassification
    build = _align_args if s.mode == "align" else _trl_default_args
    set_seed(s.seed)
    rows = preference_rows((s.steps + 1) * s.batch_size, s.seq_len, s.len_spread, s.seed)
    with tempfile.TemporaryDirectory(prefix="align-bench-") as tmp:
        args, recipe = build(s, config_cls, tmp, cuda)
        model_section = recipe.model
        tokenizer = load_tokenizer(model_section)
        kwargs = {
            k: v for k, v in model_kwargs(model_section).items() if k in ("dtype", "attn_implementation")
        }
        config = model_config(s.shape, tokenizer, 2 * s.seq_len + 2)
        with torch.device("cuda" if cuda else "cpu"):
            model = model_cls.from_config(config, **kwargs)
        n_params = non_embedding_params(model)
        timer = step_timer(cuda)
        # a frozen copy where a run loads the reference (TRL cannot load it from a config)
        extra = {"ref_model": copy.deepcopy(model)} if recipe.loads_reference_model() else {}
        trainer = trainer_cls(
            model=model,
            **extra,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=lora_config(model_section, "CAUSAL_LM" if s.method == "dpo" else "SEQ_CLS"),
            callbacks=[timer],
        )
        if getattr(args, "train_sampling_strategy", None) == "group_by_length":
            add_pair_length(trainer)
        counter = _TokenCounter(trainer.data_collator)
        trainer.data_collator = counter
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
    return result_record(s, timer.times, counter.batches, n_params, device_name, cuda)


def result_record(
    s: BenchSettings,
    times: list[float],
    batches: list[tuple[int, int]],
    n_params: int,
    device: str,
    cuda: bool,
) -> dict[str, Any]:
    """The JSON line: settings, device, versions and the steady-state figures."""
    import torch

    timed = len(times) - 1
    seconds = times[-1] - times[0]
    tokens = sum(real for real, _ in batches[1 : timed + 1])
    slots = sum(padded for _, padded in batches[1 : timed + 1])
    per_token = flops_per_token(n_params, s.method, s.precompute_ref and s.mode == "align")
    achieved = per_token * tokens / seconds
    peak = device_peak(device)
    return {
        **asdict(s),
        "device": device,
        "versions": {
            pkg: importlib.metadata.version(pkg) for pkg in ("torch", "transformers", "trl", "align")
        },
        "params_non_embedding": n_params,
        "flops_per_token": per_token,
        "timed_steps": timed,
        "seconds": seconds,
        "trained_tokens": tokens,
        "all_trained_tokens": sum(real for real, _ in batches),
        "tokens_per_s": tokens / seconds,
        "samples_per_s": timed * s.batch_size / seconds,
        "model_tflops_per_s": achieved / 1e12,
        "mfu": achieved / peak if peak else "n/a",
        "peak_memory_gib": torch.cuda.max_memory_allocated() / GIB if cuda else "n/a",
        "padding_fraction": 1 - tokens / slots,
    }


def summary(record: dict[str, Any]) -> str:
    """Human-readable lines for one record."""

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else str(v)

    keys = (
        "mode",
        "device",
        "tokens_per_s",
        "samples_per_s",
        "flops_per_token",
        "model_tflops_per_s",
        "mfu",
        "peak_memory_gib",
        "padding_fraction",
    )
    keys += ("generation_share",) if "generation_share" in record else ()
    return "\n".join(f"{k:>20}: {fmt(record[k])}" for k in keys)
