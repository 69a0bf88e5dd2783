"""Shared fixtures. Tests are offline: any hub access is a bug and fails fast."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from repo_paths import REPO

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def tiny_cpu(monkeypatch):
    """Run from the repo root on one torch thread: tiny models are faster so, and CI has two cores."""
    import torch

    monkeypatch.chdir(REPO)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def write_recipe(tmp_path: Path):
    """Write a YAML string to tmp_path/NAME and return its path."""

    def _write(text: str, name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


@pytest.fixture(scope="session")
def llama_tokenizer():
    """The tokenizer of tiny://llama, whose chat template lays turns out as Zephyr's does."""
    from transformers import AutoTokenizer

    from align.models.tiny import resolve

    return AutoTokenizer.from_pretrained(resolve("tiny://llama"))


@pytest.fixture
def write_pairs(tmp_path: Path):
    """Write (prompt, chosen, rejected) triples as H4 rows in tmp_path/pairs/train_prefs.jsonl; return the folder."""
    from align.jsonl import write_jsonl

    def _write(triples: list[tuple[str, str, str]]) -> Path:
        folder = tmp_path / "pairs"
        folder.mkdir(exist_ok=True)
        rows = [
            {
                "prompt": p,
                "chosen": [{"role": "user", "content": p}, {"role": "assistant", "content": c}],
                "rejected": [{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                "score_chosen": 8.0,
                "score_rejected": 2.0,
            }
            for p, c, r in triples
        ]
        write_jsonl(folder / "train_prefs.jsonl", rows)
        return folder

    return _write
