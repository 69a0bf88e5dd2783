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
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from align.processes import main_first


def cache_root() -> Path:
    return Path(os.environ.get("ALIGN_CACHE", Path.home() / ".cache" / "align"))


def build_once(target: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """`target`, after `build(folder)` has filled it, unless `target/marker` already exists."""
    with main_first():
        if (target / marker).is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
        try:
            build(tmp)
            with contextlib.suppress(OSError):  # another builder finished first: its copy is identical
                tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
