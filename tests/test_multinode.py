"""Multi-node launching: `align run --dry-run` prints every machine's command, and the SLURM example runs align so."""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest

from align.cli import main
from repo_paths import REPO

ZEPHYR = "recipes/zephyr-7b-beta/dpo-full.yaml"
SBATCH = REPO / "examples/slurm/dpo-zephyr.sbatch"


@pytest.fixture
def not_launched(monkeypatch):
    monkeypatch.chdir(REPO)
    for var in ("ALIGN_LAUNCHED", "WORLD_SIZE", "RANK", "LOCAL_RANK", "ACCELERATE_LAUNCH"):
        monkeypatch.delenv(var, raising=False)


def flags(cmd: list[str]) -> dict[str, str]:
    """accelerate's `--flag value` pairs of a launch line."""
    return {a: b for a, b in zip(cmd, cmd[1:], strict=False) if a.startswith("--")}


def machine_lines(out: str) -> dict[int, list[str]]:
    """`align: machine R of N: CMD` lines -> {R: CMD as argv}."""
    lines = [line.split(": ", 2) for line in out.splitlines() if line.startswith("align: machine ")]
    return {int(head.split()[1]): shlex.split(cmd) for _, head, cmd in lines}


def test_dry_run_prints_one_command_per_machine(not_launched, capsys):
    launch = ["launch.num_processes=24", "launch.num_machines=3", "launch.main_process_ip=10.0.0.1"]
    assert main(["run", ZEPHYR, *launch, "launch.main_process_port=29500", "--dry-run"]) == 0
    commands = machine_lines(capsys.readouterr().out)
    assert sorted(commands) == [0, 1, 2]
    for rank, cmd in commands.items():
        f = flags(cmd)
        assert (f["--machine_rank"], f["--num_machines"], f["--num_processes"]) == (str(rank), "3", "24")
        assert (f["--main_process_ip"], f["--main_process_port"]) == ("10.0.0.1", "29500")
        assert cmd[cmd.index("align.cli") + 1 :][:2] == ["run", ZEPHYR]  # every machine runs the same recipe


STUB_SRUN = """#!/bin/bash
# srun of a 2-node allocation: the task command once per node, with that node's SLURM_NODEID.
while [[ "$1" == --* ]]; do shift; done
for node in 0 1; do SLURM_NODEID=$node "$@" || exit 1; done
"""
STUB_SCONTROL = """#!/bin/bash
printf 'gpu-node-7\\ngpu-node-8\\n'
"""
# align as the script calls it on each node: its arguments, one line per node
STUB_ALIGN = """#!/bin/bash
printf '%s\\0' "$@" > "node-$SLURM_NODEID.args"
"""


def test_slurm_example_runs_each_node_with_its_rank(tmp_path, not_launched, capsys):
    """The sbatch script under stub srun/scontrol/align: each node's `align run` line, then align's own plan of it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    workdir = tmp_path / "repo"
    (workdir / ".venv/bin").mkdir(parents=True)
    for path, text in {
        bin_dir / "srun": STUB_SRUN,
        bin_dir / "scontrol": STUB_SCONTROL,
        workdir / ".venv/bin/align": STUB_ALIGN,
    }.items():
        path.write_text(text)
        path.chmod(0o755)
    (workdir / "recipes").symlink_to(REPO / "recipes")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_NNODES": "2"}
    env["SLURM_JOB_NODELIST"] = "gpu-node-[7-8]"
    result = subprocess.run(["bash", str(SBATCH)], cwd=workdir, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for node in (0, 1):
        argv = (workdir / f"node-{node}.args").read_text().split("\0")[:-1]
        assert argv[:2] == ["run", ZEPHYR]
        assert main([*argv, "--dry-run"]) == 0  # what align launches on that node
        out = capsys.readouterr().out
        for rank, cmd in machine_lines(out).items():
            f = flags(cmd)
            assert (f["--machine_rank"], f["--num_machines"], f["--num_processes"]) == (str(rank), "2", "16")
            assert (f["--main_process_ip"], f["--main_process_port"]) == ("gpu-node-7", "29500")
            assert f["--config_file"] == "configs/accelerate/zero3.yaml"
        assert f"launch.machine_rank={node}" in argv
