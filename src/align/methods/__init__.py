"""Method runners: module `align.methods.<name>` (dashes as underscores) runs `method.name`, with `run(recipe)`."""

from __future__ import annotations

import importlib
from types import ModuleType


def runner(name: str) -> ModuleType:
    """The module that runs method `name` (a key of align.config.recipe.METHODS)."""
    return importlib.import_module(f"align.methods.{name.replace('-', '_')}")
