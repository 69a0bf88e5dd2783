"""User-facing errors.

Anything the user can fix (a bad recipe, a missing file, a malformed row) raises `AlignError`
with one paragraph naming the file, the field and the fix. The CLI prints it without a
traceback and exits with code 2.
"""


class AlignError(Exception):
    """An error caused by user input; its message is the whole explanation."""

    exit_code = 2
