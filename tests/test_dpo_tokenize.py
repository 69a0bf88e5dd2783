"""The batched DPO preparation and tokenization give, pair for pair, the ids of a row-by-row computation.

The expected ids are built here one conversation at a time with `tokenizer.apply_chat_template` on the
hand-built conversation (system turn, kept prompt, response), as TRL 1.12 tokenizes a pair; the prompt
cut is re-implemented here one prompt at a time. The data: the UltraFeedback sample's pairs (some prompts
longer than max_prompt_length) plus multi-turn pairs whose earlier turns the cut drops.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from align.config import load_recipe
from align.data.preferences import load_preferences
from align.methods import dpo
from repo_paths import REPO

IDS = ("prompt_ids", "chosen_ids", "rejected_ids")


def chat(tokenizer, messages: list[dict], **kwargs) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)
    return list(out["input_ids"])


def cut_prompt(tokenizer, messages: list[dict], system: list[dict], limit: int) -> list[dict]:
    """The prompt-left rule, one prompt at a time: drop earlier turns, then the start of the earliest kept."""
    msgs = [dict(m) for m in messages]
    while len(msgs) > 1 and len(chat(tokenizer, system + msgs, add_generation_prompt=True)) > limit:
        msgs.pop(0)
    for _ in range(8):
        excess = len(chat(tokenizer, system + msgs, add_generation_prompt=True)) - limit
        if excess <= 0:
            break
        ids = tokenizer(msgs[0]["content"], add_special_tokens=False)["input_ids"]
        msgs[0]["content"] = tokenizer.decode(ids[min(excess, len(ids)) :])
    return msgs


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory) -> Path:
    recipe = load_recipe(REPO / "recipes/smoke/dpo-full.yaml")
    rows = [dict(row) for row in load_preferences(recipe.data, seed=recipe.seed)["train"]]
    for i in range(12):  # multi-turn: the cut drops earlier turns first
        history = [
            {"role": "user", "content": "earlier question " * (10 + 9 * i)},
            {"role": "assistant", "content": "earlier answer " * (5 + i)},
            {"role": "user", "content": f"last question {i} " * (3 + 4 * i)},
        ]
        rows.append(
            {
                "prompt": history[-1]["content"],
                "chosen": [*history, {"role": "assistant", "content": f"good answer {i}"}],
                "rejected": [*history, {"role": "assistant", "content": f"bad answer {i} " * i}],
            }
        )
    folder = tmp_path_factory.mktemp("pairs")
    (folder / "train_prefs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def build(folder: Path, tmp_path: Path, *overrides: str) -> tuple[Any, Any]:
    recipe = load_recipe(
        REPO / "recipes/smoke/dpo-full.yaml",
        [
            f"output_dir={tmp_path}/out",
            f"data={{path: {folder}, format: binarized}}",
            "method.trainer.report_to=[]",
            *overrides,
        ],
    )
    return recipe, dpo.build_trainer(recipe)


@pytest.mark.parametrize("truncation", ["prompt-left", "trl-0.7"])
@pytest.mark.parametrize("system_prompt", [None, "", "Be brief."])
def test_pairs_hold_the_chat_template_ids_of_each_conversation(
    truncation, system_prompt, pairs_dir, tmp_path, llama_tokenizer, tiny_cpu
):
    recipe, trainer = build(
        pairs_dir,
        tmp_path,
        f"method.truncation={truncation}",
        f"model.system_prompt={json.dumps(system_prompt)}",
    )
    tokenizer, limit, max_length = llama_tokenizer, recipe.method.max_prompt_length, trainer.args.max_length
    system = [] if system_prompt is None else [{"role": "system", "content": system_prompt}]
    raw = [json.loads(line) for line in (pairs_dir / "train_prefs.jsonl").read_text().splitlines()]
    expected, cut = [], 0
    for row in raw:
        prompt = row["chosen"][:-1]
        if truncation == "prompt-left":
            kept = cut_prompt(tokenizer, prompt, system, limit)
            cut += kept != prompt
            prompt = kept
        prompt_ids = chat(tokenizer, system + prompt, add_generation_prompt=True)
        chosen = chat(tokenizer, system + prompt + row["chosen"][-1:])[len(prompt_ids) :]
        rejected = chat(tokenizer, system + prompt + row["rejected"][-1:])[len(prompt_ids) :]
        ids = (prompt_ids, chosen, rejected)
        if truncation == "trl-0.7":
            ids = dpo.trl07_truncate(*ids, tokenizer.eos_token_id, max_length, limit)
        elif len(prompt_ids) >= max_length:
            continue  # TRL drops a pair whose prompt alone fills max_length
        expected.append({"prompt": system + prompt, **dict(zip(IDS, ids, strict=True))})
    got = [{k: row[k] for k in ("prompt", *IDS)} for row in trainer.train_dataset]
    assert got == expected
    if truncation == "prompt-left":
        assert cut >= 12  # the cut ran, on the sample's long prompts and on every multi-turn pair


def test_batched_tokenization_equals_trls_own(pairs_dir, tmp_path, llama_tokenizer, tiny_cpu):
    """With no prompt cut and a short max_length, TRL drops the pairs whose prompt fills it; align drops the same."""
    from trl import DPOTrainer

    recipe, trainer = build(
        pairs_dir, tmp_path, "method.max_prompt_length=null", "method.trainer.max_length=200"
    )
    splits = load_preferences(recipe.data, seed=recipe.seed)
    prepared = dpo.prepare_pairs(splits["train"], llama_tokenizer, None)
    trls = DPOTrainer._prepare_dataset(trainer, prepared, llama_tokenizer, trainer.args, "train")
    args = copy.copy(trainer.args)
    args.dataset_num_proc = 2
    ours = trainer._prepare_dataset(prepared, llama_tokenizer, args, "train")
    assert 0 < len(trls) < len(prepared)  # the drop fired
    assert ours.to_dict() == trls.select_columns(ours.column_names).to_dict()
