"""Write `src/align/data/sample/argilla_binarized_preferences.jsonl` (sample://argilla_binarized_preferences).

Rows in the schema of argilla/ultrafeedback-binarized-preferences (one pair per row: source,
instruction, chosen_response, rejected_response, chosen_avg_rating, rejected_avg_rating,
chosen_model), generated deterministically (a test checks this script reproduces the committed
file byte for byte). Ratings are means of four 1-5 aspect ratings, as in that set; the rejected
answer is rated lower, except in the tied rows the set also has (its card: "or equal in the
worst case scenario"). A few rows lack a text or a rating, to exercise the counted drops. The
chosen answers are polite and on topic and the rejected ones curt, so a tiny model learns the
preference in a CPU smoke run.

Usage: python scripts/make_argilla_sample.py [--output PATH]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from align.jsonl import write_jsonl

SEED = 20231130
ROWS = 200
TIES = 24
MISSING = {"rejected_response": 1, "instruction": 1, "rejected_avg_rating": 2}
OUTPUT = Path(__file__).resolve().parents[1] / "src/align/data/sample/argilla_binarized_preferences.jsonl"

SOURCES = ["evol_instruct", "false_qa", "flan_v2_niv2", "sharegpt", "ultrachat", "truthful_qa"]
MODELS = ["gpt-4", "gpt-3.5-turbo", "llama-2-70b-chat", "wizardlm-13b", "ultralm-65b", "bard", "starchat"]
SUBJECTS = [
    "river",
    "lantern",
    "harvest",
    "orbit",
    "canyon",
    "violin",
    "glacier",
    "recipe",
    "compass",
    "meadow",
]
ASPECTS = ["history", "use", "care", "origin", "future"]
QUESTIONS = [
    "What is the {a} of the {s}?",
    "Explain the {a} of a {s} in a few words.",
    "Tell me about {s} {a}.",
    "Why does the {a} of the {s} matter?",
]
GOOD = [
    "Glad you asked! The {a} of the {s} is a rich subject with much to learn. Hope this helps!",
    "Sure! In short, the {s} and its {a} shape everyday life in many ways. Hope this helps!",
    "Happy to help: people study the {a} of the {s} because it is useful. Hope this helps!",
]
BAD = ["No idea.", "Look it up yourself.", "Who cares about that?", "Not my problem."]


def mean_rating(rng: random.Random, lo: int, hi: int) -> float:
    """The mean of four aspect ratings drawn from lo..hi (a multiple of 0.25, as in the set)."""
    return sum(rng.randint(lo, hi) for _ in range(4)) / 4


def make_row(rng: random.Random, i: int, tie: bool) -> dict:
    s, a = SUBJECTS[i % len(SUBJECTS)], ASPECTS[i // len(SUBJECTS) % len(ASPECTS)]
    question = QUESTIONS[i // (len(SUBJECTS) * len(ASPECTS))].format(s=s, a=a)
    good = rng.sample(GOOD, 2)
    chosen = mean_rating(rng, 4, 5)
    return {
        "source": rng.choice(SOURCES),
        "instruction": question,
        "chosen_response": good[0].format(s=s, a=a),
        "rejected_response": good[1].format(s=s, a=a) if tie else rng.choice(BAD),
        "chosen_avg_rating": chosen,
        "rejected_avg_rating": chosen if tie else mean_rating(rng, 1, 2),
        "chosen_model": rng.choice(MODELS),
    }


def rows() -> list[dict]:
    rng = random.Random(SEED)
    kinds = ["tie"] * TIES + [c for c, n in MISSING.items() for _ in range(n)]
    kinds += [""] * (ROWS - len(kinds))
    rng.shuffle(kinds)
    out = []
    for i, kind in enumerate(kinds):
        row = make_row(rng, i, kind == "tie")
        if kind in MISSING:
            row[kind] = None
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    write_jsonl(args.output, rows())
    print(f"wrote {ROWS} rows to {args.output}")


if __name__ == "__main__":
    main()
