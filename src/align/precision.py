"""Precision: one source of truth (the recipe), and weights in a dtype the engine can update.

Mixed precision is the recipe's: `method.trainer.bf16` / `fp16` (TRL's configs default bf16 to
True unless fp16 is set). align passes it to `accelerate launch` explicitly and into the
environment of the process, so an accelerate config file's `mixed_precision` never overrides it;
`launch.mixed_precision`, when given, must agree or the run stops before it starts.

Weights: a 5e-7 update is below bf16's resolution (8 bits of mantissa) for most weights, so a
bf16 weight that the optimizer updates in place never moves. DeepSpeed (ZeRO 1-3 with bf16 or
fp16) keeps fp32 master weights in its optimizer, so weights may be loaded in half precision
there; DDP, FSDP and a single process update the weights they hold, so full-weight training
loads them in fp32 and computes under bf16/fp16 autocast. LoRA and QLoRA train adapters only:
the frozen base keeps `model.dtype`; peft creates the adapters in fp32, and align keeps them
there (TRL casts QLoRA adapters to bf16; align casts them back) except under ZeRO-3, where TRL
keeps them in the base dtype and DeepSpeed holds their fp32 masters.
"""

from __future__ import annotations

import os

from align.config.recipe import ModelConfig, Recipe, TrainerMethod
from align.errors import AlignError
from align.launch import distributed_type, under_launcher

ENGINE_NAMES = {"single": "single process", "ddp": "DDP", "fsdp": "FSDP", "deepspeed": "DeepSpeed"}


def mixed_precision(recipe: Recipe) -> str:
    """'bf16', 'fp16' or 'no' as the recipe's trainer says; a disagreeing launch.mixed_precision is an error."""
    if isinstance(recipe.method, TrainerMethod):
        trainer = recipe.method.trainer
        wanted = "fp16" if trainer.get("fp16") else "bf16" if trainer.get("bf16", True) else "no"
    else:
        wanted = recipe.launch.mixed_precision or "no"
    given = recipe.launch.mixed_precision
    if given is not None and given != wanted:
        raise AlignError(
            f"Recipe {recipe.name!r} sets launch.mixed_precision={given} but its trainer trains in {wanted} "
            f"(method.trainer.bf16={recipe.method.trainer.get('bf16')}, fp16={recipe.method.trainer.get('fp16')}; "
            "TRL defaults bf16 to true). The trainer's setting is the one align uses: remove "
            "launch.mixed_precision or make the two agree."
        )
    return wanted


def apply_mixed_precision(recipe: Recipe) -> None:
    """Make the recipe's precision the process's, whatever an accelerate config file said.

    transformers reads ACCELERATE_MIXED_PRECISION when neither bf16 nor fp16 is set, which is
    how a config file's `mixed_precision: bf16` used to turn an fp32 recipe into a bf16 one.
    """
    os.environ["ACCELERATE_MIXED_PRECISION"] = mixed_precision(recipe)


def engine(recipe: Recipe) -> str:
    """'single', 'ddp', 'fsdp' or 'deepspeed': from the launcher's environment in a launched
    process, else from the recipe's launch section (what `align run` will start)."""
    if under_launcher():
        if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
            return "deepspeed"
        if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
            return "fsdp"
        return "ddp" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else "single"
    if recipe.launch.num_processes == 1:
        return "single"
    return {"DEEPSPEED": "deepspeed", "FSDP": "fsdp"}.get(
        distributed_type(recipe.launch.config_file) or "", "ddp"
    )


def keeps_masters(recipe: Recipe) -> bool:
    """Whether the engine holds fp32 master weights itself (DeepSpeed with mixed precision)."""
    return engine(recipe) == "deepspeed" and mixed_precision(recipe) != "no"


def trained_model_config(recipe: Recipe) -> ModelConfig:
    """The recipe's model section with the dtype the trained weights must be loaded in (module doc)."""
    model = recipe.model
    if model.lora or model.quantization or keeps_masters(recipe) or model.dtype == "float32":
        return model
    return model.model_copy(update={"dtype": "float32"})


def describe(recipe: Recipe) -> str:
    """One line for `align check`: how weights are held and computed under this launch."""
    mp = mixed_precision(recipe)
    where = ENGINE_NAMES[engine(recipe)]
    compute = f" + {mp} autocast" if mp != "no" else ""
    if recipe.model.lora or recipe.model.quantization:
        base = "4/8-bit" if recipe.model.quantization else recipe.model.dtype
        return f"frozen base weights ({base}), LoRA adapters with fp32 master weights{compute} ({where})"
    if keeps_masters(recipe):
        return f"{recipe.model.dtype} weights, fp32 master weights kept by DeepSpeed, {mp} compute ({where})"
    return f"fp32 master weights{compute} ({where})"


def upcast_adapters(recipe: Recipe, model: object) -> None:
    """Put QLoRA adapters back in fp32 where no engine keeps fp32 masters for them.

    TRL casts a quantized model's trainable parameters to bf16 (the QLoRA paper's choice); an
    update below bf16 resolution would then be lost, as for full weights (module doc).
    """
    if not recipe.model.quantization or keeps_masters(recipe):
        return
    for param in model.parameters():  # type: ignore[attr-defined]
        if param.requires_grad:
            param.data = param.data.float()
