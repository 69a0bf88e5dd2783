"""Filters applied during binarization: TruthfulQA decontamination, unrankable completions, bad pairs.

Each filter records what it removed as a note ("section.reason") so the report counts it.
"""

from __future__ import annotations

from pathlib import Path

from align.data.hub import load_hub
from align.data.schema import Completion
from align.data.strategies import Candidate, CandidatePair
from align.errors import AlignError
from align.paths import load_files

TRUTHFULQA_HUB = "truthfulqa/truthful_qa"
TRUTHFULQA_SOURCE = "truthful_qa"


def load_questions(source: str, argument: str = "binarize.decontaminate") -> frozenset[str]:
    """TruthfulQA questions: `truthful_qa` (hub, generation + multiple_choice validation) or a local file.

    A local file is JSONL/JSON with a `question` field, or .txt with one question per line.
    """

    from align.inputs import decontamination_source

    path = decontamination_source(source, argument)
    if not isinstance(path, Path):
        return frozenset(
            q
            for config in ("generation", "multiple_choice")
            for q in load_hub(TRUTHFULQA_HUB, "validation", config=config)["question"]
        )
    what = "TruthfulQA questions"
    if path.suffix == ".txt":
        lines = load_files("text", str(path), argument, what, split="train")["text"]
        return frozenset(q for q in lines if q.strip())
    rows = load_files("json", str(path), argument, what, split="train")
    if "question" not in rows.column_names:
        raise AlignError(
            f"Decontamination file {path} has no `question` field (fields: {', '.join(rows.column_names)}). "
            "Give each row a `question` string, or use a .txt file with one question per line."
        )
    return frozenset(q for q in rows["question"] if isinstance(q, str))


def contamination(source: str, instruction: str, questions: frozenset[str]) -> str | None:
    """Why a row leaks TruthfulQA (its source, or an exact question match), or None."""
    if source == TRUTHFULQA_SOURCE:
        return "truthful_qa_source"
    if instruction in questions:
        return "truthful_qa_question"
    return None


def rankable(
    completions: list[Completion], score: str, drop_overall_score_bug: bool, notes: list[str]
) -> list[Candidate]:
    """Completions that can be ranked under `score`: non-empty text, a score, not a dropped bug suspect."""
    out = []
    for c in completions:
        value = c.score(score)
        if not c.response.strip():
            notes.append("unrankable.empty_response")
        elif drop_overall_score_bug and c.overall_score_bug:
            notes.append("unrankable.overall_score_bug")
        elif value is None:
            notes.append("unrankable.no_score")
        else:
            out.append(Candidate(c, value))
    return out


def clean_pairs(pairs: list[CandidatePair], min_margin: float, notes: list[str]) -> list[CandidatePair]:
    """Drop pairs whose texts are identical (nothing to learn) or whose score gap is below min_margin."""
    out = []
    for chosen, rejected in pairs:
        if chosen.completion.response == rejected.completion.response:
            notes.append("dropped_pairs.identical_text")
        elif chosen.score - rejected.score < min_margin:
            notes.append("dropped_pairs.below_min_margin")
        else:
            out.append((chosen, rejected))
    return out
