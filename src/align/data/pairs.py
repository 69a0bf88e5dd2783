"""The row format of preference pairs and scored responses, read one way by every consumer.

A row holds `prompt` and either `response` (one text to score) or `chosen` and `rejected` (a
pair): each a string, or a message list ({role, content}) whose last assistant message is the
response. With message lists `prompt` may be left out (TRL's conversational format, and the H4
format of HuggingFaceH4/ultrafeedback_binarized): the last user message is the prompt.
Scoring (`align score`), reward-model evaluation and reward training all read rows here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from align.jsonl import iter_jsonl
from align.paths import check_utf8, data_file

ROW_HELP = (
    "Each line must be a JSON object with `prompt` and either `response` or both `chosen` and `rejected`: "
    "strings, or message lists ({role, content}) whose last assistant message is the response (with message "
    "lists `prompt` may be left out: the last user message is the prompt)."
)


class Pair(NamedTuple):
    prompt: str
    chosen: str
    rejected: str


class RowError(ValueError):
    """A row lacks a usable field; the caller adds the file and line."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"field `{field}` {problem}")


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


def binarized_pair(row: dict) -> Pair:
    """A row with `prompt` (optional for message lists) and `chosen`/`rejected`."""
    (_, prompt, chosen), (_, _, rejected) = row_items({k: v for k, v in row.items() if k != "response"})
    return Pair(prompt, chosen, rejected)


def read_row_file(path: str | Path, argument: str) -> Iterator[tuple[int, Any]]:
    """(line number, row) of a user's JSONL file, named by `argument` in errors: a UTF-8 .jsonl file of JSON lines."""
    path = data_file(str(path), argument, (".jsonl",))
    check_utf8(path, argument)
    yield from iter_jsonl(path, ROW_HELP)
