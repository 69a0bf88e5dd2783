"""How many worker processes a datasets.map gets: the recipe's number, else one per core for large sets."""

from __future__ import annotations

import os

# our choice: starting a worker process and handing its shard back has a fixed cost that smaller
# shards do not repay (the smoke recipes' few hundred pairs stay in one process)
ROWS_PER_WORKER = 5_000


def cores() -> int:
    """CPU cores this process may run on (its affinity, which SLURM and containers restrict)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def map_workers(requested: int | None, rows: int) -> int | None:
    """`num_proc` for datasets.map over `rows` rows; None runs it in this process.

    `requested` (data.num_proc, --num-proc) wins; None means one worker per core, at most one
    per ROWS_PER_WORKER rows.
    """
    n = requested if requested is not None else min(cores(), rows // ROWS_PER_WORKER)
    return n if n > 1 and rows > 1 else None
