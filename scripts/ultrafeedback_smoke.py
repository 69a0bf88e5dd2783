"""The UltraFeedback pipeline end to end on CPU (`make ultrafeedback-smoke`): generate -> annotate -> binarize -> DPO.

Usage: python scripts/ultrafeedback_smoke.py [--out outputs/ultrafeedback-smoke]

1. `align generate recipes/ultrafeedback/smoke.yaml`: 20 instructions, two tiny random models.
2. The tiny judge (align.pipeline.tiny_judge; trained once, then cached) is served by a real
   `transformers serve` process on 127.0.0.1, and `align annotate` rates the completions through it.
3. `align binarize` (best-vs-random on overall_score) turns the annotated rows into pairs, counting
   every dropped row by reason, and `align data-report` plots them.
4. `align run recipes/ultrafeedback/smoke-dpo.yaml` trains DPO on those pairs for a few steps.

Every step is the align command a user would run, in a subprocess; the script stops at the first failure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RECIPE = "recipes/ultrafeedback/smoke.yaml"
DPO_RECIPE = "recipes/ultrafeedback/smoke-dpo.yaml"


def align(*args: str) -> None:
    command = [sys.executable, "-m", "align.cli", *args]
    print("+ align " + " ".join(args), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"  ({time.perf_counter() - start:.1f}s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/ultrafeedback-smoke", help="Folder for every output.")
    args = parser.parse_args()
    # Tiny models run fastest on one thread, and on a busy machine more threads only contend; this also
    # reaches the align subprocesses and the server.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(args.out)
    generated, annotated = out / "generated.jsonl", out / "annotated.jsonl"
    align("generate", RECIPE, f"generate.output={generated}", "--overwrite")

    from align.pipeline.local_server import local_server
    from align.pipeline.tiny_judge import tiny_judge

    start = time.perf_counter()
    judge = tiny_judge()
    print(f"tiny judge: {judge} ({time.perf_counter() - start:.1f}s)", flush=True)
    start = time.perf_counter()
    with local_server(judge, out / "serve.log") as base_url:
        print(
            f"transformers serve answered at {base_url} after {time.perf_counter() - start:.1f}s", flush=True
        )
        align(
            "annotate", RECIPE, f"generate.output={generated}", f"annotate.output={annotated}",
            f"annotate.judge.base_url={base_url}", f"annotate.judge.model={judge}", "--overwrite",
        )  # fmt: skip
    binarized = out / "binarized"
    align(
        "binarize", "--input", str(annotated), "--strategy", "best-vs-random", "--score", "overall",
        "--test-size", "4", "--output", str(binarized), "--overwrite",
    )  # fmt: skip
    report = json.loads((binarized / "report.json").read_text(encoding="utf-8"))
    if not report["rows_written"].get("train_prefs"):
        sys.exit("ultrafeedback-smoke: binarize kept no training pair, so DPO has nothing to train on")
    align("data-report", "--input", str(binarized), "--output", str(out / "data-report"), "--overwrite")
    align("run", DPO_RECIPE, f"data.path={binarized}", f"output_dir={out / 'dpo'}")
    print(f"ultrafeedback-smoke: done; outputs in {out}")


if __name__ == "__main__":
    main()
