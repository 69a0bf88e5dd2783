"""`annotate_file`: raw rows without feedback in, raw UltraFeedback rows with fine-grained AI feedback out.

Per row, one judge request per aspect rates all of the row's completions together (shown in a
seeded shuffled order and mapped back), and, when `critique` is on, one request per completion
asks for a critique and overall_score (UltraFeedback paper, arXiv 2310.01377, section 2.2;
OpenBMB/UltraFeedback src/data_annotation, commit bf80fd46a8c6ceecc86e8babb1ae8771f26a3cbb).
`fine-grained_score` is the mean of the numeric ratings.

Rows run concurrently and each is appended to OUTPUT.progress.jsonl the moment it is done.
Only when every row is done is OUTPUT written, in input order, from the progress file, which is
then removed. Nothing about a row depends on when it was annotated (the shuffle is seeded per
row and aspect, the judge runs at temperature 0), so an interrupted and resumed run writes the
same OUTPUT as an uninterrupted one. A row whose request failed for good (retries spent) is not
written; the report counts it and the next run tries it again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from align.config.annotate import AnnotateConfig
from align.errors import AlignError
from align.jsonl import read_jsonl, write_jsonl
from align.pipeline.judge.journal import Journal, row_keys
from align.pipeline.judge.parse import fine_grained_score, parse_aspect, parse_critique
from align.pipeline.judge.requests import aspect_messages, critique_messages, shown_order
from align.pipeline.judge.rubric import Rubric, load_rubric
from align.pipeline.openai_client import ChatClient, ChatModel, RequestFailed

# What annotate_file needs from a judge: the OpenAI-compatible ChatClient, or an in-process backend
# (`stats` and `async complete(messages, **sampling) -> Completion`).
Judge = ChatModel


def progress_path(output: str | Path) -> Path:
    return Path(f"{output}.progress.jsonl")


def report_path(output: str | Path) -> Path:
    return Path(output).with_suffix(".report.json")


def settings(config: AnnotateConfig, rubric: Rubric) -> dict[str, Any]:
    """Everything that decides an annotation: recorded in the progress file and the report."""
    judge = config.judge
    return {
        "rubric": {"version": rubric.version, "sha256": rubric.sha256},
        "judge": {
            "backend": judge.backend,
            "model": judge.model,
            "temperature": judge.temperature,
            "top_p": judge.top_p,
            "max_tokens": judge.max_tokens,
            "critique_max_tokens": judge.critique_max_tokens,
        },
        "seed": config.seed,
        "aspects": list(config.aspects),
        "critique": config.critique,
    }


def load_rows(path: Path) -> list[dict[str, Any]]:
    """Input rows, checked for what annotation needs: an instruction and completions with responses."""
    if not path.is_file():
        raise AlignError(f"annotate.input {path} does not exist. Give the JSONL file `align generate` wrote.")
    try:
        rows = read_jsonl(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AlignError(
            f"annotate.input {path} is not UTF-8 JSON lines ({exc}). Fix or regenerate it."
        ) from None
    for number, row in enumerate(rows, 1):
        completions = row.get("completions") if isinstance(row, dict) else None
        ok = (
            isinstance(row, dict)
            and isinstance(row.get("instruction"), str)
            and isinstance(completions, list)
            and all(isinstance(c, dict) and isinstance(c.get("response"), str) for c in completions)
        )
        if not ok:
            raise AlignError(
                f"annotate.input {path}, row {number}, is not a raw UltraFeedback row: it needs a string "
                "`instruction` and a list `completions` whose items have a string `response`. Fix the row or "
                "regenerate the file with `align generate`."
            )
    return rows


async def gather_or_cancel(*aws: Awaitable[Any]) -> list[Any]:
    """asyncio.gather, but the first exception cancels the others (and waits for them) before it is raised."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class _Run:
    """One annotation run's judge, rubric and counters."""

    def __init__(self, config: AnnotateConfig, rubric: Rubric, judge: ChatModel) -> None:
        self.config = config
        self.rubric = rubric
        self.judge = judge
        self.problems: dict[str, Counter[str]] = {a: Counter() for a in config.aspects}
        self.problems["critique"] = Counter()
        self.row_failures = Counter()
        sampling = {"temperature": config.judge.temperature}
        if config.judge.top_p is not None:
            sampling["top_p"] = config.judge.top_p
        self.aspect_sampling = {**sampling, "max_tokens": config.judge.max_tokens}
        self.critique_sampling = {**sampling, "max_tokens": config.judge.critique_max_tokens}

    async def _aspect(self, key: str, row: dict[str, Any], aspect: str) -> tuple[list[dict], Counter[str]]:
        """The aspect's annotation of every completion, in the row's order, and the problems reading it."""
        count = len(row["completions"])
        order = shown_order(count, self.config.seed, key, aspect)
        reply = await self.judge.complete(
            aspect_messages(self.rubric, aspect, row, order), **self.aspect_sampling
        )
        parsed = parse_aspect(reply.text, count, self.rubric.aspect(aspect))
        if reply.finish_reason == "length":
            parsed.problems["reply.truncated"] += 1
        annotations: list[dict[str, Any]] = [{}] * count
        for shown, index in enumerate(order):
            annotations[index] = parsed.annotations[shown]
        return annotations, parsed.problems

    async def _critique(
        self, row: dict[str, Any], completion: dict[str, Any]
    ) -> tuple[str, float | None, Counter]:
        reply = await self.judge.complete(
            critique_messages(self.rubric, row, completion), **self.critique_sampling
        )
        critique, score, problem = parse_critique(reply.text)
        problems = Counter([problem] if problem else [])
        if reply.finish_reason == "length":
            problems["reply.truncated"] += 1
        return critique, score, problems

    async def row(self, key: str, row: dict[str, Any]) -> dict[str, Any]:
        """The row with every completion annotated; raises RequestFailed if a request failed for good.

        Problems are counted only for rows that are written, so a row retried by a later run is not
        counted twice.
        """
        completions = row["completions"]
        if not completions:
            return row
        aspects = [self._aspect(key, row, a) for a in self.config.aspects]
        critiques = [self._critique(row, c) for c in completions] if self.config.critique else []
        results = await gather_or_cancel(*aspects, *critiques)
        by_aspect = dict(zip(self.config.aspects, results[: len(aspects)], strict=True))
        out = []
        for i, completion in enumerate(completions):
            annotations = {a: ratings[i] for a, (ratings, _) in by_aspect.items()}
            done = {
                **completion,
                "annotations": annotations,
                "fine-grained_score": fine_grained_score(annotations),
            }
            if critiques:
                done["critique"], done["overall_score"], problems = results[len(aspects) + i]
                self.problems["critique"].update(problems)
            out.append(done)
        for aspect, (_, problems) in by_aspect.items():
            self.problems[aspect].update(problems)
        return {**row, "completions": out}


async def _annotate(
    rows: list[dict[str, Any]], keys: list[str], journal: Journal, run: _Run, progress: bool
) -> None:
    from tqdm.auto import tqdm

    todo = iter([(k, r) for k, r in zip(keys, rows, strict=True) if k not in journal])
    done = sum(k in journal for k in keys)
    with tqdm(total=len(rows), initial=done, desc="annotating", unit="row", disable=not progress) as bar:

        async def worker() -> None:
            for key, row in todo:  # one shared iterator: each row goes to one worker
                try:
                    done = await run.row(key, row)
                except RequestFailed as exc:
                    run.row_failures[exc.reason] += 1
                else:
                    journal.append(key, done)
                bar.update(1)

        # Each row sends len(aspects) + completions requests at once; as many rows as requests in
        # flight keep the judge busy without queueing the whole input.
        await gather_or_cancel(*(worker() for _ in range(run.config.max_in_flight)))


def annotate_file(
    in_path: str | Path,
    out_path: str | Path,
    config: AnnotateConfig,
    judge: Judge | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Annotate the rows of `in_path` into `out_path`; returns the report (also written beside the output).

    `judge` replaces the OpenAI-compatible client built from `config.judge` (an in-process backend
    must be passed here). An existing progress file of the same settings is continued; `overwrite`
    starts over and replaces an existing output.
    """
    from align.publish import check_output_file, staged_file

    out_path = check_output_file(out_path, overwrite, "annotate.output")
    rubric = load_rubric(config.rubric)
    rows = load_rows(Path(in_path))
    keys = row_keys(rows)
    journal_path = progress_path(out_path)
    if overwrite:
        journal_path.unlink(missing_ok=True)
    recorded = settings(config, rubric)
    journal = Journal(journal_path, recorded)
    resumed = sum(k in journal for k in keys)
    if judge is None:
        if config.judge.backend != "openai":
            raise AlignError(
                f"annotate.judge.backend is {config.judge.backend!r}: an in-process judge is built by the "
                "`align annotate` command, not by annotate_file. Run the command, or pass judge=..."
            )
        judge = ChatClient(
            config.judge.base_url or "",
            config.judge.model,
            api_key_env=config.judge.api_key_env,
            max_in_flight=config.max_in_flight,
            retries=config.retries,
            backoff=config.backoff,
            backoff_max=config.backoff_max,
            timeout=config.judge.timeout,
            seed=config.seed,
        )
    run = _Run(config, rubric, judge)
    start = time.perf_counter()

    async def main() -> None:
        try:
            await _annotate(rows, keys, journal, run, progress)
        finally:
            if isinstance(judge, ChatClient):
                await judge.aclose()

    try:
        asyncio.run(main())
    finally:
        journal.close()
    wall = time.perf_counter() - start
    missing = [k for k in keys if k not in journal]
    if not missing:
        with staged_file(out_path) as tmp:
            write_jsonl(tmp, (journal.rows[k] for k in keys))
        journal_path.unlink()
    report = _report(rows, resumed, missing, run, wall, recorded)
    report.update(
        input=str(in_path), output=str(out_path), progress_file=None if not missing else str(journal_path)
    )
    report_path(out_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _report(
    rows: list[dict[str, Any]],
    resumed: int,
    missing: list[str],
    run: _Run,
    wall: float,
    recorded: dict[str, Any],
) -> dict[str, Any]:
    stats = run.judge.stats.as_dict()
    annotated = len(rows) - resumed - len(missing)
    tokens = stats["prompt_tokens"] + stats["completion_tokens"]
    return {
        "complete": not missing,
        "rows": len(rows),
        "rows_resumed": resumed,
        "rows_annotated": annotated,
        "rows_failed": len(missing),
        "row_failures_by_reason": dict(sorted(run.row_failures.items())),
        **stats,
        "truncated_replies": {
            a: c["reply.truncated"] for a, c in run.problems.items() if c["reply.truncated"]
        },
        # Why ratings are N/A (rating.na: the judge said N/A) and other trouble reading replies (blocks, Type).
        "na_by_aspect": {a: _only(c, "rating.", True) for a, c in run.problems.items() if a != "critique"},
        "parse_problems_by_aspect": {
            a: _only(c, ("rating.", "reply."), False) for a, c in run.problems.items() if a != "critique"
        },
        "critique_problems": _only(run.problems["critique"], "reply.", False),
        "wall_s": round(wall, 3),
        "rows_per_min": round(annotated / wall * 60, 2) if wall > 0 else None,
        "tokens_per_s": round(tokens / wall, 2) if wall > 0 else None,
        "completion_tokens_per_s": round(stats["completion_tokens"] / wall, 2) if wall > 0 else None,
        "max_in_flight": run.config.max_in_flight,
        "settings": recorded,
    }


def _only(counts: Counter[str], prefix: str | tuple[str, ...], keep: bool) -> dict[str, int]:
    return {k: v for k, v in sorted(counts.items()) if k.startswith(prefix) == keep}


def summary(report: dict[str, Any]) -> str:
    """A few lines for the terminal; the report file has the rest."""
    lines = [
        f"annotated {report['rows_annotated']} rows ({report['rows_resumed']} already done, "
        f"{report['rows_failed']} failed) of {report['rows']}"
        + ("" if report["complete"] else f"; rerun to finish, progress in {report['progress_file']}"),
        f"{report['requests']} requests, {report['retries']} retries, failures: "
        + (", ".join(f"{k} {v}" for k, v in report["failures_by_reason"].items()) or "none"),
        f"{report['prompt_tokens']} prompt + {report['completion_tokens']} completion tokens in {report['wall_s']} s: "
        f"{report['rows_per_min']} rows/min, {report['tokens_per_s']} tokens/s",
    ]
    na = {a: sum(c.values()) for a, c in report["na_by_aspect"].items()}
    lines.append("N/A ratings: " + ", ".join(f"{a} {n}" for a, n in na.items()))
    return "\n".join(lines)
