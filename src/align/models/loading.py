"""Load tokenizers and models as a recipe's `model` section describes them.

One place maps the recipe onto transformers/peft/bitsandbytes arguments, so DPO, reward
training, PPO and scoring load weights the same way.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from align.config.recipe import ModelConfig
from align.errors import AlignError
from align.models.tiny import resolve
from align.paths import offline_hub_gaps

log = logging.getLogger(__name__)
MERGE_AHEAD = (
    "Merge the adapter once ahead (peft's PeftModel.from_pretrained(base, adapter).merge_and_unload(), then "
    "save_pretrained) and give that directory as model.name_or_path"
)


def torch_dtype(name: str) -> Any:
    """`auto` keeps the checkpoint's dtype; the others map onto torch dtypes."""
    import torch

    return "auto" if name == "auto" else getattr(torch, name)


def load_tokenizer(cfg: ModelConfig):
    """The model's tokenizer with a pad token and, if the recipe gives one, its chat template.

    With model.adapter it comes from the adapter, as alignment-handbook's get_tokenizer read it
    from the adapter repo (the SFT adapter carries the chat template its base lacks).
    """
    from transformers import AutoTokenizer

    if cfg.adapter and not cfg.tokenizer:
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                _adapter_source(cfg), revision=cfg.adapter_revision, trust_remote_code=cfg.trust_remote_code
            )
        except (OSError, ValueError) as exc:  # either, for a folder without tokenizer files
            raise AlignError(
                f"model.adapter {cfg.adapter} has no tokenizer ({exc}). Set model.tokenizer to the tokenizer the "
                "adapter was trained with."
            ) from None
    else:
        name = cfg.tokenizer or cfg.name_or_path
        with offline_hub_gaps(name, "model.tokenizer" if cfg.tokenizer else "model.name_or_path"):
            tokenizer = AutoTokenizer.from_pretrained(
                resolve(name), revision=cfg.revision, trust_remote_code=cfg.trust_remote_code
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
    """The model the recipe names: its weights, with model.adapter merged in when there is one."""
    from transformers import AutoModelForCausalLM

    kwargs = model_kwargs(cfg)
    with offline_hub_gaps(cfg.name_or_path, "model.name_or_path"):
        model = AutoModelForCausalLM.from_pretrained(resolve(cfg.name_or_path), **kwargs)
    return merge_adapter(model, cfg) if cfg.adapter else model


def refuse_adapter(cfg: ModelConfig, use: str) -> None:
    """Paths that load model.name_or_path another way (a sequence classifier, vLLM) cannot add the adapter."""
    if cfg.adapter:
        raise AlignError(
            f"model.adapter {cfg.adapter} cannot start {use}. {MERGE_AHEAD}, or remove model.adapter."
        )


def _adapter_source(cfg: ModelConfig) -> str:
    local = Path(cfg.adapter).expanduser()
    return str(local) if local.exists() else cfg.adapter


def merge_adapter(model: Any, cfg: ModelConfig) -> Any:
    """Load model.adapter onto `model` with peft and merge it into the weights.

    What alignment-handbook's scripts/run_dpo.py (87cc800, 95dc472) ended up training: it wrapped
    the base (4-bit when quantized) in PeftModel.from_pretrained(SFT adapter), and TRL 0.7.10 / 0.9.6
    merged that (merge_and_unload) before adding the new LoRA, whose disabled state was the
    reference. TRL 1.12 refuses a PeftModel next to a peft_config, so the merge happens here.
    Merging into 4-bit weights re-quantizes them, as it did there.
    """
    from peft import PeftConfig, PeftModel
    from transformers.integrations import is_deepspeed_zero3_enabled

    source = _adapter_source(cfg)
    try:
        config = PeftConfig.from_pretrained(source, revision=cfg.adapter_revision)
    except ValueError as exc:
        raise AlignError(
            f"model.adapter {cfg.adapter} is not a PEFT adapter ({exc}). Give a directory or hub repo holding "
            "adapter_config.json and the adapter weights, or remove model.adapter."
        ) from None
    if config.is_prompt_learning:
        raise AlignError(
            f"model.adapter {cfg.adapter} is a {config.peft_type} adapter, which has no weights to merge. Use a "
            "LoRA-type adapter, or remove model.adapter."
        )
    if is_deepspeed_zero3_enabled():
        raise AlignError(
            f"model.adapter {cfg.adapter} is merged into the weights as they load, which ZeRO-3 cannot do on "
            f"partitioned weights. {MERGE_AHEAD}, or launch without ZeRO-3."
        )
    recorded = config.base_model_name_or_path
    if recorded and recorded not in (cfg.name_or_path, resolve(cfg.name_or_path)):
        log.warning(
            "model.adapter %s was trained on %s; loading it onto model.name_or_path %s.",
            cfg.adapter,
            recorded,
            cfg.name_or_path,
        )
    peft_model = PeftModel.from_pretrained(model, source, revision=cfg.adapter_revision)
    return peft_model.merge_and_unload()


def lora_config(cfg: ModelConfig, task_type: str = "CAUSAL_LM"):
    """peft LoraConfig from `model.lora`, or None for full fine-tuning.

    The saved adapter_config.json names its base as the model was loaded: a hub id stays the
    hub id (peft records the model's name_or_path), and model.revision is recorded beside it, so
    `PeftModel.from_pretrained` on another machine fetches the same base weights.
    """
    if not cfg.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(**{"task_type": task_type, "revision": cfg.revision, **cfg.lora})
