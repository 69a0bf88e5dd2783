"""align's on-disk cache ($ALIGN_CACHE, default ~/.cache/align): built once, shared by processes.

Entries are built in a temporary folder beside their target and renamed into place, so a
reader never sees half an entry and concurrent builders are safe: the first rename wins and
the others' identical copies are discarded. Under a multi-process launch the main process
builds while the others wait, then read its entry (align.processes.main_first), so one
launch builds each entry once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from align.processes import main_first
from align.publish import staging_dir


def cache_root() -> Path:
    return Path(os.environ.get("ALIGN_CACHE", Path.home() / ".cache" / "align"))


def build_once(target: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """`target`, after `build(folder)` has filled it, unless `target/marker` already exists."""
    with main_first():
        if (target / marker).is_file():
            return target
        with staging_dir(target) as tmp:
            build(tmp)
            with contextlib.suppress(OSError):  # another builder finished first: its copy is identical
                tmp.rename(target)
    return target
