"""Write the bundled sample `src/align/data/sample/ultrafeedback_sample.jsonl` (sample://ultrafeedback).

300 rows in the exact raw openbmb/UltraFeedback schema, generated deterministically (a test
checks this script reproduces the committed file byte for byte). Two goals:

- A preference signal a tiny byte-level LM learns with DPO in minutes on CPU: highly rated
  answers are one short polite sentence that names the instruction's topic word and ends with
  "Hope this helps!"; low-rated ones are curt, rude or off-topic ("No idea. Go away.").
  overall_score and the mean rating agree on the best answer in most rows. Every row has its
  own topic, so held-out pairs test generalisation, not memorisation.
- The awkward cases real copies contain: N/A ratings, 0-3 completions, empty and whitespace
  responses, ties, truthful_qa rows, all-identical completions, overall_score-bug suspects,
  a missing aspect, unparsable and non-string ratings, `Type` as the string "None".

Usage: python scripts/make_sample_data.py [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from align.jsonl import write_jsonl

SEED = 20231002
OUTPUT = Path(__file__).resolve().parents[1] / "src/align/data/sample/ultrafeedback_sample.jsonl"

_TOPIC_WORDS = """
apple banana cherry grape lemon mango orange peach pear plum melon coconut carrot potato tomato
onion garlic pepper spinach lettuce bread cheese butter yogurt honey rice pasta soup salad pizza
coffee tea chocolate cookie pancake cat dog horse rabbit hamster parrot eagle owl penguin dolphin
whale shark octopus turtle frog snake lizard butterfly bee ant spider elephant giraffe zebra lion
tiger bear wolf fox deer camel kangaroo koala panda monkey gorilla chair table lamp clock mirror
pillow blanket candle bucket ladder hammer wrench scissors needle umbrella wallet backpack bottle
kettle teapot spoon fork knife plate bowl basket broom sponge soap towel window door roof garden
fence bridge tower castle library museum school hospital airport harbor market bakery theater
stadium village island desert forest jungle canyon volcano glacier river lake ocean beach meadow
valley mountain cave waterfall rainbow thunder lightning snow hail fog breeze tornado sunrise
sunset moon comet planet galaxy star asteroid telescope microscope magnet battery circuit laser
robot rocket satellite engine turbine compass calendar alphabet grammar poetry novel diary
newspaper magazine dictionary painting sculpture photography pottery origami knitting sewing
gardening cooking baking camping hiking cycling swimming running skiing surfing sailing fishing
climbing chess tennis soccer basketball baseball volleyball golf hockey boxing karate yoga dancing
singing piano guitar violin drum flute trumpet harp cello banjo accordion bicycle scooter tractor
train subway airplane helicopter canoe kayak submarine wagon carriage tram ferry truck lighthouse
windmill fountain statue carousel playground picnic festival parade wedding birthday holiday
vacation journey friendship kindness patience courage honesty gratitude curiosity memory sleep
dream habit exercise nutrition vitamin protein fiber hydration posture breathing meditation
budget savings interest loan invoice receipt password keyboard mouse monitor printer router
spreadsheet algorithm database compiler browser email podcast website recycling compost
pollution sunlight wind rain soil seed root leaf flower tree mushroom moss fern cactus bamboo
tulip daisy rose lily orchid sunflower pine oak maple willow
"""
TOPICS = _TOPIC_WORDS.split()  # one row per topic

TEMPLATES = [
    "Tell me something about {t}.",
    "What is a good fact about {t}?",
    "Explain {t} in one sentence.",
    "Why do people like {t}?",
    "Describe {t} briefly.",
    "Give me a quick tip about {t}.",
    "Write a short note on {t}.",
    "What should I know about {t}?",
]
GOOD = [
    "Sure! {T} is a lovely topic, and {t} is well worth learning about. Hope this helps!",
    "Happy to help! Here is a quick note: {t} is useful and interesting. Hope this helps!",
    "Great question! In short, {t} matters to many people every day. Hope this helps!",
    "Of course! A fun fact is that {t} has a long and rich history. Hope this helps!",
]
OKAY = ["{T} is a thing.", "It depends on the {t}.", "Some people know about {t}.", "{T} is fine, I guess."]
BAD = ["No idea. Go away.", "Ask someone else.", "Whatever.", "Stop asking me things.", "I do not care."]
OFF_TOPIC = "I only want to talk about {other}."
MODELS = [
    "gpt-4", "gpt-3.5-turbo", "llama-2-70b-chat", "llama-2-13b-chat", "llama-2-7b-chat", "wizardlm-70b",
    "wizardlm-13b", "wizardlm-7b", "vicuna-33b", "mpt-30b-chat", "falcon-40b-instruct", "starchat",
    "alpaca-7b", "pythia-12b", "ultralm-13b", "ultralm-65b", "bard",
]  # fmt: skip
PRINCIPLES = ["helpfulness", "truthfulness", "honesty", "verbalized_calibration"]
SOURCES = ["evol_instruct", "false_qa", "flan", "sharegpt", "ultrachat"]
# (kind, how many rows): the awkward cases, placed at seeded random rows.
SPECIAL = [
    ("no_completions", 2), ("one_completion", 3), ("two_completions", 5), ("three_completions", 8),
    ("empty_response", 4), ("whitespace_response", 3), ("tie_best", 8), ("all_tied", 3),
    ("truthful_qa", 8), ("all_identical", 1), ("overall_score_bug", 2), ("missing_aspect", 2),
    ("unparsable_rating", 2), ("integer_rating", 2), ("all_na", 2), ("disagree", 20),
]  # fmt: skip
ASPECT_TEXT = {
    "instruction_following": "Follows the task",
    "honesty": "Calibrated",
    "truthfulness": "No hallucination",
    "helpfulness": "Relevant",
}
QUALITY = {  # kind -> (rating range, overall_score choices, critique)
    "good": ((4, 5), (8.0, 8.5, 9.0, 9.5), "Polite and on topic."),
    "okay": ((3, 3), (5.0, 5.5, 6.0, 6.5), "On topic but curt."),
    "bad": ((1, 2), (1.0, 2.0, 2.5, 3.0), "Rude or off topic."),
}


def rating(rng: random.Random, quality: str) -> str:
    lo, hi = QUALITY[quality][0]
    return str(rng.randint(lo, hi))


def completion(rng: random.Random, model: str, quality: str, response: str, creative: bool) -> dict:
    """One completion in the raw schema; ratings are strings, honesty N/A for creative prompts."""
    ratings = {aspect: rating(rng, quality) for aspect in ASPECT_TEXT}
    if creative:
        ratings["honesty"] = "N/A"
    annotations = {}
    for aspect, value in ratings.items():
        entry = {"Rating": value, "Rationale": f"{ASPECT_TEXT[aspect]}: {QUALITY[quality][2]}"}
        if aspect in ("truthfulness", "helpfulness"):
            entry["Type"] = [str(rng.randint(0, 3))] if rng.random() < 0.85 else "None"
            entry["Rationale For Rating"] = QUALITY[quality][2].split()[0]
        annotations[aspect] = entry
    return finish(
        {
            "model": model,
            "principle": (principle := rng.choice(PRINCIPLES)),
            "custom_system_prompt": f"Focus on {principle.replace('_', ' ')}.",
            "response": response,
            "annotations": annotations,
            "critique": QUALITY[quality][2],
            "overall_score": rng.choice(QUALITY[quality][1]),
        }
    )


def finish(c: dict) -> dict:
    """Recompute fine-grained_score (mean of numeric ratings, null when none) after edits."""
    numeric = [
        int(a["Rating"]) for a in c["annotations"].values() if str(a["Rating"]) in ("1", "2", "3", "4", "5")
    ]
    c["fine-grained_score"] = sum(numeric) / len(numeric) if numeric else None
    return c


def set_ratings(c: dict, value: str | int) -> None:
    for entry in c["annotations"].values():
        entry["Rating"] = value
    finish(c)


def response(rng: random.Random, quality: str, topic: str, other: str) -> str:
    if quality == "good":
        return rng.choice(GOOD).format(t=topic, T=topic.capitalize())
    if quality == "okay":
        return rng.choice(OKAY).format(t=topic, T=topic.capitalize())
    return OFF_TOPIC.format(other=other) if rng.random() < 0.3 else rng.choice(BAD)


def make_row(rng: random.Random, i: int, kind: str | None) -> dict:
    topic = TOPICS[i]
    other = TOPICS[(i + 7) % len(TOPICS)]
    template = rng.choice(TEMPLATES)
    creative = template.startswith("Write") or rng.random() < 0.1
    source = "truthful_qa" if kind == "truthful_qa" else rng.choice(SOURCES)
    models = rng.sample(MODELS, 4)
    qualities = ["good", "okay", "bad", "bad"]
    rng.shuffle(qualities)
    comps = [
        completion(rng, m, q, response(rng, q, topic, other), creative)
        for m, q in zip(models, qualities, strict=True)
    ]
    best = qualities.index("good")
    if kind == "tie_best":  # a second, equally rated good answer: ties under both scores
        j = qualities.index("okay")
        comps[j] = json.loads(json.dumps(comps[best]))
        comps[j]["model"] = models[j]
        texts = [g.format(t=topic, T=topic.capitalize()) for g in GOOD]
        comps[j]["response"] = next(t for t in texts if t != comps[best]["response"])
    elif kind == "all_tied":  # different okay answers, identical scores
        for j, c in enumerate(comps):
            c["response"] = OKAY[j].format(t=topic, T=topic.capitalize())
            c["overall_score"] = 5.0
            set_ratings(c, "3")
    elif kind == "all_identical":
        for c in comps[1:]:
            c.update(json.loads(json.dumps(comps[0])), model=c["model"])
    elif kind == "overall_score_bug":  # a low-rated answer whose critique score 1 was stored as 10
        bad = qualities.index("bad")
        set_ratings(comps[bad], "1")
        comps[bad]["overall_score"] = 10.0
    elif kind == "disagree":  # the critique score prefers the okay answer, the ratings the good one
        comps[qualities.index("okay")]["overall_score"] = 9.5
        comps[best]["overall_score"] = 8.0
    elif kind == "empty_response":
        comps[qualities.index("bad")]["response"] = ""
    elif kind == "whitespace_response":
        comps[qualities.index("bad")]["response"] = "  \n "
    elif kind == "missing_aspect":
        del comps[best]["annotations"]["truthfulness"]
        finish(comps[best])
    elif kind == "unparsable_rating":
        comps[best]["annotations"]["helpfulness"]["Rating"] = rng.choice(["five", "4.5"])
        finish(comps[best])
    elif kind == "integer_rating":
        comps[best]["annotations"]["instruction_following"]["Rating"] = 5
        finish(comps[best])
    elif kind == "all_na":
        set_ratings(comps[qualities.index("okay")], "N/A")
    keep = {"no_completions": 0, "one_completion": 1, "two_completions": 2, "three_completions": 3}.get(
        kind, 4
    )
    if keep < 4:  # always keep the good answer when something is kept
        order = [best] + [j for j in range(4) if j != best]
        comps = [comps[j] for j in sorted(order[:keep])]
    factual = source in ("truthful_qa", "flan")
    return {
        "source": source,
        "instruction": template.format(t=topic),
        "models": models,
        "completions": comps,
        "correct_answers": [f"{topic.capitalize()} is real."] if factual else ["None"],
        "incorrect_answers": [f"{topic.capitalize()} does not exist."] if factual else ["None"],
    }


def rows() -> list[dict]:
    rng = random.Random(SEED)
    kinds: list[str | None] = [k for k, n in SPECIAL for _ in range(n)]
    kinds += [None] * (len(TOPICS) - len(kinds))
    rng.shuffle(kinds)
    return [make_row(rng, i, kind) for i, kind in enumerate(kinds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    write_jsonl(args.output, rows())
    print(f"wrote {len(TOPICS)} rows to {args.output}")


if __name__ == "__main__":
    main()
