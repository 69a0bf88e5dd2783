"""Row parsing and the strategy registry."""

from __future__ import annotations

import json

import pytest

from align.config.recipe import BinarizeConfig
from align.data import strategies
from align.data.binarize import binarize
from align.data.schema import parse_completion, parse_number, parse_rating


@pytest.mark.parametrize(
    ("value", "expected"),
    [("4", (4, None)), (" 5 ", (5, None)), (3, (3, None)), ("N/A", (None, "na")), ("n/a", (None, "na")),
     (None, (None, "missing")), ("five", (None, "unparsable")), ("4.5", (None, "unparsable")),
     ("0", (None, "unparsable")), (6, (None, "unparsable")), (True, (None, "unparsable"))],
)  # fmt: skip
def test_parse_rating(value, expected):
    assert parse_rating(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7.5, (7.5, None)), (10, (10.0, None)), ("8", (8.0, None)), (None, (None, "missing")),
     ("high", (None, "unparsable")), (float("nan"), (None, "unparsable")), (False, (None, "unparsable"))],
)  # fmt: skip
def test_parse_overall_score(value, expected):
    assert parse_number(value) == expected


def test_mean_skips_na_missing_and_unparsable():
    notes: list[str] = []
    raw = {
        "model": "m",
        "response": "r",
        "overall_score": 10,
        "annotations": {
            "honesty": {"Rating": "N/A"},
            "truthfulness": {"Rating": "2"},
            "helpfulness": {"Rating": "x"},
        },
    }
    c = parse_completion(raw, 0, notes)
    assert c.mean == 2.0 and c.score("truthfulness") == 2.0 and c.score("helpfulness") is None
    assert c.overall_score_bug
    assert sorted(notes) == ["ratings.missing", "ratings.na", "ratings.unparsable"]
    raw["annotations"] = {"honesty": {"Rating": "N/A"}}
    assert parse_completion(raw, 0, []).mean is None
    assert parse_completion({"response": None}, 0, notes) is None and notes[-1] == "unrankable.malformed"


@pytest.fixture
def registry():
    yield strategies.STRATEGIES
    strategies.STRATEGIES.pop("best-vs-second", None)


def test_a_new_strategy_is_one_registered_function(tmp_path, registry):
    @strategies.strategy("best-vs-second", default_score="mean")
    def best_vs_second(cands, rng):
        chosen = strategies.first_max(cands)
        lower = [c for c in cands if c.score < chosen.score]
        if not lower:
            raise strategies.Drop("no_strictly_lower")
        return [(chosen, max(lower, key=lambda c: c.score))]

    cfg = BinarizeConfig(strategy="best-vs-second", test_size=0)  # the recipe validator accepts it too
    report = binarize("sample://ultrafeedback", cfg, tmp_path)
    pairs = [json.loads(line) for line in (tmp_path / "train_prefs.jsonl").open()]
    assert pairs and all(p["score_chosen"] > p["score_rejected"] for p in pairs)
    assert report["settings"]["score"] == "mean" and "no_strictly_lower" in report["dropped_rows"]
