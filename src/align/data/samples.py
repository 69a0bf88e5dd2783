"""Bundled sample files, addressed as `sample://NAME` wherever a data path is accepted.

NAME is the stem of a file in `align/data/sample/`, with an optional `_sample` suffix left out
(`sample://ultrafeedback` is `ultrafeedback_sample.jsonl`), so adding a sample is dropping a file there.
"""

from __future__ import annotations

from pathlib import Path

from align.errors import AlignError

PREFIX = "sample://"
SUFFIX = "_sample"
SAMPLE_DIR = Path(__file__).resolve().parent / "sample"


def available() -> list[str]:
    """Names that `sample://NAME` accepts."""
    if not SAMPLE_DIR.is_dir():
        return []
    stems = {p.stem for p in SAMPLE_DIR.iterdir() if p.is_file() and not p.name.startswith(".")}
    return sorted(s.removesuffix(SUFFIX) for s in stems)


def resolve(path: str) -> str:
    """Map `sample://NAME` to its bundled file; any other path is returned unchanged."""
    if not path.startswith(PREFIX):
        return path
    name = path[len(PREFIX) :]
    stems = {name, name + SUFFIX} if name else set()
    matches = [p for p in SAMPLE_DIR.glob("*.*") if p.is_file() and p.stem in stems]
    if len(matches) != 1:
        names = ", ".join(PREFIX + n for n in available()) or "none"
        problem = "is ambiguous (several files share that name)" if matches else "does not exist"
        raise AlignError(
            f"Sample {path!r} {problem}. Available samples: {names}. Use one of these names, or a local path."
        )
    return str(matches[0])
