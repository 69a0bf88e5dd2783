"""trackio, Hugging Face's local-first tracker, receives the same metrics the run writes to metrics.jsonl."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from align.jsonl import read_jsonl

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("trackio") is None,
    reason="trackio is an optional extra: pip install -e '.[trackio]'",
)


def test_dpo_run_logs_to_trackio(repo, tmp_path):
    # a subprocess: trackio reads TRACKIO_DIR once, when it is first imported
    env = {**os.environ, "TRACKIO_DIR": str(tmp_path / "trackio"), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    argv = [
        "run",
        "recipes/smoke/dpo-full.yaml",
        f"output_dir={out}",
        "method.trainer.report_to=[trackio]",
        "method.trainer.max_steps=2",
        "method.trainer.logging_steps=1",
        "data.max_eval_samples=8",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "align.cli", *argv], cwd=repo, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    db = sqlite3.connect(tmp_path / "trackio" / "align.db")
    run_names = {name for (name,) in db.execute("SELECT DISTINCT run_name FROM metrics")}
    assert run_names == {"smoke-dpo-full"}
    logged = [json.loads(row) for (row,) in db.execute("SELECT metrics FROM metrics ORDER BY step")]
    tracked = {m["train/global_step"]: m["train/loss"] for m in logged if "train/loss" in m}
    written = {m["step"]: m["loss"] for m in read_jsonl(out / "metrics.jsonl") if "loss" in m}
    assert tracked and tracked.keys() == written.keys()
    for step, loss in written.items():
        assert tracked[step] == pytest.approx(loss, rel=1e-6)
