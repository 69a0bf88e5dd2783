"""Run outputs the hub understands: the model card's YAML metadata and an adapter that names its base by hub id.

The hub cannot be reached from the tests; a hub model is stood in for by a copy of tiny://llama
laid out in a private hub cache (HF_HUB_CACHE, offline) exactly as `hf download` leaves it, so
transformers and peft resolve `test-org/tiny-llama` by its id as they would on a real machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard, ModelCardData

from align.config import load_recipe
from align.data.loader import HUB_ID, REVISION
from align.models.tiny import resolve
from align.rundir.outputs import write_model_card
from repo_paths import REPO

HUB_MODEL = "test-org/tiny-llama"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hub_cache_with_model(root: Path, repo_id: str, source: Path, readme: str) -> Path:
    """`root` as a hub cache holding `repo_id` at COMMIT (refs/main -> snapshots/COMMIT), files from `source`."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(source, snapshot)
    (snapshot / "README.md").write_text(readme)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return root


def card(path: Path) -> dict:
    """The card's metadata as huggingface_hub reads it, checked to rebuild as ModelCardData."""
    data = ModelCard.load(path).data.to_dict()
    assert ModelCardData(**data).to_dict() == data
    return data


@pytest.mark.parametrize(
    "recipe, library, pipeline",
    [
        ("smoke/dpo-full.yaml", "transformers", "text-generation"),
        ("smoke/dpo-lora.yaml", "peft", "text-generation"),
        ("smoke/reward.yaml", "transformers", "text-classification"),
        ("smoke/ppo.yaml", "transformers", "text-generation"),
        ("smoke/best-of-n.yaml", "transformers", "text-generation"),
    ],
)
def test_every_method_writes_hub_metadata_above_its_body(recipe, library, pipeline, tmp_path):
    loaded = load_recipe(REPO / "recipes" / recipe, [f"output_dir={tmp_path}"])
    path = write_model_card(loaded, {"after/loss": 0.5}, {"optimizer steps": 3})
    meta = card(path)
    method = loaded.method.name
    assert meta["library_name"] == library and meta["pipeline_tag"] == pipeline
    assert {"align", "trl", method} <= set(meta["tags"])
    assert meta["model_name"] == loaded.name
    assert "base_model" not in meta and "datasets" not in meta  # tiny:// and sample:// are not hub ids
    body = ModelCard.load(path).text
    assert body.lstrip().startswith(f"# {loaded.name}") and "| after/loss | 0.5 |" in body
    assert "https://github.com/)" not in body  # no placeholder link
    assert ("binarized with" in body) == (method in ("dpo", "reward") and loaded.data.format == "raw")


def test_hub_inputs_are_named_with_their_revisions(tmp_path):
    loaded = load_recipe(REPO / "recipes/ultrarm-13b/reward-uf.yaml", [f"output_dir={tmp_path}"])
    meta = card(write_model_card(loaded, {}, {}))
    assert meta["base_model"] == loaded.model.name_or_path
    assert meta["datasets"] == [HUB_ID] and meta["dataset_revisions"] == {HUB_ID: REVISION}
    ppo = load_recipe(REPO / "recipes/ultralm-13b-ppo/ppo.yaml", [f"output_dir={tmp_path / 'ppo'}"])
    body = ModelCard.load(write_model_card(ppo, {}, {})).text
    assert "binarized" not in body and "(prompts only)" in body  # PPO reads prompts; nothing is binarized


def _run(args: list[str], hub: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    """`align ARGS` in a fresh process, offline, with `hub` as the hub cache, as a user runs it."""
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "align.cli", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def hub_lora_run(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """(hub cache, output_dir, finished process) of a 2-step LoRA DPO run on HUB_MODEL at COMMIT."""
    tmp = tmp_path_factory.mktemp("hub-run")
    readme = "---\nlicense: apache-2.0\n---\n# tiny\n"
    hub = hub_cache_with_model(tmp / "hub", HUB_MODEL, Path(resolve("tiny://llama")), readme)
    out = tmp / "run"
    overrides = [
        f"model.name_or_path={HUB_MODEL}",
        f"model.revision={COMMIT}",
        f"output_dir={out}",
        "method.trainer.max_steps=2",
        "method.trainer.logging_steps=1",
        "method.trainer.eval_strategy=no",
        "method.trainer.report_to=[]",
    ]
    done = _run(["run", "recipes/smoke/dpo-lora.yaml", *overrides], hub)
    assert done.returncode == 0, done.stderr[-3000:]
    return hub, out, done


def test_lora_dpo_on_a_hub_model_travels_by_hub_id(hub_lora_run, tmp_path):
    """adapter_config.json names the base as `owner/name` at its revision, and loads from another cache."""
    hub, out, _ = hub_lora_run
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == HUB_MODEL and adapter["revision"] == COMMIT
    meta = card(out / "README.md")
    assert meta["base_model"] == HUB_MODEL and meta["base_model_revision"] == COMMIT
    assert meta["library_name"] == "peft" and meta["license"] == "apache-2.0"

    # another machine: the hub cache elsewhere, the adapter copied away from the run folder
    elsewhere = shutil.copytree(hub, tmp_path / "elsewhere")
    shutil.copytree(out, tmp_path / "adapter", ignore=shutil.ignore_patterns("checkpoint-*"))
    load = (
        "import sys; from peft import AutoPeftModelForCausalLM; "
        "m = AutoPeftModelForCausalLM.from_pretrained(sys.argv[1]); print(m.base_model.model.name_or_path)"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(elsewhere), "HF_HUB_OFFLINE": "1"}
    loaded = subprocess.run(
        [sys.executable, "-c", load, str(tmp_path / "adapter")], env=env, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.strip().splitlines()[-1] == HUB_MODEL


def test_the_console_starts_with_one_block_and_logs_numbers(hub_lora_run):
    _, out, done = hub_lora_run
    assert not [
        line for line in done.stderr.splitlines() if "FutureWarning" in line and "checkpointing" in line
    ]
    lines = done.stdout.splitlines()
    start = [line for line in lines if line.startswith("align: ")][:5]
    assert [line.split()[1] for line in start] == ["recipe", "output_dir", "start", "processes", "batch"]
    assert str(out) in start[1] and "fresh" in start[2]
    logged = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("step ")]
    training = [line for line in logged if " | loss " in line]
    assert [line.split(" | ")[0] for line in training] == ["step 1/2", "step 2/2"]  # logging_steps=1
    loss = next(part for part in training[0].split(" | ") if part.startswith("loss "))
    float(loss.split()[1])  # a number, not a quoted string
    assert "{'loss'" not in done.stdout + done.stderr


def test_a_hub_model_half_in_the_offline_cache_is_one_paragraph(tmp_path):
    hub = tmp_path / "hub"
    config_only = tmp_path / "config-only"
    config_only.mkdir()
    shutil.copy(Path(resolve("tiny://llama")) / "config.json", config_only)
    hub_cache_with_model(hub, HUB_MODEL, config_only, "# no weights, no tokenizer\n")
    done = _run(["run", "recipes/smoke/dpo-lora.yaml", f"model.name_or_path={HUB_MODEL}", f"output_dir={tmp_path / 'o'}"], hub)  # fmt: skip
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("align: error: model.name_or_path test-org/tiny-llama")
    assert "hf download test-org/tiny-llama" in errors[0]
