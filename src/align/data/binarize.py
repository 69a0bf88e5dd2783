"""Raw UltraFeedback -> preference pairs in the H4 format, split into train/test, with a report.

The one code path behind `align binarize` and `load_preferences(format: raw)`. Each raw row is
handled on its own (`binarize_row`) with a random generator seeded from (seed, row index,
prompt), so the output depends only on the seed and the data, never on `num_proc` or the
order in which workers run.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from align.config.recipe import BinarizeConfig
from align.data.filters import clean_pairs, contamination, load_questions, rankable
from align.data.loader import load_raw
from align.data.schema import parse_completion, text
from align.data.strategies import STRATEGIES, Candidate, Drop
from align.data.workers import map_workers
from align.errors import AlignError
from align.jsonl import json_line, write_lines

# Bump when a change to this package changes the pairs produced: it is part of every cache key.
CODE_VERSION = 1
TRAIN, TEST = "train_prefs", "test_prefs"
OUTPUT_COLUMNS = (
    "prompt",
    "prompt_id",
    "chosen",
    "rejected",
    "messages",
    "score_chosen",
    "score_rejected",
    "margin",
    "source",
    "chosen_model",
    "rejected_model",
)
_META_COLUMNS = ("row", "drop", "notes", "suspects", "completions")
# Per pair, what the split and the report read, and the pair's output line (OUTPUT_COLUMNS as JSON), encoded
# by the map's workers: the nested chat columns never pass through arrow, and the main process only writes.
_PAIR_COLUMNS = ("margin", "chosen_model", "line")
_NOT_A_ROW = "blank_line"  # blank lines in JSONL are skipped, not counted as rows
_MAX_EXAMPLES = 20


@dataclass(frozen=True)
class Settings:
    """What a worker needs to binarize one row (picklable, shipped to every process)."""

    strategy: str
    score: str
    seed: int
    min_margin: float
    drop_overall_score_bug: bool
    questions: frozenset[str] | None  # None: no decontamination


@dataclass
class RowResult:
    """One raw row's outcome: its pairs (H4 records) or the reason it was dropped, plus notes."""

    pairs: list[dict[str, Any]] = field(default_factory=list)
    drop: str = ""
    notes: list[str] = field(default_factory=list)
    suspects: list[dict[str, Any]] = field(default_factory=list)
    completions: int = 0


def score_name(cfg: BinarizeConfig) -> str:
    """The score the config ranks by: its own, or the strategy's default."""
    return cfg.score or STRATEGIES[cfg.strategy].default_score


def row_rng(seed: int, index: int, prompt: str) -> random.Random:
    """A generator private to one row, so a row's draw never depends on other rows or workers."""
    digest = hashlib.sha256(f"{seed}\x00{index}\x00{prompt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def messages(prompt: str, response: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def record(prompt: str, source: str, chosen: Candidate, rejected: Candidate) -> dict[str, Any]:
    """One output pair in the HuggingFaceH4/ultrafeedback_binarized format (plus margin)."""
    return pair_record(
        prompt,
        source,
        (chosen.completion.response, chosen.score, chosen.completion.model),
        (rejected.completion.response, rejected.score, rejected.completion.model),
    )


def pair_record(
    prompt: str, source: str, chosen: tuple[str, float, str], rejected: tuple[str, float, str]
) -> dict[str, Any]:
    """The H4 record of a pair given as (response, score, model) for each side."""
    (chosen_text, chosen_score, chosen_model), (rejected_text, rejected_score, rejected_model) = (
        chosen,
        rejected,
    )
    return {
        "prompt": prompt,
        "prompt_id": hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
        "chosen": messages(prompt, chosen_text),
        "rejected": messages(prompt, rejected_text),
        "messages": messages(prompt, chosen_text),
        "score_chosen": chosen_score,
        "score_rejected": rejected_score,
        "margin": chosen_score - rejected_score,
        "source": source,
        "chosen_model": chosen_model,
        "rejected_model": rejected_model,
    }


def binarize_row(raw: object, index: int, s: Settings) -> RowResult:
    """Validate, filter and pair one raw row; never raises on bad data."""
    result = RowResult()
    if not isinstance(raw, dict):
        result.drop = "not_an_object"
        return result
    source, prompt, completions = (
        text(raw.get("source")),
        text(raw.get("instruction")),
        raw.get("completions"),
    )
    if source is None or prompt is None or not isinstance(completions, list):
        result.drop = "malformed_row"
        return result
    notes = result.notes
    result.completions = len(completions)
    parsed = [c for i, item in enumerate(completions) if (c := parse_completion(item, i, notes)) is not None]
    result.suspects = [
        {"completion": c.index, "model": c.model, "overall_score": c.overall, "mean_rating": c.mean}
        for c in parsed
        if c.overall_score_bug
    ]
    cands = rankable(parsed, s.score, s.drop_overall_score_bug, notes)
    if not prompt.strip():
        result.drop = "empty_instruction"
    elif s.questions is not None and (reason := contamination(source, prompt, s.questions)):
        result.drop = reason
    elif len(completions) < 2:
        result.drop = "fewer_than_2_completions"
    elif len(cands) < 2:
        result.drop = "fewer_than_2_rankable"
    if result.drop:
        return result
    try:
        pairs = STRATEGIES[s.strategy].pick(cands, row_rng(s.seed, index, prompt))
    except Drop as exc:
        result.drop = exc.reason
        return result
    kept = clean_pairs(pairs, s.min_margin, notes)
    if not kept:
        identical = all(a.completion.response == b.completion.response for a, b in pairs)
        result.drop = "identical_text" if identical else "below_min_margin"
        return result
    result.pairs = [record(prompt, source, a, b) for a, b in kept]
    return result


def pair_features() -> dict[str, Any]:
    """The arrow types of OUTPUT_COLUMNS."""
    from datasets import List, Value

    chat = List({"role": Value("string"), "content": Value("string")})
    return {
        "prompt": Value("string"),
        "prompt_id": Value("string"),
        "chosen": chat,
        "rejected": chat,
        "messages": chat,
        "score_chosen": Value("float64"),
        "score_rejected": Value("float64"),
        "margin": Value("float64"),
        "source": Value("string"),
        "chosen_model": Value("string"),
        "rejected_model": Value("string"),
    }


def _features():
    from datasets import Features, List, Value

    suspect = {
        "completion": Value("int64"),
        "model": Value("string"),
        "overall_score": Value("float64"),
        "mean_rating": Value("float64"),
    }
    return Features(
        {
            "row": Value("int64"),
            "drop": Value("string"),
            "notes": List(Value("string")),
            "suspects": List(suspect),
            "completions": Value("int64"),
            "margin": Value("float64"),
            "chosen_model": Value("string"),
            "line": Value("string"),
        }
    )


def _map_batch(
    batch: dict[str, list], indices: list[int], settings: Settings, encoded: bool
) -> dict[str, list]:
    """datasets.map body: one output row per pair, or one (with `drop` set) per row without pairs."""
    out: dict[str, list] = {name: [] for name in (*_META_COLUMNS, *_PAIR_COLUMNS)}
    columns = list(batch)
    for i, index in enumerate(indices):
        if encoded:
            line = batch["text"][i]
            if not line.strip():
                result = RowResult(drop=_NOT_A_ROW)
            else:
                try:
                    result = binarize_row(json.loads(line), index, settings)
                except (ValueError, RecursionError):
                    result = RowResult(drop="invalid_json")
        else:
            result = binarize_row({name: batch[name][i] for name in columns}, index, settings)
        for n, pair in enumerate(result.pairs or [None]):
            first = n == 0
            out["row"].append(index)
            out["drop"].append(result.drop)
            out["notes"].append(result.notes if first else [])
            out["suspects"].append(result.suspects if first else [])
            out["completions"].append(result.completions if first else 0)
            out["margin"].append(None if pair is None else pair["margin"])
            out["chosen_model"].append(None if pair is None else pair["chosen_model"])
            out["line"].append(
                None if pair is None else json_line(pair)
            )  # pair_record keeps OUTPUT_COLUMNS order
    return out


def _split(rows: list[int], margins: list[float], pair_idx: list[int], cfg: BinarizeConfig, name: str):
    """Shuffle the kept prompts with the seed and hold out `test_size` of them (all their pairs)."""
    by_row: dict[int, list[int]] = defaultdict(list)
    for i in pair_idx:
        by_row[rows[i]].append(i)
    kept = list(by_row)
    if cfg.test_size >= len(kept):
        raise AlignError(
            f"Test size {cfg.test_size} (--test-size / binarize.test_size) leaves nothing to train on: only "
            f"{len(kept)} prompts of {name} gave pairs. Use a test size below {len(kept)} (0 for no test split)."
        )
    random.Random(cfg.seed).shuffle(kept)
    test = [i for row in kept[: cfg.test_size] for i in by_row[row]]
    train = [i for row in kept[cfg.test_size :] for i in by_row[row]]
    if cfg.order_by_margin:  # curriculum: easy (large gap) to hard; the stable sort keeps shuffled ties
        train.sort(key=lambda i: -margins[i])
    return train, test


def _lines(table, indices: list[int]) -> Iterator[str]:
    """The output lines of these pairs, in this order, a slice at a time."""
    for start in range(0, len(indices), 10_000):
        yield from table.column("line").take(indices[start : start + 10_000]).to_pylist()


def _report(table, train: list[int], test: list[int], name: str, cfg: BinarizeConfig, score: str) -> dict:
    rows, drops = table.column("row").to_pylist(), table.column("drop").to_pylist()
    notes = Counter(n for ns in table.column("notes").to_pylist() for n in ns)
    sections: dict[str, Counter] = defaultdict(Counter)
    for note, count in notes.items():
        section, reason = note.split(".", 1)
        sections[section][reason] = count
    dropped = Counter(d for d in drops if d and d != _NOT_A_ROW)
    read = sum(1 for i, r in enumerate(rows) if drops[i] != _NOT_A_ROW and (i == 0 or rows[i - 1] != r))
    suspects = [
        {"row": row, **s}
        for row, ss in zip(rows, table.column("suspects").to_pylist(), strict=True)
        for s in ss
    ]
    written = train + test
    chosen = Counter(table.column("chosen_model").take(written).to_pylist())
    margins = table.column("margin").take(written).to_pylist()
    total = sum(table.column("completions").to_pylist())
    unrankable = sections["unrankable"]
    return {
        "input": name,
        "settings": {**cfg.model_dump(), "score": score},
        "code_version": CODE_VERSION,
        "rows_read": read,
        "rows_kept": read - sum(dropped.values()),
        "rows_written": {TRAIN: len(train), TEST: len(test)},
        "dropped_rows": dict(sorted(dropped.items())),
        "dropped_pairs": dict(sorted(sections["dropped_pairs"].items())),
        "ties_kept": sum(1 for m in margins if m == 0),
        "completions": {
            "read": total,
            "rankable": total - sum(unrankable.values()),
            "unrankable": dict(sorted(unrankable.items())),
        },
        "ratings": dict(sorted(sections["ratings"].items())),
        "overall_score": dict(sorted(sections["overall_score"].items())),
        "overall_score_bug_suspects": {
            "count": len(suspects),
            "dropped": cfg.drop_overall_score_bug,
            "examples": suspects[:_MAX_EXAMPLES],
        },
        "chosen_models": dict(sorted(chosen.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def binarize(
    path: str,
    cfg: BinarizeConfig,
    output_dir: str | Path,
    *,
    num_proc: int | None = 1,
    revision: str | None = None,
) -> dict[str, Any]:
    """Binarize `path` into OUTPUT_DIR/{train_prefs,test_prefs}.jsonl and report.json; return the report.

    `num_proc` None: one worker per core for a large input (align.data.workers).
    """
    raw = load_raw(path, revision)
    score = score_name(cfg)
    settings = Settings(
        strategy=cfg.strategy,
        score=score,
        seed=cfg.seed,
        min_margin=cfg.min_margin,
        drop_overall_score_bug=cfg.drop_overall_score_bug,
        questions=load_questions(cfg.decontaminate) if cfg.decontaminate else None,
    )
    ds = raw.dataset
    processed = ds.map(
        _map_batch,
        batched=True,
        with_indices=True,
        remove_columns=ds.column_names,
        features=_features(),
        fn_kwargs={"settings": settings, "encoded": raw.encoded},
        num_proc=map_workers(num_proc, len(ds)),
        load_from_cache_file=False,  # the map's fingerprint does not see changes to the modules it calls
        desc=f"Binarizing ({cfg.strategy})",
    )
    table = processed.data
    drops = table.column("drop").to_pylist()
    pair_idx = [i for i, d in enumerate(drops) if not d]
    if not pair_idx:
        reasons = Counter(d for d in drops if d != _NOT_A_ROW)
        why = ", ".join(f"{r}: {n}" for r, n in reasons.most_common()) or "the input has no rows"
        raise AlignError(
            f"No preference pair came out of {raw.name}: all {reasons.total()} rows were dropped ({why}). "
            "Check the input file and the strategy/score settings."
        )
    train, test = _split(
        table.column("row").to_pylist(), table.column("margin").to_pylist(), pair_idx, cfg, raw.name
    )
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_lines(out / f"{TRAIN}.jsonl", _lines(table, train))
    (out / f"{TEST}.jsonl").unlink(missing_ok=True)
    if test:
        write_lines(out / f"{TEST}.jsonl", _lines(table, test))
    report = _report(table, train, test, raw.name, cfg, score)
    (out / "report.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return report
