"""Time `align check RECIPE --quiet` for every recipe, each run in a fresh process, offline.

    python scripts/bench_check.py [--repeat 3] [recipes/smoke/dpo-full.yaml ...]

The first run of a recipe may fill align's cache (library field lists, parameter counts, data
row counts; $ALIGN_CACHE); the later ones show what a user who runs `check` again waits. The
load average is printed beside the figures: on a shared machine it moves the wall times, while
the CPU seconds (user + system of the child) stay close to what an idle machine would show.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_check(recipe: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and exit code of one `align check` in a new interpreter."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    cpu, start = _children_cpu(), time.perf_counter()
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
    return time.perf_counter() - start, _children_cpu() - cpu, done.returncode


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
    print(f"{'recipe':<45} {'first s':>8} {'later s':>8} {'later cpu s':>12}  exit")
    worst = worst_cpu = 0.0
    for recipe in recipes:
        walls, cpus, codes = zip(*(time_check(recipe) for _ in range(args.repeat)), strict=True)
        later = min(walls[1:] or walls)
        later_cpu = min(cpus[1:] or cpus)
        worst, worst_cpu = max(worst, later), max(worst_cpu, later_cpu)
        name = recipe.relative_to(REPO) if recipe.is_absolute() else recipe
        print(f"{str(name):<45} {walls[0]:>8.2f} {later:>8.2f} {later_cpu:>12.2f}  {max(codes)}", flush=True)
    print(
        f"slowest later run: {worst:.2f} s wall, {worst_cpu:.2f} s CPU; load average {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
