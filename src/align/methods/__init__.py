"""Method runners: one module per `method.name`, each with `run(recipe)` (the TRL wiring)."""

from __future__ import annotations

import importlib
from types import ModuleType

RUNNERS = {
    "dpo": "align.methods.dpo",
    "ppo": "align.methods.ppo",
    "best-of-n": "align.methods.best_of_n",
    "reward": "align.methods.reward",
    "iterative-dpo": "align.methods.iterative_dpo",
}


def runner(name: str) -> ModuleType:
    return importlib.import_module(RUNNERS[name])
