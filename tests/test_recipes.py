"""Every shipped recipe validates, and the reproduction recipes carry the published numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from align.cli import main
from align.config import load_recipe
from align.config.pipeline import is_pipeline
from repo_paths import REPO
from test_ppo_recipes import ppo_batches

RECIPES = sorted(p.relative_to(REPO) for p in (REPO / "recipes").rglob("*.yaml"))
# smoke recipes judged by the reward smoke's output, which check refuses until that run exists
STAND_IN = {"ppo-long.yaml", "online-dpo-long.yaml", "iterative-dpo.yaml"}


@pytest.mark.parametrize("recipe", RECIPES, ids=str)
def test_align_check_accepts_every_recipe(recipe, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    # (tests/test_bad_inputs.py), so they are checked here against the tiny reward model instead.
    stand_in = ["reward_model.name_or_path=tiny://llama-rm"] if recipe.name in STAND_IN else []
    if recipe.name == "smoke-dpo.yaml":
        # trains on the pairs `make ultrafeedback-smoke` writes: checked here on the bundled raw sample
        stand_in = ["data.path=sample://ultrafeedback", "data.format=raw", "data.binarize.test_size=8"]
    assert main(["check", str(recipe), "--quiet", *stand_in]) == 0
    out = capsys.readouterr().out
    assert "batch" in out or "best-of-n" in str(recipe) or "requests" in out  # requests: a pipeline recipe


# --- published values -------------------------------------------------------------------------
# docs/published_values.yaml holds every published hyperparameter of the reproduction recipes with its source;
# each recipe is resolved into what a run builds (TRL config with the batch plan, peft LoraConfig,
# BitsAndBytesConfig, accelerate config) at the published process count and compared value by value.

TABLE = yaml.safe_load((REPO / "docs/published_values.yaml").read_text())
TRL_DEFAULT = "trl-1.12-default"


def published(name: str) -> dict:
    """A recipe's table entry with its `base` entries merged in (later wins) and its `drop` keys removed."""
    entry = TABLE["recipes"][name]
    values = dict(published(entry["base"])["values"]) if "base" in entry else {}
    values.update(entry["values"])
    for key in entry.get("drop", []):
        del values[key]
    return {**entry, "values": values}


def matches(resolved, published) -> bool:
    """Enums compare by value, dtypes by name, sets (peft's target_modules) without order, floats approximately."""
    if hasattr(resolved, "value") and not isinstance(resolved, (int, float, str)):
        resolved = resolved.value
    if type(resolved).__module__ == "torch":
        resolved = str(resolved).removeprefix("torch.")
    if isinstance(resolved, (set, frozenset)):
        return sorted(resolved) == sorted(published)
    return resolved == pytest.approx(published) if isinstance(published, float) else resolved == published


def lookup(obj, path: str):
    for part in path.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


class Resolved:
    """What a run of `recipe` on `world` processes builds, computed from the recipe alone."""

    def __init__(self, name: str, world: int, tmp_path: Path):
        from transformers import BitsAndBytesConfig

        from align.methods.training import build_trainer_args
        from align.models.loading import lora_config

        self.recipe = load_recipe(REPO / "recipes" / name, [f"output_dir={tmp_path}"])
        self.world = world
        self.trainer = None
        if self.recipe.method.name != "best-of-n":
            self.cls = self.recipe.method.trl_config_cls()
            self.trainer = build_trainer_args(self.recipe, self.cls, world_size=world)
        self.lora = lora_config(self.recipe.model)
        quant = self.recipe.model.quantization
        self.bnb = BitsAndBytesConfig(**quant) if quant else None
        config_file = self.recipe.launch.config_file
        self.accelerate = yaml.safe_load((REPO / config_file).read_text()) if config_file else {}

    def get(self, key: str):
        kind, _, path = key.partition(".")
        if kind == "batch":
            t = self.trainer
            return {
                "global": t.per_device_train_batch_size * t.gradient_accumulation_steps * self.world,
                "per_device": t.per_device_train_batch_size,
                "accumulation": t.gradient_accumulation_steps,
            }[path]
        if kind == "ppo":
            batches = ppo_batches(self.trainer, self.world)
            return {"iterations": batches["iterations"], "mini_batch": batches["optimizer mini-batch"]}[path]
        source = {"trainer": self.trainer, "lora": self.lora, "bnb": self.bnb, "recipe": self.recipe}.get(
            kind
        )
        return lookup(self.accelerate if kind == "accelerate" else source, path)


@pytest.mark.parametrize("name", sorted(TABLE["recipes"]))
def test_reproduction_recipe_resolves_to_every_published_value(name, tmp_path):
    entry = published(name)
    resolved = Resolved(name, entry["processes"], tmp_path)
    if entry["config"]:
        assert type(resolved.trainer).__name__ == entry["config"]
    drift = {
        key: (resolved.get(key), spec["value"], spec["source"])
        for key, spec in entry["values"].items()
        if not matches(resolved.get(key), spec["value"])
    }
    assert not drift, f"{name} drifted from its published values (resolved, published, source): {drift}"


@pytest.mark.parametrize("name", sorted(TABLE["recipes"]))
def test_every_tabled_value_names_a_source_and_unpublished_ones_are_trl_defaults(name):
    """A `trl-1.12-default` entry must really be the pinned TRL's default; any other source must be defined."""
    import dataclasses

    entry = published(name)
    defaults = {}
    if entry["config"]:
        cls = load_recipe(REPO / "recipes" / name).method.trl_config_cls()
        defaults = {
            f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        }
    for key, spec in entry["values"].items():
        if spec["source"] == TRL_DEFAULT:
            field = key.removeprefix("trainer.")
            assert matches(defaults[field], spec["value"]), key
        else:
            assert spec["source"] in TABLE["sources"], f"{name} {key}: undefined source {spec['source']!r}"


def test_every_reproduction_recipe_is_tabled_and_documented():
    documented = (REPO / "docs/reproduction.md").read_text()
    reproduction = {str(p.relative_to(REPO / "recipes")) for p in (REPO / "recipes").rglob("*.yaml")}
    reproduction = {r for r in reproduction if not r.startswith(("smoke/", "ultrafeedback/"))}
    assert reproduction == set(TABLE["recipes"])
    assert all(f"recipes/{r}" in documented for r in reproduction)


@pytest.mark.parametrize(
    ("name", "world", "line"),
    [
        ("notus-7b-v1/dpo-full.yaml", 8, "8 per device x 1 accumulation x 8 = 64 global"),
        ("notus-7b-v1/dpo-lora.yaml", 8, "2 per device x 32 accumulation x 8 = 512 global"),
    ],
)
def test_align_check_shows_the_published_notus_batches(name, world, line, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert main(["check", f"recipes/{name}", "--quiet", "--num-processes", str(world)]) == 0
    assert line in capsys.readouterr().out


def _supported(requirement: str, recipe) -> bool:
    """`section.field` exists in the recipe schema (and, with `=value`, accepts that value)."""
    from typing import get_args

    path, _, value = requirement.partition("=")
    section, field = path.split(".")
    fields = type(getattr(recipe, section)).model_fields
    if field not in fields:
        return False

    def accepted(annotation) -> set:
        args = get_args(annotation)
        return set().union(*(accepted(a) for a in args)) | {a for a in args if isinstance(a, str)}

    return not value or value in accepted(fields[field].annotation)


PENDING = [(i, name) for i, group in enumerate(TABLE["pending"]) for name in group["recipes"]]


@pytest.mark.parametrize(("group", "name"), PENDING, ids=[f"{i}-{n}" for i, n in PENDING])
def test_pending_published_values_once_the_schema_has_their_fields(group, name, tmp_path):
    spec = TABLE["pending"][group]
    recipe = load_recipe(REPO / "recipes" / name)
    missing = [r for r in spec["requires"] if not _supported(r, recipe)]
    if missing:
        pytest.skip(f"the recipe schema has no {', '.join(missing)} yet")
    resolved = Resolved(name, published(name)["processes"], tmp_path)
    for key, value in spec["values"].items():
        assert value["source"] in TABLE["sources"], (name, key)
        assert matches(resolved.get(key), value["value"]), (name, key)


def test_nothing_cites_notes_outside_the_repository():
    """Provenance must be followable: no citation of the team's private notes anywhere in the repository."""
    import re
    import subprocess

    pattern = re.compile("shared/" + "specs|" + "spec " + "§|" + r"#\s*spec\b", re.IGNORECASE)
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    hits = [
        f"{f}:{n}"
        for f in files
        if (REPO / f).suffix in {".py", ".md", ".yaml", ".yml", ".toml", ""} and (REPO / f).is_file()
        for n, line in enumerate((REPO / f).read_text(errors="ignore").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits


def test_notus_rebinarized_variant_binarizes_raw_ultrafeedback_with_curated_mean():
    r = load_recipe(REPO / "recipes/notus-7b-v1/dpo-full-rebinarized.yaml")
    assert r.data.format == "raw" and r.data.path == "openbmb/UltraFeedback"
    assert r.data.binarize.strategy == "curated-mean" and r.data.binarize.test_size == 2000
    assert r.data.binarize.seed == 42 and r.data.binarize.decontaminate is None


@pytest.mark.parametrize("recipe", [r for r in RECIPES if not is_pipeline(REPO / r)], ids=str)
def test_recipes_ask_only_for_kernels_make_install_gpu_installs(recipe):
    """A make target installs the gpu extra; FlashAttention-2 is opt-in (README) unless that extra carries it.
    (Pipeline recipes load their pool with the attention transformers picks: they have no such field.)"""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    gpu = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]
    if any(req.startswith("flash-attn") for req in gpu):
        pytest.skip("the gpu extra installs flash-attn")
    loaded = load_recipe(REPO / recipe)
    for section in (loaded.model, loaded.reward_model):
        assert section is None or not (section.attn_implementation or "").startswith("flash_attention")
