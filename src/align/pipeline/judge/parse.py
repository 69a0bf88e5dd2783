"""Reading the judge's replies into UltraFeedback annotations, without ever guessing a rating.

A reply is split into blocks at lines naming a text ("Text 2", "### Output for Text 2",
"**Text 2:**"), and each block into fields at lines starting with a field label ("Rating:",
"Rationale:", "Type:", "Type rationale:"). A field runs until the next label, so rationales
may hold blank lines (UltraFeedback's own parser split the reply at blank lines and asserted
four blocks: OpenBMB/UltraFeedback src/data_annotation/annotate_preference.py, `process`).
Fields may come in any order, prose around the blocks is ignored, a missing block or field
and a value that is not a rating become "N/A", and every such case is counted by name.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

NA = "N/A"
# "Text 2", "### Output for Text 2", "**Text 2:**", or "Text 2: Rating: 4" (a field on the same line).
_HEADER = re.compile(
    r"^[\s#*>_\-\[(]*(?:output\s+for\s+)?text\s*#?\s*(\d+)\s*[\])]?\s*[:.\-]?[\s*_]*(.*)$", re.IGNORECASE
)
_LABEL = re.compile(
    r"^[\s#*>_\-]*(type\s+rationale|rationale\s+for\s+type|rationale\s+for\s+rating|type|rating|rationale)"
    r"[\s*_]*:[\s*_]*(.*)$",
    re.IGNORECASE,
)
_CANONICAL = {
    "type rationale": "type_rationale",
    "rationale for type": "type_rationale",
    "rationale for rating": "rationale",
    "type": "type",
    "rating": "rating",
    "rationale": "rationale",
}
_RATING = re.compile(r"^[\s*_\"'\[(]*(n\s*/\s*a\b|\d+(?:\.\d+)?)(?:\s*(?:/|out\s+of)\s*5\b)?", re.IGNORECASE)
_SEPARATOR = re.compile(r"^[\s\-*_=#~]*$")
_OVERALL = re.compile(
    r"^[\s#*_>\-]*overall\s+score[\s*_]*[:=\-]?[\s*_]*(\d+(?:\.\d+)?)\s*(?:/\s*10)?[\s*_.]*$",
    re.IGNORECASE | re.MULTILINE,
)
OVERALL_RANGE = (1.0, 10.0)  # the critique's 1-10 scale (UltraFeedback paper, section 2.2)


@dataclass
class AspectReply:
    """One aspect's annotations, in the order the texts were shown, and the problems met reading them."""

    annotations: list[dict[str, Any]]
    problems: Counter[str] = field(default_factory=Counter)


def _clean(value: str) -> str:
    """A field's text without surrounding blank lines or trailing separator lines ("---")."""
    lines = value.strip().split("\n")
    while lines and _SEPARATOR.match(lines[-1]):
        lines.pop()
    return "\n".join(lines).strip()


def _blocks(reply: str, count: int, problems: Counter[str]) -> dict[int, list[str]]:
    """Lines of each text's block, keyed by the text's number (1-based); extra blocks are counted."""
    blocks: dict[int, list[str]] = {}
    current: list[str] | None = None
    for line in reply.replace("\r\n", "\n").split("\n"):
        header = _HEADER.match(line)
        rest = header.group(2) if header else ""
        if header and rest.strip() and not _LABEL.match(rest):
            header = None  # prose that starts with "Text 2 ...", not a block header
        if header:
            number = int(header.group(1))
            if not 1 <= number <= count:
                problems["block.extra"] += 1
                current = None
            elif number in blocks:
                problems["block.duplicate"] += 1
                current = None
            else:
                current = blocks[number] = [rest] if rest.strip() else []
        elif current is not None:
            current.append(line)
    if not blocks and count == 1:  # one text: the judge may well leave the header out
        blocks[1] = reply.split("\n")
    return blocks


def _fields(lines: list[str]) -> dict[str, str]:
    """The block's labelled fields; the first value of a repeated label wins."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    previous = None
    for line in lines:
        match = _LABEL.match(line)
        if match:
            name = _CANONICAL[re.sub(r"\s+", " ", match.group(1).lower())]
            # UltraFeedback-style blocks say "Rationale" twice: the one right after Type explains the types.
            if name == "rationale" and previous == "type" and "type_rationale" not in found:
                name = "type_rationale"
            previous = name
            current = None if name in found else found.setdefault(name, [match.group(2)])
        elif current is not None:
            current.append(line)
    return {name: _clean("\n".join(value)) for name, value in found.items()}


def parse_rating(value: str | None, allows_na: bool) -> tuple[str, str | None]:
    """A rating field -> ("1".."5" or "N/A", problem); problem names why it is N/A, None if it is not."""
    if value is None:
        return NA, "rating.missing"
    match = _RATING.match(value)
    if not match:
        return NA, "rating.unparsable"
    token = match.group(1)
    if token[0].lower() == "n":
        return NA, "rating.na" if allows_na else "rating.na_not_allowed"
    if not token.isdigit():
        return NA, "rating.unparsable"
    if not 1 <= int(token) <= 5:
        return NA, "rating.out_of_range"
    return str(int(token)), None


def parse_types(value: str | None, allowed: set[str]) -> tuple[list[str] | str, str | None]:
    """A Type field -> (list of type numbers as strings, or "None"; problem). Unreadable -> "N/A"."""
    if value is None:
        return NA, "type.missing"
    if re.match(r"^[\s*_\"'\[(]*none\b", value, re.IGNORECASE):
        return "None", None
    numbers = re.findall(r"\d+", value.split("\n")[0])
    if not numbers or any(n not in allowed for n in numbers):
        return NA, "type.unparsable"
    return list(dict.fromkeys(numbers)), None


def parse_aspect(reply: str, count: int, spec: dict[str, Any]) -> AspectReply:
    """The judge's reply on one aspect for `count` texts -> one annotation per text, in shown order.

    `spec` is the rubric's entry for the aspect: `types` (when the aspect has a Type list) and
    `allows_na`. The annotation has the raw UltraFeedback keys: Rating and Rationale, plus Type and
    Rationale For Rating for typed aspects (there, Rationale explains the Type).
    """
    problems: Counter[str] = Counter()
    blocks = _blocks(reply, count, problems)
    typed = "types" in spec
    annotations = []
    for number in range(1, count + 1):
        if number not in blocks:
            problems["block.missing"] += 1
        fields = _fields(blocks.get(number, []))
        rating, problem = parse_rating(fields.get("rating"), bool(spec.get("allows_na")))
        if problem:
            problems[problem] += 1
        if not typed:
            annotations.append({"Rating": rating, "Rationale": fields.get("rationale", "")})
            continue
        types, problem = parse_types(fields.get("type"), set(spec["types"]))
        if problem:
            problems[problem] += 1
        annotations.append(
            {
                "Rating": rating,
                "Rationale": fields.get("type_rationale", ""),
                "Type": types,
                "Rationale For Rating": fields.get("rationale", ""),
            }
        )
    return AspectReply(annotations, problems)


def parse_critique(reply: str) -> tuple[str, float | None, str | None]:
    """A critique reply -> (critique text, overall_score, problem).

    The score is read from the last "Overall score: N" line and kept as written: a 1 stays 1
    (UltraFeedback's first release stored critique scores of 1 as 10, fixed in
    src/data_annotation/fix_overall_score_issue.py). No such line, or a score off the 1-10 scale,
    gives None and a named problem.
    """
    matches = list(_OVERALL.finditer(reply))
    if not matches:
        return reply.strip(), None, "overall_score.missing"
    last = matches[-1]
    critique = _clean(reply[: last.start()])
    score = float(last.group(1))
    if not OVERALL_RANGE[0] <= score <= OVERALL_RANGE[1]:
        return critique, None, "overall_score.out_of_range"
    return critique, score, None


def fine_grained_score(annotations: dict[str, dict[str, Any]]) -> float | None:
    """The mean of the numeric aspect ratings, N/A skipped; None when no rating is numeric."""
    ratings = [int(a["Rating"]) for a in annotations.values() if a.get("Rating", NA) != NA]
    return sum(ratings) / len(ratings) if ratings else None
