"""Per-GPU memory estimate for weights, gradients and optimizer states, before anything is loaded.

Parameter counts come from the model's config instantiated on the meta device (no weights are
read) when it is local or in the hub cache; otherwise from the size in the name (`...-7b-...`). Activations are
not included: they depend on sequence length, batch and gradient checkpointing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from align.config.recipe import ModelConfig, Recipe
from align.models.tiny import resolve

GIB = 1024**3
# optimizer states per trainable parameter (fp32): Adam-style keep two, RMSprop one, SGD none
_STATES = {"rmsprop": 1, "sgd": 0, "adafactor": 1}


@dataclass(frozen=True)
class ParamCount:
    total: int
    trainable: int
    source: str


def _config_file(cfg: ModelConfig) -> Path | None:
    """The model's config.json when it is local or in the hub cache (a preview must not wait on the network)."""
    local = Path(resolve(cfg.name_or_path)).expanduser()
    if local.is_dir():
        return local / "config.json" if (local / "config.json").is_file() else None
    from align.paths import cached_hub_file, is_hub_id

    return (
        cached_hub_file(cfg.name_or_path, "config.json", cfg.revision)
        if is_hub_id(cfg.name_or_path)
        else None
    )


def _meta_count(cfg: ModelConfig, config_dir: Path) -> list[int]:
    """[total, trainable] parameters of the model built on the meta device (no weights read)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(config_dir, local_files_only=True)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    total = sum(p.numel() for p in model.parameters())
    trainable = total
    if cfg.lora:
        from peft import get_peft_model

        from align.models.loading import lora_config

        trainable = sum(
            p.numel() for p in get_peft_model(model, lora_config(cfg)).parameters() if p.requires_grad
        )
    return [total, trainable]


def count_params(cfg: ModelConfig) -> ParamCount | None:
    """Total and LoRA-trainable parameters, without loading weights (remembered per config and versions)."""
    from align.cache import installed_versions, remember

    try:
        config_file = _config_file(cfg)
        if config_file is not None:
            key = (config_file.read_text(), cfg.lora, installed_versions("transformers", "peft"))
            total, trainable = remember("params", key, lambda: _meta_count(cfg, config_file.parent))
            return ParamCount(total, trainable, "model config")
    except Exception:  # noqa: BLE001 - an unreadable config: fall back to the size in the name
        pass
    match = re.search(r"(\d+(?:\.\d+)?)[bB]\b", cfg.name_or_path.replace("_", "-"))
    if not match:
        return None
    total = int(float(match.group(1)) * 1e9)
    trainable = total if not cfg.lora else int(total * 0.01)
    source = f"guessed from the name ({match.group(0)}; config not cached)" + (
        "; LoRA share assumed 1%" if cfg.lora else ""
    )
    return ParamCount(total, trainable, source)


def _sharding(recipe: Recipe) -> tuple[str, bool]:
    """('none'|'zero2'|'zero3'|'fsdp', offload) from the recipe's accelerate config."""
    path = recipe.launch.config_file
    if not path or not Path(path).is_file():
        return "none", False
    cfg = yaml.safe_load(Path(path).read_text()) or {}
    kind = cfg.get("distributed_type", "NO")
    if kind == "DEEPSPEED":
        ds = cfg.get("deepspeed_config", {})
        offload = ds.get("offload_optimizer_device", "none") not in (None, "none")
        return ("zero3" if ds.get("zero_stage") == 3 else "zero2"), offload
    if kind == "FSDP":
        return "fsdp", bool(cfg.get("fsdp_config", {}).get("fsdp_offload_params"))
    return "none", False


def _models(recipe: Recipe, policy: ParamCount) -> tuple[list[ParamCount], list[ParamCount]]:
    """(trained, frozen) models resident during training: PPO keeps four, DPO up to two."""
    trainer = recipe.method.trainer if hasattr(recipe.method, "trainer") else {}
    trained, frozen = [policy], []
    if not recipe.model.lora and (
        (recipe.method.name == "dpo" and not trainer.get("precompute_ref_log_probs"))
        or recipe.method.name == "ppo"
    ):
        frozen.append(policy)  # reference copy (LoRA disables its adapter instead)
    if recipe.method.name == "ppo" and recipe.reward_model:
        reward = count_params(recipe.reward_model) or policy
        frozen.append(reward)
        trained.append(reward if recipe.method.value_model_init == "reward" else policy)  # value model
    return trained, frozen


def estimate(recipe: Recipe, world: int) -> str | None:
    """One line: GiB per GPU for weights + gradients + optimizer states of every resident model."""
    params = count_params(recipe.model)
    if params is None:
        return None
    trainer = recipe.method.trainer if hasattr(recipe.method, "trainer") else {}
    quantized = bool(recipe.model.quantization and recipe.model.quantization.get("load_in_4bit"))
    wbytes = 0.5 if quantized else (4 if recipe.model.dtype == "float32" else 2)
    gbytes = 4 if recipe.model.dtype == "float32" else 2
    optim = str(trainer.get("optim", "adamw_torch"))
    states = next((n for k, n in _STATES.items() if k in optim), 2)
    # fp32 Adam/RMSprop states, plus an fp32 master copy when the weights are half precision
    obytes = (4 if "8bit" not in optim else 1) * states + (0 if recipe.model.dtype == "float32" else 4)
    trained, frozen = _models(recipe, params)
    w = sum(m.total for m in trained + frozen) * wbytes
    g = sum(m.trainable for m in trained) * gbytes
    o = sum(m.trainable for m in trained) * obytes
    sharding, offload = _sharding(recipe)
    if sharding in ("zero3", "fsdp"):
        w, g, o = w / world, g / world, o / world
    elif sharding == "zero2":
        g, o = g / world, o / world
    if offload:
        o = 0
    where = {
        "none": "no sharding",
        "zero2": f"ZeRO-2 over {world}",
        "zero3": f"ZeRO-3 over {world}",
        "fsdp": f"FSDP over {world}",
    }[sharding]
    extra = ", optimizer offloaded to CPU" if offload else ""
    models = f"{len(trained)} trained + {len(frozen)} frozen model(s)"
    return (
        f"~{(w + g + o) / GIB:.1f} GiB per GPU (weights {w / GIB:.1f} + grads {g / GIB:.1f} + optimizer "
        f"{o / GIB:.1f}; {models}; {where}{extra}; activations not included) for "
        f"{params.total / 1e9:.2f}B params, {params.trainable / 1e6:.1f}M trainable ({params.source})"
    )
