"""Rows of argilla/ultrafeedback-binarized-preferences -> preference pairs in the H4 format.

That set (the data of Notus-7B-v1) has one split, `train` (63,619 rows), and one pair per row:
`source`, `instruction`, `chosen_response`, `rejected_response`, `chosen_avg_rating`,
`rejected_avg_rating` (mean of the four aspect ratings) and `chosen_model` (dataset card,
huggingface.co/datasets/argilla/ultrafeedback-binarized-preferences). Its rejected answer was
drawn among the lower-rated ones, or an equally rated one when no lower one existed, so some
pairs are ties. argilla-io/notus/v1/fine-tune/run_dpo.py@5cd4912 builds the prompt from
`instruction` and the two answers from `chosen_response` / `rejected_response` and filters
nothing; `data.drop_ties` does what the card advises for preference tuning instead.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from align.data.binarize import OUTPUT_COLUMNS, pair_features, pair_record
from align.errors import AlignError

TEXT_COLUMNS = ("instruction", "chosen_response", "rejected_response")
RATING_COLUMNS = ("chosen_avg_rating", "rejected_avg_rating")
COLUMNS = ("source", *TEXT_COLUMNS, *RATING_COLUMNS, "chosen_model")
_DROP = "_drop"


def is_argilla(columns: list[str]) -> bool:
    """Whether a table has the columns align converts (source and chosen_model may be missing)."""
    return set(TEXT_COLUMNS + RATING_COLUMNS) <= set(columns)


def check_columns(name: str, columns: list[str]) -> None:
    if not is_argilla(columns):
        missing = [c for c in TEXT_COLUMNS + RATING_COLUMNS if c not in columns]
        raise AlignError(
            f"{name} is not in the argilla/ultrafeedback-binarized-preferences schema: no {', '.join(missing)} "
            f"column(s) (found: {', '.join(columns) or 'none'}). Give rows with {', '.join(COLUMNS)}, or set "
            "data.format to binarized (H4 pairs) or raw (openbmb/UltraFeedback)."
        )


def _rating(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def convert_row(row: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """One row -> (H4 pair, "") or (None, reason) for a row that cannot be a pair."""
    texts = [row.get(c) for c in TEXT_COLUMNS]
    if not all(isinstance(t, str) for t in texts) or not texts[0].strip():
        return None, "missing_text"
    chosen, rejected = (_rating(row.get(c)) for c in RATING_COLUMNS)
    if chosen is None or rejected is None:
        return None, "missing_rating"
    prompt, chosen_text, rejected_text = texts
    source, model = row.get("source"), row.get("chosen_model")
    return pair_record(
        prompt,
        source if isinstance(source, str) else "",
        (chosen_text, chosen, model if isinstance(model, str) else ""),
        (rejected_text, rejected, ""),  # the set does not name the rejected answer's model
    ), ""


def _convert_batch(batch: dict[str, list]) -> dict[str, list]:
    """datasets.map body: every row gives one output row, a pair or (with `_drop` set) empty columns."""
    columns = list(batch)
    out: dict[str, list] = {name: [] for name in (*OUTPUT_COLUMNS, _DROP)}
    for i in range(len(batch[columns[0]])):
        pair, reason = convert_row({c: batch[c][i] for c in columns})
        for name in OUTPUT_COLUMNS:
            out[name].append(None if pair is None else pair[name])
        out[_DROP].append(reason)
    return out


def to_pairs(ds: Any, name: str) -> tuple[Any, Counter]:
    """An Argilla-schema `datasets.Dataset` -> (H4 pairs in the same row order, rows dropped by reason)."""
    from datasets import Features, Value

    check_columns(name, ds.column_names)
    converted = ds.map(
        _convert_batch,
        batched=True,
        remove_columns=ds.column_names,
        features=Features({**pair_features(), _DROP: Value("string")}),
        desc="Converting Argilla pairs",
    )
    dropped = Counter(r for r in converted[_DROP] if r)
    if dropped:
        converted = converted.filter(
            lambda r: not r, input_columns=_DROP, desc="Dropping rows without a pair"
        )
    return converted.remove_columns(_DROP), dropped
