"""JSON-lines output, written one way everywhere (UTF-8, non-ASCII kept, parent folders created)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def json_line(row: Any) -> str:
    """One row as its JSON line, without the newline: UTF-8 text, non-ASCII kept."""
    return json.dumps(row, ensure_ascii=False)


def write_lines(path: str | Path, lines: Iterable[str]) -> Path:
    """Write already encoded JSON lines (json_line), e.g. encoded by worker processes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
    return path


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> Path:
    """Write each row as one JSON line; `rows` may be a generator, so large outputs stream."""
    return write_lines(path, map(json_line, rows))


def read_jsonl(path: str | Path) -> list[Any]:
    """Every non-blank line, parsed. Splits on "\\n" only: str.splitlines would also break inside
    texts holding U+2028 or U+0085, which generated samples can contain."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").split("\n") if line.strip()]
