"""The `align` command line. Each subcommand lives in `align/commands/<name>.py`.

A user error (AlignError) prints one paragraph and exits 2; a bug still shows its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from align import __version__
from align.errors import AlignError

# One module per subcommand; each defines `register(subparsers)` and imports heavy libraries lazily.
COMMANDS = [
    "align.commands.run",
    "align.commands.check",
    "align.commands.score",
    "align.commands.convert_rm",
    "align.commands.eval_rm",
    "align.commands.binarize",
    "align.commands.data_report",
    "align.commands.bench",
    "align.commands.best_of_n",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="align",
        description="Preference-alignment recipes over TRL: DPO, PPO, reward models, best-of-N.",
    )
    parser.add_argument("--version", action="version", version=f"align {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # bitsandbytes (imported by peft) warns on every CPU start that an optional hub kernel is missing;
    # its fallback works, and the line would precede every message align prints.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # overrides may follow options (`align check R --quiet a.b=1`): argparse leaves those over
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args) or 0)
    except AlignError as exc:
        print(f"align: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("align: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
