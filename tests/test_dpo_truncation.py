"""method.truncation: both rules against re-implementations written here, on rows that trigger every branch.

The TRL 0.7 reference follows huggingface/trl/trl/trainer/utils.py@v0.7.4 (DPODataCollatorWithPadding
.tokenize_batch_element) as the published runs fed it: prompt, chosen and rejected are separate strings
in the handbook's layout, each tokenized on its own; EOS is appended to both responses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from align.config import load_recipe
from align.config.recipe import Recipe
from align.errors import AlignError
from align.methods import dpo

MAX_LENGTH, MAX_PROMPT = 64, 24


def words(n: int, tag: str) -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


# (prompt, chosen, rejected): short / prompt alone too long / prompt + response too long but fixed by the prompt
# cut / responses still too long after the prompt cut / short prompt with a response too long on its own
ROWS = [
    ("Name a colour.", "Blue.", "No."),
    (f"Read this: {words(60, 'p')} Which came last?", "p59.", "I do not know."),
    (f"Summarise: {words(12, 'q')}", f"Summary: {words(12, 's')}", "No."),
    (f"Explain: {words(12, 'e')}", f"Long answer: {words(40, 'a')}", f"Other: {words(30, 'b')}"),
    ("Count.", f"Counting: {words(50, 'c')}", "One."),
]


@pytest.fixture
def tokenizer(llama_tokenizer):
    return llama_tokenizer


def enc(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def layout(prompt: str) -> str:
    """The handbook's prompt text with the empty system turn (alignment-handbook data.py@a0b8d49)."""
    return f"<|system|>\n</s>\n<|user|>\n{prompt}</s>\n<|assistant|>\n"


def trl07_reference(tokenizer, prompt: str, chosen: str, rejected: str) -> tuple[dict, set[str]]:
    """What TRL 0.7.4 trained on for one row, and which of its branches fired."""
    eos = tokenizer.eos_token_id
    p = enc(tokenizer, layout(prompt))
    c = enc(tokenizer, f"{chosen}</s>\n") + [eos]
    r = enc(tokenizer, f"{rejected}</s>\n") + [eos]
    fired = set()
    too_long = len(p) + max(len(c), len(r)) > MAX_LENGTH
    if too_long:
        fired.add("prompt cut" if len(p) > MAX_PROMPT else "prompt kept")
        p = p[-MAX_PROMPT:]
    if len(p) + max(len(c), len(r)) > MAX_LENGTH:
        fired.add("responses cut")
        c, r = c[: MAX_LENGTH - MAX_PROMPT], r[: MAX_LENGTH - MAX_PROMPT]
    return {"prompt_ids": p, "chosen_ids": c, "rejected_ids": r}, fired


def build(tmp_path: Path, folder: Path, truncation: str, rows=ROWS, **model) -> tuple[list[dict], Any]:
    recipe = Recipe.model_validate(
        {
            "name": "truncation",
            "output_dir": str(tmp_path / "out"),
            "model": {"name_or_path": "tiny://llama", "dtype": "float32", "system_prompt": "", **model},
            "data": {"path": str(folder), "format": "binarized", "test_split": None},
            "method": {
                "name": "dpo",
                "truncation": truncation,
                "max_prompt_length": MAX_PROMPT,
                "trainer": {"report_to": [], "max_length": MAX_LENGTH},
            },
        }
    )
    trainer = dpo.build_trainer(recipe)
    order = {c: i for i, (_, c, _) in enumerate(rows)}  # responses are never cut before TRL tokenizes
    prepared = sorted(trainer.train_dataset, key=lambda row: order[row["chosen"][-1]["content"]])
    return prepared, trainer


def test_trl07_rule_matches_the_published_trainer(tmp_path, tokenizer, write_pairs, tiny_cpu):
    prepared, trainer = build(tmp_path, write_pairs(ROWS), "trl-0.7")
    assert len(prepared) == len(ROWS)  # the row whose prompt alone exceeds max_length is cut, not dropped
    fired_anywhere = set()
    for row, (prompt, chosen, rejected) in zip(prepared, ROWS, strict=True):
        expected, fired = trl07_reference(tokenizer, prompt, chosen, rejected)
        fired_anywhere |= fired
        assert {k: row[k] for k in expected} == expected
        cut = "responses cut" in fired
        for side in ("chosen_ids", "rejected_ids"):
            assert (row[side][-1] == tokenizer.eos_token_id) or cut  # EOS stays unless TRL 0.7 cut it off
    assert fired_anywhere == {"prompt cut", "prompt kept", "responses cut"}
    # every pair fits, so TRL 1.12's collator (keep_start at max_length) changes nothing
    batch = trainer.data_collator(
        [{k: row[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for row in prepared]
    )
    assert int(batch["attention_mask"].sum()) == sum(
        2 * len(row["prompt_ids"]) + len(row["chosen_ids"]) + len(row["rejected_ids"]) for row in prepared
    )


def test_prompt_left_rule_cuts_only_long_prompts(tmp_path, tokenizer, write_pairs, tiny_cpu):
    prepared, _ = build(tmp_path, write_pairs(ROWS), "prompt-left")
    for row, (prompt, chosen, rejected) in zip(prepared, ROWS, strict=True):
        full = enc(tokenizer, layout(prompt))
        if len(full) <= MAX_PROMPT:
            assert row["prompt_ids"] == full
        else:  # the user turn loses the start of its content; the system turn and the header stay
            header = len(enc(tokenizer, layout("")))
            content = enc(tokenizer, prompt)
            kept = tokenizer.decode(content[len(content) - (MAX_PROMPT - header) :])
            assert len(row["prompt_ids"]) <= MAX_PROMPT
            assert row["prompt"][-1]["content"] == kept
            assert row["prompt_ids"] == enc(tokenizer, layout(kept))
        # responses are whole and end with the template's end of turn; nothing is appended
        assert row["chosen_ids"] == enc(tokenizer, f"{layout(prompt)}{chosen}</s>\n")[len(full) :]
        assert row["rejected_ids"] == enc(tokenizer, f"{layout(prompt)}{rejected}</s>\n")[len(full) :]


def test_a_template_without_eos_at_the_end_of_a_turn_is_refused(tmp_path, write_pairs, tiny_cpu):
    template = "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    with pytest.raises(AlignError, match="EOS token"):
        build(tmp_path, write_pairs(ROWS[:1]), "prompt-left", rows=ROWS[:1], chat_template=template)


def test_trl07_needs_max_prompt_length_below_max_length(write_recipe, repo, llama_tokenizer):
    path = write_recipe(
        "base: "
        + str(repo / "recipes/smoke/dpo-full.yaml")
        + "\nmethod: {truncation: trl-0.7, max_prompt_length: null}\n"
    )
    with pytest.raises(AlignError, match="max_prompt_length"):
        load_recipe(path)
    recipe = load_recipe(repo / "recipes/smoke/dpo-full.yaml", ["method.truncation=trl-0.7"])
    with pytest.raises(AlignError, match="max_length"):
        dpo.pair_rules(recipe, llama_tokenizer, recipe.method.max_prompt_length)
