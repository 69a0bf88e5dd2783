"""Bad invocations around outputs (issue classes: outputs, run directories, logs, hub layouts).

Each case runs the real CLI offline and checks the contract: exit 2, no traceback, a message
naming the offending path or key, and nothing outside the command's own output changed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from align.cli import main
from align.jsonl import write_jsonl
from align.publish import MANIFEST
from repo_paths import REPO

SAMPLE = "sample://ultrafeedback"
BINARIZE = ["binarize", "--input", SAMPLE, "--strategy", "best-vs-random", "--test-size", "10"]


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` with the sha256 of its bytes (folders as entries of their own)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def refused(argv: list[str], root: Path, capsys, *needles: str) -> str:
    """Run `align ARGV`; assert exit 2, one error paragraph naming `needles`, and no file changed."""
    before = snapshot(root)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("align: error:") == 1
    err = err[err.index("align: error:") :]  # after any progress bars
    assert err.count("\n") == 1  # one paragraph
    for needle in needles:
        assert needle in err, (needle, err)
    assert snapshot(root) == before
    return err


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- outputs: refuse what align did not write, replace only its own -------------------------------


def test_binarize_refuses_a_folder_of_other_files_even_with_overwrite(cwd, capsys):
    out = cwd / "data"
    out.mkdir()
    (out / "train_prefs.jsonl").write_text("my own file\n")
    (out / "notes.txt").write_text("keep me\n")
    refused([*BINARIZE, "--output", "data"], cwd, capsys, "--output data", "notes.txt", "--overwrite")
    refused([*BINARIZE, "--output", "data", "--overwrite"], cwd, capsys, "data", "train_prefs.jsonl")


def test_binarize_reruns_need_overwrite_and_keep_foreign_files(cwd, capsys):
    assert main([*BINARIZE, "--output", "pairs"]) == 0
    first = snapshot(cwd / "pairs")
    assert {"train_prefs.jsonl", "test_prefs.jsonl", "report.json", MANIFEST} == set(first)
    refused([*BINARIZE, "--output", "pairs"], cwd, capsys, "pairs", "--overwrite")

    (cwd / "pairs" / "notes.txt").write_text("mine\n")
    assert main([*BINARIZE[:-1], "0", "--output", "pairs", "--overwrite", "--seed", "7"]) == 0
    after = snapshot(cwd / "pairs")
    # the earlier output is replaced (its test split, absent from the new one, is gone); notes.txt stays
    assert set(after) == {"train_prefs.jsonl", "report.json", "notes.txt", MANIFEST}
    assert after["notes.txt"] == hashlib.sha256(b"mine\n").hexdigest()
    assert after["train_prefs.jsonl"] != first["train_prefs.jsonl"]
    assert [p.name for p in cwd.iterdir()] == ["pairs"]  # no staging folder left behind


def test_a_failed_rerun_leaves_the_previous_output_intact(cwd, capsys):
    assert main([*BINARIZE, "--output", "pairs"]) == 0
    bad = cwd / "bad.jsonl"
    bad.write_text('{"source": "x"}\n')  # parses, but is no UltraFeedback row
    refused(
        ["binarize", "--input", str(bad), "--strategy", "best-vs-random", "--output", "pairs", "--overwrite"],
        cwd,
        capsys,
        "bad.jsonl",
    )


@pytest.mark.parametrize(
    "argv, needles",
    [
        ([*BINARIZE, "--output", "afile"], ["--output afile", "is a file"]),
        ([*BINARIZE, "--output", "afile/sub"], ["afile is a file"]),
        (["data-report", "--input", "pairs.jsonl", "--output", "afile"], ["--output afile"]),
        (["bench", "--output", "afile", "--steps", "1"], ["--output afile", "not a JSON-lines file"]),
        (["bench", "--output", "folder", "--steps", "1"], ["--output folder", "is a folder"]),
        (
            ["score", "--model", "tiny://llama-rm", "--input", "pairs.jsonl", "--output", "afile"],
            ["--output afile", "already exists", "--overwrite"],
        ),
        (
            ["score", "--model", "tiny://llama-rm", "--input", "pairs.jsonl", "--output", "folder"],
            ["--output folder", "is a folder"],
        ),
        (
            ["eval-rm", "--model", "tiny://llama-rm", "--data", "pairs.jsonl", "--output", "folder"],
            ["--output folder", "notes.txt"],
        ),
        (["convert-rm", "tiny://llama-rm", "folder"], ["DST folder", "notes.txt"]),
        (["convert-rm", "tiny://llama-rm", "folder", "--overwrite"], ["DST folder"]),
    ],
)
def test_output_paths_that_hold_something_else_are_refused(cwd, capsys, argv, needles):
    (cwd / "afile").write_text("not align's\n")
    (cwd / "folder").mkdir()
    (cwd / "folder" / "notes.txt").write_text("not align's\n")
    (cwd / "folder" / "config.json").write_text("{}\n")
    write_jsonl(cwd / "pairs.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    refused(argv, cwd, capsys, *needles)


def test_convert_rm_onto_its_own_earlier_output_needs_overwrite(cwd, capsys):
    assert main(["convert-rm", "tiny://llama-rm", "rm", "--dtype", "float32"]) == 0
    assert (cwd / "rm" / "config.json").is_file()
    refused(["convert-rm", "tiny://llama-rm", "rm"], cwd, capsys, "DST rm", "--overwrite")
    assert main(["convert-rm", "rm", "rm", "--overwrite"]) == 0  # reads the old copy, then swaps it
    assert (cwd / "rm" / "config.json").is_file() and sorted(p.name for p in cwd.iterdir()) == ["rm"]


def test_score_overwrite_replaces_the_file_in_one_step(cwd):
    write_jsonl(cwd / "pairs.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    (cwd / "scored.jsonl").write_text("old\n")
    argv = ["score", "--model", "tiny://llama-rm", "--input", "pairs.jsonl", "--output", "scored.jsonl"]
    assert main([*argv, "--overwrite"]) == 0
    (row,) = [json.loads(line) for line in (cwd / "scored.jsonl").read_text().splitlines()]
    assert {"reward_chosen", "reward_rejected"} <= set(row)
    assert sorted(p.name for p in cwd.iterdir()) == ["pairs.jsonl", "scored.jsonl"]


# --- run directories and logs: a run resumes only its own recipe; everything lands in output_dir -----

DPO_SMOKE = str(REPO / "recipes/smoke/dpo-full.yaml")
SHORT_DPO = [
    "output_dir=run",
    "method.global_batch_size=4",
    "method.trainer.per_device_train_batch_size=4",
    "method.trainer.max_steps=6",
    "method.trainer.save_steps=3",
    "method.trainer.logging_steps=1",
    "method.trainer.eval_strategy=no",
    "method.trainer.max_length=96",
    "method.max_prompt_length=48",
    "data.max_eval_samples=8",
    "method.trainer.per_device_eval_batch_size=8",
    "method.trainer.report_to=[tensorboard]",
]


class _CtrlC:
    """Presses Ctrl-C once step `step` is logged (the row is in metrics.jsonl, the checkpoint before it)."""

    def __init__(self, step: int):
        from transformers import TrainerCallback

        class Interrupt(TrainerCallback):
            def on_log(self, args, state, control, **kwargs):
                if state.global_step >= step:
                    raise KeyboardInterrupt

        self.callback = Interrupt()


def tensorboard_steps(folder: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps = []
    for events in sorted(folder.rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            steps += [e.step for e in acc.Scalars(tag)]
    return steps


def test_interrupted_run_resumes_as_one_run_and_a_changed_recipe_is_refused(
    cwd, tiny_cpu, monkeypatch, capsys
):
    from align.methods import dpo

    monkeypatch.chdir(cwd)  # tiny_cpu moved to the repo root: the run must leave the current folder alone
    build = dpo.build_trainer

    def interrupted(recipe):
        trainer = build(recipe)
        trainer.add_callback(_CtrlC(4).callback)
        return trainer

    monkeypatch.setattr(dpo, "build_trainer", interrupted)
    assert main(["run", DPO_SMOKE, *SHORT_DPO]) == 130
    out = cwd / "run"
    assert (out / "checkpoint-3").is_dir() and not (out / "summary.json").exists()
    monkeypatch.setattr(dpo, "build_trainer", build)

    assert main(["run", DPO_SMOKE, *SHORT_DPO]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-3") and summary["optimizer_steps"] == 6
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = {r["step"]: r["loss"] for r in rows if "loss" in r}
    # step 4 was logged before the interruption and again after the resume: one row of it survives
    assert sorted(r["step"] for r in rows if "loss" in r) == [1, 2, 3, 4, 5, 6]
    assert summary["train_loss"] == pytest.approx(sum(losses.values()) / 6, rel=1e-6)
    (before,) = [r for r in rows if r["step"] == 0 and "eval_loss" in r]  # the first part's evaluation
    assert summary["before/loss"] == before["eval_loss"]
    assert summary["before/rewards/accuracies"] == before["eval_rewards/accuracies"]

    # TensorBoard: every logged training step reached output_dir; nothing was written where align ran
    assert set(tensorboard_steps(out / "runs", "train/loss")) == set(losses)
    assert sorted(p.name for p in cwd.iterdir()) == ["run"]

    # the finished run, rerun with another beta: refused before anything is loaded or written
    refused(
        ["run", DPO_SMOKE, *SHORT_DPO, "method.trainer.beta=0.05"],
        cwd,
        capsys,
        "output_dir run",
        "method.trainer.beta: 0.1 there, 0.05 now",
        "method.resume=false",
    )
    # settings that do not change training may differ: the rerun continues (0 steps) and keeps the figures
    assert main(["run", DPO_SMOKE, *SHORT_DPO, "method.trainer.logging_steps=2"]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["optimizer_steps"] == 6 and again["before/loss"] == summary["before/loss"]
    assert again["train_loss"] == pytest.approx(summary["train_loss"], rel=1e-6)


def test_whole_run_loss_weights_each_logged_window_by_its_steps():
    from align.methods.training import whole_run_loss

    per_step = [0.9, 0.7, 0.8, 0.4, 0.5, 0.3, 0.2, 0.25]  # steps 1..8; checkpoint at 5, step 5 never logged
    rows = [{"step": 2, "loss": sum(per_step[:2]) / 2}, {"step": 4, "loss": sum(per_step[2:4]) / 2}]
    rows.append({"step": 6, "loss": 99.0})  # logged before the interruption, after the checkpoint: ignored
    session = sum(per_step[5:]) / 3  # what the trainer reports for steps 6..8
    known = per_step[:4] + per_step[5:]
    assert whole_run_loss(rows, 5, 8, session) == pytest.approx(sum(known) / len(known))
    assert whole_run_loss([], 0, 8, 0.5) == 0.5


def test_a_run_is_not_written_into_a_folder_of_other_files(cwd, capsys):
    (cwd / "model").mkdir()
    (cwd / "model" / "config.json").write_text("{}\n")
    refused(
        ["run", DPO_SMOKE, "output_dir=model"], cwd, capsys, "output_dir model", "config.json", "new or empty"
    )
    (cwd / "afile").write_text("x\n")
    refused(["run", DPO_SMOKE, "output_dir=afile"], cwd, capsys, "output_dir afile is a file")
    refused(["run", DPO_SMOKE, "output_dir=afile/run"], cwd, capsys, "output_dir afile/run: afile is a file")


def test_starting_over_renames_the_earlier_run_and_deletes_nothing(cwd, capsys):
    from align.config import load_recipe
    from align.rundir.outputs import prepare_run

    recipe = load_recipe(DPO_SMOKE, ["output_dir=run"])
    prepare_run(recipe)
    (cwd / "run" / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    (cwd / "run" / "notes.txt").write_text("mine\n")
    earlier = snapshot(cwd / "run")
    prepare_run(load_recipe(DPO_SMOKE, ["output_dir=run", "method.trainer.beta=0.05", "method.resume=false"]))
    (moved,) = [p for p in cwd.iterdir() if p.name.startswith("run.previous-")]
    assert snapshot(moved) == earlier
    assert [p.name for p in (cwd / "run").iterdir()] == ["recipe.resolved.yaml"]
    assert "0.05" in (cwd / "run" / "recipe.resolved.yaml").read_text()
    assert moved.name in capsys.readouterr().out


def test_best_of_n_output_dir_of_other_files_or_another_recipe_is_refused(cwd, capsys):
    argv = ["best-of-n", "--model", "tiny://ultralm", "--reward-model", "tiny://llama-rm", "--data", SAMPLE]
    (cwd / "picks").mkdir()
    (cwd / "picks" / "keep.json").write_text("{}\n")
    refused([*argv, "--output-dir", "picks"], cwd, capsys, "output_dir picks", "keep.json")

    from align.cli import build_parser
    from align.commands.best_of_n import recipe_dict
    from align.config.loader import write_resolved
    from align.config.recipe import Recipe

    earlier = build_parser().parse_args([*argv, "--output-dir", "bon", "--n", "1", "2"])
    write_resolved(Recipe.model_validate(recipe_dict(earlier)), cwd / "bon")  # as a finished run leaves it
    (cwd / "bon" / "reward_vs_n.json").write_text("{}\n")
    refused(
        [*argv, "--output-dir", "bon", "--n", "1", "4"],
        cwd,
        capsys,
        "output_dir bon",
        "method.n: [1, 2] there",
    )


# --- hub layouts: a mirror without the set is one error naming the folder ---------------------------


def test_hub_mirror_without_a_set_is_one_clear_error(cwd, capsys, monkeypatch):
    monkeypatch.setenv("ALIGN_HUB_MIRROR", str(cwd / "mirror"))
    (cwd / "mirror").mkdir()
    argv = ["eval-rm", "--model", "tiny://llama-rm", "--suite", "ultrarm-paper", "--output", "eval"]
    refused(argv, cwd, capsys, "Anthropic/hh-rlhf", str(cwd / "mirror" / "Anthropic/hh-rlhf"))
    binarize = [
        "binarize",
        "--input",
        "openbmb/UltraFeedback",
        "--strategy",
        "best-vs-random",
        "--output",
        "out",
    ]
    refused(
        binarize, cwd, capsys, "openbmb/UltraFeedback at revision 40b436560ca83a8dba36114c22ab3c66e43f6d5e"
    )
