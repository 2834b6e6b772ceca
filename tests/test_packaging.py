"""The package installs as users install it: a wheel with ragdrop and ragdrop.retrievers."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_holds_both_packages_and_imports_from_a_plain_install(tmp_path: Path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("ragdrop-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    # Every package of the source tree is in the wheel (the editable install used by the
    # other tests would hide a subpackage missing from pyproject's list).
    for root, prefix in ((ROOT / "plugin", "ragdrop"), (ROOT / "retrievers", "ragdrop/retrievers")):
        for init in root.rglob("__init__.py"):
            rel = init.relative_to(root).as_posix()
            assert f"{prefix}/{rel}" in names, f"{prefix}/{rel} missing: list it in pyproject"
    for name in names:  # no stray top-level packages such as plugin/ or retrievers/
        assert name.startswith(("ragdrop/", "ragdrop-")), name

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=600,
    )
    code = "import ragdrop, ragdrop.retrievers; print(ragdrop.__file__)"
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(target))
