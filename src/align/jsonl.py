"""JSON lines, read and written one way everywhere (UTF-8, non-ASCII kept, parent folders created)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from align.errors import AlignError


def write_jsonl(path: str | Path, rows: Iterable[Any], append: bool = False) -> Path:
    """Write each row as one JSON line; `rows` may be a generator, so large outputs stream.

    With `append` the rows go after what the file holds (logs that grow during a run). Numbers
    that are not Python floats (numpy, torch scalars in trainer logs) are written as floats.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=float) + "\n")
    return path


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
