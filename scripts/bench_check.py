"""Time `align check RECIPE --quiet` for every recipe, each run in a fresh process, offline.

    python scripts/bench_check.py [--repeat 3] [recipes/smoke/dpo-full.yaml ...]

The first run of a recipe may fill align's cache (library field lists, parameter counts, data
row counts; $ALIGN_CACHE); the later ones show what a user who runs `check` again waits. The
load average is printed beside the figures: on a shared machine it moves them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def time_check(recipe: Path) -> tuple[float, int]:
    """Wall seconds and exit code of one `align check` in a new interpreter."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "align.cli", "check", str(recipe), "--quiet"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode:
        print(done.stderr.strip(), file=sys.stderr)
    return time.perf_counter() - start, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "recipes", nargs="*", type=Path, help="Recipes to time (default: every recipes/*/*.yaml)."
    )
    parser.add_argument("--repeat", type=int, default=3, help="Fresh processes per recipe (default 3).")
    args = parser.parse_args()
    recipes = args.recipes or sorted((REPO / "recipes").glob("*/*.yaml"))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'recipe':<45} {'first s':>8} {'best later s':>13}  exit")
    worst = 0.0
    for recipe in recipes:
        times, codes = zip(*(time_check(recipe) for _ in range(args.repeat)), strict=True)
        later = min(times[1:]) if len(times) > 1 else times[0]
        worst = max(worst, later)
        print(f"{str(recipe.relative_to(REPO) if recipe.is_absolute() else recipe):<45} {times[0]:>8.2f} "
              f"{later:>13.2f}  {max(codes)}", flush=True)  # fmt: skip
    print(f"slowest (best later run): {worst:.2f} s; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
