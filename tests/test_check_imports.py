"""`align check` stays fast: once align's cache holds the library field lists, parameter and row counts,
validating a recipe imports none of the training libraries (scripts/bench_check.py prints the times)."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import os
import subprocess
import sys
import typing

import pytest

from align.cache import cache_root
from align.config.passthrough import field_spec
from align.config.recipe import BNB_CONFIG, LORA_CONFIG, METHODS, TrainerMethod
from repo_paths import REPO

# each TRL config class a method hands `trainer` to, once
TRL_CONFIGS = sorted({m.trl_config_ref() for m in METHODS.values() if issubclass(m, TrainerMethod)})

HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "pyarrow")
PROBE = (
    "import sys; from align.cli import main; code = main(sys.argv[1:]); "
    f"print('IMPORTED', [m for m in {HEAVY!r} if m in sys.modules]); sys.exit(code)"
)


def _check(recipe: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "ALIGN_CACHE": str(cache_root())}
    cmd = [sys.executable, "-c", PROBE, "check", recipe, "--quiet"]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("recipe", ["recipes/smoke/dpo-lora.yaml", "recipes/smoke/ppo.yaml"])
def test_a_second_check_imports_no_training_library(recipe):
    first = _check(recipe)  # may fill the cache (and build the tiny models)
    assert first.returncode == 0, first.stderr[-2000:]
    second = _check(recipe)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "IMPORTED []" in second.stdout
    assert (
        second.stdout.split("# plan")[1].split("IMPORTED")[0]
        == first.stdout.split("# plan")[1].split("IMPORTED")[0]
    )  # the same plan from the cache


@pytest.mark.parametrize("ref", [*TRL_CONFIGS, LORA_CONFIG, BNB_CONFIG], ids=lambda r: r[1])
def test_cached_field_lists_are_the_classes_fields(ref):
    import importlib

    if ref[0].startswith("trl.experimental"):
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    cls = getattr(importlib.import_module(ref[0]), ref[1])
    params = inspect.signature(cls.__init__).parameters
    expected = {
        n for n, p in params.items() if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }
    spec = field_spec(ref)
    assert set(spec.types) == expected
    hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
    for name in expected:
        enums = [
            a for a in typing.get_args(hints.get(name)) if isinstance(a, type) and issubclass(a, enum.Enum)
        ]
        assert spec.choices.get(name) == ([str(m.value) for m in enums[0]] if enums else None), name
    stored = [json.loads(p.read_text()) for p in (cache_root() / "fields").glob("*.json")]
    assert any(entry["name"] == ref[1] and set(entry["types"]) == expected for entry in stored)
