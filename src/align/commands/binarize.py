"""`align binarize --input SRC --strategy NAME --output DIR`: raw UltraFeedback -> preference pairs.

Writes DIR/train_prefs.jsonl, DIR/test_prefs.jsonl (when --test-size > 0) and DIR/report.json
in the HuggingFaceH4/ultrafeedback_binarized format. SRC is a local .jsonl/.json/.parquet
file, sample://ultrafeedback, or a hub id (openbmb/UltraFeedback loads the corrected upload
40b4365 unless --revision says otherwise).
"""

from __future__ import annotations

import argparse
import time

from align.commands.argtypes import positive_int
from align.commands.fields import add_field_flags, given, validated
from align.config.recipe import BinarizeConfig
from align.data.schema import SCORES
from align.data.strategies import STRATEGIES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("binarize", help="Turn raw UltraFeedback into preference pairs.", description=__doc__)
    p.add_argument("--input", required=True, help="Raw UltraFeedback: file, sample://NAME or hub id.")
    p.add_argument("--output", required=True, help="Directory for the JSONL splits and report.json.")
    # every field of BinarizeConfig (the recipe's data.binarize) is a flag
    fields = add_field_flags(
        p, BinarizeConfig, strategy={"required": True, "choices": list(STRATEGIES)}, score={"choices": SCORES}
    )
    p.add_argument("--num-proc", type=positive_int, default=1, help="Worker processes (output is identical).")
    p.add_argument("--revision", help="Hub revision of the input (a commit, for reproducibility).")
    p.add_argument("--overwrite", action="store_true", help="Replace align's earlier output at --output.")
    p.set_defaults(func=main, binarize_fields=fields)


def summary(report: dict) -> str:
    """A few lines for the terminal; report.json has the rest."""
    written = report["rows_written"]
    lines = [
        f"read {report['rows_read']} rows, kept {report['rows_kept']}; wrote "
        + ", ".join(f"{n} pairs to {split}" for split, n in written.items() if n),
        f"ties kept: {report['ties_kept']}; overall_score-bug suspects: "
        f"{report['overall_score_bug_suspects']['count']}"
        + (" (dropped)" if report["overall_score_bug_suspects"]["dropped"] else ""),
    ]
    sections = {
        "dropped rows": report["dropped_rows"],
        "unrankable completions": report["completions"]["unrankable"],
    }
    for title, counts in sections.items():
        if counts:
            lines.append(f"{title}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from align.data.binarize import binarize
    from align.data.loader import local_path
    from align.publish import check_output_dir, publish_dir

    cfg = validated(BinarizeConfig.model_validate, given(args, args.binarize_fields), "binarize")
    local_path(args.input, "--input", args.revision)
    check_output_dir(args.output, args.overwrite, "--output")
    start = time.perf_counter()
    report = publish_dir(
        args.output,
        lambda folder: binarize(args.input, cfg, folder, num_proc=args.num_proc, revision=args.revision),
        args.overwrite,
    )
    print(summary(report))
    print(f"wrote {args.output} in {time.perf_counter() - start:.1f}s")
    return 0
