"""Read raw UltraFeedback from the hub or a local JSONL / JSON / Parquet file into a `datasets.Dataset`.

JSON is not parsed by arrow here: real copies mix types within a column (ratings "5" and 5,
`Type` a list or "None") and may hold a corrupt line, and arrow's reader fails on the whole
file for either. JSON rows therefore arrive as one `text` column (one JSON document per row)
and are parsed row by row during binarization, where a bad row is counted, not fatal.
Parquet and the hub already have a typed schema and arrive column by column.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from align.data.hub import load_hub
from align.data.schema import REQUIRED_FIELDS
from align.errors import AlignError
from align.paths import check_not_empty, check_utf8, data_file, load_files

HUB_ID = "openbmb/UltraFeedback"
REVISION = "40b436560ca83a8dba36114c22ab3c66e43f6d5e"  # the upload that fixes the overall_score bug
LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet")
_PEEK_ROWS = 100


@dataclass(frozen=True)
class RawData:
    """The loaded rows; `encoded` means each row is a JSON document in the `text` column."""

    dataset: object  # datasets.Dataset (kept untyped so importing this module stays cheap)
    encoded: bool
    name: str


def local_path(path: str, argument: str = "data.path", revision: str | None = None) -> Path | None:
    """The local file `path` names (after `sample://`), None for a hub id; an error for anything else."""
    source = data_file(path, argument, LOCAL_SUFFIXES, hub="dataset", revision=hub_revision(path, revision))
    return source if isinstance(source, Path) else None


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes: the identity of a local input in cache keys."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hub_revision(path: str, revision: str | None) -> str | None:
    """The revision to load: the one asked for; for openbmb/UltraFeedback the corrected upload by default."""
    return revision or (REVISION if path == HUB_ID else None)


def input_identity(path: str, revision: str | None) -> str:
    """What the input is, for cache keys: content hash of a local file, or hub id + revision."""
    local = local_path(path, revision=revision)
    if local is not None:
        return f"file:{file_digest(local)}"
    return f"hub:{path}@{hub_revision(path, revision) or 'main'}"


def _missing_fields_error(name: str, fields: set[str]) -> AlignError:
    missing = [f for f in REQUIRED_FIELDS if f not in fields]
    found = ", ".join(sorted(fields)) or "none"
    return AlignError(
        f"{name} is not raw UltraFeedback: its rows lack the field(s) {', '.join(missing)} (fields found: "
        f"{found}). Give the raw openbmb/UltraFeedback rows (source, instruction, completions); for an "
        "already binarized set use data.format: binarized."
    )


def _check_columns(name: str, columns: list[str]) -> None:
    if not set(REQUIRED_FIELDS) <= set(columns):
        raise _missing_fields_error(name, set(columns))


def _check_json_rows(name: str, lines: list[str]) -> None:
    """Reject a file that is not UltraFeedback at all, judged by its first rows (bad rows alone are fine)."""
    fields: set[str] = set()
    parsed = 0
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            parsed += 1
            fields |= set(row)
    if lines and not parsed:
        raise AlignError(
            f"{name} is not JSON lines: none of its first {len(lines)} non-empty lines is a JSON object. "
            "Give one UltraFeedback row per line (or a .json array, or .parquet)."
        )
    if parsed and not set(REQUIRED_FIELDS) <= fields:
        raise _missing_fields_error(name, fields)


def load_raw(path: str, revision: str | None = None, argument: str = "data.path") -> RawData:
    """Load raw rows from `path`: a local file, `sample://NAME`, or a hub dataset id (split `train`).

    A local file must be UTF-8 and non-empty; one that arrow or JSON cannot parse is one clear error.
    """
    import datasets

    local = local_path(path, argument, revision)
    if local is None:
        revision = hub_revision(path, revision)
        ds = load_hub(path, "train", revision)
        _check_columns(f"Hub dataset {path}", ds.column_names)
        return RawData(ds, encoded=False, name=f"{path}@{revision}" if revision else path)
    name = f"Input file {local}"
    what = "raw UltraFeedback rows"
    if local.suffix == ".parquet":
        ds = load_files("parquet", str(local), argument, what, split="train")
        _check_columns(name, ds.column_names)
        return RawData(ds, encoded=False, name=str(local))
    if local.suffix == ".json":
        check_not_empty(local, argument, what)
        check_utf8(local, argument)
        try:
            rows = json.loads(local.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as exc:
            raise AlignError(
                f"{name} is not valid JSON ({exc}). Fix the file or give JSON lines (.jsonl)."
            ) from None
        if not isinstance(rows, list):
            raise AlignError(
                f"{name} must hold a JSON array of UltraFeedback rows, not a {type(rows).__name__}."
            )
        if not rows:
            raise AlignError(f"{name} holds an empty JSON array: there are no rows to read. Give {what}.")
        lines = [json.dumps(row) for row in rows]  # ASCII escapes keep lone surrogates for the row check
        _check_json_rows(name, lines[:_PEEK_ROWS])
        return RawData(datasets.Dataset.from_dict({"text": lines}), encoded=True, name=str(local))
    ds = load_files("text", str(local), argument, what, split="train")
    head = ds.select(range(min(len(ds), 10 * _PEEK_ROWS)))["text"]
    _check_json_rows(name, [line for line in head if line.strip()][:_PEEK_ROWS])
    return RawData(ds, encoded=True, name=str(local))
