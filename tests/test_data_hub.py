"""Hub datasets of the wrong schema, served offline in place of `datasets.load_dataset`.

The hub layouts themselves are read for real in tests/test_hub_layouts.py."""

from __future__ import annotations

import datasets
import pytest

from align import paths
from align.config.recipe import BinarizeConfig
from align.data.binarize import binarize
from align.errors import AlignError


@pytest.fixture
def hub(monkeypatch):
    """Record load_dataset calls; serve `served[path]` for hub ids, defer to the real one otherwise."""
    calls, served, real = [], {}, datasets.load_dataset

    def fake(path, *args, **kwargs):
        if path not in served:
            return real(path, *args, **kwargs)
        calls.append((path, args, kwargs))
        value = served[path]
        return value(*args, **kwargs) if callable(value) else value

    monkeypatch.setattr(datasets, "load_dataset", fake)
    # align.paths checks that a hub id is reachable or cached before loading: the served ids count as cached
    in_cache = paths._in_hub_cache
    monkeypatch.setattr(
        paths, "_in_hub_cache", lambda repo_id, *a: repo_id in served or in_cache(repo_id, *a)
    )
    return calls, served


def test_hub_dataset_with_wrong_columns(hub, tmp_path):
    _, served = hub
    served["someone/prefs"] = datasets.Dataset.from_list([{"prompt": "p", "chosen": "c"}])
    with pytest.raises(AlignError, match="someone/prefs is not raw UltraFeedback.*instruction, completions"):
        binarize("someone/prefs", BinarizeConfig(), tmp_path)
