"""align's on-disk cache ($ALIGN_CACHE, default ~/.cache/align): built once, shared by processes.

Entries are built in a temporary folder beside their target and renamed into place, so a
reader never sees half an entry and concurrent builders are safe: the first rename wins and
the others' identical copies are discarded. Under a multi-process launch the main process
builds while the others wait, then read its entry (align.processes.main_first), so one
launch builds each entry once.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def installed_versions(*dists: str) -> list[str]:
    """`name=version` of each distribution (`name=none` when absent), for cache keys."""
    found = []
    for dist in dists:
        try:
            found.append(f"{dist}={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{dist}=none")
    return found


def remember(kind: str, key: Any, compute: Callable[[], Any]) -> Any:
    """`compute()` (a JSON value), kept in $ALIGN_CACHE/kind/ under a hash of `key` and reused while `key` holds.

    For answers `align check` would otherwise import TRL, transformers or datasets to get; `key`
    must hold everything the answer depends on (installed versions, file stamps, settings).
    """
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]
    path = cache_root() / kind / f"{digest}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    value = compute()
    with contextlib.suppress(OSError):  # a read-only cache costs only the next call its speed
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(value), encoding="utf-8")
        os.replace(tmp, path)
    return value


def file_stamps(path: Path) -> list[tuple[str, int, int]]:
    """(path, size, mtime) of a file or of every file under a folder: a cheap identity for cache keys."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.exists()]
