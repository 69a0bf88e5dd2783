"""The recipe's data section -> a DatasetDict of preference pairs ("train", and "test" when there is one).

Raw UltraFeedback is binarized through the same code as `align binarize` and cached under
`$ALIGN_CACHE/binarized/<key>`, the key hashing the input's identity, the binarize settings
and CODE_VERSION, so a recipe binarizes once and every later run (and every process of a
multi-GPU launch) reads the cached files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from pathlib import Path
from typing import TYPE_CHECKING

from align.cache import build_once, cache_root
from align.config.recipe import DataConfig
from align.data.binarize import CODE_VERSION, TEST, TRAIN, binarize
from align.data.hub import load_hub
from align.data.loader import file_digest, input_identity
from align.data.samples import resolve
from align.errors import AlignError

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)


def cache_key(data: DataConfig) -> str:
    """Hash of everything that determines the binarized pairs."""
    decontaminate = data.binarize.decontaminate
    if decontaminate and Path(resolve(decontaminate)).is_file():
        decontaminate = f"file:{file_digest(Path(resolve(decontaminate)))}"
    identity = {
        "input": input_identity(data.path, data.revision),
        "binarize": {**data.binarize.model_dump(), "decontaminate": decontaminate},
        "code_version": CODE_VERSION,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def binarized_dir(data: DataConfig) -> Path:
    """The cached binarization of a raw data section, built on first use."""
    return build_once(
        cache_root() / "binarized" / cache_key(data),
        "report.json",
        lambda folder: binarize(
            data.path, data.binarize, folder, num_proc=data.num_proc, revision=data.revision
        ),
    )


def _load_dir(directory: Path, train_split: str, test_split: str | None) -> datasets.DatasetDict:
    import datasets

    files = {"train": directory / f"{train_split}.jsonl"}
    if not files["train"].is_file():
        found = ", ".join(sorted(p.name for p in directory.glob("*.jsonl"))) or "no .jsonl files"
        raise AlignError(
            f"Binarized data directory {directory} has no {train_split}.jsonl (found: {found}). Set "
            "data.train_split to the name of the training file without .jsonl, or run `align binarize` into it."
        )
    if test_split:
        test = directory / f"{test_split}.jsonl"
        if test.is_file():
            files["test"] = test
        else:
            log.warning("%s has no %s.jsonl: no evaluation split.", directory, test_split)
    return datasets.load_dataset("json", data_files={k: str(v) for k, v in files.items()})


def _load_hub(data: DataConfig) -> datasets.DatasetDict:
    import datasets

    splits = {"train": data.train_split, **({"test": data.test_split} if data.test_split else {})}
    return datasets.DatasetDict({k: load_hub(data.path, v, data.revision) for k, v in splits.items()})


def _subsample(ds: datasets.Dataset, n: int | None, seed: int) -> datasets.Dataset:
    """A seeded random subset that keeps the split's order (so a curriculum stays easy-to-hard)."""
    if n is None or n >= len(ds):
        return ds
    return ds.select(sorted(random.Random(seed).sample(range(len(ds)), n)))


def load_preferences(data: DataConfig, seed: int) -> datasets.DatasetDict:
    """Preference pairs in the H4 format as a DatasetDict with "train" and, if any, "test".

    `seed` picks the max_train_samples / max_eval_samples subsets; the binarization itself uses
    data.binarize.seed, so changing the training seed does not change the pairs.
    """
    if data.format == "raw":
        splits = _load_dir(binarized_dir(data), TRAIN, TEST if data.binarize.test_size else None)
    else:
        local = Path(resolve(data.path))
        if local.is_dir():
            splits = _load_dir(local, data.train_split, data.test_split)
        elif local.exists():
            raise AlignError(
                f"data.path {data.path} is a file, but format: binarized expects a directory holding "
                f"{data.train_split}.jsonl (and {data.test_split}.jsonl), or a hub id. Use format: raw for a raw "
                "UltraFeedback file."
            )
        else:
            splits = _load_hub(data)
    splits["train"] = _subsample(splits["train"], data.max_train_samples, seed)
    if "test" in splits:
        splits["test"] = _subsample(splits["test"], data.max_eval_samples, seed)
    return splits
