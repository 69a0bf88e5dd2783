"""Every model and data argument, resolved in one place before anything loads.

A value is one of: `tiny://NAME` (offline test models), `sample://NAME` (bundled files), an
existing local file or directory of the kind the argument needs (a model is a directory with
config.json), or a hub id `owner/name`. Anything else is an AlignError that names the argument,
what was looked for and the fix. A hub id needs the network or a copy in the local hub cache;
`HubUnavailable` says so and lets `align check` report it as a note instead of refusing, since
the machine that runs the recipe may have the network the checking one lacks.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from align.data import samples
from align.data.hub import MIRROR_ENV, mirror_source
from align.errors import AlignError
from align.models import tiny

# The hub's repo id syntax: owner/name, letters, digits and -_. (no leading/trailing separator).
_HUB_ID = re.compile(r"^[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9])?/[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9])?$")
_TRUE = {"1", "ON", "YES", "TRUE"}
_HUB_TIMEOUT_S = 10.0


class HubUnavailable(AlignError):
    """A hub id that cannot be reached from here (offline mode or no network) and is not cached."""


def is_hub_id(value: str) -> bool:
    return bool(_HUB_ID.match(value)) and ".." not in value


def offline() -> bool:
    """True when huggingface_hub / datasets were told not to use the network."""
    return any(os.environ.get(v, "").upper() in _TRUE for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _listing(directory: Path, limit: int = 8) -> str:
    names = sorted(p.name for p in directory.iterdir())
    shown = ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")
    return shown or "nothing"


def _not_found(argument: str, value: str, problem: str, fix: str, hint: str | None) -> AlignError:
    extra = f" {hint}" if hint else ""
    return AlignError(f"{argument} {value} {problem}.{extra} {fix}")


# --- the hub ----------------------------------------------------------------------------------


def cached_hub_file(repo_id: str, filename: str, revision: str | None = None) -> Path | None:
    """A model repo's file in the local hub cache, or None.

    The lookup of huggingface_hub's try_to_load_from_cache on the cache layout it documents
    (models--OWNER--NAME/refs/REVISION -> snapshots/COMMIT/FILE), without importing its download
    module, which alone costs `align check` about a second.
    """
    from huggingface_hub import constants

    repo = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    revision = revision or "main"
    ref = repo / "refs" / revision
    try:
        commit = ref.read_text().strip() if ref.is_file() else revision
    except OSError:
        return None
    path = repo / "snapshots" / commit / filename
    return path if path.is_file() else None


def _in_hub_cache(repo_id: str, repo_type: str, revision: str | None) -> bool:
    from huggingface_hub import constants

    if repo_type == "model":
        return cached_hub_file(repo_id, "config.json", revision) is not None
    folder = f"datasets--{repo_id.replace('/', '--')}"
    datasets_cache = Path(
        os.environ.get("HF_DATASETS_CACHE", Path(constants.HF_HOME) / "datasets")
    ) / repo_id.replace("/", "___")
    return (Path(constants.HF_HUB_CACHE) / folder).is_dir() or datasets_cache.is_dir()


def hub_repo(value: str, argument: str, repo_type: str = "model", revision: str | None = None) -> str:
    """`value` as a hub id that is cached here or answers on the hub; HubUnavailable / AlignError if not.

    A dataset read through ALIGN_HUB_MIRROR must be in the mirror instead.
    """
    if repo_type == "dataset" and os.environ.get(MIRROR_ENV):
        mirror_source(value, revision)  # raises, naming the missing folder
        return value
    if _in_hub_cache(value, repo_type, revision):
        return value
    fix = (
        f"Download it where there is network (`hf download {value}"
        f"{' --repo-type dataset' if repo_type == 'dataset' else ''}`) into the hub cache, or give a local copy."
    )
    if offline():
        raise HubUnavailable(
            f"{argument} {value} is a hub {repo_type} id, but HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set and no "
            f"copy is in the local hub cache, so it needs the network. {fix}"
        )
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        HfApi().repo_info(value, repo_type=repo_type, revision=revision, timeout=_HUB_TIMEOUT_S)
    except GatedRepoError:
        return value  # it exists; the download asks for the token
    except RevisionNotFoundError:
        raise AlignError(
            f"{argument} {value}: the hub {repo_type} has no revision {revision!r}. Give a branch, tag or commit "
            "that exists (see the repository's history on the hub)."
        ) from None
    except RepositoryNotFoundError:
        raise AlignError(
            f"{argument} {value}: no such {repo_type} on the hub (nor a local path {value}). Check the spelling; "
            "for a private repository log in with `hf auth login`."
        ) from None
    except Exception as exc:  # noqa: BLE001 - any transport failure means the same thing here
        raise HubUnavailable(
            f"{argument} {value} is a hub {repo_type} id, but the hub cannot be reached from here "
            f"({type(exc).__name__}), so it needs the network. {fix}"
        ) from None
    return value


@contextlib.contextmanager
def offline_hub_gaps(value: str, argument: str) -> Iterator[None]:
    """Turn a library's failure to load hub repo `value` while offline into one paragraph.

    The checks before a run find a hub id in the cache by its config.json; the weights or
    tokenizer files may still be missing there, and transformers then fails deep inside (a
    ValueError about tokenizer backends, an OSError about connecting) with a long traceback.
    """
    try:
        yield
    except AlignError:
        raise
    except Exception as exc:
        if not (offline() and is_hub_id(value) and not Path(value).expanduser().exists()):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise HubUnavailable(
            f"{argument} {value} is a hub id and HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set, but the local hub cache "
            f"holds only part of it ({type(exc).__name__}: {first}). Download the whole repository where there is "
            f"network (`hf download {value}`), or unset HF_HUB_OFFLINE to let align fetch what is missing."
        ) from None


# --- models -----------------------------------------------------------------------------------


def model_path(
    value: str,
    argument: str,
    *,
    revision: str | None = None,
    marker: str = "config.json",
    hint: str | None = None,
) -> str:
    """A model (or, with marker=tokenizer_config.json, tokenizer) argument -> tiny://NAME, a local directory or a hub id.

    `hint` is added to a "not found" error (e.g. which recipe writes that directory).
    """
    what = "model" if marker == "config.json" else "tokenizer"
    if tiny.is_tiny(value):
        name = value[len(tiny.PREFIX) :]
        if name not in tiny.SPECS:
            raise AlignError(
                f"{argument} {value} is not a tiny test model. Available: "
                f"{', '.join(tiny.PREFIX + n for n in tiny.SPECS)}."
            )
        return value
    local = Path(value).expanduser()
    if local.is_dir():
        if not (local / marker).is_file():
            raise _not_found(
                argument,
                value,
                f"is a directory but not a {what}: it has no {marker} (it holds {_listing(local)})",
                f"Point {argument} at a saved {what} directory (as written by save_pretrained).",
                hint,
            )
        return str(local)
    if local.exists():
        raise AlignError(
            f"{argument} {value} is a file, but a {what} is a directory holding {marker} (or a hub id owner/name). "
            "Give the directory the file is in, or the hub id."
        )
    fix = f"Give an existing local directory, a hub id (owner/name) or one of {', '.join(tiny.PREFIX + n for n in tiny.SPECS)}."
    if _looks_local(value) or not is_hub_id(value):
        raise _not_found(
            argument, value, f"does not exist (no local directory {local.absolute()})", fix, hint
        )
    try:
        return hub_repo(value, argument, "model", revision)
    except HubUnavailable as exc:
        raise HubUnavailable(
            f"{exc}{f' Or, if {value} is meant as a local path: {hint}' if hint else ''}"
        ) from None


def _looks_local(value: str) -> bool:
    """Written as a path (./x, ../x, /x, ~/x, a/b/c, x\\y) rather than a hub id."""
    return value.startswith((".", "/", "~")) or value.count("/") > 1 or "\\" in value or value.endswith("/")


# --- data files -------------------------------------------------------------------------------


def data_file(
    value: str, argument: str, suffixes: tuple[str, ...], *, hub: str | None = None, revision: str | None = None,
    directory_ok: bool = False, extra: tuple[str, ...] = (),
) -> Path | str:  # fmt: skip
    """A data argument -> the Path of an existing local file with one of `suffixes` (or of a directory
    when `directory_ok`; `sample://NAME` included), else the value itself: one of `extra` (e.g.
    'truthful_qa'), an hf:// URL, or, when `hub` is 'dataset', a hub dataset id."""
    if value in extra or value.startswith("hf://"):
        return value
    try:
        resolved = samples.resolve(value)
    except AlignError as exc:
        raise AlignError(f"{argument}: {exc}") from None
    local = Path(resolved).expanduser()
    kinds = "/".join(suffixes) + (" file or a directory of them" if directory_ok else " file")
    alternatives = ["a bundled sample://NAME"]
    if hub:
        alternatives.append("a hub dataset id (owner/name)")
    alternatives += [repr(e) for e in extra]
    fix = f"Give an existing {kinds}" + (f", or {', '.join(alternatives)}" if alternatives else "") + "."
    if local.is_dir():
        if directory_ok:
            return local
        raise AlignError(
            f"{argument} {value} is a directory, but a {'/'.join(suffixes)} file is expected. {fix}"
        )
    if local.exists():
        if local.suffix not in suffixes:
            raise AlignError(
                f"{argument} {value} has the extension {local.suffix or '(none)'!r}; "
                f"allowed: {', '.join(suffixes)}. Rename or convert the file."
            )
        return local
    if hub and not _looks_local(value) and local.suffix not in suffixes and is_hub_id(value):
        return hub_repo(value, argument, hub, revision)
    raise _not_found(argument, value, f"does not exist (no local file {local.absolute()})", fix, None)


# --- file contents ----------------------------------------------------------------------------


def check_utf8(path: str | Path, argument: str) -> None:
    """Refuse a text file that is not UTF-8, naming the line and byte offset of the first bad byte.

    Our choice: a byte that is not UTF-8 means the file was written in another encoding (often
    Latin-1), so every non-ASCII row is suspect; decoding with replacement would put U+FFFD into
    prompts silently. The file is refused whole; re-encoding it is the fix.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = line = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                bad = block[exc.start : exc.start + 1]
                line += block.count(b"\n", 0, exc.start)
                raise AlignError(
                    f"{argument} {path} is not UTF-8: byte 0x{bad.hex()} at byte offset {offset + exc.start} "
                    f"(line {line + 1}) cannot be decoded. Re-encode the file as UTF-8 (for example "
                    f"`iconv -f latin1 -t utf-8 {path} > fixed{Path(path).suffix}`)."
                ) from None
            offset += len(block)
            line += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise AlignError(
                f"{argument} {path} is not UTF-8: it ends inside a multi-byte character (byte offset {offset}). "
                "The file is truncated or in another encoding; re-encode it as UTF-8."
            ) from None


def check_not_empty(path: str | Path, argument: str, what: str) -> None:
    """An empty file is an error that says so (arrow and datasets fail on it with unrelated messages)."""
    if Path(path).is_file() and not Path(path).read_bytes().strip():
        raise AlignError(f"{argument} {path} is empty. Give a file of {what}.")


def unreadable(argument: str, path: str | Path, what: str, exc: Exception) -> AlignError:
    """The AlignError for a library's failure to parse a user's file (arrow, datasets, JSON)."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return AlignError(
        f"{argument} {path} could not be read as {what} ({type(exc).__name__}: {reason}). "
        "Check that the file is complete and in that format."
    )


def load_files(builder: str, files: str | list[str] | dict[str, str], argument: str, what: str, **kwargs):
    """`datasets.load_dataset(builder, data_files=files)` on a user's files, each checked first: not
    empty, and UTF-8 unless Parquet. A file arrow cannot parse is one AlignError naming it."""
    import datasets
    import pyarrow

    paths = list(files.values()) if isinstance(files, dict) else [files] if isinstance(files, str) else files
    for path in paths:
        if str(path).startswith("hf://"):
            continue
        check_not_empty(path, argument, what)
        if builder != "parquet":
            check_utf8(path, argument)
        else:  # datasets would log arrow's error with a traceback before raising it
            import pyarrow.parquet

            try:
                pyarrow.parquet.read_schema(path)
            except pyarrow.ArrowException as exc:
                raise unreadable(argument, path, what + " (Parquet)", exc) from None
    try:
        return datasets.load_dataset(builder, data_files=files, **kwargs)
    except (pyarrow.ArrowException, datasets.exceptions.DatasetGenerationError, ValueError) as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, pyarrow.ArrowException) else exc
        raise unreadable(argument, ", ".join(map(str, paths)), what, cause) from None


def read_text(path: str | Path, argument: str) -> str:
    """The text of a small user file (a chat template), which must exist and be UTF-8."""
    local = Path(path).expanduser()
    if not local.is_file():
        problem = "is a directory" if local.is_dir() else f"does not exist ({local.absolute()})"
        raise AlignError(f"{argument} {path} {problem}. Give the path of a text file.")
    check_utf8(local, argument)
    return local.read_text(encoding="utf-8")
