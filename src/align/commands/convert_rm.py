"""`align convert-rm SRC DST`: rewrite a reward model (e.g. openbmb/UltraRM-13b) as a standard checkpoint.

DST loads with plain `AutoModelForSequenceClassification` (no remote code): safetensors weights,
`score` head, a pad token in config and tokenizer, and the scoring template in the config.
"""

from __future__ import annotations

import argparse

from align.commands.fields import add_field_flags, given
from align.config.recipe import RewardModelConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert-rm", help="Convert a reward model (UltraRM) to a standard checkpoint.", description=__doc__
    )
    p.add_argument("src", help="Hub id or local directory of the reward model.")
    p.add_argument("dst", help="Output directory.")
    add_field_flags(p, RewardModelConfig, ["dtype"])
    p.add_argument("--overwrite", action="store_true", help="Replace a model align converted earlier at DST.")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from align.paths import model_path
    from align.publish import check_output_dir, publish_dir
    from align.rm.load import convert

    model_path(args.src, "convert-rm SRC")
    check_output_dir(args.dst, args.overwrite, "DST")
    publish_dir(
        args.dst,
        lambda folder: convert(RewardModelConfig(name_or_path=args.src, **given(args, ["dtype"])), folder),
        args.overwrite,
        "DST",
    )
    print(f"align: wrote {args.dst}")
    return 0
