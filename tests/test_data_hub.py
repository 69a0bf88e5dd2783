"""The hub code paths, exercised offline by standing in for `datasets.load_dataset`."""

from __future__ import annotations

import json

import datasets
import pytest

from align import paths
from align.config.recipe import BinarizeConfig, DataConfig
from align.data.binarize import binarize
from align.data.loader import HUB_ID, REVISION
from align.data.preferences import load_preferences
from align.data.synthetic import generate_raw
from align.errors import AlignError
from align.jsonl import write_jsonl


def typed_rows(n: int) -> list[dict]:
    """Synthetic rows with one type per column, as the hub's parquet holds them."""
    rows = [r for r in generate_raw(n, seed=5) if isinstance(r, dict) and "completions" in r]
    for r in rows:
        r["completions"] = [c for c in r["completions"] if isinstance(c, dict) and "annotations" in c]
        for c in r["completions"]:
            c["overall_score"] = c["overall_score"] if isinstance(c["overall_score"], float) else None
            for entry in c["annotations"].values():
                entry["Rating"] = entry["Rating"] if isinstance(entry["Rating"], str) else "N/A"
                if "Type" in entry:
                    entry["Type"] = entry["Type"] if isinstance(entry["Type"], list) else ["None"]
    return rows


@pytest.fixture
def hub(monkeypatch):
    """Record load_dataset calls; serve `served[path]` for hub ids, defer to the real one otherwise."""
    calls, served, real = [], {}, datasets.load_dataset

    def fake(path, *args, **kwargs):
        if path not in served:
            return real(path, *args, **kwargs)
        calls.append((path, args, kwargs))
        value = served[path]
        return value(*args, **kwargs) if callable(value) else value

    monkeypatch.setattr(datasets, "load_dataset", fake)
    # align.paths checks that a hub id is reachable or cached before loading: the served ids count as cached
    in_cache = paths._in_hub_cache
    monkeypatch.setattr(
        paths, "_in_hub_cache", lambda repo_id, *a: repo_id in served or in_cache(repo_id, *a)
    )
    return calls, served


def test_raw_from_hub_pins_the_corrected_revision_and_matches_local(hub, tmp_path):
    calls, served = hub
    rows = typed_rows(400)
    served[HUB_ID] = datasets.Dataset.from_list(rows)
    cfg = BinarizeConfig(strategy="best-vs-random", test_size=20)
    report = binarize(HUB_ID, cfg, tmp_path / "hub")
    assert calls == [(HUB_ID, (), {"revision": REVISION, "split": "train"})]
    assert report["input"] == f"{HUB_ID}@{REVISION}"
    binarize(str(write_jsonl(tmp_path / "raw.jsonl", rows)), cfg, tmp_path / "local")
    for name in ("train_prefs.jsonl", "test_prefs.jsonl"):
        assert (tmp_path / "hub" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    binarize(HUB_ID, cfg, tmp_path / "old", revision="292c16329d921287c4166934cac1a6ad1e13a6c5")
    assert calls[-1][2]["revision"] == "292c16329d921287c4166934cac1a6ad1e13a6c5"


def test_hub_dataset_with_wrong_columns(hub, tmp_path):
    _, served = hub
    served["someone/prefs"] = datasets.Dataset.from_list([{"prompt": "p", "chosen": "c"}])
    with pytest.raises(AlignError, match="someone/prefs is not raw UltraFeedback.*instruction, completions"):
        binarize("someone/prefs", BinarizeConfig(), tmp_path)


def test_truthful_qa_from_hub_uses_both_configs(hub, tmp_path):
    calls, served = hub
    rows = typed_rows(200)
    questions = {"generation": rows[0]["instruction"], "multiple_choice": rows[1]["instruction"]}
    served["truthfulqa/truthful_qa"] = lambda config, split: datasets.Dataset.from_list(
        [{"question": questions[config]}]
    )
    raw = write_jsonl(tmp_path / "raw.jsonl", rows)
    report = binarize(str(raw), BinarizeConfig(decontaminate="truthful_qa", test_size=0), tmp_path / "out")
    assert sorted(c[1] for c in calls) == [("generation",), ("multiple_choice",)]
    assert all(c[2] == {"split": "validation"} for c in calls)
    assert report["dropped_rows"]["truthful_qa_question"] == 2
    kept = {json.loads(line)["prompt"] for line in (tmp_path / "out" / "train_prefs.jsonl").open()}
    assert not kept & set(questions.values())


def test_binarized_from_hub_honours_splits_and_revision(hub, monkeypatch, tmp_path):
    monkeypatch.setenv("ALIGN_CACHE", str(tmp_path))
    calls, served = hub
    pair = {"prompt": "p", "chosen": [], "rejected": [], "score_chosen": 1.0, "score_rejected": 0.0}
    served["HuggingFaceH4/ultrafeedback_binarized"] = lambda **kw: datasets.Dataset.from_list([pair] * 5)
    data = DataConfig(
        path="HuggingFaceH4/ultrafeedback_binarized",
        format="binarized",
        revision="292c163",
        max_eval_samples=2,
    )
    splits = load_preferences(data, seed=0)
    assert (len(splits["train"]), len(splits["test"])) == (5, 2)
    assert [c[2] for c in calls] == [
        {"revision": "292c163", "split": "train_prefs"},
        {"revision": "292c163", "split": "test_prefs"},
    ]
