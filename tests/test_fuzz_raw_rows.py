"""Property-based fuzzing of raw UltraFeedback rows through the binarizer (issue 12, item 9).

Rows with random missing fields, wrong types, odd ratings and scores (out of scale, NaN, 1e300),
unicode (lone surrogates included), empty lists and lines that are not JSON at all. Properties:
nothing but AlignError escapes; every pair satisfies the pair invariants; every input row is
either kept (it gave pairs) or dropped and counted under a reason: read = kept + dropped.
"""

from __future__ import annotations

import hashlib
import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from align.config.recipe import BinarizeConfig
from align.data.binarize import _NOT_A_ROW, Settings, _features, _map_batch, _report, binarize
from align.data.schema import ASPECTS, OVERALL_SCALE, SCORES
from align.data.strategies import STRATEGIES
from align.errors import AlignError
from align.jsonl import read_jsonl

ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12)  # surrogates too
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    ANY_TEXT,
    st.sampled_from(["1", "5", "N/A", "0", "6", "4.5", " 3 ", "1e300", "-2", "", "   "]),
)
RATING = st.one_of(SCALAR, st.sampled_from(["1", "2", "3", "4", "5", "N/A"]), st.integers(0, 6))
ANNOTATION = st.one_of(SCALAR, st.fixed_dictionaries({}, optional={"Rating": RATING, "Rationale": ANY_TEXT}))
ANNOTATIONS = st.one_of(SCALAR, st.dictionaries(st.sampled_from([*ASPECTS, "other"]), ANNOTATION, max_size=5))
OVERALL = st.one_of(SCALAR, st.floats(0, 11), st.sampled_from([1e300, -1e300, -1.0, 10.5, 0, "7.5"]))
COMPLETION = st.one_of(
    SCALAR,
    st.fixed_dictionaries(
        {},
        optional={
            "model": st.one_of(ANY_TEXT, SCALAR),
            "response": st.one_of(st.sampled_from(["yes", "no", "maybe", ""]), ANY_TEXT, SCALAR),
            "annotations": ANNOTATIONS,
            "overall_score": OVERALL,
        },
    ),
)
ROW = st.one_of(
    SCALAR,
    st.lists(SCALAR, max_size=2),
    st.fixed_dictionaries(
        {},
        optional={
            "source": st.one_of(st.sampled_from(["flan", "truthful_qa"]), ANY_TEXT, SCALAR),
            "instruction": st.one_of(st.sampled_from(["Say hi.", "Why?", " "]), ANY_TEXT, SCALAR),
            "completions": st.one_of(SCALAR, st.lists(COMPLETION, max_size=5)),
        },
    ),
)
# A line of a JSONL file: a JSON document, or text that is not JSON (one line, no line breaks)
LINE = st.one_of(
    ROW.map(json.dumps),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
)
SETTINGS = st.builds(
    Settings,
    strategy=st.sampled_from(list(STRATEGIES)),
    score=st.sampled_from(SCORES),
    seed=st.integers(0, 2**16),
    min_margin=st.sampled_from([0.0, 0.5, 2.0]),
    drop_overall_score_bug=st.booleans(),
    questions=st.sampled_from([None, frozenset(), frozenset({"Why?"})]),
)


def assert_pair_invariants(pair: dict, s: Settings) -> None:
    prompt = pair["prompt"]
    assert isinstance(prompt, str) and prompt.strip()
    prompt.encode("utf-8")  # writable: no lone surrogates
    assert pair["prompt_id"] == hashlib.sha256(prompt.encode("utf-8")).hexdigest()
    for side in ("chosen", "rejected"):
        user, assistant = pair[side]
        assert user == {"role": "user", "content": prompt}
        assert assistant["role"] == "assistant" and assistant["content"].strip()
        assistant["content"].encode("utf-8")
    assert pair["messages"] == pair["chosen"]
    assert pair["chosen"][1]["content"] != pair["rejected"][1]["content"]
    low, high = OVERALL_SCALE if s.score == "overall" else (1.0, 5.0)
    for score in (pair["score_chosen"], pair["score_rejected"]):
        assert math.isfinite(score) and low <= score <= high
    assert pair["margin"] == pair["score_chosen"] - pair["score_rejected"] >= s.min_margin
    if s.strategy != "best-vs-random":  # only the H4 strategy keeps ties
        assert pair["margin"] > 0
    if s.questions is not None:
        assert pair["source"] != "truthful_qa" and prompt not in s.questions
    assert isinstance(pair["chosen_model"], str) and isinstance(pair["rejected_model"], str)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(LINE, max_size=8), s=SETTINGS)
def test_rows_are_paired_or_dropped_and_counted(lines, s):
    """The per-row code and the report, in-process: every non-blank line is read once, kept or dropped by reason."""
    import datasets

    out = _map_batch({"text": lines}, list(range(len(lines))), s, encoded=True)
    table = datasets.Dataset.from_dict(out, features=_features()).data
    pair_idx = [i for i, d in enumerate(out["drop"]) if not d]
    for i in pair_idx:
        assert_pair_invariants(json.loads(out["line"][i]), s)
    read = sum(1 for line in lines if line.strip())
    if not pair_idx:  # binarize() stops here with an AlignError naming the reasons; they cover every row
        assert sum(1 for d in out["drop"] if d and d != _NOT_A_ROW) == read
        return
    cfg = BinarizeConfig(strategy=s.strategy, score=s.score, test_size=0, min_margin=s.min_margin)
    report = _report(table, pair_idx, [], "fuzz", cfg, s.score)
    assert report["rows_read"] == read
    assert report["rows_read"] == report["rows_kept"] + sum(report["dropped_rows"].values())
    assert report["rows_kept"] == len({out["row"][i] for i in pair_idx})
    assert report["rows_written"]["train_prefs"] == len(pair_idx)
    assert all(count > 0 for count in report["dropped_rows"].values())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(lines=st.lists(LINE, min_size=1, max_size=12), strategy=st.sampled_from(list(STRATEGIES)))
def test_binarize_files_never_escape_except_align_error(lines, strategy, tmp_path):
    """The whole command path (file -> datasets -> map -> split -> files + report) on fuzzed files."""
    path = tmp_path / "raw.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    cfg = BinarizeConfig(strategy=strategy, test_size=0)
    try:
        report = binarize(str(path), cfg, out)
    except AlignError:
        return
    s = Settings(strategy, report["settings"]["score"], cfg.seed, cfg.min_margin, False, None)
    pairs = read_jsonl(out / "train_prefs.jsonl")
    for pair in pairs:
        assert_pair_invariants(pair, s)
    assert report["rows_read"] == sum(1 for line in lines if line.strip())
    assert report["rows_read"] == report["rows_kept"] + sum(report["dropped_rows"].values())
    assert report["rows_written"]["train_prefs"] == len(pairs) > 0
