"""The raw UltraFeedback row schema, and tolerant parsing of one row into rankable completions.

Real copies of the data contain string ratings, "N/A", missing aspects, unparsable values and
empty responses; parsing never raises on such a row. Every problem is recorded as a note
("section.reason") so the binarization report can count it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ASPECTS = ("instruction_following", "honesty", "truthfulness", "helpfulness")
SCORES = ("overall", "mean", *ASPECTS)
REQUIRED_FIELDS = ("source", "instruction", "completions")
_RATINGS = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5}
# overall_score is GPT-4's critique score on a 1-10 scale (UltraFeedback paper, section 2); a value
# outside it (1e300, -3) cannot be ranked against the others and would otherwise always win or lose.
OVERALL_SCALE = (1.0, 10.0)


@dataclass(frozen=True, slots=True)
class Completion:
    """One completion as the strategies see it: position in the row, text, and its scores."""

    index: int
    model: str
    response: str
    overall: float | None
    ratings: tuple[int | None, ...]  # in ASPECTS order; None for N/A, missing or unparsable
    mean: float | None

    def score(self, name: str) -> float | None:
        """The completion's score under `name` (one of SCORES); None when it cannot be ranked."""
        if name == "overall":
            return self.overall
        if name == "mean":
            return self.mean
        rating = self.ratings[ASPECTS.index(name)]
        return None if rating is None else float(rating)

    @property
    def overall_score_bug(self) -> bool:
        """The first release stored a critique score of 1 as 10: 10 with a mean rating <= 2 is suspect."""
        return self.overall == 10 and self.mean is not None and self.mean <= 2


def text(value: object) -> str | None:
    """`value` if it is a string that can be written as UTF-8 (no lone surrogates), else None."""
    if not isinstance(value, str):
        return None
    if value.isascii():  # O(1) for Python's compact strings; ASCII holds no surrogate
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def parse_rating(value: object) -> tuple[int | None, str | None]:
    """A `Rating` ("1".."5", "N/A") -> (rating, problem); problem is 'na', 'missing' or 'unparsable'."""
    if value is None:
        return None, "missing"
    if isinstance(value, str):
        stripped = value.strip()
        if stripped in _RATINGS:
            return _RATINGS[stripped], None
        if stripped.upper() == "N/A":
            return None, "na"
    elif isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return value, None
    return None, "unparsable"


def parse_number(value: object) -> tuple[float | None, str | None]:
    """`overall_score` -> (float, problem); problem is 'missing', 'unparsable' or 'out_of_range' (off OVERALL_SCALE)."""
    if value is None:
        return None, "missing"
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        return None, "unparsable"
    if not OVERALL_SCALE[0] <= number <= OVERALL_SCALE[1]:
        return None, "out_of_range"
    return number, None


def _aspect_rating(entry: object) -> tuple[int | None, str | None]:
    """One aspect's annotation -> (rating, problem), as parse_rating, for an entry of any shape."""
    if entry is None:
        return None, "missing"
    if isinstance(entry, dict):
        return parse_rating(entry.get("Rating"))
    return None, "unparsable"


def parse_completion(raw: object, index: int, notes: list[str]) -> Completion | None:
    """Parse one completion; None (noted as 'unrankable.malformed') when it has no usable response.

    Well-formed values (a rating "1".."5", an in-range float overall_score) are read directly; anything
    else goes through the full checks, which name its problem.
    """
    response = text(raw.get("response")) if isinstance(raw, dict) else None
    if response is None:
        notes.append("unrankable.malformed")
        return None
    annotations = raw.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
    ratings = []
    for aspect in ASPECTS:
        entry = annotations.get(aspect)
        value = entry.get("Rating") if type(entry) is dict else None
        rating = _RATINGS.get(value) if type(value) is str else None
        if rating is None:
            rating, problem = _aspect_rating(entry)
            if problem:
                notes.append(f"ratings.{problem}")
        ratings.append(rating)
    overall = raw.get("overall_score")
    if not (type(overall) is float and OVERALL_SCALE[0] <= overall <= OVERALL_SCALE[1]):
        overall, problem = parse_number(overall)
        if problem:
            notes.append(f"overall_score.{problem}")
    numeric = [r for r in ratings if r is not None]
    return Completion(
        index=index,
        model=text(raw.get("model")) or "",
        response=response,
        overall=overall,
        ratings=tuple(ratings),
        mean=sum(numeric) / len(numeric) if numeric else None,
    )
