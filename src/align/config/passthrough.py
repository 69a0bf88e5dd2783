"""Validate dicts that are handed to a library's own config class (TRL, peft, bitsandbytes).

We never re-type a field the library already defines: the allowed keys and their types are
read from the library class itself, so every field of the pinned version is reachable from
YAML and a typo is caught before anything loads. What was read is cached per installed
library version ($ALIGN_CACHE/fields), since importing TRL alone takes seconds.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import importlib
import inspect
import types
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


# A library class, named so that its fields can be read without importing it: (module, class name).
ClassRef = tuple[str, str]
_SPEC_FORMAT = 1  # bump when the cached form changes
# The distributions whose versions decide a class's fields (transformers' TrainingArguments is every TRL config's base).
_VERSIONED = ("trl", "transformers", "peft", "accelerate")


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """The fields of one library class: each one's type (as `typing` objects) and, for enum-typed
    fields, the allowed values. Built from the class once per installed version, then read from
    align's cache, so `align check` validates a recipe without importing TRL, peft or transformers."""

    module: str
    name: str
    types: dict[str, Any]
    choices: dict[str, list[str]]


def _encode(tp: Any) -> Any:
    """A JSON form of a field type; enums become their values, other classes Any (the class checks those)."""
    if tp is Any or tp is None or tp is type(None):
        return "Any" if tp is Any else "None"
    if tp in (bool, int, float, str, dict, list, tuple):
        return tp.__name__
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [str(m.value) for m in tp]}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return {"literal": list(args)}
    if origin in (typing.Union, types.UnionType):
        return {"union": [_encode(a) for a in args]}
    if origin in (list, dict, tuple) and args:
        return {origin.__name__: [_encode(a) for a in args]}
    if origin in (list, dict, tuple):
        return origin.__name__
    return "Any"


_NAMED = {"Any": Any, "None": type(None), "bool": bool, "int": int, "float": float, "str": str}
_NAMED |= {"dict": dict, "list": list, "tuple": tuple}


def _decode(node: Any) -> Any:
    if isinstance(node, str):
        return _NAMED[node]
    (kind, value), *_ = node.items()
    if kind == "enum" or kind == "literal":
        return Literal[tuple(value)]
    parts = tuple(_decode(v) for v in value)
    if kind == "union":
        return typing.Union[parts]  # noqa: UP007 - built from a tuple
    if kind == "list":
        return list[parts[0]]
    if kind == "tuple":
        return tuple[parts]
    return dict[parts]


def _choices(tp: Any) -> list[str] | None:
    """Allowed values when a field is typed `SomeEnum | str` (TrainingArguments does this)."""
    for arg in typing.get_args(tp) or (tp,):
        if isinstance(arg, type) and issubclass(arg, enum.Enum):
            return [str(m.value) for m in arg]
    return None


def _inspect(ref: ClassRef) -> dict[str, Any]:
    """The JSON form of `ref`'s keyword arguments, read from the imported class."""
    cls = getattr(importlib.import_module(ref[0]), ref[1])
    hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
    params = inspect.signature(cls.__init__).parameters
    fields = {
        name: hints.get(name, p.annotation if p.annotation is not inspect.Parameter.empty else Any)
        for name, p in params.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }
    return {
        "module": cls.__module__,
        "name": cls.__name__,
        "types": {k: _encode(t) for k, t in fields.items()},
        "choices": {k: c for k, t in fields.items() if (c := _choices(t)) is not None},
    }


@cache
def field_spec(ref: ClassRef) -> FieldSpec:
    """`ref`'s fields, from align's cache (keyed by the installed trl/transformers/peft/accelerate
    versions) or, on a miss, from the class itself."""
    from align.cache import installed_versions, remember

    raw = remember("fields", (_SPEC_FORMAT, ref, installed_versions(*_VERSIONED)), lambda: _inspect(ref))
    types = {k: _decode(v) for k, v in raw["types"].items()}
    return FieldSpec(raw["module"], raw["name"], types, raw["choices"])


def validate_kwargs(ref: ClassRef, kwargs: dict[str, Any], exclude: set[str] = frozenset()) -> dict[str, Any]:
    """Check `kwargs` against the fields and types of the class `ref` names; return them coerced.

    `exclude` names fields the project sets itself (the user must not set them here).
    """
    spec = field_spec(ref)
    types, name = spec.types, spec.name
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in exclude:
            raise PassthroughError(key, f"is set by align itself and cannot be given here ({name})")
        if key not in types:
            hint = difflib.get_close_matches(key, types, n=3)
            suggestion = f" (did you mean {', '.join(hint)}?)" if hint else ""
            raise PassthroughError(key, f"is not a field of {spec.module}.{name}{suggestion}")
        tp = types[key]
        choices = spec.choices.get(key)
        if value is False and choices and "no" in choices:
            value = "no"  # YAML 1.1 reads a bare `no` (as in `save_strategy: no`) as false
        if choices is not None and isinstance(value, str) and value not in choices:
            raise PassthroughError(key, f"= {value!r} is not one of the allowed values: {', '.join(choices)}")
        if choices is not None and isinstance(value, str):
            out[key] = value  # the class turns the name into its enum member
        else:
            out[key] = _coerce(name, key, tp, value)
        if key in RANGES and out[key] is not None:
            _check_range(name, key, out[key])
    return out


def _coerce(name: str, key: str, tp: Any, value: Any) -> Any:
    try:
        return TypeAdapter(tp).validate_python(value) if tp is not Any else value
    except ValidationError as exc:
        reason = "; ".join(e["msg"] for e in exc.errors())
        raise PassthroughError(key, f"= {value!r} has the wrong type for {name} ({reason})") from None
    except Exception:  # a type pydantic cannot build a validator for: let the class check it
        return value


def _check_range(name: str, key: str, value: Any) -> None:
    """A list (OnlineDPOConfig's per-epoch beta) is checked element by element."""
    try:
        for item in value if isinstance(value, list) else [value]:
            TypeAdapter(RANGES[key]).validate_python(item)
    except ValidationError as exc:
        reason = "; ".join(e["msg"] for e in exc.errors())
        raise PassthroughError(key, f"= {value!r} is out of range for {name}: {reason}") from None
