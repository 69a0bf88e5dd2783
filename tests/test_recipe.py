"""The recipe system: inheritance, overrides, validation errors that name file and key."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from align.cli import main
from align.config import load_recipe, write_resolved
from align.errors import AlignError
from align.launch import BatchPlan, derive_batch

BASE = """
name: base
output_dir: runs/base
model: {name_or_path: tiny://llama, dtype: float32}
data: {path: data.jsonl}
method:
  name: dpo
  global_batch_size: 16
  trainer: {beta: 0.1, learning_rate: 5e-7, per_device_train_batch_size: 4, lr_scheduler_type: linear}
"""


def test_base_inheritance_deep_merges(write_recipe):
    write_recipe(BASE, "base.yaml")
    child = write_recipe("base: base.yaml\nname: child\nmethod: {trainer: {beta: 0.01}}\n", "child.yaml")
    r = load_recipe(child)
    assert r.name == "child"
    assert r.method.trainer["beta"] == 0.01
    # untouched siblings survive the merge, and YAML's string '5e-7' is coerced by DPOConfig's type
    assert r.method.trainer["learning_rate"] == 5e-7
    assert r.method.trainer["lr_scheduler_type"] == "linear"
    assert r.model.dtype == "float32"


def test_overrides_apply_last_and_parse_yaml_values(write_recipe):
    path = write_recipe(BASE)
    r = load_recipe(path, ["method.trainer.beta=0.5", "model.lora={r: 8, lora_alpha: 16}", "seed=7"])
    assert r.method.trainer["beta"] == 0.5
    assert r.model.lora == {"r": 8, "lora_alpha": 16}
    assert r.seed == 7


def test_yaml_bare_no_means_the_strategy_no(write_recipe):
    r = load_recipe(
        write_recipe(BASE), ["method.trainer.eval_strategy=no", "method.trainer.save_strategy=no"]
    )
    assert r.method.trainer["eval_strategy"] == "no" and r.method.trainer["save_strategy"] == "no"


def test_unknown_key_names_file_key_and_allowed(write_recipe):
    write_recipe(BASE, "base.yaml")
    child = write_recipe("base: base.yaml\nmodel: {dtyp: bfloat16}\n", "child.yaml")
    with pytest.raises(AlignError) as e:
        load_recipe(child)
    msg = str(e.value)
    assert "`model.dtyp`" in msg and str(child) in msg and "dtype" in msg


def test_unknown_trl_field_suggests_the_real_one(write_recipe):
    path = write_recipe(BASE)
    with pytest.raises(AlignError, match=r"method\.trainer\.betta.*DPOConfig.*did you mean beta"):
        load_recipe(path, ["method.trainer.betta=0.1"])


@pytest.mark.parametrize(
    "override, expected",
    [
        ("model.dtype=fp9", "'auto', 'bfloat16', 'float16' or 'float32'"),
        ("method.trainer.beta=abc", "valid number"),
        ("method.trainer.optim=adamw_foo", "rmsprop"),
        ("method.name=sft", "dpo"),
        ("model.lora={rank: 8}", "LoraConfig"),
    ],
)
def test_wrong_values_list_what_is_allowed(write_recipe, override, expected):
    path = write_recipe(BASE)
    with pytest.raises(AlignError) as e:
        load_recipe(path, [override])
    assert expected in str(e.value)
    assert "the command line" in str(e.value)


def test_base_cycle_and_missing_base(write_recipe, tmp_path):
    a = write_recipe("base: b.yaml\n", "a.yaml")
    write_recipe("base: a.yaml\n", "b.yaml")
    with pytest.raises(AlignError, match="inherits from itself"):
        load_recipe(a)
    c = write_recipe("base: nowhere.yaml\n", "c.yaml")
    with pytest.raises(AlignError, match="does not exist"):
        load_recipe(c)


def test_resolved_copy_round_trips(write_recipe, tmp_path):
    r = load_recipe(write_recipe(BASE), ["method.trainer.optim=rmsprop"])
    out = write_resolved(r, tmp_path / "run")
    again = load_recipe(out)
    assert again == r
    assert yaml.safe_load(out.read_text())["method"]["trainer"]["optim"] == "rmsprop"


@pytest.mark.parametrize(
    "args",
    [
        ["check", "missing.yaml"],
        ["check", "{recipe}", "method.trainer.nope=1"],
        ["check", "{recipe}", "model.dtype=[1,2]"],
        ["check", "{recipe}", "not-an-override"],
        ["check", "{bad_yaml}"],
    ],
)
def test_cli_user_errors_exit_2_with_one_paragraph(write_recipe, args):
    recipe = write_recipe(BASE)
    bad = write_recipe("model: [unclosed\n", "bad.yaml")
    argv = [a.format(recipe=recipe, bad_yaml=bad) for a in args]
    proc = subprocess.run([sys.executable, "-m", "align.cli", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert err.startswith("align: error: ") and "Traceback" not in err
    assert "\n" not in err  # one paragraph


def test_cli_help_works_for_every_subcommand(capsys):
    from align.cli import COMMANDS

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    for module in COMMANDS:
        name = module.__name__.rsplit(".", 1)[1].replace("_", "-")
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0


@pytest.mark.parametrize(
    "global_batch, world, max_pd", [(32, 1, 8), (32, 8, 8), (32, 16, 8), (128, 8, 8), (64, 8, 3)]
)
def test_derive_batch_keeps_global_batch(global_batch, world, max_pd):
    bp = derive_batch(global_batch, world, max_pd)
    assert bp.global_batch == global_batch and bp.per_device <= max_pd
    # no larger micro-batch would also have divided the per-process batch
    per_process = global_batch // world
    assert all(per_process % d for d in range(bp.per_device + 1, max_pd + 1))


def test_derive_batch_refuses_uneven_split():
    assert derive_batch(32, 4, 8) == BatchPlan(4, 8, 1)
    with pytest.raises(AlignError, match="cannot be split evenly over 3"):
        derive_batch(32, 3, 8)


def test_check_counts_rows_offline_only(tmp_path):
    """`align check` never needs the network: with the hub's TruthfulQA questions it leaves rows to the run,
    with a local question file it counts them."""
    from align.config import load_recipe
    from align.plan import plan
    from repo_paths import REPO

    smoke = REPO / "recipes/smoke/dpo-full.yaml"
    hub = plan(load_recipe(smoke, ["data.binarize.decontaminate=truthful_qa"]))
    assert "train rows" not in hub and "rows counted at run time" in hub["optimizer steps"]
    questions = tmp_path / "questions.txt"
    questions.write_text("A question no sample prompt asks?\n")
    local = plan(load_recipe(smoke, [f"data.binarize.decontaminate={questions}"]))
    assert int(local["train rows"]) > 0 and "epochs of" in local["optimizer steps"]
