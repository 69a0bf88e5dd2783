"""PPO, best-of-N and align's caches on 2 CPU processes (DDP over gloo, DeepSpeed ZeRO-3), tiny models.

Each run is a real `align run ... launch.num_processes=2`: align starts `accelerate launch`, which
starts two processes that train, gather and save as on 2 GPUs.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from align.cli import main
from align.jsonl import read_jsonl
from align.methods.best_of_n import blocks
from align.models.tiny import resolve
from repo_paths import REPO

PPO = "recipes/smoke/ppo.yaml"
BEST_OF_N = "recipes/smoke/best-of-n.yaml"

pytestmark = pytest.mark.usefixtures("tiny_cpu")


@pytest.fixture
def one_thread(monkeypatch):
    """Each launched process on one thread (CI has two cores); no rank variables from an outer launch."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for var in ("ALIGN_LAUNCHED", "WORLD_SIZE", "RANK", "LOCAL_RANK", "ACCELERATE_LAUNCH"):
        monkeypatch.delenv(var, raising=False)


def zero3_config(tmp_path: Path) -> Path:
    """configs/accelerate/zero3.yaml for 2 processes in fp32, the smoke recipes' precision."""
    config = yaml.safe_load((REPO / "configs/accelerate/zero3.yaml").read_text())
    config.update(num_processes=2, mixed_precision="no")
    path = tmp_path / "zero3.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def check_ppo_outputs(out: Path) -> None:
    """The policy saved loadable, equal to the last periodic save, trained; outputs written once, samples of both processes."""
    from transformers import AutoModelForCausalLM

    model, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    final = load_file(out / "model.safetensors")
    base = load_file(Path(resolve("tiny://ultralm")) / "model.safetensors")
    assert final.keys() == base.keys() and all(final[k].shape == base[k].shape for k in base)
    assert all(torch.isfinite(t).all() for t in final.values())
    assert any(not torch.equal(final[k], base[k]) for k in base), "the saved policy is untrained"
    # periodic saves every 2 of the 4 iterations, gathered the same way; the last one is the final policy
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert all(torch.equal(t, load_file(out / "checkpoint-4/model.safetensors")[k]) for k, t in final.items())
    halfway = load_file(out / "checkpoint-2/model.safetensors")
    assert any(not torch.equal(final[k], halfway[k]) for k in final)
    assert json.loads((out / "checkpoint-2/trainer_state.json").read_text())["global_step"] == 2
    assert {k: v for k, v in model.state_dict().items()}.keys() == final.keys()

    rows = [r for r in read_jsonl(out / "metrics.jsonl") if "objective/scores" in r]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # one line per iteration: written by one process
    samples = read_jsonl(out / "samples.jsonl")
    before = [s for s in samples if s["step"] == 0]
    # 8 eval prompts, 4 per process: both processes' rows, each prompt once
    assert len(before) == 8 and len({s["prompt"] for s in before}) == 8
    assert all(math.isfinite(s["reward"]) for s in samples)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ppo_iterations"] == 4 and summary["episodes"] == 64
    assert summary["before/eval_reward"] == pytest.approx(sum(s["reward"] for s in before) / 8)
    assert (out / "README.md").is_file() and (out / "plots" / "mean_reward.png").is_file()


def test_ppo_on_two_processes_saves_a_loadable_policy(tmp_path, one_thread):
    out = tmp_path / "ppo"
    argv = ["run", PPO, f"output_dir={out}", "launch.num_processes=2", "method.trainer.save_steps=2"]
    assert main(argv) == 0
    check_ppo_outputs(out)


def test_ppo_under_zero3_saves_the_policy_gathered_from_its_shards(tmp_path, one_thread):
    pytest.importorskip("deepspeed")
    out = tmp_path / "ppo"
    argv = [
        "run",
        PPO,
        f"output_dir={out}",
        "launch.num_processes=2",
        f"launch.config_file={zero3_config(tmp_path)}",
        "method.trainer.save_steps=2",
    ]
    assert main(argv) == 0
    check_ppo_outputs(out)


@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_blocks_share_every_prompt_once_whatever_the_process_count(world):
    shares = [blocks(21, 4, rank, world) for rank in range(world)]
    dealt = sorted((b for share in shares for b in share), key=lambda b: b.start)
    assert dealt == blocks(21, 4, 0, 1) == [range(s, min(s + 4, 21)) for s in range(0, 21, 4)]


def test_best_of_n_on_two_processes_equals_one_process(tmp_path, one_thread):
    """24 prompts in blocks of 8: process 0 samples blocks 0 and 2, process 1 block 1; the files are identical."""
    outs = {n: tmp_path / f"bon-{n}" for n in (1, 2)}
    for n, out in outs.items():
        assert main(["run", BEST_OF_N, f"output_dir={out}", f"launch.num_processes={n}"]) == 0
    files = ["samples.jsonl", "reward_vs_n.json", *(f"best-of-{n}.jsonl" for n in (1, 2, 4, 8))]
    for name in files:
        assert (outs[2] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    assert len(read_jsonl(outs[2] / "samples.jsonl")) == 24
    assert json.loads((outs[2] / "summary.json").read_text())["processes"] == 2


BUILD_COUNTER = """
import sys
from pathlib import Path

import align.data.preferences as preferences
import align.models.tiny as tiny
from align.config.recipe import DataConfig

log = Path(sys.argv[1])


def counted(module, name):
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        with log.open("a") as f:
            f.write(name + "\\n")
        return original(*args, **kwargs)

    setattr(module, name, wrapper)


counted(preferences, "binarize")
counted(tiny, "_build")
tiny.resolve("tiny://llama")
data = DataConfig(path="sample://ultrafeedback", format="raw", binarize={"test_size": 48})
splits = preferences.load_preferences(data, seed=0)
print("pairs", len(splits["train"]), flush=True)
"""


def test_caches_are_built_by_one_process_while_the_other_waits(tmp_path, monkeypatch, one_thread):
    """A fresh cache under 2 processes: one binarization and one tiny-model build, both processes read them."""
    monkeypatch.setenv("ALIGN_CACHE", str(tmp_path / "cache"))
    script, log = tmp_path / "count_builds.py", tmp_path / "builds.txt"
    script.write_text(BUILD_COUNTER)
    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port]
    result = subprocess.run([*launch, str(script), str(log)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(log.read_text().split()) == ["_build", "binarize"]
    counts = [line for line in result.stdout.splitlines() if line.startswith("pairs")]
    assert len(counts) == 2 and counts[0] == counts[1]
