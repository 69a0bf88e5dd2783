"""UltraRM checkpoints load without remote code and score exactly like the model card's forward."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from align.cli import main
from align.config.recipe import RewardModelConfig
from align.errors import AlignError
from align.rm.load import load_reward_model
from align.rm.scoring import score_texts
from align.rm.templates import check_template, default_template, render

TEXTS = [
    "Human: What is the capital of France?\n\nAssistant: Paris.",
    "Human: hi\n\nAssistant: Hello! How can I help you today? I can answer questions about almost anything.",
    "Human: Name three colours.\n\nAssistant: red",
    "Human: Écris un haïku.\n\nAssistant: 雪の朝 — a byte-fallback test",
    "Human: x\n\nAssistant: y",
]


def build_ultrarm(target: Path) -> Path:
    """A tiny checkpoint in openbmb/UltraRM-13b's on-disk layout: custom architecture, fp16 .bin shards."""
    from transformers import LlamaConfig, LlamaModel, LlamaTokenizer

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"<0x{b:02X}>": 3 + b for b in range(256)}}
    for piece in ["▁", "H", "u", "m", "a", "n", "A", "s", "i", "t", "e", "▁t", "he", "h", "▁the", ":"]:
        vocab.setdefault(piece, len(vocab))
    merges = [("▁", "t"), ("h", "e"), ("▁t", "he")]
    tokenizer = LlamaTokenizer(vocab=vocab, merges=merges, add_bos_token=True)  # no pad token, like LLaMA's
    tokenizer.save_pretrained(target)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    state = {f"model.{k}": v.half() for k, v in LlamaModel(config).state_dict().items()}
    state["regression_head.weight"] = torch.randn(1, config.hidden_size).half()
    keys = sorted(state)
    shards = [keys[: len(keys) // 2], keys[len(keys) // 2 :]]
    weight_map = {}
    for n, shard in enumerate(shards, 1):
        name = f"pytorch_model-{n:05d}-of-{len(shards):05d}.bin"
        torch.save({k: state[k] for k in shard}, target / name)
        weight_map.update(dict.fromkeys(shard, name))
    (target / "pytorch_model.bin.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    raw = {**config.to_dict(), "architectures": ["LlamaRewardModel"], "torch_dtype": "float16"}
    raw.pop("dtype", None)
    (target / "config.json").write_text(json.dumps(raw))
    return target


class ModelCardRewardModel(torch.nn.Module):
    """The model card's LlamaRewardModel, re-implemented: backbone + bias-free head, value at the last mask-1 token."""

    def __init__(self, path: Path):
        from transformers import LlamaConfig, LlamaModel

        super().__init__()
        config = LlamaConfig.from_pretrained(path)
        self.model = LlamaModel(config)
        self.regression_head = torch.nn.Linear(config.hidden_size, 1, bias=False)
        state = {}
        for shard in sorted(path.glob("pytorch_model-*.bin")):
            state.update(torch.load(shard, weights_only=True))
        self.load_state_dict(state, strict=True)
        self.float().eval()

    @torch.inference_mode()
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        rewards = self.regression_head(hidden).squeeze(-1)
        ends = attention_mask.cumsum(1).argmax(1)
        return torch.gather(rewards, 1, ends.view(-1, 1))


@pytest.fixture(scope="module")
def ultrarm(tmp_path_factory) -> Path:
    return build_ultrarm(tmp_path_factory.mktemp("ultrarm"))


@pytest.fixture(scope="module")
def reference(ultrarm):
    """Rewards of TEXTS by the model card's forward: each alone, and as one right-padded batch."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ultrarm)
    assert tokenizer.pad_token is None
    card = ModelCardRewardModel(ultrarm)
    alone = [card(**tokenizer(t, return_tensors="pt")).item() for t in TEXTS]
    ids = [tokenizer(t)["input_ids"] for t in TEXTS]
    width = max(map(len, ids))
    input_ids = torch.tensor([row + [0] * (width - len(row)) for row in ids])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids])
    batched = card(input_ids, mask).squeeze(-1).tolist()
    assert alone == pytest.approx(batched, abs=1e-5)
    return alone


def check_matches(path: Path, reference: list[float]) -> None:
    model, tokenizer = load_reward_model(RewardModelConfig(name_or_path=str(path), dtype="float32"))
    assert default_template(model, tokenizer) == "ultrarm"
    for batch_size in (1, 2, len(TEXTS)):
        assert score_texts(model, tokenizer, TEXTS, batch_size, progress=False) == pytest.approx(
            reference, abs=1e-5
        )


def test_ultrarm_checkpoint_matches_model_card(ultrarm, reference):
    check_matches(ultrarm, reference)


def test_loaded_tokenizer_pads_right_with_config_pad_id(ultrarm):
    model, tokenizer = load_reward_model(RewardModelConfig(name_or_path=str(ultrarm), dtype="float32"))
    assert tokenizer.padding_side == "right"  # LlamaTokenizer defaults to left
    assert tokenizer.pad_token_id == model.config.pad_token_id == 0
    assert model.dtype == torch.float32
    half, _ = load_reward_model(RewardModelConfig(name_or_path=str(ultrarm), dtype="auto"))
    assert half.dtype == torch.float16  # the checkpoint's own dtype


def test_converted_checkpoint_is_standard_and_matches(ultrarm, reference, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    dst = tmp_path / "converted"
    assert main(["convert-rm", str(ultrarm), str(dst), "--dtype", "float32"]) == 0
    assert (dst / "model.safetensors").is_file() and not list(dst.glob("*.bin"))
    config = json.loads((dst / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"]
    check_matches(dst, reference)
    # A plain transformers load, no align code, gives the same rewards.
    model = AutoModelForSequenceClassification.from_pretrained(dst).eval()
    tokenizer = AutoTokenizer.from_pretrained(dst)
    assert tokenizer.pad_token_id == model.config.pad_token_id == 0
    with torch.inference_mode():
        plain = [model(**tokenizer(t, return_tensors="pt")).logits.item() for t in TEXTS]
    assert plain == pytest.approx(reference, abs=1e-5)


def test_ordinary_reward_model_loads_as_is_and_causal_lm_is_refused():
    model, tokenizer = load_reward_model(RewardModelConfig(name_or_path="tiny://llama-rm"))
    assert model.config.num_labels == 1 and default_template(model, tokenizer) == "chat"
    with pytest.raises(AlignError, match="reward head"):
        load_reward_model(RewardModelConfig(name_or_path="tiny://llama"))


def test_render_templates():
    model, tokenizer = load_reward_model(RewardModelConfig(name_or_path="tiny://llama-rm"))
    assert render("ultrarm", "Hi {x}", "Yo", tokenizer) == "Human: Hi {x}\n\nAssistant: Yo"
    assert render("ultrarm-single-newline", "Hi", "Yo", tokenizer) == "Human: Hi\nAssistant: Yo"
    assert render("Q: {prompt} A: {response}", "{response}", "b", tokenizer) == "Q: {response} A: b"
    assert render("ultrarm", "Hi", "Yo", tokenizer, append_eos=True).endswith("Yo</s>")
    assert render("chat", "Hi", "Yo", tokenizer) == "<|user|>\nHi</s>\n<|assistant|>\nYo</s>\n"
    with pytest.raises(AlignError, match="format string"):
        check_template("{prompt} only")
    with pytest.raises(ValidationError, match="format string"):
        RewardModelConfig(name_or_path="tiny://llama-rm", template="Human: {prompt}")


# The two WebGPT examples of the openbmb/UltraRM-13b model card, in the card's single-newline layout,
# with its published chosen - rejected differences (each text scored alone, fp32).
MARTINI = 'Human: "Who orders martinis ""shaken, not stirred""?"\nAssistant: '
SURAL = "Human: Sural relates to which part of the body?\nAssistant: "
CARD_EXAMPLES = [
    (
        MARTINI + "Sean Connery's character, fictional British Secret Service agent James Bond, in the movie "
        'Goldfinger, stated that he preferred his martini to be "shaken, not stirred". [1] Some believe that Bond '
        "ordered his martini shaken because of the vodka it contained, as vodka was, for the most part, refined "
        "from potatoes (cheaper brands) which made the vodka oily. To disperse the oil, Bond ordered his martinis "
        "shaken. [2]",
        MARTINI
        + "Fleming's fictional British Secret Service agent James Bond orders his martini cocktail shaken, "
        "not stirred [1]. Bond's preferences for his martini are carried over to the films, where his orders are "
        "seen in both the 1961 film Dr. No and the 2006 film Casino Royale [1, 2]. In both films, Bond's "
        "subordinates copy his order, telling the bartender to keep the fruit with their drinks [2]. However, in "
        "the 2006 film, Bond appears irritated when the bartender asks if he would like his drink shaken or "
        "stirred [2].",
        2.4158712085336447,
    ),
    (
        SURAL
        + "The sural region is the muscular swelling of the back of the leg below the knee, formed chiefly "
        "by the bellies of the gastrocnemius and soleus muscles [1,2].",
        SURAL
        + "The Sural nerve runs down the side of the leg near the small saphenous vein, then passes forward "
        "below the lateral malleolus and continues on the outside of the foot as the lateral dorsal cutaneous "
        "nerve, which then communicates with the intermediate dorsal cutaneous nerve, which branches off to the "
        "side of the foot. [1]",
        0.1896953582763672,
    ),
]


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("ALIGN_ULTRARM_PATH"), reason="set ALIGN_ULTRARM_PATH to UltraRM-13b weights"
)
def test_real_ultrarm_reproduces_the_model_card_examples():
    """Opt-in check of the real weights (26 GB in fp16; about 52 GB of RAM in fp32)."""
    path = os.environ["ALIGN_ULTRARM_PATH"]
    model, tokenizer = load_reward_model(RewardModelConfig(name_or_path=path, dtype="float32"))
    texts = [text for chosen, rejected, _ in CARD_EXAMPLES for text in (chosen, rejected)]
    for batch_size in (1, len(texts)):
        rewards = score_texts(model, tokenizer, texts, batch_size, progress=False)
        gaps = [rewards[i] - rewards[i + 1] for i in range(0, len(rewards), 2)]
        assert gaps == pytest.approx([gap for _, _, gap in CARD_EXAMPLES], abs=2e-3)
