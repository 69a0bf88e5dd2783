"""argparse types for numeric flags with a range: a value outside it is a usage error (exit 2) naming the flag."""

from __future__ import annotations

import argparse


def _integer(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, not {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, not {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (batch sizes, counts of processes, steps, limits)."""
    return _integer(text, 1)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (sizes where 0 means none)."""
    return _integer(text, 0)


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """`--help` shows each option's default after its text, except where there is none to show (None, False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or action.required:
            return action.help
        return super()._get_help_string(action)
