"""The judge's messages: one request per aspect covering every completion of a row, one per critique.

The completions are shown in a shuffled order (UltraFeedback shuffled them too, against position
bias: OpenBMB/UltraFeedback src/data_annotation/annotate_preference.py). The order is drawn from
the run's seed, the row's key and the aspect alone, so it is the same on every run and resume,
whatever else was annotated before.
"""

from __future__ import annotations

import random
from typing import Any

from align.pipeline.judge.rubric import Rubric

Messages = list[dict[str, str]]


def shown_order(count: int, seed: int, key: str, aspect: str) -> list[int]:
    """order[i] is the index (in the row) of the completion shown to the judge as Text i+1."""
    order = list(range(count))
    random.Random(f"{seed}:{key}:{aspect}").shuffle(order)
    return order


def _answers(value: Any) -> list[str]:
    """Reference answers of a row; UltraFeedback writes ["None"] (or "None") when there are none."""
    items = value if isinstance(value, list) else [value]
    return [a.strip() for a in items if isinstance(a, str) and a.strip() and a.strip() != "None"]


def world_knowledge(rubric: Rubric, row: dict[str, Any]) -> str:
    """The reference material for the truthfulness judge: the row's answers, or a per-source note."""
    wk = rubric.data["world_knowledge"]
    lines = []
    correct, incorrect = _answers(row.get("correct_answers")), _answers(row.get("incorrect_answers"))
    if correct:
        lines.append(wk["correct"].format(answers="; ".join(correct)))
    if incorrect:
        lines.append(wk["incorrect"].format(answers="; ".join(incorrect)))
    if not lines and row.get("source") in wk["by_source"]:
        lines.append(wk["by_source"][row["source"]])
    return wk["header"] + "\n".join(lines or [wk["none"]]) + "\n"


def aspect_messages(rubric: Rubric, aspect: str, row: dict[str, Any], order: list[int]) -> Messages:
    """The request rating `aspect` of the row's completions, shown in `order`."""
    spec = rubric.aspect(aspect)
    completions = row["completions"]
    texts = "\n".join(
        rubric.data["text_item"].format(number=i + 1, response=completions[o].get("response") or "")
        for i, o in enumerate(order)
    )
    block = rubric.data["block_format"]["typed" if "types" in spec else "plain"]
    block = block.format(na=rubric.data["not_applicable"] if spec.get("allows_na") else "").strip()
    prompt = rubric.data["aspect_prompt"].format(
        rubric=spec["rubric"].strip(),
        instruction=row["instruction"],
        texts=texts,
        world_knowledge=world_knowledge(rubric, row) if spec.get("world_knowledge") else "",
        count=len(order),
        block_format=block,
    )
    return [{"role": "system", "content": rubric.data["system"].strip()}, {"role": "user", "content": prompt}]


def critique_messages(rubric: Rubric, row: dict[str, Any], completion: dict[str, Any]) -> Messages:
    """The request asking for a textual critique and an overall score (1-10) of one completion."""
    spec = rubric.data["critique"]
    guidance = (completion.get("custom_system_prompt") or "").strip()
    prompt = spec["prompt"].format(
        instruction=row["instruction"],
        note=spec["note"].format(guidance=guidance) if guidance else "",
        response=completion.get("response") or "",
    )
    return [{"role": "system", "content": spec["system"].strip()}, {"role": "user", "content": prompt}]
