"""The `align` command line. Each subcommand lives in `align/commands/<name>.py`.

A user error (AlignError) prints one paragraph and exits 2; a bug still shows its traceback.
Between the two sit the exceptions libraries raise on bad files or an unreachable hub
(`INPUT_ERRORS`): they also print one paragraph and exit 2, since no align code is at fault;
any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from align import __version__
from align.commands import (
    annotate,
    bench,
    best_of_n,
    binarize,
    check,
    convert_rm,
    data_report,
    eval_rm,
    generate,
    run,
    score,
)
from align.console import silence_known_warnings
from align.errors import AlignError

# One module per subcommand; each defines `register(subparsers)` and imports heavy libraries lazily.
COMMANDS = [
    run,
    check,
    score,
    convert_rm,
    eval_rm,
    binarize,
    data_report,
    bench,
    best_of_n,
    generate,
    annotate,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="align",
        description="Preference-alignment recipes over TRL: DPO, PPO, reward models, best-of-N.",
    )
    parser.add_argument("--version", action="version", version=f"align {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


# (module, class) of the exceptions that mean "an input file or the network is bad", looked up only
# in modules already imported (an exception cannot come from a module that was never loaded).
INPUT_ERRORS = [
    ("builtins", "OSError"),  # a user path: missing, a directory, unreadable; or the hub unreachable
    ("builtins", "UnicodeDecodeError"),  # a user file that is not UTF-8
    ("yaml", "YAMLError"),  # a YAML file that does not parse
    ("pyarrow", "ArrowException"),  # a JSON/Parquet file arrow cannot parse
    ("datasets.exceptions", "DatasetsError"),  # datasets failing to build a set from a user's files
    ("huggingface_hub.errors", "HFValidationError"),  # a value that is neither a local path nor a hub id
    ("huggingface_hub.errors", "HfHubHTTPError"),  # the hub refused a request
]


def input_error(exc: BaseException) -> str | None:
    """One paragraph for an exception in INPUT_ERRORS, None for anything else (a bug)."""
    for module, name in INPUT_ERRORS:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            text = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
            return (
                f"could not read an input{where}: {type(exc).__name__}: {text}. Check the file or hub id named "
                "(and the network for a hub id); set ALIGN_TRACEBACK=1 to see where it happened."
            )
    return None


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    silence_known_warnings()  # the third-party warnings a user cannot act on, listed in align.console
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
    except Exception as exc:
        message = None if os.environ.get("ALIGN_TRACEBACK") else input_error(exc)
        if message is None:
            raise
        print(f"align: error: {message}", file=sys.stderr)
        return AlignError.exit_code


if __name__ == "__main__":
    sys.exit(main())
