"""ARCHITECTURE.md stays true: every module of the package has its line, and every module it names exists."""

from __future__ import annotations

import re

from repo_paths import REPO

PACKAGE = REPO / "src" / "align"


def test_every_module_is_described_and_every_described_module_exists():
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    words = set(re.findall(r"[\w.]+", text))
    modules = [p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"]
    missing = [str(p.relative_to(PACKAGE)) for p in modules if p.name not in words and p.stem not in words]
    assert not missing, f"ARCHITECTURE.md has no line for {missing}"
    table = "\n".join(line for line in text.splitlines() if line.startswith("| `"))
    named = set(re.findall(r"`((?:\w+/)*\w+\.py)`", table))
    stale = sorted(n for n in named if not any(p.as_posix().endswith(n) for p in modules))
    assert not stale, f"ARCHITECTURE.md names modules that do not exist: {stale}"
