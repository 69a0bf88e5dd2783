"""Recipes: YAML files validated into typed config objects (see `recipe.py` for every field)."""

from align.config.loader import load_recipe, write_resolved
from align.config.recipe import Recipe

__all__ = ["Recipe", "load_recipe", "write_resolved"]
