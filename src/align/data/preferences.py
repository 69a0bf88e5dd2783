"""The recipe's data section -> a DatasetDict of preference pairs ("train", and "test" when there is one).

Raw UltraFeedback is binarized through the same code as `align binarize` and cached under
`$ALIGN_CACHE/binarized/<key>`, the key hashing the input's identity, the binarize settings
and CODE_VERSION, so a recipe binarizes once and every later run (and every process of a
multi-GPU launch) reads the cached files. Binarized sets load as they are; the Argilla schema
(align.data.argilla) is converted to the same pairs. A single-split set gets its test split from
`data.test_size` through datasets' own train_test_split, so it matches a published split row for row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from align.cache import build_once, cache_root
from align.config.recipe import DataConfig
from align.data.argilla import to_pairs
from align.data.binarize import CODE_VERSION, TEST, TRAIN, binarize
from align.data.hub import load_hub
from align.data.loader import file_digest, input_identity
from align.data.samples import resolve
from align.errors import AlignError
from align.paths import load_files

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


def train_file(directory: Path, train_split: str) -> Path:
    """`directory/{train_split}.jsonl`, or an error listing what the directory holds instead."""
    path = directory / f"{train_split}.jsonl"
    if not path.is_file():
        found = ", ".join(sorted(p.name for p in directory.glob("*.jsonl"))) or "no .jsonl files"
        raise AlignError(
            f"Binarized data directory {directory} has no {train_split}.jsonl (found: {found}). Set "
            "data.train_split to the name of the training file without .jsonl, or run `align binarize` into it."
        )
    return path


def _load_dir(directory: Path, train_split: str, test_split: str | None) -> datasets.DatasetDict:
    files = {"train": train_file(directory, train_split)}
    if test_split:
        test = directory / f"{test_split}.jsonl"
        if test.is_file():
            files["test"] = test
        else:
            log.warning("%s has no %s.jsonl: no evaluation split.", directory, test_split)
    return load_files(
        "json", {k: str(v) for k, v in files.items()}, "Binarized data", "JSON lines of preference pairs"
    )


def _load_hub(data: DataConfig) -> datasets.DatasetDict:
    import datasets

    splits = {"train": data.train_split, **({"test": data.test_split} if data.test_split else {})}
    return datasets.DatasetDict({k: load_hub(data.path, v, data.revision) for k, v in splits.items()})


def _subsample(ds: datasets.Dataset, n: int | None, seed: int) -> datasets.Dataset:
    """A seeded random subset that keeps the split's order (so a curriculum stays easy-to-hard)."""
    if n is None or n >= len(ds):
        return ds
    return ds.select(sorted(random.Random(seed).sample(range(len(ds)), n)))


@dataclass
class PairCounts:
    """What loading did to the pairs (formats binarized and argilla), over all splits."""

    dropped: Counter = field(default_factory=Counter)  # reason -> rows
    ties_kept: int = 0

    def describe(self) -> str:
        parts = [f"{reason} {n}" for reason, n in sorted(self.dropped.items())]
        return f"dropped: {', '.join(parts) or 'none'}; ties kept: {self.ties_kept}"


def _load_file(path: Path, name: str) -> datasets.Dataset:
    """One local file as a single split (the Argilla set has only `train`)."""

    kinds = {".parquet": "parquet", ".json": "json", ".jsonl": "json"}
    if path.suffix not in kinds:
        raise AlignError(f"{name} has an unknown extension. Use {', '.join(kinds)}.")
    return load_files(kinds[path.suffix], str(path), name, "argilla preference rows", split="train")


def _hold_out(train: datasets.Dataset, data: DataConfig) -> datasets.DatasetDict:
    """`test_size` rows of the single split as "test", by datasets' own train_test_split.

    Calling datasets' method (not a re-implementation) gives the published split row for row:
    Notus did `get_datasets(...)` (alignment-handbook: `.shuffle(seed=42)`) then
    `train_test_split(test_size=2000, seed=42)` (argilla-io/notus/v1/fine-tune/run_dpo.py@5cd4912).
    """
    import datasets

    if data.test_size >= len(train):
        raise AlignError(
            f"data.test_size {data.test_size} leaves nothing to train on: {data.path} split {data.train_split} has "
            f"{len(train)} rows. Set data.test_size below {len(train)}."
        )
    if data.shuffle_seed is not None:
        train = train.shuffle(seed=data.shuffle_seed)
    split = train.train_test_split(test_size=data.test_size, seed=data.split_seed)
    return datasets.DatasetDict({"train": split["train"], "test": split["test"]})


def _ties(ds: datasets.Dataset, data: DataConfig, counts: PairCounts) -> datasets.Dataset:
    """Count pairs with equal scores, and drop them when data.drop_ties says so."""
    if not {"score_chosen", "score_rejected"} <= set(ds.column_names):
        if data.drop_ties:
            raise AlignError(
                f"data.drop_ties needs score_chosen and score_rejected, which {data.path} lacks. Remove "
                "data.drop_ties or give scored pairs."
            )
        return ds
    # [:] reads each column at once; iterating a datasets Column formats it one row at a time (10x slower)
    tied = [c == r for c, r in zip(ds["score_chosen"][:], ds["score_rejected"][:], strict=True)]
    if not data.drop_ties:
        counts.ties_kept += sum(tied)
        return ds
    counts.dropped["tie"] += sum(tied)
    return ds.select([i for i, t in enumerate(tied) if not t])


def load_pairs_counted(data: DataConfig, seed: int) -> tuple[datasets.DatasetDict, PairCounts]:
    """`load_preferences`, plus what loading dropped and kept (for the log and `align check`)."""
    counts = PairCounts()
    if data.format == "raw":
        splits = _load_dir(binarized_dir(data), TRAIN, TEST if data.binarize.test_size else None)
    else:
        import datasets

        from align.inputs import data_source

        source = data_source(data)
        if isinstance(source, Path) and source.is_dir():
            splits = _load_dir(source, data.train_split, data.test_split)
        elif isinstance(source, Path):  # data_source lets only format: argilla name a file
            splits = datasets.DatasetDict({"train": _load_file(source, f"data.path {data.path}")})
        else:
            splits = _load_hub(data)
        if data.test_size:
            splits = _hold_out(splits["train"], data)
        for name, ds in splits.items():
            if data.format == "argilla":
                ds, dropped = to_pairs(ds, f"{data.path} ({name})")
                counts.dropped.update(dropped)
            splits[name] = _ties(ds, data, counts)
        log.info("%s: %s", data.path, counts.describe())
    splits["train"] = _subsample(splits["train"], data.max_train_samples, seed)
    if "test" in splits:
        splits["test"] = _subsample(splits["test"], data.max_eval_samples, seed)
    return splits, counts


def load_preferences(data: DataConfig, seed: int) -> datasets.DatasetDict:
    """Preference pairs in the H4 format as a DatasetDict with "train" and, if any, "test".

    `seed` picks the max_train_samples / max_eval_samples subsets; the binarization itself uses
    data.binarize.seed and a held-out test split data.split_seed, so changing the training seed
    does not change the pairs.
    """
    return load_pairs_counted(data, seed)[0]
