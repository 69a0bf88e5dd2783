"""Every hub dataset align reads goes through `load_hub`: one place for revisions, the Parquet export and mirrors.

Some sets (openai/webgpt_comparisons, openai/summarize_from_feedback) are loading-script repos,
which datasets >= 4 refuses to run. The hub also publishes every dataset as Parquet on the
branch `refs/convert/parquet`, laid out `{config}/{split}/{n:04d}.parquet` (`{config}/partial-{split}/`
when a split was cut short); a config there is a folder, not a builder config, so it is
selected with `data_dir`, and a script's default config is the folder `default`.

ALIGN_HUB_MIRROR=DIR reads `owner/name` from DIR/owner/name (DIR/@REVISION/owner/name for a
revision; the folder keeps the repo's name, by which datasets recognises a loading script)
instead of the hub: the same `datasets` calls on a local copy laid out like the hub repo, for
clusters without internet access and for the offline tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from align.errors import AlignError

PARQUET_EXPORT = "refs/convert/parquet"
MIRROR_ENV = "ALIGN_HUB_MIRROR"


def mirror_source(repo_id: str, revision: str | None) -> tuple[str, str | None]:
    """(path for load_dataset, revision to pass): the hub id, or its folder in the mirror."""
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        return repo_id, revision
    folder = Path(mirror) / (f"@{revision}/{repo_id}" if revision else repo_id)
    if not folder.is_dir():
        raise AlignError(
            f"{MIRROR_ENV}={mirror} has no copy of hub dataset {repo_id}"
            + (f" at revision {revision}" if revision else "")
            + f": {folder} is missing. Copy the repo there, or unset {MIRROR_ENV} to read from the hub."
        )
    return str(folder), None


def load_hub(
    repo_id: str, split: str, revision: str | None = None, config: str | None = None, **kwargs: Any
) -> Any:
    """`datasets.load_dataset(repo_id, config, split=..., revision=...)`, or the Parquet export of a script repo."""
    import datasets

    path, rev = mirror_source(repo_id, revision)
    try:
        return datasets.load_dataset(path, config, split=split, revision=rev, **kwargs)
    except RuntimeError as exc:
        if "scripts are no longer supported" not in str(exc):
            raise
        if revision is not None:
            raise AlignError(
                f"Hub dataset {repo_id} at revision {revision} is a loading script, which datasets >= 4 cannot run. "
                f"Drop the revision to read the hub's Parquet export ({PARQUET_EXPORT}) instead."
            ) from None
    path, rev = mirror_source(repo_id, PARQUET_EXPORT)
    return datasets.load_dataset(path, split=split, revision=rev, data_dir=config or "default", **kwargs)
