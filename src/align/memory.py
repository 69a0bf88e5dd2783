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
from align.precision import keeps_masters, trained_model_config

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
    except (OSError, ValueError):  # no readable config, or one transformers cannot build: the name
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


@dataclass(frozen=True)
class Resident:
    """A model held during training: its parameters, the dtype its weights load in, whether it trains."""

    params: ParamCount
    dtype: str
    trained: bool
    quantized: bool = False


@dataclass(frozen=True)
class Breakdown:
    """Bytes per GPU of each part, after sharding."""

    weights: float
    grads: float
    optimizer: float
    trained: int
    frozen: int
    sharding: str
    offload: bool

    @property
    def total(self) -> float:
        return self.weights + self.grads + self.optimizer


def _width(dtype: str, quantized: bool = False) -> float:
    """Bytes per weight: 4-bit quantized, fp32, or a half-precision dtype (bf16/fp16; `auto` counted as half)."""
    return 0.5 if quantized else 4 if dtype == "float32" else 2


def _models(recipe: Recipe, policy: ParamCount) -> list[Resident]:
    """Every model resident during training, in the dtype its loader gives it.

    Trained full weights load as align.precision says (fp32 unless DeepSpeed keeps fp32 masters);
    DPO and iterative DPO load their reference the same way, PPO and online DPO their reference, value and
    reward models in their model.dtype (methods/dpo.py, methods/ppo.py, methods/online_dpo.py). Iterative
    DPO's reward model counts as resident: an upper bound, since the run frees it before training.
    """
    model, method = recipe.model, recipe.method.name
    quantized = bool(model.quantization and model.quantization.get("load_in_4bit"))
    weights = trained_model_config(recipe).dtype
    out = [Resident(policy, weights, True, quantized)]
    if recipe.loads_reference_model():  # DPO's reference as its policy; PPO's and online DPO's in model.dtype
        out.append(Resident(policy, weights if method in ("dpo", "iterative-dpo") else model.dtype, False))
    if recipe.method.judged and recipe.reward_model:
        reward = count_params(recipe.reward_model) or policy
        out.append(Resident(reward, recipe.reward_model.dtype, False))
    if method == "ppo" and recipe.reward_model:
        value = reward if recipe.method.value_model_init == "reward" else policy
        out.append(Resident(value, model.dtype, True, quantized))
    return out


def estimate_bytes(recipe: Recipe, world: int, params: ParamCount) -> Breakdown:
    """Weights, gradients and optimizer states of every resident model, per GPU.

    A trained parameter's gradient has its dtype. LoRA adapters are fp32 (align.precision). The
    optimizer holds its fp32 states plus, where DeepSpeed keeps them (align.precision.keeps_masters),
    an fp32 master copy of each half-precision trained parameter; elsewhere the fp32 weights are
    their own masters and count once, as weights.
    """
    trainer = recipe.method.trainer if hasattr(recipe.method, "trainer") else {}
    optim = str(trainer.get("optim", "adamw_torch"))
    states = next((n for k, n in _STATES.items() if k in optim), 2) * (1 if "8bit" in optim else 4)
    masters = keeps_masters(recipe)
    residents = _models(recipe, params)
    w = g = o = 0.0
    for m in residents:
        w += m.params.total * _width(m.dtype, m.quantized)
        if not m.trained:
            continue
        dtype = m.dtype
        if recipe.model.lora or recipe.model.quantization:
            dtype = (
                recipe.model.dtype if masters else "float32"
            )  # adapters: DeepSpeed keeps them half + masters
        g += m.params.trainable * _width(dtype)
        o += m.params.trainable * (states + (4 if masters and dtype != "float32" else 0))
    sharding, offload = _sharding(recipe)
    if sharding in ("zero3", "fsdp"):
        w, g, o = w / world, g / world, o / world
        if recipe.method.name == "online-dpo" and recipe.reward_model:
            # online DPO's judge is a reward function, not a model TRL prepares: every GPU holds all of it
            judge = residents[-1]
            w += judge.params.total * _width(judge.dtype) * (world - 1) / world
    elif sharding == "zero2":
        g, o = g / world, o / world
    if offload:
        o = 0
    trained = sum(m.trained for m in residents)
    return Breakdown(w, g, o, trained, len(residents) - trained, sharding, offload)


def estimate(recipe: Recipe, world: int) -> str | None:
    """One line: GiB per GPU for weights + gradients + optimizer states of every resident model."""
    params = count_params(recipe.model)
    if params is None:
        return None
    b = estimate_bytes(recipe, world, params)
    where = {
        "none": "no sharding",
        "zero2": f"ZeRO-2 over {world}",
        "zero3": f"ZeRO-3 over {world}",
        "fsdp": f"FSDP over {world}",
    }[b.sharding]
    extra = ", optimizer offloaded to CPU" if b.offload else ""
    models = f"{b.trained} trained + {b.frozen} frozen model(s)"
    return (
        f"~{b.total / GIB:.1f} GiB per GPU (weights {b.weights / GIB:.1f} + grads {b.grads / GIB:.1f} + optimizer "
        f"{b.optimizer / GIB:.1f}; {models}; {where}{extra}; activations not included) for "
        f"{params.total / 1e9:.2f}B params, {params.trainable / 1e6:.1f}M trainable ({params.source})"
    )
