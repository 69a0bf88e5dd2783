"""Data preparation over several workers gives what one process gives; how many workers a map gets."""

from __future__ import annotations

import pytest
from datasets import Dataset
from transformers import AutoTokenizer

from align.data.workers import ROWS_PER_WORKER, cores, map_workers
from align.methods import dpo
from align.models.tiny import resolve


def test_pairs_prepared_by_two_workers_equal_one_process(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path))
    tokenizer = AutoTokenizer.from_pretrained(resolve("tiny://llama"))
    rows = []
    for i in range(40):
        history = [{"role": "user", "content": f"turn {i} " + "word " * (i * 3)}]
        if i % 3 == 0:  # multi-turn: earlier turns are dropped first by truncation
            history = [
                {"role": "user", "content": "earlier " * 20},
                {"role": "assistant", "content": "answer"},
                *history,
            ]
        rows.append(
            {
                "chosen": [*history, {"role": "assistant", "content": f"good {i}"}],
                "rejected": [*history, {"role": "assistant", "content": f"bad {i}"}],
                "prompt": "unused",
            }
        )
    dataset = Dataset.from_list(rows)
    one = dpo.prepare_pairs(dataset, tokenizer, max_prompt_length=48).to_list()
    two = dpo.prepare_pairs(dataset, tokenizer, max_prompt_length=48, num_proc=2).to_list()
    assert two == one
    expected = [dpo.to_conversational(row) for row in rows]
    for got, want in zip(one, expected, strict=True):
        assert (got["chosen"], got["rejected"]) == (want["chosen"], want["rejected"])
        assert got["prompt"][-1]["content"].endswith(want["prompt"][-1]["content"][-10:])  # kept the tail


@pytest.mark.parametrize("rows", [1, 300, ROWS_PER_WORKER * 2, ROWS_PER_WORKER * 1000])
def test_workers_default_to_the_cores_for_large_sets_only(rows):
    expected = min(cores(), rows // ROWS_PER_WORKER)
    assert map_workers(None, rows) == (expected if expected > 1 else None)
    assert map_workers(3, rows) == (3 if rows > 1 else None)  # the recipe's number wins
    assert map_workers(1, rows) is None
