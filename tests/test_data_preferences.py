"""load_preferences: the contract the trainers use (raw -> cached binarization, or a binarized set)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import align.data.preferences as preferences
from align.config import load_recipe
from align.config.recipe import DataConfig
from align.data.preferences import load_preferences
from align.data.samples import resolve
from align.errors import AlignError
from align.jsonl import write_jsonl

H4_COLUMNS = {"prompt", "prompt_id", "chosen", "rejected", "messages", "score_chosen", "score_rejected"}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def count_binarize(monkeypatch):
    calls = []
    real = preferences.binarize

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(preferences, "binarize", counted)
    return calls


def test_raw_is_binarized_once_then_read_from_cache(cache, count_binarize):
    data = DataConfig(path="sample://ultrafeedback", binarize={"test_size": 40})
    first = load_preferences(data, seed=0)
    assert set(first) == {"train", "test"} and len(first["test"]) == 40
    assert set(first["train"].column_names) >= H4_COLUMNS
    second = load_preferences(data, seed=0)
    assert len(count_binarize) == 1
    assert first["train"]["prompt_id"] == second["train"]["prompt_id"]
    (entry,) = (cache / "binarized").iterdir()
    assert json.loads((entry / "report.json").read_text())["rows_written"]["test_prefs"] == 40
    # a different setting is a different cache entry
    load_preferences(DataConfig(path="sample://ultrafeedback", binarize={"test_size": 40, "seed": 1}), seed=0)
    assert len(count_binarize) == 2


def test_cache_key_follows_file_content(tmp_path, count_binarize):
    raw = tmp_path / "raw.jsonl"
    text = Path(resolve("sample://ultrafeedback")).read_text()
    raw.write_text(text)
    data = DataConfig(path=str(raw), binarize={"test_size": 0})
    assert "test" not in load_preferences(data, seed=0)
    raw.write_text(text.split("\n", 1)[1])  # one row fewer: the cached pairs no longer apply
    load_preferences(data, seed=0)
    assert len(count_binarize) == 2


def test_same_code_path_as_the_cli(tmp_path):
    from align.cli import main

    argv = [
        "binarize",
        "--input",
        "sample://ultrafeedback",
        "--strategy",
        "curated-mean",
        "--output",
        str(tmp_path),
    ]
    assert main([*argv, "--test-size", "30", "--seed", "3"]) == 0
    data = DataConfig(
        path="sample://ultrafeedback", binarize={"strategy": "curated-mean", "test_size": 30, "seed": 3}
    )
    splits = load_preferences(data, seed=0)
    cli = [json.loads(line) for line in (tmp_path / "train_prefs.jsonl").open()]
    assert splits["train"].to_list() == cli


def test_binarized_local_dir_with_max_samples(tmp_path):
    rows = [
        {"prompt": f"p{i}", "prompt_id": str(i), "chosen": [{"role": "user", "content": f"p{i}"}],
         "rejected": [{"role": "user", "content": f"p{i}"}], "score_chosen": 2.0, "score_rejected": 1.0}
        for i in range(30)
    ]  # fmt: skip
    for split, n in (("train_prefs", 30), ("test_prefs", 10)):
        write_jsonl(tmp_path / f"{split}.jsonl", rows[:n])
    data = DataConfig(path=str(tmp_path), format="binarized", max_train_samples=12, max_eval_samples=5)
    splits = load_preferences(data, seed=0)
    assert (len(splits["train"]), len(splits["test"])) == (12, 5)
    train = [int(p["prompt"][1:]) for p in splits["train"]]
    assert train == sorted(train), "subsets keep the split's order"
    assert train == [int(p["prompt"][1:]) for p in load_preferences(data, seed=0)["train"]]
    assert train != [int(p["prompt"][1:]) for p in load_preferences(data, seed=1)["train"]]
    no_test = DataConfig(path=str(tmp_path), format="binarized", test_split=None)
    assert set(load_preferences(no_test, seed=0)) == {"train"}


def test_binarized_dir_without_train_split(tmp_path):
    (tmp_path / "other.jsonl").write_text("{}\n")
    with pytest.raises(AlignError, match="train_prefs.jsonl.*other.jsonl"):
        load_preferences(DataConfig(path=str(tmp_path), format="binarized"), seed=0)


def test_recipe_validates_strategy_and_score(write_recipe):
    base = """
name: r
output_dir: runs/r
model: {name_or_path: tiny://llama}
data: {path: sample://ultrafeedback, binarize: {strategy: best-vs-rnd, score: quality}}
method: {name: dpo}
"""
    with pytest.raises(AlignError) as exc:
        load_recipe(write_recipe(base))
    msg = str(exc.value)
    assert "data.binarize.strategy" in msg and "best-vs-random, curated-mean, best-vs-worst, all-pairs" in msg
    assert "data.binarize.score" in msg and "overall, mean, instruction_following" in msg
