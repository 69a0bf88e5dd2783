"""Every hub dataset align names, read through the same `datasets` calls from a copy laid out like the hub repo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.cli import main
from align.config.recipe import BinarizeConfig, DataConfig
from align.data.binarize import binarize
from align.data.filters import TRUTHFULQA_SOURCE, load_questions
from align.data.hub import MIRROR_ENV, load_hub
from align.data.loader import HUB_ID
from align.data.preferences import load_preferences
from align.errors import AlignError
from align.jsonl import write_jsonl
from align.rm.eval_sets import EVAL_SETS, SUITES, suite_pairs
from hub_layouts import build_mirror, truthful_qa_questions, typed_rows

RAW = typed_rows(300)


@pytest.fixture(scope="module")
def mirror_root(tmp_path_factory) -> Path:
    return build_mirror(tmp_path_factory.mktemp("hub"), RAW)


@pytest.fixture
def mirror(mirror_root, monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv(MIRROR_ENV, str(mirror_root))
    monkeypatch.setenv("ALIGN_CACHE", str(tmp_path / "cache"))
    return mirror_root


@pytest.mark.parametrize("key", SUITES["ultrarm-paper"])
def test_each_paper_set_reads_its_hub_layout_like_its_sample(mirror, key):
    hub, hub_skipped = suite_pairs(EVAL_SETS[key])
    sample, sample_skipped = suite_pairs(EVAL_SETS[key], local=True)
    # the mirror holds the sample's rows (SHP regrouped by domain folder): the same pairs come out
    assert sorted(hub) == sorted(sample) and hub_skipped == sample_skipped and hub


def test_eval_rm_suite_runs_all_four_sets_from_the_hub_layouts(mirror, tmp_path):
    out = tmp_path / "eval"
    assert (
        main(["eval-rm", "--model", "tiny://llama-rm", "--suite", "ultrarm-paper", "--output", str(out)]) == 0
    )
    results = json.loads((out / "eval_rm.json").read_text())
    assert sorted(results["sets"]) == sorted(SUITES["ultrarm-paper"])
    assert all(s["pairs"] > 0 and s["accuracy"] is not None for s in results["sets"].values())
    assert (
        results["sets"]["summarize_from_feedback"]["source"] == "openai/summarize_from_feedback (validation)"
    )


def test_raw_ultrafeedback_from_the_pinned_revision_matches_the_local_file(mirror, tmp_path):
    cfg = BinarizeConfig(strategy="best-vs-random", test_size=20)
    report = binarize(HUB_ID, cfg, tmp_path / "hub")  # only the pinned revision exists in the mirror
    binarize(str(write_jsonl(tmp_path / "raw.jsonl", RAW)), cfg, tmp_path / "local")
    assert report["rows_read"] == len(RAW)
    for name in ("train_prefs.jsonl", "test_prefs.jsonl"):
        assert (tmp_path / "hub" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    with pytest.raises(AlignError, match=f"@main/{HUB_ID} is missing"):
        binarize(HUB_ID, cfg, tmp_path / "other", revision="main")


def test_h4_binarized_splits_come_from_the_readme_configs(mirror):
    data = DataConfig(path="HuggingFaceH4/ultrafeedback_binarized", format="binarized", max_eval_samples=2)
    splits = load_preferences(data, seed=0)
    assert (len(splits["train"]), len(splits["test"])) == (6, 2)
    assert splits["train"][0]["chosen"][-1]["role"] == "assistant"


def test_truthful_qa_questions_come_from_both_configs(mirror):
    expected = {q for questions in truthful_qa_questions().values() for q in questions}
    assert load_questions(TRUTHFULQA_SOURCE) == expected


def test_a_script_repo_at_a_pinned_revision_is_one_clear_error(mirror):
    repo = mirror / "@abc123/openai/webgpt_comparisons"
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "webgpt_comparisons.py").write_text("import datasets\n")
    with pytest.raises(AlignError, match="webgpt_comparisons at revision abc123 is a loading script"):
        load_hub("openai/webgpt_comparisons", "train", revision="abc123")
