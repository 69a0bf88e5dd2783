"""Validate dicts that are handed to a library's own config class (TRL, peft, bitsandbytes).

We never re-type a field the library already defines: the allowed keys and their types are
read from the library class itself, so every field of the pinned version is reachable from
YAML and a typo is caught before anything loads.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import inspect
import typing
from functools import cache
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Le, Lt
from pydantic import TypeAdapter, ValidationError

_POSITIVE = Annotated[float, Gt(0)]
_AT_LEAST_1 = Annotated[int, Ge(1)]
_NON_NEGATIVE = Annotated[float, Ge(0)]
_UNIT = Annotated[float, Ge(0), Le(1)]
# The torch dtypes a recipe may name (model.dtype, bitsandbytes' compute dtype); align.models.loading maps them.
TorchDtype = Literal["bfloat16", "float16", "float32"]

# Values the libraries accept by type but that mean nothing (or crash later), by field name; applied
# to whichever of TRL's, peft's and bitsandbytes' classes has the field, after its own type check.
RANGES: dict[str, Any] = {
    # optimisation (transformers.TrainingArguments, shared by every TRL config)
    "learning_rate": _POSITIVE,
    "num_train_epochs": _POSITIVE,
    "per_device_train_batch_size": _AT_LEAST_1,
    "per_device_eval_batch_size": _AT_LEAST_1,
    "gradient_accumulation_steps": _AT_LEAST_1,
    "eval_accumulation_steps": _AT_LEAST_1,
    "warmup_steps": _NON_NEGATIVE,
    "weight_decay": _NON_NEGATIVE,
    "max_grad_norm": _NON_NEGATIVE,
    "adam_beta1": Annotated[float, Ge(0), Lt(1)],
    "adam_beta2": Annotated[float, Ge(0), Lt(1)],
    "adam_epsilon": _POSITIVE,
    "logging_steps": _POSITIVE,
    "save_steps": _POSITIVE,
    "eval_steps": _POSITIVE,
    "save_total_limit": _AT_LEAST_1,
    "dataloader_num_workers": Annotated[int, Ge(0)],
    "max_length": _AT_LEAST_1,
    # DPO
    "beta": _POSITIVE,
    "label_smoothing": Annotated[float, Ge(0), Le(0.5)],
    # PPO
    "kl_coef": _NON_NEGATIVE,
    "cliprange": _POSITIVE,
    "cliprange_value": _POSITIVE,
    "vf_coef": _NON_NEGATIVE,
    "gamma": _UNIT,
    "lam": _UNIT,
    "temperature": _POSITIVE,
    "num_ppo_epochs": _AT_LEAST_1,
    "num_mini_batches": _AT_LEAST_1,
    "total_episodes": _AT_LEAST_1,
    "local_rollout_forward_batch_size": _AT_LEAST_1,
    "response_length": _AT_LEAST_1,
    "num_sample_generations": Annotated[int, Ge(0)],
    # online DPO
    "max_new_tokens": _AT_LEAST_1,
    # peft LoRA
    "r": _AT_LEAST_1,
    "lora_alpha": _POSITIVE,
    "lora_dropout": Annotated[float, Ge(0), Lt(1)],
    # bitsandbytes quantization
    "bnb_4bit_quant_type": Literal["nf4", "fp4"],
    "bnb_4bit_compute_dtype": TorchDtype,
    "bnb_4bit_quant_storage": TorchDtype,
    "llm_int8_threshold": _POSITIVE,
}


class PassthroughError(ValueError):
    """A key or value that the target class does not accept; `key` is relative to the dict."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


@cache
def _field_types(cls: type) -> dict[str, Any]:
    """Keyword arguments of `cls.__init__` with their types (dataclass hints where there are some)."""
    hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
    params = inspect.signature(cls.__init__).parameters
    return {
        name: hints.get(name, p.annotation if p.annotation is not inspect.Parameter.empty else Any)
        for name, p in params.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


def _enum_choices(tp: Any) -> list[str] | None:
    """Allowed values when a field is typed `SomeEnum | str` (TrainingArguments does this)."""
    for arg in typing.get_args(tp) or (tp,):
        if isinstance(arg, type) and issubclass(arg, enum.Enum):
            return [str(m.value) for m in arg]
    return None


def validate_kwargs(cls: type, kwargs: dict[str, Any], exclude: set[str] = frozenset()) -> dict[str, Any]:
    """Check `kwargs` against `cls`'s fields and types; return them coerced.

    `exclude` names fields the project sets itself (the user must not set them here).
    """
    types = _field_types(cls)
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in exclude:
            raise PassthroughError(key, f"is set by align itself and cannot be given here ({cls.__name__})")
        if key not in types:
            hint = difflib.get_close_matches(key, types, n=3)
            suggestion = f" (did you mean {', '.join(hint)}?)" if hint else ""
            raise PassthroughError(key, f"is not a field of {cls.__module__}.{cls.__name__}{suggestion}")
        tp = types[key]
        choices = _enum_choices(tp)
        if value is False and choices and "no" in choices:
            value = "no"  # YAML 1.1 reads a bare `no` (as in `save_strategy: no`) as false
        if choices is not None and isinstance(value, str) and value not in choices:
            raise PassthroughError(key, f"= {value!r} is not one of the allowed values: {', '.join(choices)}")
        try:
            out[key] = TypeAdapter(tp).validate_python(value) if tp is not Any else value
        except ValidationError as exc:
            reason = "; ".join(e["msg"] for e in exc.errors())
            raise PassthroughError(
                key, f"= {value!r} has the wrong type for {cls.__name__} ({reason})"
            ) from None
        except Exception:  # a type pydantic cannot build a validator for: let the class check it
            out[key] = value
        if key in RANGES and out[key] is not None:
            _check_range(cls, key, out[key])
    return out


def _check_range(cls: type, key: str, value: Any) -> None:
    """A list (OnlineDPOConfig's per-epoch beta) is checked element by element."""
    try:
        for item in value if isinstance(value, list) else [value]:
            TypeAdapter(RANGES[key]).validate_python(item)
    except ValidationError as exc:
        reason = "; ".join(e["msg"] for e in exc.errors())
        raise PassthroughError(key, f"= {value!r} is out of range for {cls.__name__}: {reason}") from None
