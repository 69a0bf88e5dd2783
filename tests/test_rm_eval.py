"""`align eval-rm`: each paper test set read from a sample file in its real hub schema, binarized sets, the report."""

from __future__ import annotations

import json

import pytest

from align.cli import main
from align.data.pairs import Pair
from align.errors import AlignError
from align.jsonl import write_jsonl
from align.rm.eval_sets import EVAL_SETS, SUITES, binarized_pairs, suite_pairs
from align.rm.templates import render


def pairs_of(key: str, limit: int | None = None) -> tuple[list[Pair], int]:
    return suite_pairs(EVAL_SETS[key], limit=limit, local=True)


def test_hh_dialogues_split_into_prompt_and_last_reply():
    pairs, skipped = pairs_of("hh_rlhf_helpful")
    assert (len(pairs), skipped) == (5, 1)  # the row without an assistant turn is skipped
    first = pairs[0]
    assert first.prompt == "What is a good way to keep basil fresh?"
    assert first.chosen.startswith("Trim the stems") and first.rejected == "Put it in the fridge."
    # multi-turn: UltraRM's template gives back HH's own dialogue text
    multi = pairs[1]
    assert "\n\nAssistant: Of course!" in multi.prompt and multi.prompt.endswith("loves hiking.")
    assert render("ultrarm", multi.prompt, multi.chosen, None).startswith(
        "Human: Can you help me write a birthday message for my sister?\n\nAssistant: Of course!"
    )


def test_webgpt_orders_by_score_and_skips_ties():
    pairs, skipped = pairs_of("webgpt_comparisons")
    assert (len(pairs), skipped) == (3, 1)
    assert pairs[0].prompt == "Why do onions make you cry?" and pairs[0].rejected == "Onions are spicy."
    assert (
        pairs[1].chosen.startswith("A microphone") and pairs[1].rejected == "They listen."
    )  # score_1 > score_0


def test_summarize_uses_choice_and_handles_articles():
    pairs, skipped = pairs_of("summarize_from_feedback")
    assert (len(pairs), skipped) == (3, 0)
    reddit, reddit_b, article = pairs
    assert reddit.prompt.startswith(
        "Summarize the following Reddit post.\n\nSUBREDDIT: r/relationships\nTITLE:"
    )
    assert reddit.chosen.startswith("roommate eats") and reddit.rejected == "food."
    assert reddit_b.chosen.startswith("six months") and reddit_b.rejected == "guitar"  # choice 1
    assert (
        article.prompt.startswith("Summarize the following news article.")
        and "children's wing" in article.prompt
    )


def test_shp_uses_labels():
    pairs, skipped = pairs_of("shp")
    assert (len(pairs), skipped) == (4, 0)
    assert pairs[0].chosen.startswith("Many species") and pairs[0].rejected == "they just do"
    assert pairs[1].chosen.startswith("The usual causes") and pairs[1].rejected == "too much flour probably"


def test_limit_draws_a_seeded_subset():
    few, _ = pairs_of("shp", limit=2)
    assert len(few) == 2 and few == pairs_of("shp", limit=2)[0]
    assert set(few) <= set(pairs_of("shp")[0])


def h4_row(prompt: str, chosen: str, rejected: str) -> dict:
    def messages(reply):
        return [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]

    return {"prompt": prompt, "chosen": messages(chosen), "rejected": messages(rejected), "score_chosen": 8.0}


def test_binarized_sets_from_a_file_and_a_directory(tmp_path):
    rows = [h4_row("Say hi", "Hi there!", "no"), h4_row("2+2?", "4", "5"), h4_row("same", "x", "x")]
    write_jsonl(tmp_path / "test_prefs.jsonl", rows)
    from_file = binarized_pairs(str(tmp_path / "test_prefs.jsonl"), "ignored")
    from_dir = binarized_pairs(str(tmp_path), "test_prefs")
    assert from_file == from_dir == ([Pair("Say hi", "Hi there!", "no"), Pair("2+2?", "4", "5")], 1)


def test_bad_binarized_row_names_row_and_field(tmp_path):
    path = tmp_path / "prefs.jsonl"
    write_jsonl(path, [h4_row("a", "b", "c"), {"prompt": "a", "chosen": "b"}])
    with pytest.raises(AlignError, match=r"row 2: field `rejected` is missing"):
        binarized_pairs(str(path), "test_prefs")


def test_wrong_schema_is_an_error_not_a_crash(tmp_path):
    from align.rm.eval_sets import take_pairs

    with pytest.raises(AlignError, match="row 1: does not have the expected fields"):
        take_pairs([{"chosen": "x"}], EVAL_SETS["webgpt_comparisons"].to_pair, "file.jsonl")


def test_eval_rm_command_reports_accuracy_next_to_published(tmp_path, capsys):
    data = tmp_path / "prefs.jsonl"
    data.write_text("".join(json.dumps(h4_row(f"q{i}", f"good {i}", "bad")) + "\n" for i in range(4)))
    out = tmp_path / "eval"
    args = [
        "eval-rm",
        "--model",
        "tiny://llama-rm",
        "--suite",
        "ultrarm-paper",
        "--samples",
        "--data",
        str(data),
    ]
    assert main([*args, "--output", str(out), "--batch-size", "3"]) == 0
    printed = capsys.readouterr().out
    assert "Anthropic Helpful" in printed and "71.0" in printed and "UltraRM-UF" in printed
    results = json.loads((out / "eval_rm.json").read_text())
    assert list(results["sets"]) == [*SUITES["ultrarm-paper"], "prefs"]
    assert results["template"] == "chat"
    shp = results["sets"]["shp"]
    assert shp["pairs"] == 4 and 0 <= shp["accuracy"] <= 100
    assert shp["published"] == {"UltraRM": 73.7, "UltraRM-UF": 68.4, "UltraRM-Overall": 73.6}
    assert results["sets"]["prefs"]["published"] == {}
    assert results["average"]["published"] == {}  # an extra set: no longer the paper's average
    scored = [json.loads(line) for line in (out / "shp.jsonl").read_text().splitlines()]
    assert len(scored) == 4 and {"prompt", "chosen", "rejected", "reward_chosen", "reward_rejected"} <= set(
        scored[0]
    )
    wins = sum(r["reward_chosen"] > r["reward_rejected"] for r in scored)
    assert shp["accuracy"] == pytest.approx(100 * wins / 4)


def test_eval_rm_suite_average_and_required_sets(tmp_path, capsys):
    args = ["eval-rm", "--model", "tiny://llama-rm", "--suite", "ultrarm-paper", "--samples", "--limit", "2"]
    assert main([*args, "--output", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "eval_rm.json").read_text())
    assert results["average"]["published"]["UltraRM"] == 71.0
    assert all(s["pairs"] == 2 for s in results["sets"].values())
    capsys.readouterr()
    assert main(["eval-rm", "--model", "tiny://llama-rm"]) == 2
    assert "--suite ultrarm-paper" in capsys.readouterr().err
