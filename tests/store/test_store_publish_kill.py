"""A publisher killed with SIGKILL at random moments never leaves anything readers accept.

Each iteration starts a child that publishes several multi-megabyte artifacts and kills it at a
random moment within the time a full run takes, so the kill lands in every phase of the write
sequence (temp write, fsync, rename, manifest). Readers must then accept only complete, correct
artifacts; leftovers must be temp files or manifest-less artifacts that readers skip; a restarted
publisher must finish the job without conflicts or duplicates.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

from ringrift_hpc.store import clean_temp_files, list_published

CHILD = Path(__file__).with_name("publish_child.py")
COUNT = 4
SIZE = 2 << 20
ITERATIONS = 20
MIN_MID_WRITE = 5  # kills that must land inside the write sequence
# Where a kill lands depends on timing, which a loaded machine shifts: keep killing (every round
# checked the same way) until enough kills landed mid-write, up to this many rounds.
MAX_ITERATIONS = 60


def _load_child() -> ModuleType:
    spec = importlib.util.spec_from_file_location("store_publish_child", CHILD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _start(directory: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(directory), str(COUNT), str(SIZE)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def _run_to_completion(directory: Path) -> float:
    start = time.monotonic()
    child = _start(directory)
    began = time.monotonic()
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0, f"publisher failed after {time.monotonic() - start:.1f}s"
    assert out.strip() == "done"
    return time.monotonic() - began


def _assert_readers_accept_only_correct_artifacts(directory: Path, child: ModuleType) -> None:
    listing = list_published(directory)
    assert listing.corrupt == (), listing.corrupt
    for published in listing.published:
        name = published.path.name
        assert published.manifest.metadata == {"name": name}
        assert published.path.read_bytes() == child.expected_payload(name, SIZE)


def test_sigkill_during_publish_never_leaves_an_accepted_bad_file(tmp_path: Path) -> None:
    child_module = _load_child()
    full_run_s = _run_to_completion(tmp_path / "calibration")
    rng = random.Random(20261129)
    interrupted_mid_write = 0
    iteration = 0
    while iteration < ITERATIONS or (interrupted_mid_write < MIN_MID_WRITE and iteration < MAX_ITERATIONS):
        directory = tmp_path / f"run-{iteration:02d}"
        directory.mkdir()
        child = _start(directory)
        time.sleep(rng.uniform(0.0, full_run_s))
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=30)

        _assert_readers_accept_only_correct_artifacts(directory, child_module)
        listing = list_published(directory)
        if listing.temp_files or listing.unmanifested:
            interrupted_mid_write += 1
        assert all(path.name.startswith(".") for path in listing.temp_files)

        removed = clean_temp_files(directory, min_age_s=0)
        assert removed == list(listing.temp_files)
        assert not [name for name in os.listdir(directory) if name.startswith(".")]

        _run_to_completion(directory)
        resumed = list_published(directory)
        assert [p.path.name for p in resumed.published] == [child_module.item_name(i) for i in range(COUNT)]
        assert resumed.unmanifested == () and resumed.temp_files == () and resumed.corrupt == ()
        _assert_readers_accept_only_correct_artifacts(directory, child_module)
        iteration += 1
    # Proof that the kills landed inside the write sequence, not only between publishes.
    assert interrupted_mid_write >= MIN_MID_WRITE, (interrupted_mid_write, iteration)
