"""JSON-lines output, written one way everywhere (UTF-8, non-ASCII kept, parent folders created)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> Path:
    """Write each row as one JSON line; `rows` may be a generator, so large outputs stream."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: str | Path) -> list[Any]:
    """Every non-blank line, parsed. Splits on "\\n" only: str.splitlines would also break inside
    texts holding U+2028 or U+0085, which generated samples can contain."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").split("\n") if line.strip()]
