"""A keyed append-only JSONL file: results survive an interruption, and a restart skips them.

The first line records the settings that produced the rows ({"settings": ...}); a journal
written under other settings is refused rather than mixed. Every other line is
{"key": ..., "row": ...}, appended and flushed the moment a row is done. A run
killed mid-write leaves at most one partial last line; opening the journal cuts it off, so the
row it held is simply done again. A key seen twice keeps its first row (that cannot happen
through `append`, which refuses a key already present).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from align.errors import AlignError


def row_keys(rows: list[dict[str, Any]]) -> list[str]:
    """A stable key per row: its `id` if it has one, else sha256 of source and instruction.

    Rows repeating the same source and instruction get "#2", "#3"... in input order, so every
    key is unique and the same on every run over the same input.
    """
    keys, seen = [], Counter()
    for row in rows:
        if row.get("id") is not None:
            base = f"id:{row['id']}"
        else:
            text = f"{row.get('source')}\x00{row.get('instruction')}"
            base = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        seen[base] += 1
        keys.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return keys


class Journal:
    """Rows done so far, by key, backed by the JSONL file at `path` (created with `settings` if absent)."""

    def __init__(self, path: Path, settings: dict[str, Any]) -> None:
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}
        self.cut_partial_line = False
        self._file = None
        header = json.dumps({"settings": settings}, ensure_ascii=False, sort_keys=True) + "\n"
        if not path.exists() or b"\n" not in path.read_bytes():  # new, or cut short within its header
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(header, encoding="utf-8")
        self._load(header)

    def _load(self, header: str) -> None:
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):  # the last write was interrupted: drop its partial line
            with self.path.open("r+b") as f:
                f.truncate(complete)
            self.cut_partial_line = True
        lines = data[:complete].decode("utf-8").split("\n")
        if lines[0] + "\n" != header:
            raise AlignError(
                f"{self.path} holds the progress of an annotation run with other settings (judge, sampling, rubric, "
                "seed, aspects or critique changed). Restore those settings to continue it, or pass --overwrite "
                "to start over."
            )
        for number, line in enumerate(lines[1:], 2):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                key, row = entry["key"], entry["row"]
            except (ValueError, KeyError, TypeError):
                raise AlignError(
                    f"{self.path}, line {number}, is not a journal entry of `align annotate`. Delete the file to "
                    "annotate every row again, or restore it from a backup."
                ) from None
            self.rows.setdefault(key, row)

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def append(self, key: str, row: dict[str, Any]) -> None:
        if key in self.rows:
            raise ValueError(f"row {key} is already in {self.path}")
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps({"key": key, "row": row}, ensure_ascii=False) + "\n")
        self._file.flush()
        self.rows[key] = row

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
