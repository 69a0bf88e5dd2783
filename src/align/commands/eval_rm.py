"""`align eval-rm --model M --suite ultrarm-paper`: pairwise accuracy of a reward model on preference test sets.

The ultrarm-paper suite reads Anthropic HH helpful-base (test), OpenAI WebGPT comparisons
(ties skipped), OpenAI summarize-from-feedback comparisons (validation) and Stanford SHP (test)
from the hub and prints accuracy next to the UltraRM paper's Table 2. `--data` adds any
binarized preference set (a JSONL file, a directory of split files, or a hub id).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from align.commands.argtypes import positive_int
from align.commands.score import add_model_args, load
from align.rm.eval_sets import SUITES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-rm", help="Reward-model accuracy on preference test sets.", description=__doc__)
    add_model_args(p)
    p.add_argument("--suite", choices=sorted(SUITES), help="Named group of test sets from the hub.")
    p.add_argument(
        "--data", action="append", default=[], metavar="PATH", help="A binarized preference set (repeatable)."
    )
    p.add_argument(
        "--split", default="test_prefs", help="Split of --data directories and hub ids (test_prefs)."
    )
    p.add_argument(
        "--limit", type=positive_int, help="At most this many pairs per set, drawn at random (seeded)."
    )
    p.add_argument("--seed", type=int, default=0, help="Seed of the --limit draw.")
    p.add_argument(
        "--samples",
        action="store_true",
        help="Read each suite set's small bundled sample file instead of the hub (an offline pipeline check).",
    )
    p.add_argument("--output", type=Path, help="Directory for eval_rm.json and per-pair rewards.")
    p.add_argument("--overwrite", action="store_true", help="Replace align's earlier output at --output.")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from align.data.preferences import train_file
    from align.errors import AlignError
    from align.paths import data_file, hub_repo, model_path
    from align.publish import check_output_dir, publish_dir
    from align.rm.eval_sets import EVAL_SETS, binarized_pairs, suite_pairs
    from align.rm.evaluate import PairSet, evaluate, format_table

    if not args.suite and not args.data:
        raise AlignError("align eval-rm needs test sets: pass --suite ultrarm-paper and/or --data PATH.")
    model_path(args.model, "--model")
    for path in args.data:
        source = data_file(path, "--data", (".jsonl",), hub="dataset", directory_ok=True)
        if isinstance(source, Path) and source.is_dir():
            train_file(source, args.split)
    for key in [] if args.samples else SUITES.get(args.suite, []):
        hub_repo(EVAL_SETS[key].path, f"--suite {args.suite} (set {key})", "dataset")
    if args.output:
        check_output_dir(args.output, args.overwrite, "--output")
    sets = []  # all data is read before the model loads, so a bad set fails fast
    for key in SUITES.get(args.suite, []):
        eval_set = EVAL_SETS[key]
        pairs, skipped = suite_pairs(eval_set, args.limit, args.samples, args.seed)
        source = eval_set.sample if args.samples else f"{eval_set.path} ({eval_set.split})"
        sets.append(PairSet(key, eval_set.title, source, pairs, skipped))
    for path in args.data:
        pairs, skipped = binarized_pairs(path, args.split, args.limit, args.seed)
        key = Path(path.rstrip("/")).stem
        sets.append(PairSet(key, key, f"{path} ({args.split})", pairs, skipped))
    scorer = load(args)

    def run(folder: Path | None) -> dict:
        return evaluate(scorer, sets, folder)

    results = publish_dir(args.output, run, args.overwrite) if args.output else run(None)
    print(f"# {args.model}, template {scorer.template!r}")
    print(format_table(results))
    if args.output:
        print(f"align: results in {args.output / 'eval_rm.json'}")
    return 0
