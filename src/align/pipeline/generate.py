"""`align generate`: instructions -> raw UltraFeedback rows whose completions come from a pool of models.

For each instruction a generator private to the row (seed, row index, instruction) draws
`models_per_instruction` pool models and, for each, a principle from the source's mix and one
of that principle's system prompts. The plan is fixed before any model loads, so it does not
depend on which backend runs or on an interruption.

Models are then loaded one at a time and each answers all of its prompts before the next loads.
Every reply is appended to `OUTPUT.progress.jsonl` as it arrives; a rerun skips the replies
already there (the file's first line records a digest of the plan, so a changed recipe is not
mixed with an old run). When all replies are in, the rows are written to OUTPUT in input order,
in the raw UltraFeedback schema with empty annotations, and OUTPUT.report.json counts the work.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from align.config.generate import GenerateConfig, InstructionSource
from align.errors import AlignError
from align.jsonl import write_jsonl
from align.pipeline.backends import Request, open_backend
from align.pipeline.principles import DEFAULT_SOURCE, PrincipleSet, load_principles

SUFFIXES = (".jsonl", ".json", ".parquet")
NO_ANSWERS = ["None"]  # what raw UltraFeedback holds in correct_answers/incorrect_answers without references


@dataclass(frozen=True)
class Slot:
    """One completion to generate: row, position in the row, model, principle and its system prompt."""

    row: int
    slot: int
    model: str
    principle: str
    system_prompt: str
    seed: int


def progress_path(output: str | Path) -> Path:
    return Path(f"{output}.progress.jsonl")


def report_path(output: str | Path) -> Path:
    return Path(output).with_suffix(".report.json")


def load_instructions(src: InstructionSource, field: str = "generate.instructions") -> list[dict[str, Any]]:
    """Rows {source, instruction, correct_answers, incorrect_answers} in file order; blank instructions dropped."""
    from align.data.hub import load_hub
    from align.paths import data_file, load_files

    location = data_file(src.path, f"{field}.path", SUFFIXES, hub="dataset", revision=src.revision)
    if isinstance(location, Path):
        kind = "parquet" if location.suffix == ".parquet" else "json"
        ds = load_files(kind, str(location), f"{field}.path", "instruction rows", split="train")
    else:
        ds = load_hub(location, src.split, src.revision)
    for key, column in (("instruction_column", src.instruction_column), ("source_column", src.source_column)):
        if column is not None and column not in ds.column_names:
            raise AlignError(
                f"{field}.{key} is {column!r}, but {src.path} has no such column (it has "
                f"{', '.join(ds.column_names)}). Set {field}.{key} to one of those"
                + (" or to null." if key == "source_column" else ".")
            )
    if src.max_instructions is not None:
        ds = ds.select(range(min(len(ds), src.max_instructions)))
    rows = []
    for item in ds:
        instruction = item[src.instruction_column]
        if not isinstance(instruction, str) or not instruction.strip():
            continue
        source = item.get(src.source_column) if src.source_column else None
        rows.append(
            {
                "source": source if isinstance(source, str) and source else DEFAULT_SOURCE,
                "instruction": instruction,
                "correct_answers": _answers(item.get("correct_answers")),
                "incorrect_answers": _answers(item.get("incorrect_answers")),
            }
        )
    if not rows:
        raise AlignError(
            f"{field}.path {src.path} holds no non-empty instruction in column {src.instruction_column!r}. "
            "Point it at a file of instruction rows or name the right column."
        )
    return rows


def _answers(value: Any) -> list[str]:
    if isinstance(value, str) and value.strip():
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    return list(NO_ANSWERS)


def _rng(seed: int, *parts: object) -> random.Random:
    digest = hashlib.sha256("\x00".join(map(str, (seed, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def plan(rows: list[dict[str, Any]], cfg: GenerateConfig, principles: PrincipleSet, seed: int) -> list[Slot]:
    """Every completion to generate, drawn with a generator private to each row."""
    labels = [m.label for m in cfg.pool]
    slots = []
    for index, row in enumerate(rows):
        rng = _rng(seed, index, row["instruction"])
        for slot, model in enumerate(rng.sample(labels, cfg.models_per_instruction)):
            principle, prompt = principles.draw(row["source"], rng)
            slots.append(Slot(index, slot, model, principle, prompt, rng.randrange(2**31)))
    return slots


def messages(slot: Slot, instruction: str, principle_in: str) -> list[dict[str, str]]:
    if principle_in == "user":
        return [{"role": "user", "content": f"{slot.system_prompt}\n\n{instruction}"}]
    return [{"role": "system", "content": slot.system_prompt}, {"role": "user", "content": instruction}]


def plan_digest(rows: list[dict[str, Any]], slots: list[Slot], cfg: GenerateConfig) -> str:
    """Identifies the work: instructions, assignments, models and sampling (not the backend or batch size)."""
    pool = [(m.label, m.name_or_path, m.revision, m.chat_template, m.principle_in) for m in cfg.pool]
    sampling = [cfg.sampling_of(m).model_dump() for m in cfg.pool]
    blob = json.dumps([[r["instruction"] for r in rows], [vars(s) for s in slots], pool, sampling])
    return hashlib.sha256(blob.encode()).hexdigest()


def _read_progress(path: Path, digest: str, overwrite: bool) -> dict[tuple[int, int], dict[str, Any]]:
    """Replies of an earlier run of the same plan, keyed (row, slot); an error if the plan changed."""
    if not path.exists() or overwrite:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"plan": digest}) + "\n", encoding="utf-8")
        return {}
    lines = path.read_text(encoding="utf-8").split("\n")
    try:
        header = json.loads(lines[0])
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("plan") != digest:
        raise AlignError(
            f"{path} holds the progress of a different generate plan (the instructions, pool, principles, sampling "
            "or seed changed). Pass --overwrite to start over, or restore the recipe that wrote it."
        )
    done = {}
    for line in lines[1:]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut short by an interruption: its reply is generated again
        done[(entry["row"], entry["slot"])] = entry
    return done


def generate(cfg: GenerateConfig, seed: int, overwrite: bool = False) -> dict[str, Any]:
    """Run the generate section; returns the report (also written to OUTPUT.report.json)."""
    from align.publish import check_output_file, staged_file

    output = check_output_file(cfg.output, overwrite, "generate.output")
    principles = load_principles(cfg.principles)
    rows = load_instructions(cfg.instructions)
    slots = plan(rows, cfg, principles, seed)
    digest = plan_digest(rows, slots, cfg)
    progress = progress_path(output)
    done = _read_progress(progress, digest, overwrite)
    resumed = len(done)
    if resumed:
        print(f"resuming {progress}: {resumed} of {len(slots)} completions already generated")
    per_model: dict[str, Counter] = {}
    with progress.open("a", encoding="utf-8") as log:
        for model in cfg.pool:
            todo = [s for s in slots if s.model == model.label and (s.row, s.slot) not in done]
            stats = per_model.setdefault(model.label, Counter())
            if not todo:
                continue
            sampling = cfg.sampling_of(model)
            requests = [
                Request(
                    (s.row, s.slot),
                    messages(s, rows[s.row]["instruction"], model.principle_in),
                    sampling,
                    s.seed,
                )
                for s in todo
            ]
            start = time.perf_counter()
            backend = open_backend(
                cfg.backend_of(model), model, model.endpoint or cfg.endpoint, cfg.batch_size, seed
            )
            try:
                for reply in _progress_bar(backend.generate(requests), len(requests), model.label):
                    row, slot = reply.key
                    entry = {
                        "row": row,
                        "slot": slot,
                        "model": model.label,
                        "response": reply.text,
                        "finish_reason": reply.finish_reason,
                        "prompt_tokens": reply.prompt_tokens,
                        "completion_tokens": reply.completion_tokens,
                    }
                    log.write(json.dumps(entry, ensure_ascii=False) + "\n")
                    log.flush()
                    done[(row, slot)] = entry
                    stats.update(
                        requests=1,
                        prompt_tokens=reply.prompt_tokens,
                        completion_tokens=reply.completion_tokens,
                        truncated=reply.finish_reason == "length",
                    )
                stats.update({f"failed_{reason}": n for reason, n in backend.failures.items()})
            finally:
                backend.close()
            stats["seconds"] = round(time.perf_counter() - start, 3)
    missing = [s for s in slots if (s.row, s.slot) not in done]
    if missing:
        raise AlignError(
            f"{len(missing)} completions came back from no backend (first: row {missing[0].row}, model "
            f"{missing[0].model}); rerun the same command to generate them."
        )
    with staged_file(output) as tmp:
        write_jsonl(tmp, assemble(rows, slots, done))
    report = {
        "output": str(output),
        "rows": len(rows),
        "completions": len(slots),
        "resumed_completions": resumed,
        "seed": seed,
        "plan": digest,
        "principle_set": {"name": principles.name, "version": principles.version},
        "principles": dict(Counter(s.principle for s in slots)),
        "models": {label: dict(c) for label, c in per_model.items()},
    }
    report_path(output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def assemble(rows: list[dict[str, Any]], slots: list[Slot], done: dict[tuple[int, int], dict]) -> list[dict]:
    """Raw UltraFeedback rows in input order; annotations are left for `align annotate`."""
    out = [{**row, "models": [], "completions": []} for row in rows]
    for s in slots:
        target = out[s.row]
        target["models"].append(s.model)
        target["completions"].append(
            {
                "model": s.model,
                "principle": s.principle,
                "custom_system_prompt": s.system_prompt,
                "response": done[(s.row, s.slot)]["response"],
                "annotations": {},
                "fine-grained_score": None,
                "overall_score": None,
                "critique": "",
            }
        )
    return [
        {
            k: r[k]
            for k in (
                "source",
                "instruction",
                "models",
                "correct_answers",
                "incorrect_answers",
                "completions",
            )
        }
        for r in out
    ]


def _progress_bar(items, total: int, label: str):
    from tqdm.auto import tqdm

    return tqdm(items, total=total, desc=f"generate {label}", unit="completion")
