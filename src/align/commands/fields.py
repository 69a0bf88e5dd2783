"""Command-line flags derived from the typed recipe sections: a field's type, choices, default and help
are declared once, in align.config.recipe, and a new field there is a new flag here.

A flag left off the command line is absent from the parsed namespace, so the section's own
default applies; what the user gave is validated by the section, and a bad value is one
AlignError naming the flag.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from align.errors import AlignError


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _argparse_kwargs(annotation: Any, default: Any) -> dict[str, Any] | None:
    """type/choices/nargs/action for a field's annotation; None for a field no flag can hold (a section)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _argparse_kwargs(inner[0], default) if len(inner) == 1 else None
    if typing.get_origin(annotation) is Literal:
        return {"choices": list(args), "type": type(args[0])}
    if typing.get_origin(annotation) is list and args and args[0] in (int, float, str):
        return {"nargs": "+", "type": args[0]}
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction if default else "store_true"}
    if annotation in (int, float, str):
        return {"type": annotation}
    return None


def add_recipe_args(
    parser: argparse.ArgumentParser, recipe_help: str = "Path to a recipe YAML file (see recipes/)."
) -> None:
    """The RECIPE argument and its key.path=value overrides (`align run`, `check`, `generate`, `annotate`)."""
    parser.add_argument("recipe", help=recipe_help)
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="Override recipe fields.")


def field_choices(section: type[BaseModel], name: str) -> list[Any]:
    """The values a Literal field allows, for a flag whose name differs from the field's."""
    return _argparse_kwargs(section.model_fields[name].annotation, None)["choices"]


def add_field_flags(
    parser: argparse.ArgumentParser | Any,
    section: type[BaseModel],
    names: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    **extra: dict[str, Any],
) -> list[str]:
    """Add a --flag for each field of `section` (every field a flag can hold, or those in `names`).

    `extra` adds argparse settings the section cannot state, by field name (e.g. required, or choices
    of a field its validator checks). Returns the field names, for `given`.
    """
    added = []
    for name, field in section.model_fields.items():
        if (names is not None and name not in names) or name in skip:
            continue
        kwargs = _argparse_kwargs(field.annotation, field.default)
        if kwargs is None:
            if names is not None:
                raise TypeError(f"{section.__name__}.{name} cannot be a command-line flag")
            continue
        kwargs |= extra.get(name, {})
        default = field.get_default(call_default_factory=True)
        quiet = default is None or "action" in kwargs or kwargs.get("required")
        shown = "" if quiet else f" (default: {default})"
        help_text = ((field.description or "") + shown).strip().replace("%", "%%")
        parser.add_argument(
            _flag(name),
            dest=name,
            default=argparse.SUPPRESS,
            help=help_text or None,
            **kwargs | extra.get(name, {}),
        )
        added.append(name)
    return added


def given(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The fields among `names` whose flags were on the command line."""
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


def validated(build: Any, data: Any, command: str) -> Any:
    """`build(data)` (a section class or Recipe.model_validate); a validation error names the flag and value."""
    try:
        return build(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_flag(str(e['loc'][-1]))} {e['input']!r}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors()
        )
        raise AlignError(f"The {command} options are invalid ({problems}). Fix the flag named.") from None
