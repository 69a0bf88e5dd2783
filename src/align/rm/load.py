"""Load reward models, including `openbmb/UltraRM-13b`, as standard sequence classifiers.

UltraRM ships as a custom `LlamaRewardModel` (backbone `model.*` + bias-free `regression_head`)
whose remote code is broken. Its weights are exactly a `LlamaForSequenceClassification` with
one label once `regression_head` is renamed `score`, provided the reward is read where UltraRM
reads it: the last position whose attention mask is 1. transformers reads it at the last token
that is not `config.pad_token_id`, which is the same position when sequences are right-padded
with the tokenizer's pad id and that id equals the config's; `load_reward_model` makes it so.
"""

from __future__ import annotations

from pathlib import Path

from align.config.recipe import ModelConfig, RewardModelConfig
from align.errors import AlignError
from align.models.loading import load_tokenizer, model_kwargs, refuse_adapter
from align.models.tiny import resolve
from align.rm.templates import TEMPLATE_ATTR

ULTRARM_ARCHITECTURE = "LlamaRewardModel"
# Rename UltraRM's head onto transformers' sequence-classification head at load time.
ULTRARM_KEY_MAPPING = {r"^regression_head\.": "score."}


def is_ultrarm(config) -> bool:
    return ULTRARM_ARCHITECTURE in (getattr(config, "architectures", None) or [])


def load_reward_model(cfg: RewardModelConfig, device: str | None = None):
    """(model, tokenizer) ready for batched scoring: eval mode, right padding, one pad id for both.

    `device` places the weights (e.g. "cuda"); None leaves them where transformers loads them.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification

    source = resolve(cfg.name_or_path)
    kwargs = model_kwargs(cfg)
    config = AutoConfig.from_pretrained(
        source, revision=cfg.revision, trust_remote_code=cfg.trust_remote_code
    )
    if is_ultrarm(config):
        config.num_labels = 1
        if getattr(config, TEMPLATE_ATTR, None) is None:
            setattr(config, TEMPLATE_ATTR, "ultrarm")
        kwargs["key_mapping"] = ULTRARM_KEY_MAPPING
    if device is not None and "quantization_config" not in kwargs:
        kwargs["device_map"] = {"": device}
    model, info = AutoModelForSequenceClassification.from_pretrained(
        source, config=config, output_loading_info=True, **kwargs
    )
    head = sorted(k for k in info["missing_keys"] if k.split(".")[0] in {"score", "classifier"})
    if head or model.config.num_labels != 1:
        problem = (
            f"its checkpoint lacks the reward head ({', '.join(head)})" if head else "its num_labels is not 1"
        )
        raise AlignError(
            f"reward_model.name_or_path={cfg.name_or_path} is not a reward model: {problem}. Point it at a "
            "sequence-classification checkpoint with one output (or an UltraRM checkpoint), or train one with "
            "a `method: {name: reward}` recipe."
        )
    tokenizer = load_tokenizer(cfg)
    tokenizer.padding_side = "right"
    # The classifier finds the last real token by comparing ids with config.pad_token_id.
    model.config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model, tokenizer


def convert(cfg: RewardModelConfig, dst: str | Path) -> Path:
    """Write `cfg`'s model (UltraRM or any reward model) as a standard checkpoint: safetensors + a padded tokenizer."""
    model, tokenizer = load_reward_model(cfg)
    dst = Path(dst)
    # save_original_format=False: transformers would otherwise undo the key mapping and write
    # `regression_head.weight` back, which a standard loader does not know.
    model.save_pretrained(dst, safe_serialization=True, save_original_format=False)
    tokenizer.save_pretrained(dst)
    return dst


def inference_device() -> str | None:
    """Where command-line scoring runs: the GPU when there is one, else wherever the model loads."""
    import torch

    return "cuda" if torch.cuda.is_available() else None


def load_reward_base(
    cfg: ModelConfig, purpose: str = "reward-model training (the weights load as a sequence classifier)"
):
    """A model to train as a scalar head (a reward model, PPO's value model): the checkpoint's backbone under a
    fresh one-output `score` head. `purpose` names the use in the error for a model.adapter.

    Set the seed first: the new head is randomly initialised.
    """
    from transformers import AutoModelForSequenceClassification

    refuse_adapter(cfg, purpose)
    return AutoModelForSequenceClassification.from_pretrained(
        resolve(cfg.name_or_path), num_labels=1, **model_kwargs(cfg)
    )
