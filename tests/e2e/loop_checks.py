"""Running a controller in a child process, and checking a finished run's files for lost or
duplicated artifacts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ringrift_hpc.loop.state import replay_state
from ringrift_hpc.rating.best import promotion_history
from ringrift_hpc.store import RunLayout, list_published, replay_journal

VARIANT = "square8_2p"
# Short, so a killed controller is replaced quickly; long enough for the slowest tick seen on a
# 2-core machine at load 12 (a decision's report rendering took over 6 s there).
LEASE_TTL_S = 15.0
_CONTROLLER = (
    "import sys; from pathlib import Path; from ringrift_hpc.loop.runner import run_loop; "
    "from ringrift_hpc.store import RunLayout; "
    "print(run_loop(RunLayout(Path(sys.argv[1])), lease_ttl_s=float(sys.argv[2])))"
)
# The same controller behind a shared filesystem's lag (tests/loop/lagged_fs.py): every artifact
# becomes visible argv[3] listings of its directory (one per tick) after that process first saw it.
_LAGGED = (
    "import functools, sys; sys.path.insert(0, sys.argv[4]); from lagged_fs import LaggedListing; "
    "import ringrift_hpc.loop.runner as runner; "
    "runner.Controller = functools.partial(runner.Controller, listing=LaggedListing(int(sys.argv[3]))); "
)
_LOOP_TESTS = str(Path(__file__).resolve().parents[1] / "loop")


def start_controller(layout: RunLayout, log: Path, *, lag: int = 0) -> subprocess.Popen[bytes]:
    """`run_loop` in a child process; with `lag`, behind `LaggedListing(lag)`."""
    code = _LAGGED + _CONTROLLER if lag else _CONTROLLER
    argv = [sys.executable, "-c", code, str(layout.root), str(LEASE_TTL_S), str(lag), _LOOP_TESTS]
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=out)


def kill_controller(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL, then wait out its lease so the next controller can take over."""
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(LEASE_TTL_S + 0.5)


def wait_for(condition: Any, timeout_s: float, what: str, logs: Callable[[], str] = str) -> Any:
    """The first truthy value of `condition()`; on timeout fail with `logs()` attached."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}\n{logs()}")


def snapshot(layout: RunLayout) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(layout.state.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return doc


def published(layout: RunLayout) -> dict[str, set[str]]:
    """Every verified artifact of the run by kind, as paths relative to the root."""
    found: dict[str, set[str]] = {"shard": set(), "model": set(), "match": set()}
    roots = (("shard", layout.selfplay_root(VARIANT)), ("match", layout.matches_root(VARIANT)))
    dirs = [(kind, d) for kind, root in roots if root.is_dir() for d in sorted(root.iterdir()) if d.is_dir()]
    dirs.append(("model", layout.models_dir(VARIANT)))
    for kind, directory in dirs:
        for item in list_published(directory).published:
            found[kind].add(str(layout.relative(item.path)))
    return found


def check_consistent(layout: RunLayout) -> dict[str, Any]:
    """No artifact lost, none ingested twice, no task submitted twice while in flight, no decision
    recorded twice; returns counts for the caller's own assertions."""
    records = replay_journal(layout.journal).records
    ingested = Counter((r["artifact"], r["path"]) for r in records if r.get("event") == "ingested")
    assert all(n == 1 for n in ingested.values()), [k for k, n in ingested.items() if n > 1]
    on_disk = published(layout)
    for kind, paths in on_disk.items():
        assert {p for (k, p) in ingested if k == kind} == paths, kind
    submitted = Counter(t for r in records if r.get("event") == "submitted" for t in r["tasks"])
    failed = Counter(
        r["task"] for r in records if r.get("event") == "job_ended" and r["status"] != "completed"
    )
    intents = Counter(t["task"] for r in records if r.get("event") == "submit_intent" for t in r["tasks"])
    for task, count in submitted.items():
        # A resubmission follows a failure, or an intent whose confirmation a crash cut off.
        assert count <= 1 + failed[task] + (intents[task] - 1), task
    history = promotion_history(layout, VARIANT)
    decided = Counter(h["candidate"] for h in history if h["event"] in ("promote", "reject"))
    assert all(n == 1 for n in decided.values()), decided
    state = replay_state([VARIANT], records)
    assert state.variants[VARIANT].shards == len(on_disk["shard"])
    assert (
        json.loads(layout.state.read_text())["variants"][VARIANT]["samples_total"]
        == state.variants[VARIANT].samples_total
    )
    return {"decisions": len(history), "records": records, "published": on_disk, "state": state}


def local_task_pid(layout: RunLayout, ref: dict[str, Any]) -> int | None:
    """The pid of a running local task, from the local executor's start record."""
    start = layout.jobs_dir / "local" / ref["job_id"] / f"{ref['task'] or 0}.start.json"
    exit_record = start.with_name(start.name.replace(".start.", ".exit."))
    if not start.exists() or exit_record.exists():
        return None
    try:
        return int(json.loads(start.read_text())["pid"])
    except (json.JSONDecodeError, KeyError):
        return None


def kill_pid(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True
