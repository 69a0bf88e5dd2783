"""Write the bundled sample `src/align/data/sample/ultrafeedback_sample.jsonl` (sample://ultrafeedback).

One row per topic word (312) in the exact raw openbmb/UltraFeedback schema, generated
deterministically (a test checks this script reproduces the committed file byte for byte). Goals:

- Quality that a tiny byte-level model learns from content, not from length: highly rated answers
  are mostly helpful, concrete sentences ("Step 2: ...", "For example, ..."), low-rated ones rude,
  vague or off-topic, and every answer's length is drawn independently of its quality, so the
  chosen answer is the shorter one in about half the pairs. Every row has its own topic, so
  held-out pairs test generalisation, not memorisation.
- UltraFeedback-like lengths: prompts (background sentences before the question) and answers
  range from a few tokens to past the smoke recipes' max_prompt_length and max_length, so the
  truncation and length-filter paths run.
- An untrained reward model ranks held-out pairs near chance: the registers differ in a minority
  of each answer's sentences, and answers share their filler and endings.
- The awkward cases real copies contain: N/A ratings, 0-3 completions, empty and whitespace
  responses, ties, truthful_qa rows, all-identical completions, overall_score-bug suspects,
  a missing aspect, unparsable and non-string ratings, `Type` as the string "None".

Usage: python scripts/make_sample_data.py [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import math
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
    "Explain {t} to a beginner.",
    "Why do people like {t}?",
    "Describe {t}.",
    "Give me some tips about {t}.",
    "Write a short note on {t}.",
    "What should I know about {t}?",
    "How do I get started with {t}?",
    "Compare {t} with {o}.",
]
# Neutral background sentences that pad a prompt to its drawn length (before the question, as in
# UltraFeedback's long prompts, so a prompt cut from the left keeps its question).
CONTEXT = [
    "{T} comes up often in everyday conversation.",
    "My friend and I were talking about {t} yesterday.",
    "I read an article that mentioned {t} and {o} together.",
    "Some of my colleagues have strong opinions on {t}.",
    "There is a lot of information online about {t}, and not all of it agrees.",
    "I am preparing a short presentation for my class.",
    "We have a small budget and only a few weeks.",
    "Last year I tried something similar with {o}, and it went badly.",
    "The people in my group have very different backgrounds.",
    "I would like an answer I can actually use.",
]
# Sentence banks by register. A good answer is mostly HELPFUL, an okay one mostly VAGUE, a bad one
# RUDE or OFF_TOPIC. Every bank holds short and long sentences, and an answer is built to a length
# drawn independently of its quality, so the register (content) is learnable and the length is not.
# Step numbers {n} count the answer's sentences.
HELPFUL = [
    "Step {n}: check the {t}.",
    "Yes, here is how.",
    "First, look at how {t} is used in practice, because the details matter.",
    "For example, a small test with {t} shows the idea clearly.",
    "Here is why: {t} works best when you start simple.",
    "Make sure you compare {t} with a familiar example.",
    "Step {n}: write down what you expect from {t} before you begin, then check it.",
    "In short, {t} is easiest to learn one step at a time.",
    "A useful tip is to keep notes, so you can see your progress with {t}.",
    "Then confirm the result, for example with a second source on {t}.",
    "This works because each step builds on the previous one.",
    "Good question.",
    "Sure, try this.",
]
VAGUE = [
    "Maybe.",
    "It depends, I suppose.",
    "Some people say {t} is fine and others do not.",
    "Hard to say much about {t} without more context, honestly.",
    "It could go either way with {t}.",
    "I guess {t} is sort of okay, but who knows really.",
    "There are many opinions about {t} and they all have a point, more or less.",
    "Not sure.",
    "It might help or it might not, hard to tell.",
]
RUDE = [
    "No.",
    "Whatever.",
    "Look it up yourself, I am not doing your homework about {t}.",
    "Nobody cares about {t}, so stop asking.",
    "This is a pointless question and I will not answer it.",
    "Ugh, {t} again? Go away.",
    "I do not care.",
    "Seriously, why would anyone ask about {t} like that?",
]
OFF_TOPIC = [
    "Anyway, {o} is more fun.",
    "Let me tell you about {o} instead, since that is what I know best.",
    "My favourite thing is {o}.",
    "Did you know that {o} is popular in many countries, especially in summer?",
    "I once spent a whole weekend thinking about {o}, which was great.",
]
# Shared by every register after an answer's first sentence, so the register shows in a minority of
# the text and the answers end alike: a random (untrained) reward model then ranks pairs near chance.
NEUTRAL = [
    "{T} has a long history.",
    "People use {t} in many different ways.",
    "There are a few things to keep in mind here.",
    "That is the short version.",
    "Of course, {t} is not the same everywhere, and local habits differ a lot.",
    "Thanks for asking.",
    "Many books and websites cover {t} in more depth.",
    "It is a common topic.",
    "The answer also depends on what you already know and how much time you have.",
    "That is all for now.",
]
REGISTERS = {  # quality -> (bank, weight) mixture
    "good": ((HELPFUL, 0.85), (VAGUE, 0.15)),
    "okay": ((VAGUE, 0.5), (HELPFUL, 0.25), (OFF_TOPIC, 0.25)),
    "bad": ((RUDE, 0.5), (OFF_TOPIC, 0.3), (VAGUE, 0.2)),
}
NEUTRAL_SHARE = 0.6
# Lengths in characters, log-normal (median, sigma) and clipped, as UltraFeedback's are roughly: many
# short texts, a long tail. The tiny tokenizers are byte-level (1 to 1.3 characters a token), so
# about one prompt in six exceeds the smoke recipes' max_prompt_length (128 tokens) and about one
# pair in six their max_length (320 tokens).
PROMPT_CHARS = (64, 0.9, 12, 900)
ANSWER_CHARS = (80, 0.9, 4, 900)
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
    "good": ((4, 5), (8.0, 8.5, 9.0, 9.5), "Concrete and helpful."),
    "okay": ((3, 3), (5.0, 5.5, 6.0, 6.5), "Vague but harmless."),
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


def log_normal(rng: random.Random, shape: tuple[int, float, int, int]) -> int:
    median, sigma, lo, hi = shape
    return min(hi, max(lo, round(rng.lognormvariate(math.log(median), sigma))))


Banks = tuple[tuple[list[str], float], ...]


def text(rng: random.Random, first: Banks, rest: Banks, target: int, **slots: str) -> str:
    """A sentence from the weighted `first` banks, then from `rest`, until about `target` characters.
    Each pick fits what is left when a sentence of its bank can, so short targets give short texts."""
    out: list[str] = []
    while not out or len(" ".join(out)) < target:
        banks = rest if out else first
        bank = rng.choices([b for b, _ in banks], weights=[w for _, w in banks])[0]
        options = [s.format(n=len(out) + 1, **slots) for s in bank]
        left = target - len(" ".join(out))
        fitting = [s for s in options if len(s) <= left] or [min(options, key=len)]
        out.append(rng.choice(fitting))
    return " ".join(out)


def response(rng: random.Random, quality: str, slots: dict[str, str]) -> str:
    register = REGISTERS[quality]
    rest = (*((bank, w * (1 - NEUTRAL_SHARE)) for bank, w in register), (NEUTRAL, NEUTRAL_SHARE))
    return text(rng, register, rest, log_normal(rng, ANSWER_CHARS), **slots)


def instruction(rng: random.Random, slots: dict[str, str]) -> tuple[str, str]:
    """(template, prompt): the question, after background sentences up to the drawn length."""
    template = rng.choice(TEMPLATES)
    question = template.format(**slots)
    room = log_normal(rng, PROMPT_CHARS) - len(question) - 1
    if room < 20:
        return template, question
    context = ((CONTEXT, 1.0),)
    return template, f"{text(rng, context, context, room, **slots)} {question}"


def make_row(rng: random.Random, i: int, kind: str | None) -> dict:
    topic = TOPICS[i]
    slots = {"t": topic, "T": topic.capitalize(), "o": TOPICS[(i + 7) % len(TOPICS)]}
    template, prompt = instruction(rng, slots)
    creative = template.startswith("Write") or rng.random() < 0.1
    source = "truthful_qa" if kind == "truthful_qa" else rng.choice(SOURCES)
    models = rng.sample(MODELS, 4)
    qualities = ["good", "okay", "bad", "bad"]
    rng.shuffle(qualities)
    comps = [
        completion(rng, m, q, response(rng, q, slots), creative)
        for m, q in zip(models, qualities, strict=True)
    ]
    best = qualities.index("good")
    if kind == "tie_best":  # a second, equally rated good answer: ties under both scores
        j = qualities.index("okay")
        comps[j] = json.loads(json.dumps(comps[best]))
        comps[j]["model"] = models[j]
        while comps[j]["response"] == comps[best]["response"]:
            comps[j]["response"] = response(rng, "good", slots)
    elif kind == "all_tied":  # different okay answers, identical scores
        for c in comps:
            c["response"] = response(rng, "okay", slots)
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
        "instruction": prompt,
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
