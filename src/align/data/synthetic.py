"""Random raw UltraFeedback rows in the real schema, with the awkward cases at random.

For tests (thousands of rows exercising every code path) and the binarize benchmark. Scores
come from small sets so ties are common; instructions are unique so a test can find a pair's
source row by its prompt.
"""

from __future__ import annotations

import random
from typing import Any

from align.data.schema import ASPECTS

SOURCES = ("evol_instruct", "false_qa", "flan", "sharegpt", "truthful_qa", "ultrachat")
MODELS = ("gpt-4", "gpt-3.5-turbo", "llama-2-70b-chat", "wizardlm-13b", "alpaca-7b", "falcon-40b-instruct")
WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
]
BAD_RATINGS: tuple[Any, ...] = ("five", "", "4.5", "10", None, {"x": 1}, True)


def _rating(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.10:
        return "N/A"
    if roll < 0.12:
        return rng.choice(BAD_RATINGS)
    if roll < 0.14:
        return rng.randint(1, 5)  # a number instead of the schema's string
    return str(rng.randint(1, 5))


def _annotations(rng: random.Random, bug: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for aspect in ASPECTS:
        if rng.random() < 0.02:
            continue  # missing aspect
        entry: dict[str, Any] = {"Rating": rng.choice("12") if bug else _rating(rng), "Rationale": "r"}
        if aspect in ("truthfulness", "helpfulness"):
            entry["Type"] = rng.choice((["1"], ["0", "2"], "None"))
            entry["Rationale For Rating"] = "r"
        out[aspect] = entry
    return out


def _completion(rng: random.Random, previous: list[dict[str, Any]]) -> Any:
    roll = rng.random()
    if roll < 0.005:
        return rng.choice(("not a completion", None, {"model": "m"}))
    if previous and roll < 0.03:
        return dict(rng.choice(previous), model=rng.choice(MODELS))  # duplicate text and scores
    bug = rng.random() < 0.01
    response = " ".join(rng.choices(WORDS, k=rng.randint(1, 8)))
    roll = rng.random()
    if roll < 0.03:
        response = ""
    elif roll < 0.05:
        response = rng.choice((" ", "\n\t ", "   "))
    overall: Any = 10.0 if bug else rng.choice((1.0, 2.0, 3.5, 5.0, 6.0, 7.5, 8.0, 9.0, 10.0))
    roll = rng.random()
    if roll < 0.01:
        overall = None
    elif roll < 0.015:
        overall = "high"
    elif roll < 0.03:
        overall = str(overall)  # a numeric string
    return {
        "model": rng.choice(MODELS),
        "principle": "helpfulness",
        "custom_system_prompt": "",
        "response": response,
        "annotations": _annotations(rng, bug),
        "critique": "c",
        "overall_score": overall,
        "fine-grained_score": None,
    }


def _row(rng: random.Random, i: int) -> Any:
    roll = rng.random()
    if roll < 0.003:
        return rng.choice(([1, 2], "row", {"instruction": "no completions field", "source": "flan"}))
    n = rng.choices((0, 1, 2, 3, 4, 5), weights=(2, 3, 5, 10, 75, 5))[0]
    completions: list[Any] = []
    for _ in range(n):
        completions.append(_completion(rng, [c for c in completions if isinstance(c, dict)]))
    if n and rng.random() < 0.01:  # every completion identical
        completions = [completions[0]] * n
    instruction = f"Q{i}: " + " ".join(rng.choices(WORDS, k=3))
    return {
        "source": rng.choices(SOURCES, weights=(15, 4, 30, 30, 2, 15))[0],
        "instruction": "   " if rng.random() < 0.002 else instruction,
        "models": list(rng.sample(MODELS, 4)),
        "completions": completions,
        "correct_answers": ["None"],
        "incorrect_answers": ["None"],
    }


def generate_raw(n_rows: int, seed: int) -> list[Any]:
    """`n_rows` random raw rows (a few deliberately malformed); the same seed gives the same rows."""
    rng = random.Random(seed)
    return [_row(rng, i) for i in range(n_rows)]
