"""The offline tiny models: deterministic, lossless tokenizers, chat templates, distinct tokenizers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from align.errors import AlignError
from align.models import tiny


def _digest(directory: str) -> str:
    return hashlib.sha256((Path(directory) / "model.safetensors").read_bytes()).hexdigest()


def test_building_twice_gives_identical_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGN_CACHE", str(tmp_path / "a"))
    first = tiny.resolve("tiny://llama")
    monkeypatch.setenv("ALIGN_CACHE", str(tmp_path / "b"))
    second = tiny.resolve("tiny://llama")
    assert first != second and _digest(first) == _digest(second)


@pytest.mark.parametrize("name", sorted(tiny.SPECS))
def test_tokenizer_is_lossless_and_has_a_chat_template(name):
    tok = AutoTokenizer.from_pretrained(tiny.resolve(f"tiny://{name}"))
    text = "Ünïcode, emoji 🙂, tabs\tand  double  spaces.\n<|user|> stays text? No: special."
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert "hi" in rendered and tok.pad_token is not None


def test_policy_and_reward_tokenizers_differ_for_the_cross_template_case():
    llama = AutoTokenizer.from_pretrained(tiny.resolve("tiny://llama"))
    ultralm = AutoTokenizer.from_pretrained(tiny.resolve("tiny://ultralm"))
    text = "the answer is in the book"
    assert llama(text)["input_ids"] != ultralm(text)["input_ids"]
    prompt = [{"role": "user", "content": "hi"}]
    assert (
        ultralm.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        == "User: hi</s>\nAssistant: "
    )


def test_unknown_tiny_name_lists_the_available_ones():
    with pytest.raises(AlignError, match="tiny://llama-rm"):
        tiny.resolve("tiny://gpt5")
