"""Tiny random models and tokenizers, built offline and deterministically, addressed as `tiny://NAME`.

Tests and smoke recipes use only these, so nothing needs the hub. Each is built once into
`$ALIGN_CACHE/tiny/NAME-vVERSION` (default `~/.cache/align`) from a fixed seed, so every
machine builds byte-identical weights.

- `tiny://llama`     causal LM, byte-level BPE tokenizer with a Zephyr-style chat template.
- `tiny://llama-rm`  sequence-classification (num_labels=1) model on the same tokenizer.
- `tiny://ultralm`   causal LM on a *different* tokenizer (plain bytes) and UltraLM's
                     `User: ...</s>\\nAssistant: ` template: the cross-tokenizer PPO case.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from align.cache import build_once, cache_root
from align.errors import AlignError

PREFIX = "tiny://"
VERSION = 1
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>"]

ZEPHYR_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
ULTRALM_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'assistant' %}Assistant: {{ message['content'] }}</s>\n"
    "{% else %}User: {{ message['content'] }}</s>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant: {% endif %}"
)
# Frequent English pieces, merged in this order, as in a merges.txt ('Ġ' is a leading space).
_MERGES_TXT = (
    "Ġ t, h e, i n, e r, a n, o n, Ġ a, r e, Ġt he, e n, o u, Ġ s, "
    "a t, e s, Ġ w, i s, o r, Ġ c, i t, n d, Ġ o, Ġ i, Ġ p, Ġ b, "
    "a l, e d, in g, Ġ f, Ġa nd, a r, l e, Ġ m, Ġ d, i c, Ġo f, Ġt o, "
    "Ġ h, s t, Ġ y, Ġy ou, Ġ n, l y, Ġ I, Ġ e, Ġ l, i on, Ġi s, e l"
)
_MERGES = [tuple(m.split()) for m in _MERGES_TXT.split(", ")]


@dataclass(frozen=True)
class TinySpec:
    head: str  # "causal-lm" or "reward"
    tokenizer: str  # "bpe" or "bytes"
    chat_template: str
    hidden_size: int = 64
    num_layers: int = 2
    seed: int = 0


SPECS: dict[str, TinySpec] = {
    "llama": TinySpec("causal-lm", "bpe", ZEPHYR_TEMPLATE),
    "llama-rm": TinySpec("reward", "bpe", ZEPHYR_TEMPLATE, seed=1),
    "ultralm": TinySpec("causal-lm", "bytes", ULTRALM_TEMPLATE, seed=2),
}


def is_tiny(name_or_path: str) -> bool:
    return name_or_path.startswith(PREFIX)


def byte_level(model: Any) -> Any:
    """A `tokenizers.Tokenizer` over `model` (a BPE) that splits and decodes at the byte level: lossless for any text."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers

    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def as_transformers(tok: Any, chat_template: str, max_length: int) -> Any:
    """`tok` as a transformers tokenizer with the tiny models' special tokens and a chat template."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        chat_template=chat_template,
        model_max_length=max_length,
    )


def build_tokenizer(kind: str, chat_template: str):
    """A byte-level BPE tokenizer: lossless for any text, no download, fixed vocabulary."""
    from tokenizers import models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    merges = _MERGES if kind == "bpe" else []
    vocab: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for piece in [*alphabet, *("".join(m) for m in merges)]:
        vocab.setdefault(piece, len(vocab))
    tok = byte_level(models.BPE(vocab=vocab, merges=list(merges), unk_token="<unk>"))
    tok.add_special_tokens(SPECIAL_TOKENS)
    return as_transformers(tok, chat_template, 1024)


def _build(spec: TinySpec, target: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    tokenizer = build_tokenizer(spec.tokenizer, spec.chat_template)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.hidden_size * 2,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        num_labels=1,
    )
    torch.manual_seed(spec.seed)
    cls = LlamaForSequenceClassification if spec.head == "reward" else LlamaForCausalLM
    model = cls(config).to(torch.float32)
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)


def resolve(name_or_path: str) -> str:
    """Map `tiny://NAME` to its local directory (building it on first use); pass others through."""
    if not is_tiny(name_or_path):
        return name_or_path
    name = name_or_path[len(PREFIX) :]
    if name not in SPECS:
        raise AlignError(
            f"Unknown tiny model {name_or_path!r}. Available: {', '.join(PREFIX + n for n in SPECS)}."
        )
    target = cache_root() / "tiny" / f"{name}-v{VERSION}"
    return str(build_once(target, "config.json", lambda folder: _build(SPECS[name], folder)))
