"""The GPU extras install beside the pinned torch / TRL / transformers instead of replacing them.

pip's own resolver answers (``pip install --dry-run --report``), so the test needs a package index; without
one it is skipped with a message. It resolves ``.[gpu,vllm]`` together, the way a GPU user installs them.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys

import pytest
from packaging.version import Version

from repo_paths import REPO

PINNED = ("torch", "trl", "transformers")


def _index_reachable() -> bool:
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "trl"], capture_output=True, text=True, timeout=120
    )
    return probe.returncode == 0


def _trl_import_utils():
    return importlib.import_module("trl.import_utils")  # trl's lazy top module hides it from attribute access


def _trl_vllm_range() -> tuple[Version, Version]:
    """The vLLM versions TRL accepts, read from TRL's own check so a TRL change shows up here."""
    source = inspect.getsource(_trl_import_utils().is_vllm_available)
    low, high = re.search(r'Version\("([\d.]+)"\) <= \w+ <= Version\("([\d.]+)"\)', source).groups()
    return Version(low), Version(high)


@pytest.fixture(scope="module")
def gpu_resolution(tmp_path_factory) -> dict[str, str]:
    """Package name -> version that `pip install .[gpu,vllm]` would install into this environment."""
    if not _index_reachable():
        pytest.skip("no package index reachable: cannot ask pip's resolver about the GPU extras")
    report = tmp_path_factory.mktemp("pip") / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--report",
            str(report),
            ".[gpu,vllm]",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, f"pip could not resolve .[gpu,vllm]:\n{proc.stderr[-3000:]}"
    installs = json.loads(report.read_text())["install"]
    return {
        item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"] for item in installs
    }


def test_gpu_extras_keep_the_pinned_stack(gpu_resolution: dict[str, str]) -> None:
    from importlib.metadata import version

    replaced = {name: (version(name), gpu_resolution[name]) for name in PINNED if name in gpu_resolution}
    assert not replaced, f"installing .[gpu,vllm] would replace (installed, new): {replaced}"


def test_vllm_pin_is_one_trl_accepts(gpu_resolution: dict[str, str]) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        resolved = gpu_resolution.get("vllm") or version("vllm")
    except PackageNotFoundError:
        pytest.fail("the vllm extra resolved no vLLM")
    low, high = _trl_vllm_range()
    assert low <= Version(Version(resolved).base_version) <= high, (resolved, low, high)


def test_liger_pin_is_one_trl_enables(gpu_resolution: dict[str, str]) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        resolved = gpu_resolution.get("liger-kernel") or version("liger-kernel")
    except PackageNotFoundError:
        pytest.fail("the gpu extra resolved no liger-kernel")
    assert Version(resolved) >= Version(_trl_import_utils().LIGER_KERNEL_MIN_VERSION)
