"""JSON lines, read and written one way everywhere (UTF-8, non-ASCII kept, parent folders created)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from align.errors import AlignError

# json.dumps with these options would build this encoder anew for every line
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=float)


def json_line(row: Any) -> str:
    """One row as its JSON line, without the newline: UTF-8 text, non-ASCII kept; numbers that are not Python
    floats (numpy, torch scalars in trainer logs) written as floats."""
    return _ENCODER.encode(row)


def write_lines(path: str | Path, lines: Iterable[str], append: bool = False) -> Path:
    """Write already encoded JSON lines (json_line), e.g. encoded by worker processes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
    return path


def write_jsonl(path: str | Path, rows: Iterable[Any], append: bool = False) -> Path:
    """Write each row as one JSON line; `rows` may be a generator, so large outputs stream.

    With `append` the rows go after what the file holds (logs that grow during a run).
    """
    return write_lines(path, map(json_line, rows), append)


def iter_jsonl(path: str | Path, row_help: str = "") -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of each non-blank line; a line that is not JSON is an AlignError naming the
    file and line, followed by `row_help`. Lines end at "\\n" only: str.splitlines would also break inside texts
    holding U+2028 or U+0085, which generated samples can contain."""
    with Path(path).open(encoding="utf-8", newline="\n") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise AlignError(
                    f"{path}, line {number}: not valid JSON ({exc.msg}). {row_help}".rstrip()
                ) from None


def read_jsonl(path: str | Path) -> list[Any]:
    """Every non-blank line, parsed."""
    return [row for _, row in iter_jsonl(path)]
