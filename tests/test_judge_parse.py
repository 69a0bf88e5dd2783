"""The judge's reply parser on replies written for these tests, malformed ones included; scores and shuffles."""

from __future__ import annotations

import random

import pytest

from align.data.schema import ASPECTS, parse_completion
from align.pipeline.judge.parse import fine_grained_score, parse_aspect, parse_critique
from align.pipeline.judge.requests import aspect_messages, shown_order, world_knowledge
from align.pipeline.judge.rubric import load_rubric

RUBRIC = load_rubric("v1")
PLAIN = RUBRIC.aspect("honesty")  # allows N/A
STRICT = RUBRIC.aspect("instruction_following")
TYPED = RUBRIC.aspect("helpfulness")


def plain_block(n: int, rating: str, rationale: str) -> str:
    return f"Text {n}\nRating: {rating}\nRationale: {rationale}\n"


def test_well_formed_plain_reply():
    reply = "\n".join(plain_block(n, str(n + 1), f"reason {n}") for n in (1, 2, 3, 4))
    parsed = parse_aspect(reply, 4, PLAIN)
    assert [a["Rating"] for a in parsed.annotations] == ["2", "3", "4", "5"]
    assert [a["Rationale"] for a in parsed.annotations] == [f"reason {n}" for n in (1, 2, 3, 4)]
    assert not parsed.problems


def test_well_formed_typed_reply_uses_the_raw_schema_keys():
    reply = (
        "Text 1\nType: 1, 3\nType rationale: clear and short\nRating: 4\nRationale: accurate\n\n"
        "Text 2\nType: None\nType rationale: off topic\nRating: 1\nRationale: wrong\n"
    )
    parsed = parse_aspect(reply, 2, TYPED)
    assert parsed.annotations == [
        {
            "Rating": "4",
            "Rationale": "clear and short",
            "Type": ["1", "3"],
            "Rationale For Rating": "accurate",
        },
        {"Rating": "1", "Rationale": "off topic", "Type": "None", "Rationale For Rating": "wrong"},
    ]
    assert not parsed.problems


def test_blank_lines_inside_rationales_stay_in_the_rationale():
    rationale = "First paragraph.\n\nSecond paragraph, after a blank line.\n\n- a list item"
    reply = plain_block(1, "3", rationale) + "\n\n" + plain_block(2, "5", "short")
    parsed = parse_aspect(reply, 2, PLAIN)
    assert parsed.annotations[0] == {"Rating": "3", "Rationale": rationale}
    assert parsed.annotations[1] == {"Rating": "5", "Rationale": "short"}


def test_reordered_fields_and_markdown_headers():
    reply = (
        "### Output for Text 2\n**Rationale:** second is fine\n**Rating:** 4\n\n"
        "#### Output for Text 1\nRationale for rating: weak\nRationale for type: none apply\n"
        "Rating: 2\nType: None\n"
    )
    typed = parse_aspect(reply, 2, TYPED)
    assert typed.annotations[0] == {
        "Rating": "2",
        "Rationale": "none apply",
        "Type": "None",
        "Rationale For Rating": "weak",
    }
    assert typed.annotations[1]["Rating"] == "4"
    assert typed.annotations[1]["Rationale For Rating"] == "second is fine"
    assert typed.problems == {"type.missing": 1}


def test_fields_on_the_header_line_and_prose_starting_with_text():
    reply = "Text 1: Rating: 3\nRationale: Text 2 is better than this one.\nText 2 is the best.\nText 2 - Rating: 5\n"
    parsed = parse_aspect(reply, 2, PLAIN)
    assert parsed.annotations[0] == {
        "Rating": "3",
        "Rationale": "Text 2 is better than this one.\nText 2 is the best.",
    }
    assert parsed.annotations[1] == {"Rating": "5", "Rationale": ""}


def test_ultrafeedback_style_double_rationale_is_read():
    """Type, Rationale, Rating, Rationale: the first rationale explains the type."""
    reply = "Text 1\nType: 2\nRationale: why type\nRating: 3\nRationale: why rating\n"
    parsed = parse_aspect(reply, 1, TYPED)
    assert parsed.annotations[0] == {
        "Rating": "3",
        "Rationale": "why type",
        "Type": ["2"],
        "Rationale For Rating": "why rating",
    }


def test_extra_prose_around_blocks_is_ignored():
    reply = (
        "Sure! Here is my evaluation of the texts.\n\n"
        + plain_block(1, "4", "good")
        + plain_block(2, "2", "bad")
        + "\n---\n"
    )
    parsed = parse_aspect(reply, 2, PLAIN)
    assert [a["Rating"] for a in parsed.annotations] == ["4", "2"]
    assert parsed.annotations[1]["Rationale"] == "bad"


def test_missing_blocks_become_na_and_are_counted():
    reply = plain_block(1, "4", "good") + plain_block(3, "5", "best")
    parsed = parse_aspect(reply, 4, PLAIN)
    assert [a["Rating"] for a in parsed.annotations] == ["4", "N/A", "5", "N/A"]
    assert parsed.annotations[1] == {"Rating": "N/A", "Rationale": ""}
    assert parsed.problems == {"block.missing": 2, "rating.missing": 2}


def test_extra_and_duplicate_blocks_do_not_overwrite_real_ones():
    reply = plain_block(1, "4", "first") + plain_block(5, "1", "no such text") + plain_block(1, "1", "again")
    parsed = parse_aspect(reply, 2, PLAIN)
    assert parsed.annotations[0] == {"Rating": "4", "Rationale": "first"}
    assert parsed.annotations[1]["Rating"] == "N/A"
    assert parsed.problems["block.extra"] == 1
    assert parsed.problems["block.duplicate"] == 1


def test_truncated_reply_keeps_what_is_complete():
    full = plain_block(1, "5", "complete") + plain_block(2, "3", "also complete")
    truncated = full + "Text 3\nRati"
    parsed = parse_aspect(truncated, 3, PLAIN)
    assert [a["Rating"] for a in parsed.annotations] == ["5", "3", "N/A"]
    assert parsed.problems == {"rating.missing": 1}


@pytest.mark.parametrize(
    ("value", "expected", "problem"),
    [
        ("0", "N/A", "rating.out_of_range"),
        ("6", "N/A", "rating.out_of_range"),
        ("10", "N/A", "rating.out_of_range"),
        ("3.5", "N/A", "rating.unparsable"),
        ("three", "N/A", "rating.unparsable"),
        ("the text earns a 4", "N/A", "rating.unparsable"),
        ("**4**", "4", None),
        ("4/5", "4", None),
        ("2 (partially)", "2", None),
    ],
)
def test_ratings_out_of_range_or_unreadable_are_never_guessed(value, expected, problem):
    parsed = parse_aspect(plain_block(1, value, "r"), 1, STRICT)
    assert parsed.annotations[0]["Rating"] == expected
    assert parsed.problems == ({problem: 1} if problem else {})


def test_na_is_a_rating_where_the_rubric_allows_it_only():
    assert parse_aspect(plain_block(1, "N/A", "creative"), 1, PLAIN).problems == {"rating.na": 1}
    assert parse_aspect(plain_block(1, "N/A", "?"), 1, STRICT).problems == {"rating.na_not_allowed": 1}


def test_types_outside_the_rubric_are_unparsable():
    reply = "Text 1\nType: 1, 7\nType rationale: x\nRating: 3\nRationale: y\n"
    parsed = parse_aspect(reply, 1, TYPED)
    assert parsed.annotations[0]["Type"] == "N/A"
    assert parsed.problems == {"type.unparsable": 1}


def test_critique_score_one_stays_one():
    """UltraFeedback's first release stored a critique score of 1 as 10."""
    critique, score, problem = parse_critique("The answer is off topic.\n\nOverall score: 1")
    assert (critique, score, problem) == ("The answer is off topic.", 1.0, None)


@pytest.mark.parametrize(
    ("reply", "score", "problem"),
    [
        ("Fine.\nOverall Score: 7", 7.0, None),
        ("Fine.\n**Overall score:** 8/10", 8.0, None),
        ("Overall score: 2 is what I first thought.\nLooking again:\nOverall score: 6", 6.0, None),
        ("Fine.\nOverall score: 11", None, "overall_score.out_of_range"),
        ("Fine.\nOverall score: 0", None, "overall_score.out_of_range"),
        ("Fine, no score given.", None, "overall_score.missing"),
    ],
)
def test_critique_scores(reply, score, problem):
    assert parse_critique(reply)[1:] == (score, problem)


def test_fine_grained_score_is_the_mean_of_numeric_ratings():
    rng = random.Random(0)
    for _ in range(200):
        ratings = [rng.choice(["1", "2", "3", "4", "5", "N/A"]) for _ in ASPECTS]
        annotations = {a: {"Rating": r, "Rationale": ""} for a, r in zip(ASPECTS, ratings, strict=True)}
        numbers = [int(r) for r in ratings if r != "N/A"]
        expected = sum(numbers) / len(numbers) if numbers else None
        assert fine_grained_score(annotations) == expected
        # align binarize reads the same mean back from the written row
        completion = parse_completion({"response": "x", "annotations": annotations}, 0, [])
        assert completion.mean == expected


@pytest.mark.parametrize("seed", range(25))
def test_shuffled_ratings_map_back_to_their_completion(seed):
    """The judge rates texts in shown order; every rating must land on the completion it was about."""
    rng = random.Random(seed)
    count = rng.randint(1, 6)
    responses = [f"answer number {i} " + "x" * rng.randint(0, 30) for i in range(count)]
    row = {"source": "s", "instruction": "q", "completions": [{"response": r} for r in responses]}
    order = shown_order(count, seed, f"key{seed}", "honesty")
    assert sorted(order) == list(range(count))
    messages = aspect_messages(RUBRIC, "honesty", row, order)
    prompt = messages[-1]["content"]
    # A judge that reads the prompt: it rates each shown text by the number inside it.
    shown = [prompt.index(f"answer number {i} ") for i in range(count)]
    by_position = sorted(range(count), key=lambda i: shown[i])
    reply = "".join(
        plain_block(n + 1, str(by_position[n] % 5 + 1), f"about {by_position[n]}") for n in range(count)
    )
    parsed = parse_aspect(reply, count, PLAIN)
    mapped = [None] * count
    for position, index in enumerate(order):
        mapped[index] = parsed.annotations[position]
    assert [m["Rationale"] for m in mapped] == [f"about {i}" for i in range(count)]
    assert [m["Rating"] for m in mapped] == [str(i % 5 + 1) for i in range(count)]


def test_shown_order_depends_on_seed_key_and_aspect_only():
    orders = {shown_order(8, s, "k", "honesty").__repr__() for s in range(20)}
    assert len(orders) > 1
    assert shown_order(8, 3, "k", "honesty") == shown_order(8, 3, "k", "honesty")


def test_world_knowledge_uses_reference_answers_or_a_source_note():
    row = {"source": "truthful_qa", "correct_answers": ["Paris"], "incorrect_answers": ["Lyon"]}
    text = world_knowledge(RUBRIC, row)
    assert "Paris" in text and "Lyon" in text
    assert "false premise" in world_knowledge(RUBRIC, {"source": "false_qa", "correct_answers": ["None"]})
    none = world_knowledge(
        RUBRIC, {"source": "sharegpt", "correct_answers": ["None"], "incorrect_answers": "None"}
    )
    assert none.endswith(RUBRIC.data["world_knowledge"]["none"] + "\n")
