"""`align score`: rewards independent of batch size and padding; bad rows named by file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.cli import main
from align.jsonl import write_jsonl

ROWS = [
    {"prompt": "What is 2+2?", "response": "4"},
    {
        "prompt": "Say hello.",
        "chosen": [
            {"role": "user", "content": "Say hello."},
            {"role": "assistant", "content": "Hello there, friend!"},
        ],
        "rejected": [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "no"}],
    },
    {
        "prompt": "Write a long answer about the weather in spring and autumn.",
        "response": "It is mild. " * 20,
    },
    {"prompt": "Pick one.", "chosen": "the first", "rejected": "the second option, which is longer"},
    {"prompt": "x", "response": ""},
]


def score(tmp_path: Path, rows: list, *extra: str) -> list[dict]:
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    target = tmp_path / f"out{len(list(tmp_path.iterdir()))}.jsonl"
    args = ["score", "--model", "tiny://llama-rm", "--input", str(source), "--output", str(target), *extra]
    assert main([*args, "--dtype", "float32"]) == 0
    return [json.loads(line) for line in target.read_text().splitlines()]


def test_rewards_do_not_depend_on_batch_size_or_padding(tmp_path):
    alone = score(tmp_path, ROWS, "--batch-size", "1")
    for batch_size in ("2", "3", "16"):
        batched = score(tmp_path, ROWS, "--batch-size", batch_size)
        for a, b in zip(alone, batched, strict=True):
            for key in ("reward", "reward_chosen", "reward_rejected"):
                assert (key in a) == (key in b)
                if key in a:
                    assert b[key] == pytest.approx(a[key], abs=1e-5)
    # rows keep their order and fields; pairs get both rewards
    assert [r["prompt"] for r in alone] == [r["prompt"] for r in ROWS]
    assert set(alone[1]) == {"prompt", "chosen", "rejected", "reward_chosen", "reward_rejected"}
    assert alone[3]["reward_chosen"] != alone[3]["reward_rejected"]


def test_message_lists_score_like_their_last_assistant_message(tmp_path):
    as_lists, as_strings = score(
        tmp_path,
        [ROWS[1], {"prompt": "Say hello.", "chosen": "Hello there, friend!", "rejected": "no"}],
        "--template",
        "ultrarm",
    )
    assert as_lists["reward_chosen"] == pytest.approx(as_strings["reward_chosen"], abs=1e-6)
    assert as_lists["reward_rejected"] == pytest.approx(as_strings["reward_rejected"], abs=1e-6)


def test_template_changes_the_text_scored(tmp_path):
    chat = score(tmp_path, ROWS[:1])[0]["reward"]
    ultrarm = score(tmp_path, ROWS[:1], "--template", "ultrarm")[0]["reward"]
    assert chat != ultrarm


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"response": "no prompt"}, "prompt"),
        ({"prompt": "p", "chosen": "only chosen"}, "rejected"),
        ({"prompt": "p", "response": 3}, "response"),
        ({"prompt": ["not", "messages"], "response": "r"}, "prompt"),
        ({"prompt": "p", "chosen": [{"role": "user", "content": "p"}], "rejected": "r"}, "chosen"),
    ],
)
def test_bad_rows_are_reported_with_line_and_field(tmp_path, capsys, bad, field):
    source = write_jsonl(tmp_path / "in.jsonl", [ROWS[0], ROWS[1], bad])
    args = [
        "score",
        "--model",
        "tiny://llama-rm",
        "--input",
        str(source),
        "--output",
        str(tmp_path / "o.jsonl"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{source}, line 3: field `{field}`" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_invalid_json_and_missing_file(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(ROWS[0]) + "\n\n{oops\n")
    assert main(["score", "--model", "tiny://llama-rm", "--input", str(source), "--output", "o.jsonl"]) == 2
    assert f"{source}, line 3: not valid JSON" in capsys.readouterr().err
    missing = str(tmp_path / "nope.jsonl")
    assert main(["score", "--model", "tiny://llama-rm", "--input", missing, "--output", "o.jsonl"]) == 2
    assert "does not exist" in capsys.readouterr().err
