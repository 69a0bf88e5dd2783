"""Principle system prompts (data in `principles/*.yaml`) and the per-source mix that picks them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import yaml

from align.config.generate import PrinciplesConfig
from align.errors import AlignError
from align.paths import read_text

SET_DIR = Path(__file__).resolve().parent / "principles"
DEFAULT_SOURCE = "default"


@dataclass(frozen=True)
class PrincipleSet:
    """A named, versioned set of system prompts per principle, and the mix used to draw a principle."""

    name: str
    version: int
    prompts: dict[str, list[str]]
    mix: dict[str, dict[str, float]]

    def weights(self, source: str) -> dict[str, float]:
        return self.mix.get(source) or self.mix[DEFAULT_SOURCE]

    def draw(self, source: str, rng: random.Random) -> tuple[str, str]:
        """(principle, system prompt) for one completion of a row from `source`."""
        weights = {p: w for p, w in self.weights(source).items() if w > 0}
        principle = rng.choices(list(weights), weights=list(weights.values()))[0]
        return principle, rng.choice(self.prompts[principle])


def available() -> list[str]:
    return sorted(p.stem for p in SET_DIR.glob("*.yaml"))


def load_principles(cfg: PrinciplesConfig, field: str = "generate.principles") -> PrincipleSet:
    """The set `cfg.set` names (a shipped name or a YAML path), with the recipe's mix if it gives one."""
    shipped = SET_DIR / f"{cfg.set}.yaml"
    path = shipped if shipped.is_file() else Path(cfg.set)
    if not path.is_file():
        raise AlignError(
            f"{field}.set {cfg.set!r} is neither a shipped principle set ({', '.join(available())}) nor a YAML file. "
            "Use one of those names or the path of a file with `principles:` and `mix:` keys."
        )
    data = yaml.safe_load(read_text(path, f"{field}.set")) or {}
    prompts = data.get("principles")
    if not isinstance(prompts, dict) or not all(
        isinstance(v, list) and v and all(isinstance(t, str) and t.strip() for t in v)
        for v in prompts.values()
    ):
        raise AlignError(
            f"Principle set {path} needs `principles:` mapping each principle to a non-empty list of prompts."
        )
    mix = cfg.mix if cfg.mix is not None else data.get("mix") or {}
    where = f"{field}.mix" if cfg.mix is not None else f"the `mix:` of {path}"
    if DEFAULT_SOURCE not in mix:
        raise AlignError(
            f"{where} has no {DEFAULT_SOURCE!r} entry, so rows from an unlisted source would have no principle. "
            f"Add `{DEFAULT_SOURCE}: {{helpfulness: 1.0}}` (or another mix)."
        )
    for source, weights in mix.items():
        unknown = sorted(set(weights) - set(prompts))
        if unknown:
            raise AlignError(
                f"{where}.{source} names principles {unknown} that {path} does not define; "
                f"it has {sorted(prompts)}."
            )
        if sum(w for w in weights.values() if w > 0) <= 0:
            raise AlignError(f"{where}.{source} gives no principle a positive weight; give at least one.")
    return PrincipleSet(path.stem, int(data.get("version", 0)), prompts, mix)
