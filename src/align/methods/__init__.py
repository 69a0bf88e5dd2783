"""Method runners: one module per `method.name`, each with `run(recipe)` (the TRL wiring)."""

from __future__ import annotations

import importlib
from types import ModuleType

RUNNERS = {
    "dpo": "align.methods.dpo",
    "ppo": "align.methods.ppo",
    "online-dpo": "align.methods.online_dpo",
    "best-of-n": "align.methods.best_of_n",
    "reward": "align.methods.reward",
}


def runner(name: str) -> ModuleType:
    return importlib.import_module(RUNNERS[name])
