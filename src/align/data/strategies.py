"""Binarization strategies: which (chosen, rejected) pairs one prompt's completions give.

A strategy receives the row's rankable completions (at least two, in list order, each with its
score) and a random generator private to that row, and returns its pairs or raises `Drop`.
Completions are told apart by position (`index`), never by comparing their text.

Adding a strategy is one function and one decorator:

    @strategy("my-name", default_score="mean")
    def my_name(cands: list[Candidate], rng: random.Random) -> list[CandidatePair]:
        ...
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from align.data.schema import Completion


@dataclass(frozen=True, slots=True)
class Candidate:
    """A rankable completion and its score under the chosen score."""

    completion: Completion
    score: float

    @property
    def index(self) -> int:
        return self.completion.index


CandidatePair = tuple[Candidate, Candidate]
StrategyFn = Callable[[list[Candidate], random.Random], list[CandidatePair]]


class Drop(Exception):
    """The row gives no pair; `reason` names why in the report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Strategy:
    name: str
    pick: StrategyFn
    default_score: str  # used when the config leaves `score` unset


STRATEGIES: dict[str, Strategy] = {}


def strategy(name: str, default_score: str) -> Callable[[StrategyFn], StrategyFn]:
    """Register a strategy under `name` (the value of `binarize.strategy` / `--strategy`)."""

    def register(fn: StrategyFn) -> StrategyFn:
        STRATEGIES[name] = Strategy(name, fn, default_score)
        return fn

    return register


def first_max(cands: list[Candidate]) -> Candidate:
    """Highest score; on a tie the first in list order (max() keeps the first maximum)."""
    return max(cands, key=lambda c: c.score)


@strategy("best-vs-random", default_score="overall")
def best_vs_random(cands: list[Candidate], rng: random.Random) -> list[CandidatePair]:
    """HuggingFaceH4/ultrafeedback_binarized (Zephyr): rejected uniform among the others, ties kept."""
    chosen = first_max(cands)
    return [(chosen, rng.choice([c for c in cands if c.index != chosen.index]))]


@strategy("curated-mean", default_score="mean")
def curated_mean(cands: list[Candidate], rng: random.Random) -> list[CandidatePair]:
    """Argilla's curated binarization (Notus): rejected uniform among the strictly lower, no ties."""
    chosen = first_max(cands)
    lower = [c for c in cands if c.score < chosen.score]
    if not lower:
        raise Drop("no_strictly_lower")
    return [(chosen, rng.choice(lower))]


@strategy("best-vs-worst", default_score="mean")
def best_vs_worst(cands: list[Candidate], rng: random.Random) -> list[CandidatePair]:
    """Highest against lowest (first in list order on ties); a row whose scores all tie is dropped."""
    chosen, rejected = first_max(cands), min(cands, key=lambda c: c.score)
    if rejected.score == chosen.score:
        raise Drop("all_tied")
    return [(chosen, rejected)]


@strategy("all-pairs", default_score="mean")
def all_pairs(cands: list[Candidate], rng: random.Random) -> list[CandidatePair]:
    """Every pair with different scores, higher one chosen (the paper's ~340k comparisons)."""
    pairs = [(a, b) for a in cands for b in cands if a.score > b.score]
    if not pairs:
        raise Drop("all_tied")
    return pairs
