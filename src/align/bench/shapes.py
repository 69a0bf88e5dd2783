"""Model shapes the benchmark builds with random weights: config kwargs, no download.

Every shape tokenizes with tiny://llama's tokenizer: its ids fit any of these vocabularies and the
compute per token depends only on the config, so no hub tokenizer is needed.
"""

from __future__ import annotations

from typing import Any

from align.errors import AlignError

SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    # the architecture of tiny://llama (align.models.tiny); vocab_size comes from its tokenizer
    "tiny": (
        "llama",
        dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            tie_word_embeddings=False,
        ),
    ),
    # Llama 3.2 1B
    "llama-1b": (
        "llama",
        dict(
            hidden_size=2048,
            intermediate_size=8192,
            num_hidden_layers=16,
            num_attention_heads=32,
            num_key_value_heads=8,
            vocab_size=128256,
            rope_theta=500000.0,
            tie_word_embeddings=True,
        ),
    ),
    # Mistral 7B v0.1 (the base of Zephyr-7B-beta)
    "mistral-7b": (
        "mistral",
        dict(
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            vocab_size=32000,
            rope_theta=10000.0,
            sliding_window=4096,
            tie_word_embeddings=False,
        ),
    ),
    # Llama 2 13B (the base of UltraRM-13B)
    "llama2-13b": (
        "llama",
        dict(
            hidden_size=5120,
            intermediate_size=13824,
            num_hidden_layers=40,
            num_attention_heads=40,
            num_key_value_heads=40,
            vocab_size=32000,
            tie_word_embeddings=False,
        ),
    ),
}


def model_config(shape: str, tokenizer: Any, max_positions: int) -> Any:
    """A LlamaConfig/MistralConfig for `shape`, with the tokenizer's special ids and one reward label."""
    from transformers import LlamaConfig, MistralConfig

    if shape not in SHAPES:
        raise AlignError(f"Unknown benchmark shape {shape!r}. Available: {', '.join(SHAPES)}.")
    family, kwargs = SHAPES[shape]
    cls = MistralConfig if family == "mistral" else LlamaConfig
    return cls(
        **{"vocab_size": len(tokenizer), **kwargs},
        max_position_embeddings=max(max_positions, 1024),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=1,
    )
