"""The judge's prompt text, kept as versioned data (rubrics/vN.yaml) and identified by its sha256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from align.errors import AlignError

RUBRIC_DIR = Path(__file__).parent / "rubrics"


@dataclass(frozen=True)
class Rubric:
    """One rubric file: `data` is its parsed YAML, `sha256` the digest of its bytes."""

    version: str
    sha256: str
    data: dict[str, Any]

    def aspect(self, name: str) -> dict[str, Any]:
        return self.data["aspects"][name]


def versions() -> list[str]:
    return sorted(p.stem for p in RUBRIC_DIR.glob("*.yaml"))


@cache
def load_rubric(version: str) -> Rubric:
    """The rubric `version` (e.g. "v1") shipped with align."""
    path = RUBRIC_DIR / f"{version}.yaml"
    if not path.is_file():
        raise AlignError(
            f"annotate.rubric is {version!r}, but align ships no such rubric. Use one of: {', '.join(versions())}."
        )
    raw = path.read_bytes()
    data = yaml.safe_load(raw)
    if data.get("version") != version:
        raise AlignError(f"{path} says version {data.get('version')!r}; it must say {version!r}.")
    return Rubric(version=version, sha256=hashlib.sha256(raw).hexdigest(), data=data)
