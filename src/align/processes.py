"""The processes of a launch, for work align does outside a Trainer (caches, best-of-N shards).

accelerate's PartialState is a singleton that picks its backend when first created; without a
GPU it only joins the other processes when created with `cpu=True` (the gloo backend), which
is what the Trainer asks for later (`use_cpu`, align.methods.training). Creating it here
with the same choice keeps both consistent: transformers' TrainingArguments recreates it over
the same process group.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


def launched() -> bool:
    """True in one of several processes started by a launcher (torchrun, accelerate, DeepSpeed)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def state() -> Any:
    """accelerate's PartialState of this launch (one process when not launched)."""
    from accelerate import PartialState

    from align.launch import has_accelerator

    return PartialState(cpu=not has_accelerator())


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Run the block on the main process, then on each machine's first process, then on the rest.

    For shared caches: the first builds, the others find the entry built (one builder per machine
    when the cache directory is local to each machine). Every process must enter the block, in
    the same order, since it holds two barriers. Outside a launch it is a plain block.
    """
    if not launched():
        yield
        return
    current = state()
    with current.main_process_first(), current.local_main_process_first():
        yield
