"""Pairwise accuracy of a reward model on preference test sets, next to the published UltraRM numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from align.data.pairs import Pair
from align.jsonl import write_jsonl
from align.rm.eval_sets import PUBLISHED, PUBLISHED_AVERAGE, SUITES
from align.rm.scoring import Scorer


@dataclass
class PairSet:
    """Pairs to evaluate and where they came from; `key` names the set in PUBLISHED and in output files."""

    key: str
    title: str
    source: str
    pairs: list[Pair]
    skipped: int


def pair_rewards(scorer: Scorer, pairs: list[Pair]) -> list[tuple[float, float]]:
    """(reward of chosen, reward of rejected) for each pair, both sides scored in one batched pass."""
    rewards = scorer.score(
        [pair.prompt for pair in pairs for _ in (0, 1)],
        [response for pair in pairs for response in (pair.chosen, pair.rejected)],
    )
    return list(zip(rewards[0::2], rewards[1::2], strict=True))


def evaluate(scorer: Scorer, sets: list[PairSet], output: Path | None = None) -> dict[str, Any]:
    """Accuracy (% of pairs whose chosen response scores strictly higher) per set and on average.

    With `output`, writes eval_rm.json and each set's per-pair rewards as `<key>.jsonl`.
    """
    results: dict[str, Any] = {"template": scorer.template, "sets": {}}
    for s in sets:
        rewards = pair_rewards(scorer, s.pairs)
        wins = sum(chosen > rejected for chosen, rejected in rewards)
        results["sets"][s.key] = {
            "title": s.title,
            "source": s.source,
            "pairs": len(s.pairs),
            "skipped": s.skipped,
            "accuracy": 100.0 * wins / len(s.pairs) if s.pairs else None,
            "published": {name: table[s.key] for name, table in PUBLISHED.items() if s.key in table},
        }
        if output is not None:
            write_jsonl(
                output / f"{s.key}.jsonl",
                [
                    {**pair._asdict(), "reward_chosen": rc, "reward_rejected": rr}
                    for pair, (rc, rr) in zip(s.pairs, rewards, strict=True)
                ],
            )
    scored = [r["accuracy"] for r in results["sets"].values() if r["accuracy"] is not None]
    results["average"] = {
        "accuracy": sum(scored) / len(scored) if scored else None,
        # the paper averages its four sets: comparable only when exactly those were run
        "published": PUBLISHED_AVERAGE if sorted(results["sets"]) == sorted(SUITES["ultrarm-paper"]) else {},
    }
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        (output / "eval_rm.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def format_table(results: dict[str, Any]) -> str:
    """Accuracy per set as a text table, published UltraRM numbers alongside."""
    names = list(PUBLISHED)
    header = f"{'set':<22}{'pairs':>7}{'skipped':>9}{'accuracy':>10}" + "".join(f"{n:>17}" for n in names)
    lines = [header, "-" * len(header)]

    def row(title: str, pairs: str, skipped: str, accuracy: float | None, published: dict) -> str:
        acc = "-" if accuracy is None else f"{accuracy:.1f}"
        cells = "".join(f"{published[n]:>17.1f}" if n in published else f"{'-':>17}" for n in names)
        return f"{title:<22}{pairs:>7}{skipped:>9}{acc:>10}{cells}"

    for r in results["sets"].values():
        lines.append(row(r["title"], str(r["pairs"]), str(r["skipped"]), r["accuracy"], r["published"]))
    average = results["average"]
    lines.append(row("average", "", "", average["accuracy"], average["published"]))
    return "\n".join(lines)
