"""Reward-scoring throughput: sequences/s of align.rm.scoring.score_texts at a batch size and length.

Measures the real path (tokenize, length-sort, right-pad, forward) on texts of exactly
--length tokens. `--shape tiny` scores with tiny://llama-rm (CPU-friendly); `--shape 7b`
builds a randomly initialised LLaMA-7B-shaped sequence classifier from a config (no download;
meant for a GPU) and feeds it the tiny tokenizer's ids, which are valid 7B ids.

    python scripts/bench_score.py --batch-size 8 --length 256 --threads 1
    python scripts/bench_score.py --shape 7b --dtype bfloat16 --batch-size 16 --length 1024
"""

from __future__ import annotations

import argparse
import statistics
import time
import typing

import torch
from transformers import AutoModelForSequenceClassification, LlamaConfig

from align.config.passthrough import TorchDtype
from align.config.recipe import RewardModelConfig
from align.rm.load import load_reward_model
from align.rm.scoring import score_texts

LLAMA_7B = {
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
}


def texts_of_length(tokenizer, length: int, n: int) -> list[str]:
    """`n` texts of about `length` tokens each (special tokens included; the measured range is printed)."""
    special = len(tokenizer("")["input_ids"])
    words = " ".join(f"the reward of answer {i} is" for i in range(length))
    ids = tokenizer(words, add_special_tokens=False)["input_ids"]
    texts = []
    for i in range(n):
        window = ids[i % 7 : i % 7 + length - special]
        texts.append(tokenizer.decode(window))
    return texts


def build_model(shape: str, dtype: str, device: str):
    _, tokenizer = load_reward_model(RewardModelConfig(name_or_path="tiny://llama-rm", dtype="float32"))
    if shape == "tiny":
        model, _ = load_reward_model(
            RewardModelConfig(name_or_path="tiny://llama-rm", dtype=dtype), device=device
        )
        return model, tokenizer
    config = LlamaConfig(**LLAMA_7B, num_labels=1, pad_token_id=tokenizer.pad_token_id)
    with torch.device(device):  # built in place, in the target dtype: no fp32 copy of 7B weights
        model = AutoModelForSequenceClassification.from_config(config, dtype=getattr(torch, dtype)).eval()
    return model, tokenizer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", choices=["tiny", "7b"], default="tiny")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--length", type=int, default=256, help="Tokens per sequence.")
    p.add_argument("--num", type=int, default=64, help="Sequences scored per measurement.")
    p.add_argument("--repeat", type=int, default=5, help="Timed runs; the best and the median are reported.")
    p.add_argument("--dtype", choices=typing.get_args(TorchDtype), default="float32")
    p.add_argument("--threads", type=int, help="CPU threads for torch (1 is steadier on a shared machine).")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model, tokenizer = build_model(args.shape, args.dtype, args.device)
    texts = texts_of_length(tokenizer, args.length, args.num)
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    score_texts(model, tokenizer, texts[: args.batch_size], args.batch_size, progress=False)  # warm-up
    times = []
    for _ in range(args.repeat):
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        score_texts(model, tokenizer, texts, args.batch_size, progress=False)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    best, median = min(times), statistics.median(times)
    params = sum(p.numel() for p in model.parameters())
    where = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else f"cpu, {torch.get_num_threads()} threads"
    )
    print(
        f"shape={args.shape} ({params / 1e6:.1f}M params, {args.dtype}) on {where}: batch {args.batch_size}, "
        f"{min(lengths)}-{max(lengths)} tokens/seq, {args.num} seqs: best of {args.repeat} {best:.2f}s -> "
        f"{args.num / best:.1f} seq/s, {sum(lengths) / best:.0f} tok/s (median {args.num / median:.1f} seq/s)"
    )


if __name__ == "__main__":
    main()
