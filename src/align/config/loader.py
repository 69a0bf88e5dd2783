"""Read a recipe: YAML, `base:` inheritance, `key.path=value` overrides, validation.

Every value remembers where it came from (which file, or the command line), so an error
names the file the user has to edit, not just the merged result.
"""

from __future__ import annotations

import enum
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from align.config.passthrough import PassthroughError
from align.config.recipe import METHODS, Recipe
from align.errors import AlignError
from align.paths import check_utf8

Origins = dict[tuple[str, ...], str]
M = typing.TypeVar("M", bound=BaseModel)
CLI = "the command line"
RESOLVED_FILE = "recipe.resolved.yaml"
# libyaml's parser where PyYAML was built with it: the same safe loading, several times faster
# (`align check` reads every recipe nearby to name the one that writes a missing model directory)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise AlignError(
            f"Recipe {path} is a directory; give a recipe YAML file (such as {path}/<name>.yaml)."
        )
    if not path.is_file():
        raise AlignError(
            f"Recipe file {path} does not exist. Check the path (recipes live in recipes/<model>/)."
        )
    check_utf8(path, "Recipe file")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise AlignError(
            f"Recipe file {path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AlignError(
            f"Recipe file {path} must be a YAML mapping (key: value lines), not {type(data).__name__}."
        )
    return data


def _merge(base: dict, top: dict, origins: Origins, source: str, prefix: tuple[str, ...] = ()) -> dict:
    """Deep-merge `top` into a copy of `base`: mappings merge, everything else replaces."""
    out = dict(base)
    for key, value in top.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, origins, source, path)
        else:
            out[key] = value
            for old in [p for p in origins if p[: len(path)] == path]:
                del origins[old]
            _record(value, path, origins, source)
    return out


def _record(value: Any, path: tuple[str, ...], origins: Origins, source: str) -> None:
    origins[path] = source
    if isinstance(value, dict):
        for k, v in value.items():
            _record(v, (*path, str(k)), origins, source)


def _load_with_bases(path: Path, origins: Origins, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise AlignError(
            f"Recipe {seen[0]} inherits from itself through `base:` ({chain}). Remove one `base:` key."
        )
    data = _read_yaml(path)
    base = data.pop("base", None)
    if base is None:
        merged: dict[str, Any] = {}
    elif isinstance(base, str):
        merged = _load_with_bases((path.parent / base), origins, (*seen, path))
    else:
        raise AlignError(
            f"In {path}, `base:` must be a path to another recipe file (relative to {path.parent})."
        )
    return _merge(merged, data, origins, str(path))


def read_recipe_dict(path: str | Path) -> dict[str, Any]:
    """A recipe file merged with its `base:` chain, not validated (to read one field of it)."""
    return _load_with_bases(Path(path), {})


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """`method.trainer.beta=0.01` -> (("method", "trainer", "beta"), 0.01); values are YAML."""
    key, sep, raw = text.partition("=")
    parts = tuple(key.strip().split("."))
    if not sep or not key.strip() or any(not p for p in parts):
        raise AlignError(
            f"Override {text!r} is not of the form key.path=value (for example method.trainer.beta=0.05). "
            "Use dots between keys and one '=' before the value."
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise AlignError(
            f"Override {text!r}: the value {raw!r} is not valid YAML ({getattr(exc, 'problem', None) or exc}). "
            "Quote it for a plain string (key='value with: colon'), or fix the brackets of a list/mapping."
        ) from None
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str], origins: Origins) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        patch: Any = value
        for key in reversed(path):
            patch = {key: patch}
        data = _merge(data, patch, origins, CLI)
    return data


def _allowed_here(loc: tuple[str, ...], schema: type[BaseModel] = Recipe) -> str:
    """List the keys a section accepts, to put next to an 'unknown key' error."""
    model: Any = schema
    for part in loc[:-1]:
        fields = getattr(model, "model_fields", {})
        if part in fields:
            model = fields[part].annotation
        elif isinstance(model, type) and issubclass(model, BaseModel):
            return ""
        # unwrap Optional / unions of models to the first BaseModel
        for arg in (model, *typing.get_args(model)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                model = arg
                break
    if isinstance(model, type) and issubclass(model, BaseModel):
        return ", ".join(model.model_fields)
    return ""


def _explain(
    exc: ValidationError, origins: Origins, recipe_path: Path, schema: type[BaseModel] = Recipe
) -> str:
    problems = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        # pydantic puts the discriminator tag into loc (e.g. method.dpo.beta): drop it
        loc = tuple(p for i, p in enumerate(loc) if not (i > 0 and loc[i - 1] == "method" and p in METHODS))
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, PassthroughError):
            loc = (*loc, ctx_error.key)
            msg = str(ctx_error)
        elif err["type"] == "extra_forbidden":
            allowed = _allowed_here(loc, schema)
            msg = "is not a known key" + (f"; allowed keys here: {allowed}" if allowed else "")
        elif err["type"] == "union_tag_invalid":
            loc = (*loc, "name")
            msg = f"= {err['ctx']['tag']!r} is not a method; allowed: {err['ctx']['expected_tags']}"
        elif err["type"] == "missing":
            msg = "is required but missing"
        else:
            msg = f"= {err.get('input')!r}: {err['msg']}"
        source = _origin(loc, origins) or str(recipe_path)
        problems.append(f"`{'.'.join(loc)}` {msg} (set in {source})")
    return (
        f"Recipe {recipe_path} is invalid: "
        + "; ".join(problems)
        + ". Fix the key in the file named, or override it with key.path=value."
    )


def _origin(loc: tuple[str, ...], origins: Origins) -> str | None:
    for n in range(len(loc), 0, -1):
        if loc[:n] in origins:
            return origins[loc[:n]]
    return None


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Load, merge and validate a recipe; raise AlignError with one paragraph on any problem."""
    return load_validated(path, overrides, Recipe)


def load_validated(path: str | Path, overrides: list[str] | None, schema: type[M]) -> M:
    """Load, merge and validate a YAML file against `schema` (Recipe, PipelineRecipe)."""
    path = Path(path)
    origins: Origins = {}
    data = _load_with_bases(path, origins)
    data = apply_overrides(data, list(overrides or []), origins)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise AlignError(_explain(exc, origins, path, schema)) from None


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def resolved_dict(recipe: Recipe) -> dict[str, Any]:
    return _plain(recipe.model_dump(mode="python"))


def write_resolved(recipe: Recipe, output_dir: str | Path) -> Path:
    """Write the fully merged recipe next to the run's outputs so the run can be repeated."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / RESOLVED_FILE
    target.write_text(yaml.safe_dump(resolved_dict(recipe), sort_keys=False))
    return target
