"""Time `align binarize` on a synthetic raw file: rows per second with 1 and 2 worker processes.

Usage: python scripts/bench_binarize.py [--rows 64000] [--seed 0]

Each run reads its own copy of the file with a fresh datasets cache, so the time includes
loading the JSONL as well as binarizing and writing the splits.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-proc", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-binarize-") as tmp:
        os.environ["HF_DATASETS_CACHE"] = str(Path(tmp) / "hf")  # before datasets is imported
        from align.config.recipe import BinarizeConfig
        from align.data.binarize import binarize
        from align.data.synthetic import generate_raw
        from align.jsonl import write_jsonl

        source = write_jsonl(Path(tmp) / "raw.jsonl", generate_raw(args.rows, args.seed))
        print(f"{args.rows} rows, {source.stat().st_size / 1e6:.1f} MB")
        for num_proc in args.num_proc:
            copy = shutil.copy(source, Path(tmp) / f"raw-{num_proc}.jsonl")
            start = time.perf_counter()
            report = binarize(str(copy), BinarizeConfig(), Path(tmp) / f"out-{num_proc}", num_proc=num_proc)
            seconds = time.perf_counter() - start
            print(
                f"num_proc={num_proc}: {seconds:.1f} s, {report['rows_read'] / seconds:,.0f} rows/s "
                f"({sum(report['rows_written'].values())} pairs)"
            )


if __name__ == "__main__":
    main()
