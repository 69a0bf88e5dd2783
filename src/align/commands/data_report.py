"""`align data-report --input DIR_OR_FILE --output DIR`: plots of a binarized preference set.

Writes scores.png (chosen vs rejected), margin.png, lengths.png (length bias) and
chosen_models.png for `align binarize` output (a directory of JSONL splits, or one file).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data-report", help="Plot a binarized preference set.", description=__doc__)
    p.add_argument(
        "--input",
        required=True,
        help="Binarized JSONL file (H4 pairs or the Argilla schema), or a directory of them.",
    )
    p.add_argument("--output", required=True, help="Directory for the PNG plots.")
    p.add_argument("--overwrite", action="store_true", help="Replace align's earlier output at --output.")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from align.data.pair_plots import load_pairs, plot, stats
    from align.publish import check_output_dir, publish_dir

    check_output_dir(args.output, args.overwrite, "--output")
    s = stats(load_pairs(args.input))
    for path in publish_dir(args.output, lambda folder: plot(s, folder), args.overwrite):
        print(f"wrote {Path(args.output) / path.name}")
    print(f"{s['pairs']} pairs, {s['ties']} ties, chosen longer than rejected in {s['chosen_longer']:.0%}")
    return 0
