"""`ringrift-hpc loop` stopped by SIGTERM (scancel, preemption) releases its lease and says so, so
the next controller takes the run over at once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tiny_run import make_tiny_run

from ringrift_hpc.cli.loop_cmds import TERMINATED_EXIT
from ringrift_hpc.loop.halt import write_halt
from ringrift_hpc.store import read_lease

ENTRY = "from ringrift_hpc.cli.app import main; main()"


def _ticked(state: Path) -> bool:
    try:
        ticks: int = json.loads(state.read_text()).get("ticks", 0)
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return ticks >= 1


def test_sigterm_releases_the_lease_and_exits_143(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run")
    write_halt(layout, "nothing to submit in this test")
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "loop", str(layout.root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _ticked(layout.state) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _ticked(layout.state), "no tick within 60 s"
        held = read_lease(layout.lease)
        assert held is not None and not held.released and held.pid == process.pid
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == TERMINATED_EXIT == 143, output
    assert "stopped by SIGTERM" in output
    released = read_lease(layout.lease)
    assert released is not None and released.released and released.token == held.token
