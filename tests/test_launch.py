"""`align run` hands multi-process recipes to `accelerate launch` with the recipe's topology."""

from __future__ import annotations

from pathlib import Path

import pytest

from align.cli import main
from align.config import load_recipe
from align.errors import AlignError
from align.launch import accelerate_command

REPO = Path(__file__).resolve().parents[1]
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
