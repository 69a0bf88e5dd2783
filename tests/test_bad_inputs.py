"""Bad input on every command: exit 2, one paragraph naming the file / key / value, no traceback, nothing touched.

Each case is one invocation of the `align` CLI in a fresh workspace of input files; the same
workspace snapshot (bytes of every file outside the command's output, and the current directory's
listing) is taken before and after. Cases run through `align.cli.main` in-process, which is what
`python -m align.cli` runs; `test_real_entry_point` runs one case per class as a subprocess.

Classes (issue 12): 1 paths, 2 ranges, 3 `check` refuses what `run` refuses, 4 encodings and broken files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from align.cli import main
from align.data.synthetic import generate_raw
from align.jsonl import write_jsonl
from repo_paths import REPO

PAIR = {
    "prompt": "Say hi.",
    "chosen": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi!"}],
    "rejected": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "No."}],
    "score_chosen": 8.0,
    "score_rejected": 3.0,
}


@dataclass(frozen=True)
class Case:
    id: str
    cls: int  # the class
    argv: str  # `{name}` is a workspace path; split on spaces
    needles: tuple[str, ...]  # what the message must name (file, key, value)


def _run_both(id: str, override: str, *needles: str) -> list[Case]:
    """Class 3: the same bad recipe through `check` and through `run` (dry run: nothing would train)."""
    return [
        Case(f"{id}-check", 3, f"check {{dpo}} {override}", needles),
        Case(f"{id}-run", 3, f"run {{dpo}} --dry-run {override}", needles),
    ]


CASES = [
    # --- class 1: paths -------------------------------------------------------------------------
    Case("run-model-missing-dir", 1, "run {dpo} model.name_or_path=./no-such-model", ("model.name_or_path", "no-such-model")),
    Case("run-model-hub-offline", 1, "run {dpo} model.name_or_path=someone/not-cached-model", ("model.name_or_path", "someone/not-cached-model", "network")),
    Case("check-model-bare-name", 1, "check {dpo} model.name_or_path=zephyr", ("model.name_or_path", "zephyr", "hub id")),
    Case("check-model-is-a-file", 1, "check {dpo} model.name_or_path={raw}", ("model.name_or_path", "raw.jsonl", "is a file")),
    Case("check-model-dir-not-a-model", 1, "check {dpo} model.name_or_path={plain_dir}", ("model.name_or_path", "plain", "config.json")),
    Case("check-tokenizer-missing", 1, "check {dpo} model.tokenizer=./no-such-tokenizer", ("model.tokenizer", "no-such-tokenizer")),
    Case("check-reward-from-unrun-recipe", 1, "check {ppo_long}", ("reward_model.name_or_path", "runs/smoke/reward", "recipes/smoke/reward.yaml")),
    Case("check-reward-bare-name", 1, "check {ppo} reward_model.name_or_path=nobody-knows", ("reward_model.name_or_path", "nobody-knows")),
    Case("check-unknown-sample", 1, "check {dpo} data.path=sample://nope", ("data.path", "sample://nope", "sample://ultrafeedback")),
    Case("check-prompts-missing", 1, "check {ppo} method.prompts.path=./no-prompts.json", ("method.prompts.path", "no-prompts.json")),
    Case("check-decontaminate-missing", 1, "check {dpo} data.binarize.decontaminate=./no-questions.txt", ("data.binarize.decontaminate", "no-questions.txt")),
    Case("score-model-missing", 1, "score --model ./no-rm --input {pairs} --output {out}/s.jsonl", ("--model", "no-rm")),
    Case("eval-rm-data-missing", 1, "eval-rm --model tiny://llama-rm --data ./no-set.jsonl", ("--data", "no-set.jsonl")),
    Case("eval-rm-suite-offline", 1, "eval-rm --model tiny://llama-rm --suite ultrarm-paper", ("--suite", "network")),
    Case("convert-rm-src-missing", 1, "convert-rm ./no-such-rm {out}/rm", ("convert-rm SRC", "no-such-rm")),
    Case("convert-rm-src-not-a-model", 1, "convert-rm {plain_dir} {out}/rm", ("convert-rm SRC", "config.json")),
    Case("best-of-n-unknown-tiny", 1, "best-of-n --model tiny://nope --reward-model tiny://llama-rm --data sample://ultrafeedback --output-dir {out}", ("tiny://nope", "tiny://llama")),
    Case("best-of-n-chat-template-missing", 1, "best-of-n --model tiny://ultralm --chat-template ./no.jinja --reward-model tiny://llama-rm --data sample://ultrafeedback --output-dir {out}", ("--chat-template", "no.jinja")),
    Case("binarize-input-missing", 1, "binarize --input ./no-raw.jsonl --strategy best-vs-random --output {out}", ("--input", "no-raw.jsonl")),
    Case("binarize-decontaminate-dir", 1, "binarize --input {raw} --strategy best-vs-random --decontaminate {plain_dir} --output {out}", ("decontaminate", "plain", "directory")),
    Case("data-report-input-missing", 1, "data-report --input ./no-pairs --output {out}", ("--input", "no-pairs")),
    # --- class 2: ranges ------------------------------------------------------------------------
    Case("check-beta-negative", 2, "check {dpo} method.trainer.beta=-0.1", ("method.trainer.beta", "-0.1", "greater than 0")),
    Case("run-learning-rate-zero", 2, "run {dpo} method.trainer.learning_rate=0", ("method.trainer.learning_rate", "greater than 0")),
    Case("check-lora-r-zero", 2, "check {dpo} model.lora.r=0", ("model.lora.r", "greater than or equal to 1")),
    Case("check-lora-alpha-negative", 2, "check {dpo} model.lora.r=8 model.lora.lora_alpha=-16", ("model.lora.lora_alpha", "-16")),
    Case("check-bnb-quant-type", 2, "check {dpo} model.quantization.load_in_4bit=true model.quantization.bnb_4bit_quant_type=nf5", ("bnb_4bit_quant_type", "nf5", "'nf4' or 'fp4'")),
    Case("check-bnb-compute-dtype", 2, "check {dpo} model.quantization.load_in_4bit=true model.quantization.bnb_4bit_compute_dtype=float64", ("bnb_4bit_compute_dtype", "float64", "bfloat16")),
    Case("check-ppo-gamma", 2, "check {ppo} method.trainer.gamma=1.5", ("method.trainer.gamma", "1.5", "less than or equal to 1")),
    Case("check-seed-negative", 2, "check {dpo} seed=-1", ("seed", "-1")),
    Case("check-num-processes-zero", 2, "check {dpo} --num-processes 0", ("--num-processes", "0")),
    Case("check-num-processes-negative", 2, "check {dpo} --num-processes -3", ("--num-processes", "-3")),
    Case("check-override-not-yaml", 2, "check {dpo} method.trainer.beta=[0.1", ("method.trainer.beta=[0.1", "not valid YAML")),
    Case("score-batch-size-zero", 2, "score --model tiny://llama-rm --input {pairs} --output {out}/s.jsonl --batch-size 0", ("--batch-size", "0")),
    Case("eval-rm-batch-size-negative", 2, "eval-rm --model tiny://llama-rm --data {pairs} --batch-size -4", ("--batch-size", "-4")),
    Case("eval-rm-limit-zero", 2, "eval-rm --model tiny://llama-rm --data {pairs} --limit 0", ("--limit", "0")),
    Case("binarize-num-proc-zero", 2, "binarize --input {raw} --strategy best-vs-random --output {out} --num-proc 0", ("--num-proc", "0")),
    Case("binarize-test-size-negative", 2, "binarize --input {raw} --strategy best-vs-random --output {out} --test-size -1", ("--test-size", "-1")),
    Case("binarize-min-margin-negative", 2, "binarize --input {raw} --strategy best-vs-random --output {out} --min-margin -1", ("--min-margin", "greater than or equal to 0")),
    Case("best-of-n-n-zero", 2, "best-of-n --model tiny://ultralm --reward-model tiny://llama-rm --data sample://ultrafeedback --n 0 4 --output-dir {out}", ("--n", "0")),
    Case("best-of-n-temperature-zero", 2, "best-of-n --model tiny://ultralm --reward-model tiny://llama-rm --data sample://ultrafeedback --temperature 0 --output-dir {out}", ("temperature", "greater than 0")),
    Case("bench-steps-zero", 2, "bench --steps 0 --output {out}/b.jsonl", ("--steps", "0")),
    Case("bench-batch-size-zero", 2, "bench --batch-size 0 --output {out}/b.jsonl", ("--batch-size", "0")),
    # --- class 3: check refuses what run refuses (before any weights load) -----------------------
    *_run_both("data-file-missing", "data.path=./no-such-data.jsonl", "data.path", "no-such-data.jsonl"),
    *_run_both("unknown-tiny", "model.name_or_path=tiny://gpt5", "model.name_or_path", "tiny://gpt5", "tiny://llama"),
    *_run_both("no-data-section", "data=null", "data", "smoke-dpo-full"),
    *_run_both("raw-data-is-a-dir", "data.path={plain_dir}", "data.path", "plain", "directory"),
    *_run_both("binarized-data-is-a-file", "data.path={raw} data.format=binarized", "data.path", "raw.jsonl", "format: binarized"),
    *_run_both("binarized-dir-without-split", "data.path={plain_dir} data.format=binarized", "plain", "train_prefs.jsonl"),
    Case("best-of-n-unknown-tiny-check", 3, "check {bon} model.name_or_path=tiny://gpt5", ("model.name_or_path", "tiny://gpt5")),
    Case("best-of-n-unknown-tiny-run", 3, "run {bon} --dry-run model.name_or_path=tiny://gpt5", ("model.name_or_path", "tiny://gpt5")),
    Case("ppo-without-reward-model-check", 3, "check {ppo} reward_model=null", ("reward_model", "ppo")),
    Case("ppo-without-reward-model-run", 3, "run {ppo} --dry-run reward_model=null", ("reward_model", "ppo")),
    Case("best-of-n-without-reward-model-check", 3, "check {bon} reward_model=null", ("reward_model", "best-of-n")),
    Case("best-of-n-without-reward-model-run", 3, "run {bon} --dry-run reward_model=null", ("reward_model", "best-of-n")),
    # --- class 4: encodings and broken files ------------------------------------------------------
    Case("check-recipe-latin1", 4, "check {latin1_recipe}", ("latin1.yaml", "not UTF-8", "line 2")),
    Case("check-recipe-is-a-dir", 4, "check {plain_dir}", ("plain", "directory")),
    Case("run-data-latin1", 4, "run {dpo} output_dir={out}/run data.path={latin1_jsonl}", ("latin1.jsonl", "not UTF-8", "line 3")),
    Case("convert-rm-config-not-json", 4, "convert-rm {bad_model} {out}/rm", ("bad_model", "config.json", "not a valid JSON")),
    Case("check-data-latin1", 4, "check {dpo} data.path={latin1_jsonl}", ("latin1.jsonl", "not UTF-8", "line 3", "byte offset")),
    Case("binarize-latin1", 4, "binarize --input {latin1_jsonl} --strategy best-vs-random --output {out}", ("latin1.jsonl", "0xe9", "line 3")),
    Case("binarize-empty-jsonl", 4, "binarize --input {empty_jsonl} --strategy best-vs-random --output {out}", ("empty.jsonl", "is empty")),
    Case("binarize-blank-jsonl", 4, "binarize --input {blank_jsonl} --strategy best-vs-random --output {out}", ("blank.jsonl", "is empty")),
    Case("binarize-empty-json-array", 4, "binarize --input {empty_array} --strategy best-vs-random --output {out}", ("empty.json", "empty JSON array")),
    Case("binarize-corrupt-parquet", 4, "binarize --input {corrupt_parquet} --strategy best-vs-random --output {out}", ("corrupt.parquet", "Parquet")),
    Case("binarize-truncated-utf8", 4, "binarize --input {truncated_jsonl} --strategy best-vs-random --output {out}", ("truncated.jsonl", "not UTF-8")),
    Case("check-data-corrupt-parquet", 4, "check {dpo} data.path={corrupt_parquet}", ("corrupt.parquet", "Parquet")),
    Case("data-report-latin1", 4, "data-report --input {latin1_pairs} --output {out}", ("latin1_pairs.jsonl", "not UTF-8")),
    Case("data-report-broken-json", 4, "data-report --input {broken_pairs} --output {out}", ("broken_pairs.jsonl", "could not be read")),
    Case("data-report-empty-dir-file", 4, "data-report --input {empty_jsonl} --output {out}", ("empty.jsonl", "is empty")),
    Case("score-input-latin1", 4, "score --model tiny://llama-rm --input {latin1_pairs} --output {out}/s.jsonl", ("latin1_pairs.jsonl", "not UTF-8")),
    Case("score-input-empty", 4, "score --model tiny://llama-rm --input {empty_jsonl} --output {out}/s.jsonl", ("empty.jsonl", "no rows")),
    Case("score-input-is-a-dir", 4, "score --model tiny://llama-rm --input {plain_dir} --output {out}/s.jsonl", ("plain", "directory")),
    Case("eval-rm-data-latin1", 4, "eval-rm --model tiny://llama-rm --data {latin1_pairs}", ("latin1_pairs.jsonl", "not UTF-8")),
    Case("best-of-n-prompts-latin1", 4, "best-of-n --model tiny://ultralm --reward-model tiny://llama-rm --prompts {latin1_prompts} --output-dir {out}", ("prompts.json", "not UTF-8")),
    Case("best-of-n-prompts-empty", 4, "best-of-n --model tiny://ultralm --reward-model tiny://llama-rm --prompts {empty_jsonl} --output-dir {out}", ("empty.jsonl", "is empty")),
    Case("binarize-decontaminate-latin1", 4, "binarize --input {raw} --strategy best-vs-random --decontaminate {latin1_questions} --output {out}", ("questions.txt", "not UTF-8")),
]  # fmt: skip


def _copy_recipes(root: Path) -> None:
    """The smoke recipes, so that the `run` cases' relative output_dir stays inside the workspace."""
    shutil.copytree(REPO / "recipes" / "smoke", root / "recipes" / "smoke")


def build_workspace(root: Path) -> dict[str, str]:
    """Input files, good and bad, for the table; returns the placeholder -> path map."""
    _copy_recipes(root)
    files = root / "files"
    (files / "plain").mkdir(parents=True)
    (files / "plain" / "notes.txt").write_text("not a model\n")
    raw = write_jsonl(files / "raw.jsonl", generate_raw(40, seed=5))
    good = raw.read_bytes().split(b"\n")
    # line 3 carries Latin-1 text: "caf\xe9" is how Latin-1 writes the UTF-8 "café"
    latin1 = files / "latin1.jsonl"
    latin1.write_bytes(
        b"\n".join([*good[:2], b'{"source": "x", "instruction": "caf\xe9", "completions": []}', *good[2:]])
    )
    (files / "truncated.jsonl").write_bytes(
        b"\n".join(good[:3]) + b"\n\xe2\x82"
    )  # cut inside a 3-byte character
    (files / "empty.jsonl").write_bytes(b"")
    (files / "blank.jsonl").write_bytes(b"\n  \n\n")
    (files / "empty.json").write_text("[]")
    (files / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet " * 4)
    pairs = write_jsonl(files / "pairs.jsonl", [PAIR, PAIR])
    (files / "latin1_pairs.jsonl").write_bytes(
        pairs.read_bytes() + b'{"prompt": "\xe9t\xe9", "response": "x"}\n'
    )
    (files / "broken_pairs.jsonl").write_text(json.dumps(PAIR) + '\n{"prompt": [unclosed\n')
    (files / "prompts.json").write_bytes(b'[{"instruction": "na\xefve"}]')
    (files / "questions.txt").write_bytes(b"What is a caf\xe9?\n")
    (files / "latin1.yaml").write_bytes(b"name: x\ndescription: caf\xe9\n")
    (files / "bad_model").mkdir()
    (files / "bad_model" / "config.json").write_text("{not json")
    smoke = root / "recipes" / "smoke"
    return {
        "dpo": str(smoke / "dpo-full.yaml"),
        "ppo": str(smoke / "ppo.yaml"),
        "ppo_long": str(smoke / "ppo-long.yaml"),
        "bon": str(smoke / "best-of-n.yaml"),
        "raw": str(raw),
        "plain_dir": str(files / "plain"),
        "latin1_jsonl": str(latin1),
        "truncated_jsonl": str(files / "truncated.jsonl"),
        "empty_jsonl": str(files / "empty.jsonl"),
        "blank_jsonl": str(files / "blank.jsonl"),
        "empty_array": str(files / "empty.json"),
        "corrupt_parquet": str(files / "corrupt.parquet"),
        "pairs": str(pairs),
        "latin1_pairs": str(files / "latin1_pairs.jsonl"),
        "broken_pairs": str(files / "broken_pairs.jsonl"),
        "latin1_prompts": str(files / "prompts.json"),
        "latin1_questions": str(files / "questions.txt"),
        "latin1_recipe": str(files / "latin1.yaml"),
        "bad_model": str(files / "bad_model"),
        "out": str(root / "out"),
    }


def snapshot(root: Path, out: Path) -> dict[str, bytes]:
    """Bytes of every file under `root` except the command's own output."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and out not in p.parents
    }


def cwd_listing(root: Path, out: Path) -> list[str]:
    """What the current directory (the workspace root) holds, apart from the command's output."""
    return sorted(p.name for p in root.iterdir() if p != out)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("bad-inputs")
    return root, build_workspace(root)


def invoke(case: Case, root: Path, paths: dict[str, str], monkeypatch, capsys) -> tuple[int, str]:
    """Run the case in-process from the workspace root; (exit code, stderr). An exception escaping is a traceback."""
    monkeypatch.chdir(root)
    argv = case.argv.format(**paths).split()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"class{c.cls}-{c.id}")
def test_bad_input_is_one_clear_error(case, workspace, monkeypatch, capsys):
    root, paths = workspace
    out = Path(paths["out"])
    before, listing = snapshot(root, out), cwd_listing(root, out)
    code, err = invoke(case, root, paths, monkeypatch, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    message = err.strip().splitlines()[-1]
    for needle in case.needles:
        assert needle in message, (needle, message)
    assert snapshot(root, out) == before
    assert cwd_listing(root, out) == listing
    shutil.rmtree(out, ignore_errors=True)


def test_every_class_and_command_is_covered():
    """At least one case per class, and per command where the class applies."""
    by_class: dict[int, set[str]] = {}
    for case in CASES:
        by_class.setdefault(case.cls, set()).add(case.argv.split()[0])
    assert by_class[1] >= {
        "run",
        "check",
        "score",
        "eval-rm",
        "convert-rm",
        "best-of-n",
        "binarize",
        "data-report",
    }
    assert by_class[2] >= {"run", "check", "score", "eval-rm", "best-of-n", "binarize", "bench"}
    assert by_class[3] >= {"run", "check"}
    assert by_class[4] >= {
        "run",
        "check",
        "binarize",
        "data-report",
        "score",
        "eval-rm",
        "best-of-n",
        "convert-rm",
    }


def test_check_notes_an_unreachable_hub_id_that_run_refuses(workspace, monkeypatch, capsys):
    """The one difference: a hub id this machine cannot reach is a note for check and `run --dry-run`, an error for run."""
    root, paths = workspace
    override = "model.name_or_path=someone/not-cached-model"
    monkeypatch.chdir(root)
    assert main(["check", paths["dpo"], "--quiet", override]) == 0
    out = capsys.readouterr().out
    assert "align: note: model.name_or_path someone/not-cached-model" in out and "network" in out
    assert main(["run", paths["dpo"], override]) == 2  # refused before anything loads
    assert "needs the network" in capsys.readouterr().err


# One case per class that fails before the heavy imports (torch, TRL), so four subprocesses stay quick.
ENTRY_POINT_CASES = [
    "binarize-input-missing",
    "check-num-processes-zero",
    "best-of-n-unknown-tiny-run",
    "check-recipe-latin1",
]


@pytest.mark.parametrize("case_id", ENTRY_POINT_CASES)
def test_real_entry_point(case_id, workspace):
    """The same cases through `python -m align.cli`, as a user runs them."""
    root, paths = workspace
    case = next(c for c in CASES if c.id == case_id)
    proc = subprocess.run(
        [sys.executable, "-m", "align.cli", *case.argv.format(**paths).split()],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert all(n in proc.stderr for n in case.needles), proc.stderr


def test_entry_point_cases_cover_every_class():
    assert {c.cls for c in CASES if c.id in ENTRY_POINT_CASES} == {1, 2, 3, 4}


def _completion(response: str, overall: object, rating: object = "3") -> dict:
    aspects = ("instruction_following", "honesty", "truthfulness", "helpfulness")
    return {
        "model": f"m-{response}",
        "response": response,
        "overall_score": overall,
        "annotations": {a: {"Rating": rating} for a in aspects},
    }


@pytest.mark.parametrize("value", [1e300, -1e300, 0, 0.5, 10.5, "11", "-3"])
def test_overall_score_off_the_1_to_10_scale_is_not_a_score(value):
    from align.data.schema import parse_number

    assert parse_number(value) == (None, "out_of_range")


def test_scores_off_their_scale_are_dropped_and_counted(tmp_path, capsys):
    """overall_score 1e300 used to be ranked best; ratings outside 1..5 are not ratings either."""
    rows = [
        {"source": "s", "instruction": "Pick.", "completions": [
            _completion("huge", 1e300), _completion("best", 8.0), _completion("low", 3.0), _completion("neg", -2)]},
        {"source": "s", "instruction": "Rate.", "completions": [
            _completion("seven", 9.0, "7"), _completion("zero", 9.5, 0), _completion("ok", 2.0, "4"),
            _completion("fine", 1.0, "2")]},
    ]  # fmt: skip
    raw = write_jsonl(tmp_path / "raw.jsonl", rows)
    for score, out in (("overall", tmp_path / "overall"), ("mean", tmp_path / "mean")):
        argv = ["binarize", "--input", str(raw), "--strategy", "best-vs-worst", "--score", score]
        assert main([*argv, "--test-size", "0", "--output", str(out)]) == 0
    overall = json.loads((tmp_path / "overall" / "report.json").read_text())
    assert overall["overall_score"] == {"out_of_range": 2}
    assert overall["completions"]["unrankable"] == {"no_score": 2}
    chosen = {
        p["prompt"]: p["chosen"][1]["content"]
        for p in map(json.loads, (tmp_path / "overall" / "train_prefs.jsonl").open())
    }
    assert chosen["Pick."] == "best"  # the largest score on the 1-10 scale, not 1e300
    mean = json.loads((tmp_path / "mean" / "report.json").read_text())
    assert mean["ratings"]["unparsable"] == 8  # four aspects of the "7" and the 0 completion
    pairs = [json.loads(line) for line in (tmp_path / "mean" / "train_prefs.jsonl").open()]
    rated = next(p for p in pairs if p["prompt"] == "Rate.")
    assert (rated["chosen"][1]["content"], rated["score_chosen"]) == ("ok", 4.0)


def test_library_errors_on_input_are_one_paragraph_and_bugs_are_not():
    """cli.INPUT_ERRORS: what a bad file or the network raises is a user error; anything else stays a traceback."""
    import pyarrow
    import yaml

    from align.cli import input_error

    user = [
        FileNotFoundError(2, "No such file or directory", "data/x.jsonl"),
        IsADirectoryError(21, "Is a directory", "data/"),
        UnicodeDecodeError("utf-8", b"caf\xe9", 3, 4, "invalid continuation byte"),
        yaml.YAMLError("bad yaml"),
        pyarrow.ArrowInvalid("JSON parse error: Missing a name for object member"),
    ]
    for exc in user:
        message = input_error(exc)
        assert message and "\n" not in message and type(exc).__name__ in message
    assert "data/x.jsonl" in input_error(user[0])
    for bug in (KeyError("x"), TypeError("unsupported operand"), ValueError("bug"), AttributeError("nope")):
        assert input_error(bug) is None
