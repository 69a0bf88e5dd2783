"""Binarization invariants of every strategy, checked row by row against an independent reference.

The reference below re-derives, from the raw JSON and each strategy's definition alone (no align.data code), which
completions are rankable, their scores, the expected chosen completion and the allowed rejected
ones. It runs over the bundled sample and a generated file of thousands of awkward rows.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from pathlib import Path

import pytest

from align.config.recipe import BinarizeConfig
from align.data.binarize import binarize
from align.data.synthetic import generate_raw
from align.jsonl import read_jsonl, write_jsonl
from repo_paths import REPO

SAMPLE = REPO / "src/align/data/sample/ultrafeedback_sample.jsonl"
ASPECT_NAMES = ["instruction_following", "honesty", "truthfulness", "helpfulness"]
DEFAULT_SCORE = {
    "best-vs-random": "overall",
    "curated-mean": "mean",
    "best-vs-worst": "mean",
    "all-pairs": "mean",
}


# --- the reference ------------------------------------------------------------------------------


def ref_rating(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value in (1, 2, 3, 4, 5) else None
    if isinstance(value, str) and value.strip() in ("1", "2", "3", "4", "5"):
        return int(value.strip())
    return None


def ref_overall(value):
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def ref_completions(row):
    """[(index, response, model, scores-by-name)] for completions with a string response."""
    out = []
    for i, c in enumerate(row["completions"]):
        if not isinstance(c, dict) or not isinstance(c.get("response"), str):
            continue
        ann = c.get("annotations") if isinstance(c.get("annotations"), dict) else {}
        ratings = {}
        for name in ASPECT_NAMES:
            entry = ann.get(name)
            ratings[name] = ref_rating(entry.get("Rating")) if isinstance(entry, dict) else None
        numeric = [r for r in ratings.values() if r is not None]
        scores = {n: (None if r is None else float(r)) for n, r in ratings.items()}
        scores["mean"] = sum(numeric) / len(numeric) if numeric else None
        scores["overall"] = ref_overall(c.get("overall_score"))
        model = c.get("model") if isinstance(c.get("model"), str) else ""
        out.append((i, c["response"], model, scores))
    return out


def is_suspect(scores):
    return scores["overall"] == 10 and scores["mean"] is not None and scores["mean"] <= 2


def well_formed(row):
    return (
        isinstance(row, dict)
        and isinstance(row.get("source"), str)
        and isinstance(row.get("instruction"), str)
        and isinstance(row.get("completions"), list)
    )


def ref_rankable(row, score, drop_bug=False):
    return [
        (i, text, model, s[score])
        for i, text, model, s in ref_completions(row)
        if text.strip() and s[score] is not None and not (drop_bug and is_suspect(s))
    ]


def ref_drop(row, score, questions=None, drop_bug=False):
    """The reason a row is dropped before any random draw, or None."""
    if not well_formed(row):
        return "malformed"
    if not row["instruction"].strip():
        return "empty_instruction"
    if questions is not None and (row["source"] == "truthful_qa" or row["instruction"] in questions):
        return "contaminated"
    if len(row["completions"]) < 2:
        return "fewer_than_2_completions"
    if len(ref_rankable(row, score, drop_bug)) < 2:
        return "fewer_than_2_rankable"
    return None


# --- inputs --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("raw") / "synthetic.jsonl", generate_raw(3000, seed=7))


@pytest.fixture(scope="module", params=["sample", "synthetic"])
def raw_file(request, synthetic) -> Path:
    return SAMPLE if request.param == "sample" else synthetic


def run(raw_file: Path, out: Path, **settings) -> tuple[list[dict], dict, list]:
    cfg = BinarizeConfig(**{"test_size": 50, **settings})
    report = binarize(str(raw_file), cfg, out)
    pairs = read_jsonl(out / "train_prefs.jsonl")
    if cfg.test_size:
        pairs += read_jsonl(out / "test_prefs.jsonl")
    else:
        assert not (out / "test_prefs.jsonl").exists()
    raws = read_jsonl(raw_file)
    return pairs, report, raws


def check_common(pairs: list[dict], report: dict, raws: list) -> None:
    for p in pairs:
        assert p["prompt_id"] == hashlib.sha256(p["prompt"].encode("utf-8")).hexdigest()
        assert p["chosen"][0] == {"role": "user", "content": p["prompt"]} == p["rejected"][0]
        assert [m["role"] for m in p["chosen"]] == ["user", "assistant"] == [m["role"] for m in p["rejected"]]
        assert p["messages"] == p["chosen"]
        assert isinstance(p["score_chosen"], float) and isinstance(p["score_rejected"], float)
        assert p["margin"] == p["score_chosen"] - p["score_rejected"]
        assert p["chosen"][1]["content"] != p["rejected"][1]["content"]
        assert p["chosen"][1]["content"].strip() and p["rejected"][1]["content"].strip()
    assert report["rows_read"] == len(raws)
    assert report["rows_read"] == report["rows_kept"] + sum(report["dropped_rows"].values())
    assert sum(report["rows_written"].values()) == len(pairs)
    assert report["ties_kept"] == sum(p["score_chosen"] == p["score_rejected"] for p in pairs)
    assert report["chosen_models"] == dict(Counter(p["chosen_model"] for p in pairs))
    suspects = sum(is_suspect(s) for r in raws if well_formed(r) for *_, s in ref_completions(r))
    assert report["overall_score_bug_suspects"]["count"] == suspects


def by_prompt(raws: list) -> dict[str, dict]:
    formed = [r for r in raws if well_formed(r) and r["instruction"].strip()]  # empty ones are all dropped
    rows = {r["instruction"]: r for r in formed}
    assert len(rows) == len(formed), "test inputs need unique instructions"
    return rows


# --- the invariants -----------------------------------------------------------------------------


def check_single(pairs, report, raws, strategy, score, questions=None, drop_bug=False):
    """Every row: dropped exactly when the reference says so, else the reference's chosen and an allowed rejected."""
    check_common(pairs, report, raws)
    assert len({p["prompt"] for p in pairs}) == len(pairs), "one pair per prompt"
    out = {p["prompt"]: p for p in pairs}
    for prompt, row in by_prompt(raws).items():
        if ref_drop(row, score, questions, drop_bug) is not None:
            assert prompt not in out
            continue
        cands = ref_rankable(row, score, drop_bug)
        best = max(c[3] for c in cands)
        chosen = next(c for c in cands if c[3] == best)  # first maximum
        if strategy == "best-vs-random":
            allowed = [c for c in cands if c[0] != chosen[0]]
        elif strategy == "curated-mean":
            allowed = [c for c in cands if c[3] < best]
        else:
            worst = min(c[3] for c in cands)
            allowed = [next(c for c in cands if c[3] == worst)] if worst < best else []
        if prompt not in out:  # dropped: no allowed rejected, or the draw landed on an identical text
            assert not allowed or any(c[1] == chosen[1] for c in allowed)
            continue
        p = out[prompt]
        assert (p["chosen"][1]["content"], p["chosen_model"], p["score_chosen"]) == (
            chosen[1],
            chosen[2],
            best,
        )
        assert any(
            (c[1], c[2], c[3]) == (p["rejected"][1]["content"], p["rejected_model"], p["score_rejected"])
            for c in allowed
        )
        assert p["score_rejected"] <= p["score_chosen"]
        if strategy != "best-vs-random":
            assert p["score_rejected"] < p["score_chosen"]
        assert p["source"] == row["source"]
    expected = Counter(ref_drop(r, score, questions, drop_bug) for r in raws)
    dropped = report["dropped_rows"]
    for reason in ("fewer_than_2_completions", "fewer_than_2_rankable", "empty_instruction"):
        assert dropped.get(reason, 0) == expected[reason]
    assert dropped.get("malformed_row", 0) + dropped.get("not_an_object", 0) == expected["malformed"]
    contaminated = dropped.get("truthful_qa_source", 0) + dropped.get("truthful_qa_question", 0)
    assert contaminated == expected["contaminated"]


@pytest.mark.parametrize("score", [None, "overall", "mean", "helpfulness"])
@pytest.mark.parametrize("strategy", ["best-vs-random", "curated-mean", "best-vs-worst"])
def test_single_pair_strategies(raw_file, tmp_path, strategy, score):
    pairs, report, raws = run(raw_file, tmp_path, strategy=strategy, score=score)
    check_single(pairs, report, raws, strategy, score or DEFAULT_SCORE[strategy])


def test_best_vs_random_keeps_ties_and_curated_has_none(raw_file, tmp_path):
    bvr, _, _ = run(raw_file, tmp_path / "bvr", strategy="best-vs-random")
    cur, _, _ = run(raw_file, tmp_path / "cur", strategy="curated-mean")
    assert any(p["score_chosen"] == p["score_rejected"] for p in bvr)
    assert all(p["score_chosen"] > p["score_rejected"] for p in cur)


@pytest.mark.parametrize("min_margin", [0.0, 1.5])
def test_all_pairs(raw_file, tmp_path, min_margin):
    pairs, report, raws = run(raw_file, tmp_path, strategy="all-pairs", min_margin=min_margin)
    check_common(pairs, report, raws)
    got = Counter(
        (
            p["prompt"],
            p["chosen"][1]["content"],
            p["rejected"][1]["content"],
            p["score_chosen"],
            p["score_rejected"],
        )
        for p in pairs
    )
    expected = Counter()
    for prompt, row in by_prompt(raws).items():
        if ref_drop(row, "mean") is not None:
            continue
        cands = ref_rankable(row, "mean")
        for a in cands:
            for b in cands:
                if a[3] > b[3] and a[1] != b[1] and a[3] - b[3] >= min_margin:
                    expected[(prompt, a[1], b[1], a[3], b[3])] += 1
    assert got == expected
    assert all(p["margin"] >= min_margin and p["margin"] > 0 for p in pairs)


def test_order_by_margin_is_easy_to_hard(tmp_path):
    pairs, _, _ = run(SAMPLE, tmp_path, strategy="all-pairs", order_by_margin=True)
    train = read_jsonl(tmp_path / "train_prefs.jsonl")
    margins = [p["margin"] for p in train]
    assert margins == sorted(margins, reverse=True) and margins[0] > margins[-1]


def test_split_is_by_prompt_and_sized(synthetic, tmp_path):
    _, report, _ = run(synthetic, tmp_path, strategy="all-pairs", test_size=100)
    train, test = read_jsonl(tmp_path / "train_prefs.jsonl"), read_jsonl(tmp_path / "test_prefs.jsonl")
    assert len({p["prompt"] for p in test}) == 100
    assert not {p["prompt"] for p in train} & {p["prompt"] for p in test}
    assert report["rows_written"] == {"train_prefs": len(train), "test_prefs": len(test)}


@pytest.mark.parametrize("strategy", ["best-vs-random", "curated-mean"])
def test_decontamination_and_overall_score_bug(raw_file, tmp_path, strategy):
    raws = read_jsonl(raw_file)
    formed = [r for r in raws if well_formed(r) and r["source"] != "truthful_qa"]
    questions = {r["instruction"] for r in formed[::10]}
    qfile = tmp_path / "questions.txt"
    qfile.write_text("".join(q + "\n" for q in sorted(questions)))
    pairs, report, _ = run(
        raw_file, tmp_path / "out", strategy=strategy, decontaminate=str(qfile), drop_overall_score_bug=True
    )
    assert pairs and not any(p["source"] == "truthful_qa" or p["prompt"] in questions for p in pairs)
    check_single(pairs, report, raws, strategy, DEFAULT_SCORE[strategy], questions, drop_bug=True)
    assert report["dropped_rows"]["truthful_qa_source"] == sum(
        1 for r in raws if well_formed(r) and r["instruction"].strip() and r["source"] == "truthful_qa"
    )
    bug = sum(
        1
        for r in raws
        if well_formed(r)
        for _, text, _, s in ref_completions(r)
        if text.strip() and is_suspect(s)
    )
    assert report["completions"]["unrankable"]["overall_score_bug"] == bug > 0


def test_rejected_is_uniform_among_the_others(synthetic, tmp_path):
    """The draw is random per row (not the fixed index pattern of re-seeding with one seed)."""
    pairs, _, raws = run(synthetic, tmp_path, strategy="best-vs-random", test_size=0)
    rows = by_prompt(raws)
    offsets = Counter()
    for p in pairs:
        cands = ref_rankable(rows[p["prompt"]], "overall")
        texts = [c[1] for c in cands]
        if len(cands) != 4 or len(set(texts)) != 4:
            continue
        chosen = texts.index(p["chosen"][1]["content"])
        others = [i for i in range(4) if i != chosen]
        offsets[others.index(texts.index(p["rejected"][1]["content"]))] += 1
    n = sum(offsets.values())
    assert n > 1000
    assert all(abs(offsets[k] / n - 1 / 3) < 0.05 for k in range(3)), offsets
