"""Synthetic preference pairs of controlled token lengths, as text the trainers tokenize themselves.

The text uses characters that no merge of tiny://llama's tokenizer touches, so every character is
exactly one token: a row's token counts are its string lengths (plus the EOS TRL appends).
"""

from __future__ import annotations

import random

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # no spaces, so no merge (all lowercase or "Ġ"-led) applies


def _length(rng: random.Random, mean: float, spread: float) -> int:
    return max(1, round(rng.uniform(mean * (1 - spread), mean * (1 + spread))))


def preference_rows(n: int, seq_len: int, spread: float, seed: int) -> list[dict[str, str]]:
    """`n` rows of prompt/chosen/rejected; prompt and each response average seq_len/2 tokens, +-spread."""
    rng = random.Random(seed)
    half = seq_len / 2

    def text() -> str:
        return "".join(rng.choices(ALPHABET, k=_length(rng, half, spread)))

    return [{"prompt": text(), "chosen": text(), "rejected": text()} for _ in range(n)]
