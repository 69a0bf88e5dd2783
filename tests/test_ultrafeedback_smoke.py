"""`make ultrafeedback-smoke` end to end (scripts/ultrafeedback_smoke.py): generate -> annotate through a real
`transformers serve` on 127.0.0.1 -> binarize -> DPO; then an annotation killed mid-run and resumed writes the
same file as the uninterrupted one. Slow: minutes on CPU (the tiny judge trains once per cache)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from align.data.schema import ASPECTS
from align.jsonl import read_jsonl

pytestmark = pytest.mark.slow
RATINGS = {"1", "2", "3", "4", "5", "N/A"}


def test_ultrafeedback_smoke_end_to_end_and_resume(tmp_path, repo, monkeypatch):
    monkeypatch.chdir(repo)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "smoke"
    subprocess.run([sys.executable, "scripts/ultrafeedback_smoke.py", "--out", str(out)], check=True)

    instructions = read_jsonl("recipes/ultrafeedback/smoke-instructions.jsonl")
    annotated = read_jsonl(out / "annotated.jsonl")
    assert [r["instruction"] for r in annotated] == [r["instruction"] for r in instructions]
    for row in annotated:
        assert len(row["completions"]) == 2 and row["models"] == [c["model"] for c in row["completions"]]
        for completion in row["completions"]:
            assert set(completion["annotations"]) == set(ASPECTS)
            assert all(a["Rating"] in RATINGS for a in completion["annotations"].values())
    report = json.loads((out / "annotated.report.json").read_text())
    assert report["requests"] - report["retries"] == len(instructions) * (len(ASPECTS) + 2)

    binarized = json.loads((out / "binarized" / "report.json").read_text())
    assert binarized["rows_read"] == len(instructions)
    assert binarized["rows_kept"] + sum(binarized["dropped_rows"].values()) == len(instructions)
    assert sum(binarized["rows_written"].values()) >= 1
    assert (out / "dpo").is_dir()

    _interrupt_and_resume(out, tmp_path / "resumed.jsonl")
    assert (tmp_path / "resumed.jsonl").read_bytes() == (out / "annotated.jsonl").read_bytes()


def _interrupt_and_resume(out: Path, target: Path) -> None:
    from align.pipeline.local_server import local_server
    from align.pipeline.tiny_judge import tiny_judge

    judge = tiny_judge()
    progress = Path(f"{target}.progress.jsonl")
    with local_server(judge, out / "serve-resume.log") as base_url:
        command = [
            sys.executable, "-m", "align.cli", "annotate", "recipes/ultrafeedback/smoke.yaml",
            f"generate.output={out / 'generated.jsonl'}", f"annotate.output={target}",
            f"annotate.judge.base_url={base_url}", f"annotate.judge.model={judge}",
        ]  # fmt: skip
        first = subprocess.Popen(command)
        deadline = time.monotonic() + 900
        while not progress.exists() or progress.read_text(encoding="utf-8").count("\n") < 4:
            assert first.poll() is None and time.monotonic() < deadline, (
                "annotation ended before it was interrupted"
            )
            time.sleep(0.5)
        os.kill(first.pid, signal.SIGINT)
        first.wait(timeout=120)
        assert not target.exists()
        done = progress.read_text(encoding="utf-8").count("\n") - 1
        assert 0 < done < 20
        subprocess.run(command, check=True)
        _generate_through_the_server(judge, base_url, out / "served.jsonl")
    report = json.loads(target.with_suffix(".report.json").read_text())
    assert report["rows_resumed"] == done and report["rows_annotated"] == 20 - done


def _generate_through_the_server(model: Path, base_url: str, output: Path) -> None:
    """The `openai` generate backend against the same real server: one completion per instruction."""
    pool = (
        f"[{{name: served, name_or_path: '{model}', backend: openai, endpoint: {{base_url: '{base_url}'}}}}]"
    )
    command = [
        sys.executable, "-m", "align.cli", "generate", "recipes/ultrafeedback/smoke.yaml", f"generate.pool={pool}",
        "generate.models_per_instruction=1", "generate.instructions.max_instructions=3", f"generate.output={output}",
    ]  # fmt: skip
    subprocess.run(command, check=True)
    rows = read_jsonl(output)
    assert len(rows) == 3 and all(r["models"] == ["served"] for r in rows)
    report = json.loads(output.with_suffix(".report.json").read_text())
    assert report["models"]["served"]["requests"] == 3 and report["models"]["served"]["completion_tokens"] > 0
