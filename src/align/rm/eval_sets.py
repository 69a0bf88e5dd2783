"""The preference test sets of the UltraRM paper (Table 2), each read in its own hub schema into pairs.

Every set has a converter from one row of its real schema to a `Pair` (None skips the row:
a tie, or a row that cannot be split into prompt and response), so the same code reads the
hub split and the small sample file of that schema bundled under align/data/sample/.
Any binarized preference set (`prompt` + `chosen`/`rejected`, H4 format included) is read
with `binarized_pairs` (the pair format of align.data.pairs).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from align.config.recipe import DataConfig
from align.data.hub import load_hub
from align.data.pairs import Pair, RowError, binarized_pair, read_row_file
from align.data.samples import resolve
from align.errors import AlignError

HH_HUMAN, HH_ASSISTANT = "\n\nHuman: ", "\n\nAssistant:"


def hh_pair(row: dict) -> Pair | None:
    """Anthropic HH: two whole dialogues that differ in the last assistant turn.

    The prompt keeps earlier turns in HH's own `Human:`/`Assistant:` layout without the first
    `Human: `, so UltraRM's template reproduces the original dialogue text.
    """
    split = [_split_hh(row["chosen"]), _split_hh(row["rejected"])]
    if None in split:
        return None
    (prompt, chosen), (_, rejected) = split
    return Pair(prompt, chosen, rejected)


def _split_hh(dialogue: str) -> tuple[str, str] | None:
    head, sep, response = dialogue.rpartition(HH_ASSISTANT)
    if not sep or not head.startswith(HH_HUMAN):
        return None
    return head[len(HH_HUMAN) :], response.strip()


def webgpt_pair(row: dict) -> Pair | None:
    """OpenAI WebGPT: two answers with scores in [-1, 1] summing to 0; equal scores are ties (skipped)."""
    if row["score_0"] == row["score_1"]:
        return None
    first_wins = row["score_0"] > row["score_1"]
    answers = (row["answer_0"], row["answer_1"]) if first_wins else (row["answer_1"], row["answer_0"])
    return Pair(row["question"]["full_text"], *answers)


def summarize_pair(row: dict) -> Pair:
    """OpenAI summarize-from-feedback: a Reddit post (TL;DR) or a CNN/DM article, two summaries, `choice`.

    The paper does not give its prompt; this one states the task and lays out the post as the
    dataset's own TL;DR prompts do.
    """
    info = row["info"]
    if info.get("article"):
        prompt = (
            f"Summarize the following news article.\n\nTITLE: {info.get('title') or ''}\n{info['article']}"
        )
    else:
        prompt = (
            "Summarize the following Reddit post.\n\n"
            f"SUBREDDIT: r/{info.get('subreddit') or ''}\nTITLE: {info.get('title') or ''}\nPOST: {info['post']}"
        )
    texts = [s["text"].strip() for s in row["summaries"]]
    return Pair(prompt, texts[row["choice"]], texts[1 - row["choice"]])


def shp_pair(row: dict) -> Pair:
    """Stanford SHP: a post and two top-level comments; `labels` is 1 when comment A is preferred."""
    a, b = row["human_ref_A"], row["human_ref_B"]
    return Pair(row["history"], *((a, b) if row["labels"] == 1 else (b, a)))


@dataclass(frozen=True)
class EvalSet:
    """Where a test set lives on the hub, its sample file, and how a row becomes a pair."""

    key: str
    title: str  # the column name in the paper's Table 2
    path: str
    split: str
    to_pair: Callable[[dict], Pair | None]
    config: str | None = None
    load_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def sample(self) -> str:
        return f"sample://{self.key}"


EVAL_SETS = {
    s.key: s
    for s in [
        EvalSet(
            "hh_rlhf_helpful",
            "Anthropic Helpful",
            "Anthropic/hh-rlhf",
            "test",
            hh_pair,
            load_kwargs={"data_dir": "helpful-base"},
        ),
        EvalSet("webgpt_comparisons", "OpenAI WebGPT", "openai/webgpt_comparisons", "train", webgpt_pair),
        EvalSet(
            "summarize_from_feedback",
            "OpenAI Summ.",
            "openai/summarize_from_feedback",
            "validation",
            summarize_pair,
            "comparisons",
        ),
        EvalSet("shp", "Stanford SHP", "stanfordnlp/SHP", "test", shp_pair),
    ]
}
SUITES = {"ultrarm-paper": ["hh_rlhf_helpful", "webgpt_comparisons", "summarize_from_feedback", "shp"]}

# Pairwise accuracy (%) from the UltraFeedback paper (arXiv 2310.01377), reward-model table (Table 2).
PUBLISHED = {
    "UltraRM": {
        "hh_rlhf_helpful": 71.0,
        "webgpt_comparisons": 65.2,
        "summarize_from_feedback": 74.0,
        "shp": 73.7,
    },
    "UltraRM-UF": {
        "hh_rlhf_helpful": 66.7,
        "webgpt_comparisons": 65.1,
        "summarize_from_feedback": 66.8,
        "shp": 68.4,
    },
    "UltraRM-Overall": {
        "hh_rlhf_helpful": 71.0,
        "webgpt_comparisons": 62.0,
        "summarize_from_feedback": 73.0,
        "shp": 73.6,
    },
}
PUBLISHED_AVERAGE = {"UltraRM": 71.0, "UltraRM-UF": 66.8, "UltraRM-Overall": 69.9}


def load_rows(eval_set: EvalSet, local: bool = False):
    """The set's rows: the hub split, or (`local`) its bundled sample file in the same schema."""
    import datasets

    if local:
        return datasets.load_dataset("json", data_files=resolve(eval_set.sample), split="train")
    # WebGPT and summarize-from-feedback are loading scripts: load_hub reads their Parquet export
    return load_hub(eval_set.path, eval_set.split, config=eval_set.config, **eval_set.load_kwargs)


def take_pairs(
    rows, to_pair: Callable[[dict], Pair | None], name: str, limit: int | None = None, seed: int = 0
):
    """(pairs, rows skipped): ties, unsplittable rows and identical responses are skipped.

    With `limit`, rows are visited in a seeded random order (hub splits are ordered by topic)
    until `limit` pairs are found. A row outside the expected schema is an error naming it.
    """
    order = range(len(rows)) if limit is None else random.Random(seed).sample(range(len(rows)), len(rows))
    pairs: list[Pair] = []
    skipped = 0
    for index in order:
        try:
            pair = to_pair(rows[index])
        except (RowError, KeyError, TypeError, IndexError) as exc:
            problem = exc if isinstance(exc, RowError) else f"does not have the expected fields ({exc!r})"
            raise AlignError(
                f"{name}, row {index + 1}: {problem}. Check that the data is the set it is read as; a binarized "
                "set needs `prompt` and `chosen`/`rejected` (strings or message lists)."
            ) from None
        if pair is None or pair.chosen == pair.rejected:
            skipped += 1
            continue
        pairs.append(pair)
        if limit is not None and len(pairs) >= limit:
            break
    return pairs, skipped


def suite_pairs(eval_set: EvalSet, limit: int | None = None, local: bool = False, seed: int = 0):
    """(pairs, skipped) of one paper set, from the hub or (`local`) its sample file."""
    name = eval_set.sample if local else f"{eval_set.path} ({eval_set.split})"
    return take_pairs(load_rows(eval_set, local), eval_set.to_pair, name, limit, seed)


def binarized_pairs(path: str, split: str, limit: int | None = None, seed: int = 0):
    """(pairs, skipped) of a binarized set: a JSONL file, a directory holding `{split}.jsonl`, or a hub id."""
    local = Path(resolve(path))
    if local.is_file():  # read as plain JSON: arrow rejects a column mixing strings and message lists
        rows = [row for _, row in read_row_file(local, "--data")]
    else:
        from align.data.preferences import load_preferences

        data = DataConfig(path=path, format="binarized", train_split=split, test_split=None)
        rows = load_preferences(data, seed)["train"]
    return take_pairs(rows, binarized_pair, f"{path} ({split})", limit, seed)
