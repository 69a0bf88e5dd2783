"""Reward scoring: the one scorer behind `align score`, reward-model evaluation and the PPO/best-of-N oracle.

`Scorer.score` renders each (prompt, response) in the reward model's template and scores the
texts with `score_texts`: rendered texts in, one float per text out, whatever the batching.
Texts are sorted by length so each batch pads little (the longest batch runs first, so memory
errors show at once), right-padded with the pad id the model's config knows, and put back in
input order. The same text gets the same reward at any batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from align.data.pairs import ROW_HELP, RowError, read_row_file, row_items
from align.errors import AlignError
from align.rm.load import load_reward_model
from align.rm.templates import render, resolve_system_prompt, resolve_template

if TYPE_CHECKING:
    from align.config.recipe import RewardModelConfig

# Output field for each input field that holds a response.
REWARD_FIELDS = {"response": "reward", "chosen": "reward_chosen", "rejected": "reward_rejected"}


def score_texts(
    model, tokenizer, texts: Sequence[str], batch_size: int = 8, progress: bool = True
) -> list[float]:
    """Reward of each already-rendered text, in input order."""
    import torch
    from tqdm.auto import tqdm

    if model.config.pad_token_id != tokenizer.pad_token_id:
        raise AlignError(
            f"The reward model's config.pad_token_id ({model.config.pad_token_id}) differs from its tokenizer's "
            f"pad id ({tokenizer.pad_token_id}), so padded batches would be read at the wrong token. Load both "
            "with align.rm.load.load_reward_model."
        )
    ids = tokenizer(list(texts))["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
    rewards = [0.0] * len(ids)
    with (
        torch.inference_mode(),
        tqdm(total=len(ids), desc="scoring", unit="seq", disable=not progress) as bar,
    ):
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = tokenizer.pad(
                {"input_ids": [ids[i] for i in chunk]},
                padding=True,
                padding_side="right",
                return_tensors="pt",
            ).to(model.device)
            logits = model(**batch).logits[:, 0].float().tolist()
            for i, reward in zip(chunk, logits, strict=True):
                rewards[i] = reward
            bar.update(len(chunk))
    return rewards


@dataclass
class Scorer:
    """A reward model with its layout: (prompt, response) pairs in, one reward each out.

    Scoring rows (`align score`), scoring pairs (reward-model evaluation) and the PPO and
    best-of-N oracle are all uses of `score`, so every caller renders and batches alike.
    """

    model: Any
    tokenizer: Any
    template: str
    batch_size: int = 8
    append_eos: bool = False
    system_prompt: str | None = None

    def score(self, prompts: Sequence[str], responses: Sequence[str], progress: bool = True) -> list[float]:
        """Reward of each (prompt, response), rendered in the model's template, in input order."""
        texts = [
            render(self.template, p, r, self.tokenizer, self.append_eos, self.system_prompt)
            for p, r in zip(prompts, responses, strict=True)
        ]
        return score_texts(self.model, self.tokenizer, texts, self.batch_size, progress)


def load_scorer(cfg: RewardModelConfig, batch_size: int = 8, device: str | None = None) -> Scorer:
    """The reward_model section (or the scoring flags) as a Scorer: weights, template and system turn
    resolved as align.rm.templates says."""
    model, tokenizer = load_reward_model(cfg, device=device)
    template = resolve_template(cfg.template, model, tokenizer)
    system_prompt = resolve_system_prompt(cfg, model, template)
    return Scorer(model, tokenizer, template, batch_size, cfg.append_eos, system_prompt)


def read_rows(source: Path) -> tuple[list[dict], list[tuple[int, str, str, str]]]:
    """All rows of a JSONL file, checked before any model loads, and (row index, field, prompt, response) items."""
    rows: list[dict] = []
    items = []
    for number, row in read_row_file(source, "--input"):
        try:
            items += [(len(rows), field, prompt, response) for field, prompt, response in row_items(row)]
        except RowError as exc:
            raise AlignError(f"{source}, line {number}: {exc}. {ROW_HELP}") from None
        rows.append(row)
    if not rows:
        raise AlignError(f"Input file {source} has no rows (it is empty or blank). {ROW_HELP}")
    return rows, items


def score_rows(scorer: Scorer, rows: list[dict], items: list[tuple[int, str, str, str]]) -> list[dict]:
    """Add `reward` or `reward_chosen`/`reward_rejected` to the rows `read_rows` returned."""
    rewards = scorer.score([prompt for _, _, prompt, _ in items], [response for *_, response in items])
    for (index, field, _, _), reward in zip(items, rewards, strict=True):
        rows[index][REWARD_FIELDS[field]] = reward
    return rows
