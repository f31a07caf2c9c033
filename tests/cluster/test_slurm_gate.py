"""The gate in tests/conftest.py: Slurm tests skip with a reason, or fail under RINGRIFT_TEST_SLURM=1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SLURM_TESTS = Path(__file__).parent / "test_submitit_on_slurm.py"
ROOT = Path(__file__).parents[2]


def run_slurm_tests(env_changes: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in env_changes}
    env.update({key: value for key, value in env_changes.items() if value is not None})
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-k",
        "preflight",
        str(SLURM_TESTS),
    ]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("slurm_conf", "reason"),
    [
        (None, "SLURM_CONF is not set"),
        ("/nonexistent/slurm.conf", "SLURM_CONF=/nonexistent/slurm.conf is not a file"),
    ],
)
def test_unreachable_cluster_skips_with_the_reason(slurm_conf: str | None, reason: str) -> None:
    done = run_slurm_tests({"SLURM_CONF": slurm_conf, "RINGRIFT_TEST_SLURM": None})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert f"local Slurm cluster not reachable: {reason}; start it with: bin/local-slurm up" in done.stdout


def test_unreachable_cluster_fails_when_slurm_tests_are_required() -> None:
    done = run_slurm_tests({"SLURM_CONF": None, "RINGRIFT_TEST_SLURM": "1"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 error" in done.stdout and "RINGRIFT_TEST_SLURM=1 forbids skipping" in done.stdout
