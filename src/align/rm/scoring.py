"""Batched reward scoring: rendered texts in, one float per text out, whatever the batching.

Texts are sorted by length so each batch pads little (the longest batch runs first, so memory
errors show at once), right-padded with the pad id the model's config knows, and put back in
input order. The same text gets the same reward at any batch size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from align.errors import AlignError
from align.paths import check_utf8, data_file
from align.rm.templates import render

# Output field for each input field that holds a response.
REWARD_FIELDS = {"response": "reward", "chosen": "reward_chosen", "rejected": "reward_rejected"}
ROW_HELP = (
    "Each line must be a JSON object with `prompt` and either `response` or both `chosen` and `rejected`: "
    "strings, or message lists ({role, content}) whose last assistant message is the response (with message "
    "lists `prompt` may be left out: the last user message is the prompt)."
)


def score_texts(
    model, tokenizer, texts: Sequence[str], batch_size: int = 8, progress: bool = True
) -> list[float]:
    """Reward of each already-rendered text, in input order."""
    import torch
    from tqdm.auto import tqdm

    if model.config.pad_token_id != tokenizer.pad_token_id:
        raise AlignError(
            f"The reward model's config.pad_token_id ({model.config.pad_token_id}) differs from its tokenizer's "
            f"pad id ({tokenizer.pad_token_id}), so padded batches would be read at the wrong token. Load both "
            "with align.rm.load.load_reward_model."
        )
    ids = tokenizer(list(texts))["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
    rewards = [0.0] * len(ids)
    with (
        torch.inference_mode(),
        tqdm(total=len(ids), desc="scoring", unit="seq", disable=not progress) as bar,
    ):
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = tokenizer.pad(
                {"input_ids": [ids[i] for i in chunk]},
                padding=True,
                padding_side="right",
                return_tensors="pt",
            ).to(model.device)
            logits = model(**batch).logits[:, 0].float().tolist()
            for i, reward in zip(chunk, logits, strict=True):
                rewards[i] = reward
            bar.update(len(chunk))
    return rewards


def message_text(value: Any, role: str) -> str:
    """A string as is; from a message list, the content of the last message with `role`."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        for message in reversed(value):
            if message.get("role") == role and isinstance(message.get("content"), str):
                return message["content"]
        raise ValueError(f"is a message list without a {role} message with string content")
    raise ValueError(f"is {type(value).__name__}, not a string or a message list")


class RowError(ValueError):
    """A row lacks a usable field; the caller adds the file and line."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"field `{field}` {problem}")


def row_items(row: Any) -> list[tuple[str, str, str]]:
    """(response field, prompt, response) for each response in a row."""
    if not isinstance(row, dict):
        raise RowError("(row)", f"is {type(row).__name__}, not a JSON object")
    fields = ["response"] if "response" in row else ["chosen", "rejected"]
    if "prompt" in row or not isinstance(row.get(fields[0]), list):
        prompt = _field(row, "prompt", "user")
    else:  # implicit prompt (TRL's conversational format): the user turn before the response
        prompt = _field(row, fields[0], "user")
    return [(field, prompt, _field(row, field, "assistant")) for field in fields]


def _field(row: dict, field: str, role: str) -> str:
    if row.get(field) is None:
        raise RowError(field, "is missing")
    try:
        return message_text(row[field], role)
    except ValueError as exc:
        raise RowError(field, str(exc)) from None


def read_jsonl(path: Path, argument: str = "--input") -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) for each non-blank line of a UTF-8 JSONL file."""
    path = data_file(str(path), argument, (".jsonl",))
    check_utf8(path, argument)
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise AlignError(f"{path}, line {number}: not valid JSON ({exc.msg}). {ROW_HELP}") from None


def read_rows(source: Path) -> tuple[list[dict], list[tuple[int, str, str, str]]]:
    """All rows of a JSONL file, checked before any model loads, and (row index, field, prompt, response) items."""
    rows: list[dict] = []
    items = []
    for number, row in read_jsonl(source):
        try:
            items += [(len(rows), field, prompt, response) for field, prompt, response in row_items(row)]
        except RowError as exc:
            raise AlignError(f"{source}, line {number}: {exc}. {ROW_HELP}") from None
        rows.append(row)
    if not rows:
        raise AlignError(f"Input file {source} has no rows (it is empty or blank). {ROW_HELP}")
    return rows, items


def score_rows(
    model,
    tokenizer,
    rows: list[dict],
    items: list[tuple[int, str, str, str]],
    template: str,
    batch_size: int = 8,
    append_eos: bool = False,
    system_prompt: str | None = None,
) -> list[dict]:
    """Add `reward` or `reward_chosen`/`reward_rejected` to the rows `read_rows` returned."""
    texts = [
        render(template, prompt, response, tokenizer, append_eos, system_prompt)
        for _, _, prompt, response in items
    ]
    for (index, field, _, _), reward in zip(
        items, score_texts(model, tokenizer, texts, batch_size), strict=True
    ):
        rows[index][REWARD_FIELDS[field]] = reward
    return rows
