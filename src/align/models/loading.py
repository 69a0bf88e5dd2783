"""Load tokenizers and models as a recipe's `model` section describes them.

One place maps the recipe onto transformers/peft/bitsandbytes arguments, so DPO, reward
training, PPO and scoring load weights the same way.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from align.config.recipe import ModelConfig
from align.errors import AlignError
from align.models.tiny import resolve

DTYPES = {"bfloat16": "bfloat16", "float16": "float16", "float32": "float32"}


def torch_dtype(name: str) -> Any:
    """`auto` keeps the checkpoint's dtype; the others map onto torch dtypes."""
    import torch

    return "auto" if name == "auto" else getattr(torch, DTYPES[name])


def load_tokenizer(cfg: ModelConfig):
    """The model's tokenizer with a pad token and, if the recipe gives one, its chat template."""
    from transformers import AutoTokenizer

    source = resolve(cfg.tokenizer or cfg.name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(
        source, revision=cfg.revision, trust_remote_code=cfg.trust_remote_code
    )
    if cfg.chat_template:
        tokenizer.chat_template = cfg.chat_template
    if tokenizer.pad_token is None:
        # LLaMA-family tokenizers ship without one; batching needs a real id.
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    return tokenizer


def quantization_config(cfg: ModelConfig):
    if not cfg.quantization:
        return None
    if importlib.util.find_spec("bitsandbytes") is None:
        raise AlignError(
            f"model.quantization asks for bitsandbytes ({cfg.quantization}) but it is not installed. "
            "Install the GPU extras with `make install-gpu` (or `pip install -e '.[gpu]'`), or remove model.quantization."
        )
    from transformers import BitsAndBytesConfig

    kwargs = dict(cfg.quantization)
    for key in ("bnb_4bit_compute_dtype", "bnb_4bit_quant_storage"):
        if isinstance(kwargs.get(key), str):
            kwargs[key] = torch_dtype(kwargs[key])
    return BitsAndBytesConfig(**kwargs)


def model_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    """Keyword arguments of `from_pretrained` for this model section."""
    kwargs: dict[str, Any] = {
        "revision": cfg.revision,
        "dtype": torch_dtype(cfg.dtype),
        "trust_remote_code": cfg.trust_remote_code,
    }
    if cfg.attn_implementation:
        if (
            cfg.attn_implementation.startswith("flash_attention")
            and importlib.util.find_spec("flash_attn") is None
        ):
            raise AlignError(
                f"model.attn_implementation={cfg.attn_implementation} needs the flash-attn package, which is not "
                "installed. Install it with `pip install -e '.[flash]'` on a CUDA machine, or use sdpa."
            )
        kwargs["attn_implementation"] = cfg.attn_implementation
    quant = quantization_config(cfg)
    if quant is not None:
        kwargs["quantization_config"] = quant
    return kwargs


def load_causal_lm(cfg: ModelConfig):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(resolve(cfg.name_or_path), **model_kwargs(cfg))


def lora_config(cfg: ModelConfig, task_type: str = "CAUSAL_LM"):
    """peft LoraConfig from `model.lora`, or None for full fine-tuning."""
    if not cfg.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(**{"task_type": task_type, **cfg.lora})
