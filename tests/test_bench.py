"""`align bench` on CPU at the tiny shape: every result field present, FLOPs by an independent count."""

from __future__ import annotations

import json
import math

import pytest

from align.bench.run import BenchSettings, run_bench
from align.bench.synthetic import preference_rows
from align.cli import main
from align.config.recipe import ModelConfig
from align.models.loading import load_tokenizer

NUMBERS = ("seconds", "tokens_per_s", "samples_per_s", "model_tflops_per_s", "padding_fraction")


def hand_count_llama(hidden: int, inter: int, layers: int, heads: int, kv_heads: int, vocab: int) -> int:
    """Non-embedding parameters of an untied Llama: attention, MLP, norms per layer, final norm, lm_head."""
    head_dim = hidden // heads
    attention = 2 * hidden * hidden + 2 * hidden * kv_heads * head_dim
    mlp = 3 * hidden * inter
    return layers * (attention + mlp + 2 * hidden) + hidden + hidden * vocab


def test_dpo_bench_record_and_flops(tmp_path) -> None:
    settings = BenchSettings(method="dpo", shape="tiny", steps=2, batch_size=2, seq_len=16)
    record = run_bench(settings)

    vocab = len(load_tokenizer(ModelConfig(name_or_path="tiny://llama")))
    n = hand_count_llama(hidden=64, inter=128, layers=2, heads=4, kv_heads=2, vocab=vocab)
    assert record["params_non_embedding"] == n
    assert record["flops_per_token"] == 8 * n  # online reference: 6N policy + 2N reference

    # each pair trains prompt+chosen+EOS and prompt+rejected+EOS; one character is one token
    rows = preference_rows(3 * 2, 16, 0.5, 0)
    expected = sum(2 * len(r["prompt"]) + len(r["chosen"]) + len(r["rejected"]) + 2 for r in rows)
    assert record["all_trained_tokens"] == expected
    assert 0 < record["trained_tokens"] < expected
    assert record["model_tflops_per_s"] * 1e12 == pytest.approx(8 * n * record["tokens_per_s"])

    for key in NUMBERS:
        assert math.isfinite(record[key]), key
    assert 0 <= record["padding_fraction"] < 1
    assert record["mfu"] == "n/a" and record["peak_memory_gib"] == "n/a"  # CPU
    assert record["device"] == "cpu" and record["timed_steps"] == 2
    assert set(record["versions"]) == {"torch", "transformers", "trl", "align"}


def test_cli_both_modes_append_jsonl(tmp_path, capsys) -> None:
    out = tmp_path / "bench.jsonl"
    argv = ["bench", "--method", "reward", "--steps", "1", "--batch-size", "2", "--seq-len", "8"]
    assert main([*argv, "--mode", "both", "--output", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["mode"] for r in records] == ["align", "trl-defaults"]
    assert all(r["flops_per_token"] == 6 * r["params_non_embedding"] for r in records)  # no reference model
    assert "align / TRL-defaults tokens/s" in capsys.readouterr().out


def test_ppo_bench_generation_share_and_flops() -> None:
    from align.bench.ppo import run_ppo_bench

    steps, batch, seq_len = 2, 2, 24
    record = run_ppo_bench(
        BenchSettings(method="ppo", shape="tiny", steps=steps, batch_size=batch, seq_len=seq_len)
    )
    vocab = len(load_tokenizer(ModelConfig(name_or_path="tiny://llama")))
    n = hand_count_llama(hidden=64, inter=128, layers=2, heads=4, kv_heads=2, vocab=vocab)
    # rollout: generation 2N + reference, value, reward forwards 6N; training: policy and value 12N
    assert record["flops_per_token"] == 20 * n
    assert 0 < record["generation_share"] < 1
    # every sample is a full prompt (seq_len // 2 ordinary tokens) plus at most response_length tokens
    samples = (steps + 1) * batch
    assert samples * (seq_len // 2) < record["all_trained_tokens"] <= samples * seq_len
    assert math.isclose(record["model_tflops_per_s"] * 1e12, 20 * n * record["tokens_per_s"], rel_tol=1e-9)
    assert record["mfu"] == "n/a" and record["peak_memory_gib"] == "n/a"
