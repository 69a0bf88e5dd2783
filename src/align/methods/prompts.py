"""Prompts for on-policy generation (PPO, online DPO, best-of-N): instructions -> filtered, rendered token ids.

Instructions come from raw UltraFeedback (read by the data layer, so malformed rows are
skipped the same way binarization skips them), a binarized set's `prompt` column, or any
file of `instruction` rows (AlpacaEval). They are deduplicated, TruthfulQA-decontaminated
with the data layer's filter, rendered with the policy's system turn (model.system_prompt), chat template and
generation prompt, and dropped when longer than `max_length` tokens.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field

from align.config.recipe import PromptsConfig, Recipe
from align.data.filters import contamination, load_questions
from align.data.schema import text
from align.errors import AlignError
from align.inputs import PROMPT_SUFFIXES
from align.models.chat import with_system
from align.paths import data_file, load_files

INSTRUCTION_FIELDS = ("instruction", "prompt")


@dataclass
class PromptSet:
    """Kept instructions, their token ids in the policy's template, and why others were dropped."""

    prompts: list[str]
    ids: list[list[int]]
    dropped: Counter = field(default_factory=Counter)

    def describe(self) -> str:
        drops = ", ".join(f"{n} {why}" for why, n in sorted(self.dropped.items())) or "none"
        return f"{len(self.prompts)} prompts (dropped: {drops})"


def _from_data(recipe: Recipe) -> list[tuple[str, str]]:
    """(source, instruction) from the recipe's data section: raw UltraFeedback or a binarized train split."""
    from align.data.loader import load_raw
    from align.data.preferences import load_preferences

    data = recipe.data
    if data is None:
        raise AlignError(
            f"Recipe {recipe.name!r} has no prompts: add a `data` section (e.g. path: openbmb/UltraFeedback, "
            'format: raw) or set method.prompts.path to a file of {"instruction": ...} rows.'
        )
    if data.format == "binarized":
        train = load_preferences(data, seed=recipe.seed)["train"]
        sources = train["source"] if "source" in train.column_names else [""] * len(train)
        return list(zip(sources, train["prompt"], strict=True))
    raw = load_raw(data.path, data.revision)
    if not raw.encoded:
        columns = raw.dataset.select_columns(["source", "instruction"])
        return [
            (text(s) or "", text(i) or "")
            for s, i in zip(columns["source"], columns["instruction"], strict=True)
        ]
    rows = (_parse(line) for line in raw.dataset["text"])
    return [
        (text(r.get("source")) or "", text(r.get("instruction")) or "") for r in rows if isinstance(r, dict)
    ]


def _parse(line: str) -> object:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def _from_file(path: str) -> list[tuple[str, str]]:
    """(source, instruction) from a JSON/JSONL/Parquet file or hf:// URL of instruction rows."""
    argument = "method.prompts.path"
    location = str(data_file(path, argument, PROMPT_SUFFIXES))
    kind = "parquet" if location.endswith(".parquet") else "json"
    rows = load_files(kind, location, argument, "instruction rows", split="train")
    name = next((f for f in INSTRUCTION_FIELDS if f in rows.column_names), None)
    if name is None:
        raise AlignError(
            f"method.prompts.path {path} has no `instruction` or `prompt` field (fields: "
            f"{', '.join(rows.column_names)}). Give each row an `instruction` string."
        )
    sources = rows["source"] if "source" in rows.column_names else [""] * len(rows)
    return [(s or "", text(i) or "") for s, i in zip(sources, rows[name], strict=True)]


def render_prompts(tokenizer, prompts: list[str], system_prompt: str | None = None) -> list[str]:
    """Each prompt as the policy sees it: its system turn, chat template and generation prompt."""
    conversations = [with_system([{"role": "user", "content": p}], system_prompt) for p in prompts]
    if not conversations:
        return []
    return tokenizer.apply_chat_template(conversations, add_generation_prompt=True, tokenize=False)


def encode(tokenizer, prompts: list[str], system_prompt: str | None = None) -> list[list[int]]:
    """Token ids of `render_prompts` (the template writes any BOS itself)."""
    texts = render_prompts(tokenizer, prompts, system_prompt)
    return tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []


def load_prompts(recipe: Recipe, settings: PromptsConfig, tokenizer) -> PromptSet:
    """The filtered prompt set, in a seeded random order, rendered for the policy."""
    if tokenizer.chat_template is None:
        raise AlignError(
            f"The tokenizer of {recipe.model.name_or_path} has no chat template, so prompts cannot be laid out the "
            "way the policy was trained. Set model.chat_template in the recipe (a Jinja template)."
        )
    rows = _from_file(settings.path) if settings.path else _from_data(recipe)
    questions = (
        load_questions(settings.decontaminate, "method.prompts.decontaminate")
        if settings.decontaminate
        else None
    )
    dropped: Counter = Counter()
    seen: set[str] = set()
    kept: list[str] = []
    for source, instruction in rows:
        if not instruction.strip():
            dropped["empty"] += 1
        elif questions is not None and (reason := contamination(source, instruction, questions)):
            dropped[reason] += 1
        elif instruction in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(instruction)
            kept.append(instruction)
    random.Random(recipe.seed).shuffle(kept)
    ids = encode(tokenizer, kept, recipe.model.system_prompt)
    if settings.max_length:
        too_long = {i for i, row in enumerate(ids) if len(row) > settings.max_length}
        dropped["too_long"] += len(too_long)
        kept = [p for i, p in enumerate(kept) if i not in too_long]
        ids = [row for i, row in enumerate(ids) if i not in too_long]
    if settings.max_prompts is not None:
        kept, ids = kept[: settings.max_prompts], ids[: settings.max_prompts]
    if not kept:
        raise AlignError(
            f"No prompts are left for recipe {recipe.name!r} after filtering ({PromptSet([], [], dropped).describe()}). "
            "Raise method.prompts.max_length or check the prompt source."
        )
    return PromptSet(kept, ids, +dropped)
