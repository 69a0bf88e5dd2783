"""A tiny judge for the CPU smoke test: a small random LM trained, in a few CPU minutes, only to answer in the
rubric's reply format.

Random tiny models write gibberish, and a judge writing gibberish gives no rating the parser can read, so
binarization would drop every row and the smoke could never reach DPO. `transformers serve` offers no
constrained decoding (it rejects `response_format`), so instead of constraining the server we train the
judge: on requests built by align's own request builder from the bundled sample's instructions and
responses (not the smoke's), answered with ratings, types and overall scores drawn at random. It learns the
reply format, not judgement: its ratings say nothing about the texts. It is then served by a real
`transformers serve` process and annotated through the same client as any judge.

Built once into $ALIGN_CACHE/tiny/judge-<rubric sha256 prefix>-vVERSION, deterministically from fixed seeds.
"""

from __future__ import annotations

import random
from pathlib import Path

from align.cache import build_once, cache_root
from align.models.tiny import SPECIAL_TOKENS, ZEPHYR_TEMPLATE, as_transformers, byte_level

VERSION = 1
TEXTS = 2  # the smoke draws 2 models per instruction, so every request shows 2 texts
STEPS = 800
VOCAB = 2048  # a BPE learned on the training texts: prompts 3-4x shorter than tiny://llama's 50 merges give
RATIONALES = (
    "The text is hard to follow.",
    "It does not address the instruction.",
    "Parts of it are relevant.",
    "It is clear and complete.",
    "It contains errors.",
    "It answers only part of the task.",
)
CRITIQUES = (
    "The answer is unclear; state the main point first.",
    "The answer drifts from the question; answer it directly.",
    "Check the facts and remove the parts that are not supported.",
    "Good start; add an example to make it concrete.",
)


def reply(spec: dict, count: int, rng: random.Random) -> str:
    """A well-formed aspect reply for `count` texts, with random ratings (and types)."""
    blocks = []
    for number in range(1, count + 1):
        lines = [f"Text {number}"]
        if "types" in spec:
            types = sorted(rng.sample(sorted(spec["types"]), rng.randint(0, len(spec["types"]))))
            lines += [f"Type: {', '.join(types) or 'None'}", f"Type rationale: {rng.choice(RATIONALES)}"]
        na = spec.get("allows_na") and rng.random() < 0.1
        lines += [f"Rating: {'N/A' if na else rng.randint(1, 5)}", f"Rationale: {rng.choice(RATIONALES)}"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def critique_reply(rng: random.Random) -> str:
    return f"{rng.choice(CRITIQUES)}\nOverall score: {rng.randint(1, 10)}"


def _examples(rubric, rng: random.Random) -> list[tuple[list[dict[str, str]], str]]:
    """(messages, reply) pairs from the bundled UltraFeedback sample, responses cut to 200 characters."""
    from align.data.samples import resolve
    from align.jsonl import read_jsonl
    from align.pipeline.judge.requests import aspect_messages, critique_messages

    examples = []
    for row in read_jsonl(resolve("sample://ultrafeedback")):
        completions = [c for c in row.get("completions") or [] if isinstance(c.get("response"), str)]
        if len(completions) < TEXTS:
            continue
        short = {**row, "completions": [{**c, "response": c["response"][:200]} for c in completions[:TEXTS]]}
        for aspect, spec in rubric.data["aspects"].items():
            messages = aspect_messages(rubric, aspect, short, list(range(TEXTS)))
            examples.append((messages, reply(spec, TEXTS, rng)))
        examples.append((critique_messages(rubric, short, short["completions"][0]), critique_reply(rng)))
    return examples


def _tokenizer(texts: list[str]):
    """A byte-level BPE trained on `texts` (deterministic), with the Zephyr-style chat template."""
    from tokenizers import models, pre_tokenizers, trainers

    tok = byte_level(models.BPE(unk_token="<unk>"))
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return as_transformers(tok, ZEPHYR_TEMPLATE, 4096)


def _build(rubric_version: str, target: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from align.pipeline.judge.rubric import load_rubric

    rng = random.Random(0)
    examples = _examples(load_rubric(rubric_version), rng)
    tokenizer = _tokenizer(
        [m["content"] for messages, _ in examples for m in messages] + [t for _, t in examples]
    )
    data = []
    for messages, text in examples:
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        reply_ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        data.append((prompt_ids + reply_ids, [-100] * len(prompt_ids) + reply_ids))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=96,
        intermediate_size=192,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 2-layer model gains nothing from more, and loses much on a busy machine
    model = LlamaForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / STEPS)
    from tqdm.auto import tqdm

    for _ in tqdm(range(STEPS), desc="train tiny judge", unit="step"):
        ids, labels = data[rng.randrange(len(data))]
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    torch.set_num_threads(threads)
    model.generation_config.do_sample = False
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)


def tiny_judge(rubric_version: str = "v1") -> Path:
    """The tiny judge's directory (trained on first use): pass it to `transformers serve`."""
    from align.pipeline.judge.rubric import load_rubric

    digest = load_rubric(rubric_version).sha256[:12]
    target = cache_root() / "tiny" / f"judge-{rubric_version}-{digest}-v{VERSION}"
    return build_once(target, "config.json", lambda folder: _build(rubric_version, folder))
