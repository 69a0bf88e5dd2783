"""`align annotate RECIPE [key.path=value ...]`: fine-grained AI feedback on raw rows from any judge.

The judge rates all completions of a row together, one request per aspect, and (with
annotate.critique) critiques each completion with an overall_score. Rows are appended to
OUTPUT.progress.jsonl as they finish: rerun the same command to continue an interrupted run.
OUTPUT is written, in input order, when every row is done; OUTPUT.report.json counts rows,
requests, retries, failures by reason, N/A ratings, tokens and throughput.

The API key of a hosted judge is read from the environment variable annotate.judge.api_key_env
names; it is never printed or written.
"""

from __future__ import annotations

import argparse

from align.commands.fields import add_recipe_args
from align.errors import AlignError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "annotate", help="Rate completions with an AI judge (UltraFeedback).", description=__doc__
    )
    add_recipe_args(p, "A pipeline recipe with an `annotate:` section (see recipes/ultrafeedback/).")
    p.add_argument(
        "--overwrite", action="store_true", help="Replace the output and discard earlier progress."
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from align.config.generate import PoolModel
    from align.config.pipeline import load_pipeline
    from align.pipeline.judge.annotate import annotate_file, report_path, summary

    recipe = load_pipeline(args.recipe, args.overrides)
    cfg = recipe.annotate
    if cfg is None:
        raise AlignError(
            f"Recipe {args.recipe} has no `annotate:` section. Add one (see recipes/ultrafeedback/smoke.yaml), "
            "or run `align generate` for a generate-only recipe."
        )
    assert cfg.input is not None and cfg.output is not None  # PipelineRecipe fills or requires them
    judge = None
    if cfg.judge.backend != "openai":
        from align.pipeline.local_judge import LocalChatModel

        model = PoolModel(name_or_path=cfg.judge.model)
        judge = LocalChatModel(cfg.judge.backend, model, batch_size=cfg.max_in_flight, seed=cfg.seed)
    try:
        report = annotate_file(cfg.input, cfg.output, cfg, judge, overwrite=args.overwrite)
    finally:
        if judge is not None:
            judge.close()
    print(summary(report))
    if not report["complete"]:
        print(f"align: {report['rows_failed']} rows failed; rerun the same command to annotate them")
        return 1
    print(f"wrote {report['output']} (report: {report_path(cfg.output)})")
    return 0
