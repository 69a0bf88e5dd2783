"""The argilla/ultrafeedback-binarized-preferences schema (Notus-7B-v1's data): fixture, loader, held-out split."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import datasets
import pytest

from align.cli import main
from align.config import load_recipe
from align.config.recipe import DataConfig
from align.data import samples
from align.data.argilla import COLUMNS
from align.data.preferences import load_pairs_counted
from align.errors import AlignError
from align.jsonl import read_jsonl, write_jsonl
from repo_paths import REPO

SAMPLE = Path(samples.resolve("sample://argilla_binarized_preferences"))
ROWS = read_jsonl(SAMPLE)


def _reason(row: dict) -> str:
    """Why a row cannot be a pair, computed here from the raw JSON (independent of the loader)."""
    texts = (row["instruction"], row["chosen_response"], row["rejected_response"])
    if not all(isinstance(t, str) for t in texts) or not row["instruction"].strip():
        return "missing_text"
    if any(not isinstance(row[c], float) for c in ("chosen_avg_rating", "rejected_avg_rating")):
        return "missing_rating"
    return ""


def _is_tie(row: dict) -> bool:
    return not _reason(row) and row["chosen_avg_rating"] == row["rejected_avg_rating"]


def test_script_regenerates_the_committed_file(tmp_path):
    out = tmp_path / "sample.jsonl"
    script = REPO / "scripts" / "make_argilla_sample.py"
    subprocess.run([sys.executable, str(script), "--output", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == SAMPLE.read_bytes()


def test_fixture_has_the_published_columns_ties_and_unusable_rows():
    assert all(list(row) == list(COLUMNS) for row in ROWS)
    assert len({r["instruction"] for r in ROWS}) == len(ROWS)
    usable = [r for r in ROWS if not _reason(r)]
    assert all(r["chosen_avg_rating"] >= r["rejected_avg_rating"] for r in usable)
    assert all((4 * r["chosen_avg_rating"]).is_integer() for r in usable)  # means of four 1-5 ratings
    assert sum(map(_is_tie, ROWS)) >= 10
    assert set(Counter(map(_reason, ROWS))) == {"", "missing_text", "missing_rating"}


def _published_split(test_size: int, shuffle_seed: int | None, split_seed: int) -> dict[str, list[str]]:
    """The instructions of each split, as datasets itself splits the file (Notus: shuffle, then split)."""
    ds = datasets.load_dataset("json", data_files=str(SAMPLE), split="train")
    if shuffle_seed is not None:
        ds = ds.shuffle(seed=shuffle_seed)
    split = ds.train_test_split(test_size=test_size, seed=split_seed)
    return {name: split[name]["instruction"] for name in ("train", "test")}


@pytest.mark.parametrize(
    ("drop_ties", "shuffle_seed", "split_seed"), [(False, 42, 42), (True, 42, 42), (False, None, 7)]
)
def test_loader_gives_valid_pairs_on_the_published_split(drop_ties, shuffle_seed, split_seed):
    data = DataConfig(
        path=str(SAMPLE),
        format="argilla",
        test_size=30,
        split_seed=split_seed,
        shuffle_seed=shuffle_seed,
        drop_ties=drop_ties,
    )
    splits, counts = load_pairs_counted(data, seed=0)
    raw = {r["instruction"]: r for r in ROWS if r["instruction"] is not None}
    published = _published_split(30, shuffle_seed, split_seed)

    def kept(instruction: str | None) -> bool:
        row = raw.get(instruction)
        return row is not None and not _reason(row) and not (drop_ties and _is_tie(row))

    for name in ("train", "test"):
        assert splits[name]["prompt"] == [i for i in published[name] if kept(i)]  # membership and order
        for pair in splits[name]:
            row = raw[pair["prompt"]]
            assert pair["chosen"] == [
                {"role": "user", "content": row["instruction"]},
                {"role": "assistant", "content": row["chosen_response"]},
            ]
            assert pair["rejected"] == [
                {"role": "user", "content": row["instruction"]},
                {"role": "assistant", "content": row["rejected_response"]},
            ]
            assert pair["messages"] == pair["chosen"]
            assert pair["prompt_id"] == hashlib.sha256(row["instruction"].encode()).hexdigest()
            assert (pair["score_chosen"], pair["score_rejected"]) == (
                row["chosen_avg_rating"],
                row["rejected_avg_rating"],
            )
            assert math.isclose(pair["margin"], pair["score_chosen"] - pair["score_rejected"])
            assert (pair["source"], pair["chosen_model"]) == (row["source"], row["chosen_model"])
            assert not (drop_ties and pair["score_chosen"] == pair["score_rejected"])
    expected = Counter(r for r in map(_reason, ROWS) if r)
    ties = sum(map(_is_tie, ROWS))
    if drop_ties:
        expected["tie"] = ties
    assert counts.dropped == expected and counts.ties_kept == (0 if drop_ties else ties)


def test_ties_are_counted_and_dropped_for_h4_pairs_too(tmp_path):
    write_jsonl(
        tmp_path / "train_prefs.jsonl",
        [
            {
                "chosen": [],
                "rejected": [],
                "prompt": f"p{i}",
                "score_chosen": float(i % 3),
                "score_rejected": 1.0,
            }
            for i in range(12)
        ],
    )
    data = DataConfig(path=str(tmp_path), format="binarized", test_size=3, drop_ties=True)
    splits, counts = load_pairs_counted(data, seed=0)
    assert counts.dropped == {"tie": 4}
    assert len(splits["train"]) + len(splits["test"]) == 8
    assert all(r["score_chosen"] != r["score_rejected"] for s in splits.values() for r in s)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["data.format=raw", "data.path=sample://ultrafeedback"], "binarize.test_size"),
        (["data.test_split=test_prefs"], "not both"),
        (["data.test_size=null"], "shuffle_seed only"),
        (["data.format=raw", "data.test_size=null", "data.shuffle_seed=null"], "binarize.min_margin"),
        (["data.test_size=500"], "leaves nothing to train on"),
    ],
)
def test_bad_settings_are_one_paragraph_errors(overrides, needle, capsys, tiny_cpu):
    recipe = "recipes/smoke/dpo-argilla.yaml"
    if needle == "binarize.min_margin":
        overrides = [*overrides, "data.drop_ties=true"]
    assert main(["check", recipe, "--quiet", *overrides]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_wrong_schema_names_the_missing_columns(tmp_path):
    bad = tmp_path / "pairs.jsonl"
    write_jsonl(bad, [{k: v for k, v in row.items() if k != "rejected_response"} for row in ROWS[:5]])
    with pytest.raises(AlignError, match="rejected_response"):
        load_pairs_counted(DataConfig(path=str(bad), format="argilla", test_size=2), seed=0)


def test_check_and_data_report_work_on_the_schema(tmp_path, capsys, tiny_cpu):
    assert main(["check", "recipes/smoke/dpo-argilla.yaml", "--quiet"]) == 0
    out = capsys.readouterr().out
    ties = sum(map(_is_tie, ROWS))
    assert "(argilla), test = 24 rows held out" in out and f"ties kept: {ties}" in out
    assert (
        main(["data-report", "--input", "sample://argilla_binarized_preferences", "--output", str(tmp_path)])
        == 0
    )
    usable = sum(not _reason(r) for r in ROWS)
    assert f"{usable} pairs, {ties} ties" in capsys.readouterr().out
    assert (tmp_path / "margin.png").is_file()


def test_notus_recipes_load_the_argilla_set_and_keep_a_rebinarized_variant():
    notus = load_recipe(REPO / "recipes/notus-7b-v1/dpo-full.yaml")
    lora = load_recipe(REPO / "recipes/notus-7b-v1/dpo-lora.yaml")
    for r in (notus, lora):
        d = r.data
        assert (d.path, d.format, d.train_split, d.test_split) == (
            "argilla/ultrafeedback-binarized-preferences",
            "argilla",
            "train",
            None,
        )
        assert (d.test_size, d.split_seed, d.shuffle_seed, d.drop_ties, d.revision) == (
            2000,
            42,
            42,
            False,
            None,
        )
    variant = load_recipe(REPO / "recipes/notus-7b-v1/dpo-full-rebinarized.yaml")
    assert variant.data.format == "raw" and variant.data.path == "openbmb/UltraFeedback"
    assert variant.data.binarize.strategy == "curated-mean" and variant.data.binarize.test_size == 2000
    assert variant.data.test_size is None and variant.method == notus.method


def test_dpo_smoke_on_the_argilla_sample(tmp_path, tiny_cpu):
    from align.methods import dpo

    recipe = load_recipe(
        REPO / "recipes/smoke/dpo-argilla.yaml",
        [f"output_dir={tmp_path}", "method.trainer.max_steps=6", "method.trainer.report_to=[]"],
    )
    summary = dpo.run(recipe)
    assert summary["optimizer_steps"] == 6 and summary["eval_pairs"] == 24
    assert summary["after/loss"] < summary["before/loss"]
