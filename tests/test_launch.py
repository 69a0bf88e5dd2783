"""`align run` hands multi-process recipes to `accelerate launch` with the recipe's topology."""

from __future__ import annotations

import pytest

from align.cli import main
from align.config import load_recipe
from align.errors import AlignError
from align.launch import accelerate_command
from repo_paths import REPO

ZEPHYR = "recipes/zephyr-7b-beta/dpo-full.yaml"


def test_multi_node_command_carries_every_launch_field(monkeypatch):
    monkeypatch.chdir(REPO)
    overrides = [
        "launch.num_processes=16",
        "launch.num_machines=2",
        "launch.machine_rank=1",
        "launch.main_process_ip=10.1.2.3",
        "launch.main_process_port=29500",
    ]
    cmd = accelerate_command(load_recipe(ZEPHYR, overrides), ZEPHYR, overrides)
    flags = dict(zip(cmd[3:-4:2], cmd[4:-4:2], strict=False))
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"]
    assert flags["--config_file"] == "configs/accelerate/zero3.yaml"
    assert (flags["--num_processes"], flags["--num_machines"], flags["--machine_rank"]) == ("16", "2", "1")
    assert (flags["--main_process_ip"], flags["--main_process_port"]) == ("10.1.2.3", "29500")
    # every process re-runs the same recipe with the same overrides
    assert cmd[-(len(overrides) + 4) :] == ["-m", "align.cli", "run", ZEPHYR, *overrides]


def test_run_dry_run_prints_the_launch(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert main(["run", ZEPHYR, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "launching 8 processes" in out and "--num_processes 8" in out


def test_missing_accelerate_config_is_a_user_error(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # configs/ is not here
    with pytest.raises(AlignError, match="launch.config_file .* does not exist"):
        accelerate_command(load_recipe(REPO / ZEPHYR), ZEPHYR, [])


SMOKE = "recipes/smoke/dpo-full.yaml"


def test_without_config_file_the_rank_giving_launcher_is_requested(monkeypatch):
    """accelerate picks its simple launcher (no ranks) on a GPU-less machine unless told otherwise."""
    monkeypatch.chdir(REPO)
    cmd = accelerate_command(load_recipe(SMOKE, ["launch.num_processes=2"]), SMOKE, [])
    assert "--multi_gpu" in cmd and "--config_file" not in cmd


def test_a_one_process_accelerate_config_with_several_processes_is_refused(monkeypatch):
    monkeypatch.chdir(REPO)
    overrides = ["launch.num_processes=2", "launch.config_file=configs/accelerate/single_gpu.yaml"]
    with pytest.raises(AlignError, match="distributed_type: NO"):
        accelerate_command(load_recipe(SMOKE, overrides), SMOKE, overrides)


@pytest.mark.parametrize("rank_var", ["ALIGN_LAUNCHED", "WORLD_SIZE", "RANK", "LOCAL_RANK"])
def test_a_launched_process_never_launches_again(monkeypatch, capsys, rank_var):
    monkeypatch.chdir(REPO)
    for var in ("ALIGN_LAUNCHED", "WORLD_SIZE", "RANK", "LOCAL_RANK", "ACCELERATE_LAUNCH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(rank_var, "2")
    if rank_var == "ALIGN_LAUNCHED":
        monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["run", SMOKE, "launch.num_processes=2", "--dry-run"]) == 0
    assert "in this process" in capsys.readouterr().out


def test_a_launched_process_without_ranks_is_an_error(monkeypatch, capsys):
    """What accelerate's simple launcher would have started: align's marker but no WORLD_SIZE."""
    monkeypatch.chdir(REPO)
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ALIGN_LAUNCHED", "2")
    assert main(["run", SMOKE, "launch.num_processes=2", "--dry-run"]) == 2
    assert "started with WORLD_SIZE=None" in capsys.readouterr().err


def test_fsdp_on_a_machine_without_gpus_is_refused_before_launching(monkeypatch):
    """accelerate 1.15's FSDP plugin raises 'no available devices' on CPU; align says so up front."""
    import torch

    monkeypatch.chdir(REPO)
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: FSDP is allowed")
    overrides = ["launch.num_processes=2", "launch.config_file=configs/accelerate/fsdp.yaml"]
    with pytest.raises(AlignError, match="FSDP, which needs GPUs"):
        accelerate_command(load_recipe(SMOKE, overrides), SMOKE, overrides)
