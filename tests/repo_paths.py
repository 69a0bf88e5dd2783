"""The repository root, computed once for every test module (conftest's `repo` fixture returns it too)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
