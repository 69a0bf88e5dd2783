"""Writing command outputs without losing anything: build beside the target, then rename into place.

Every output is first built in a temporary sibling (same filesystem, so the final rename is
atomic); an interrupted or failed command leaves the previous output as it was. A directory
align wrote records its entries in MANIFEST, and align replaces only those: a folder holding
files align did not write is refused, and even with `--overwrite` those files are kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from align.errors import AlignError
from align.jsonl import read_jsonl

MANIFEST = ".align-output.json"
T = TypeVar("T")


@contextlib.contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """A fresh hidden folder beside `target`, removed on exit (rename it to `target` to keep it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _owned(target: Path) -> set[str]:
    """Entries of `target` that an earlier align command wrote (per its manifest)."""
    try:
        return set(json.loads((target / MANIFEST).read_text(encoding="utf-8"))["entries"])
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def check_parent(target: Path, flag: str) -> None:
    """Refuse a path below a file (mkdir would fail with a traceback)."""
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise AlignError(f"{flag} {target}: {parent} is a file, not a folder. Choose another path.")
            return


def check_output_dir(
    target: str | Path, overwrite: bool, flag: str, will_write: set[str] | None = None
) -> Path:
    """Refuse `target` unless align may write its output there; call before any slow work.

    Allowed: a new or empty folder; with `overwrite`, a folder whose entries named in
    `will_write` (when known) are align's own. Anything else is one error naming the folder.
    """
    target = Path(target)
    check_parent(target, flag)
    if not target.exists():
        return target
    if not target.is_dir():
        raise AlignError(
            f"{flag} {target} is a file, but this command writes a folder there. Choose a folder path."
        )
    entries = {p.name for p in target.iterdir()} - {MANIFEST}
    if not entries:
        return target
    owned = _owned(target)
    foreign = sorted(entries - owned)
    if not overwrite:
        what = (
            f"files align did not write ({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''})"
            if foreign
            else "the output of an earlier align command"
        )
        raise AlignError(
            f"{flag} {target} already holds {what}. Choose a new or empty folder, or pass --overwrite to replace "
            "align's earlier output there (files align did not write are always kept)."
        )
    clash = sorted((will_write or set()) & set(foreign))
    if clash:
        raise AlignError(
            f"{flag} {target} holds {', '.join(clash)}, which align did not write; --overwrite replaces only "
            "align's own files. Move them away or choose another folder."
        )
    return target


def publish_dir(
    target: str | Path, build: Callable[[Path], T], overwrite: bool = False, flag: str = "--output"
) -> T:
    """Run `build(folder)` in a staging folder, then put its entries at `target`; return what build returned.

    A new or wholly align-owned `target` is swapped in by renames; where files align did not
    write are present (only with `overwrite`) align's entries are replaced one by one and the
    others left alone. Entries of the earlier output the new one lacks are removed.
    """
    target = check_output_dir(target, overwrite, flag)
    with staging_dir(target) as tmp:
        result = build(tmp)
        entries = sorted(p.name for p in tmp.iterdir() if p.name != MANIFEST)
        (tmp / MANIFEST).write_text(json.dumps({"entries": entries}, indent=1) + "\n", encoding="utf-8")
        check_output_dir(target, overwrite, flag, set(entries))  # the folder may have changed meanwhile
        existing = {p.name for p in target.iterdir()} - {MANIFEST} if target.is_dir() else set()
        if not existing:
            if target.is_dir():
                target.rmdir()
            tmp.rename(target)
        elif existing <= _owned(target):
            with staging_dir(target) as old:
                target.rename(old / "previous")
                tmp.rename(target)
        else:
            stale = _owned(target) - set(entries)
            for name in entries:
                _replace(tmp / name, target / name)
            for name in stale & existing:
                _remove(target / name)
            os.replace(tmp / MANIFEST, target / MANIFEST)
    return result


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _replace(src: Path, dst: Path) -> None:
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    os.replace(src, dst)


def check_output_file(target: str | Path, overwrite: bool, flag: str = "--output") -> Path:
    """Refuse a file output that is a folder, or that exists when `overwrite` was not given."""
    target = Path(target)
    check_parent(target, flag)
    if target.is_dir():
        raise AlignError(f"{flag} {target} is a folder; give the path of a file to write.")
    if target.exists() and not overwrite:
        raise AlignError(
            f"{flag} {target} already exists. Pass --overwrite to replace it, or choose another file name."
        )
    return target


@contextlib.contextmanager
def staged_file(target: str | Path) -> Iterator[Path]:
    """A temporary path beside `target` to write to; renamed onto `target` when the block succeeds."""
    target = Path(target)
    with staging_dir(target) as tmp:
        yield tmp / target.name
        os.replace(tmp / target.name, target)


def check_jsonl_log(target: str | Path, flag: str = "--output") -> Path:
    """Refuse a JSON-lines log to append to that is a folder or a file of something else."""
    target = check_output_file(target, overwrite=True, flag=flag)
    if target.exists():
        try:
            rows = read_jsonl(target)
        except (AlignError, UnicodeDecodeError):
            rows = [None]
        if not all(isinstance(row, dict) for row in rows):
            raise AlignError(
                f"{flag} {target} exists and is not a JSON-lines file of results, so align will not append to it. "
                "Choose another file name."
            )
    return target
