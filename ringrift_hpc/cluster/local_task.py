"""The process that runs one local job: ``python -m ringrift_hpc.cluster.local_task TASK_PREFIX``.

The local executor starts it; it records itself, runs the pickled callable and records the
outcome, so that a restarted controller learns everything from the files alone:

- ``PREFIX.start.json`` (pid, process start ticks, time, host), published with a hard link so
  that of two processes started for the same task (a controller that crashed mid-launch and
  its successor) exactly one runs it;
- ``PREFIX.result.pkl``: ("success", value) or ("error", traceback);
- ``PREFIX.exit.json`` (exit code, end time), written last.

A process that dies without an exit record (killed, out of memory) is a failed job.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import traceback
from pathlib import Path

import cloudpickle  # no stubs (mypy override in pyproject); comes with submitit

from ringrift_hpc.cluster.local_files import TaskFiles, process_start_ticks
from ringrift_hpc.store.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    dump_json,
    write_temp,
)

EXIT_ALREADY_STARTED = 3


def _claim_start(files: TaskFiles) -> bool:
    """Publish the start record unless another process already did."""
    record = {
        "pid": os.getpid(),
        "proc_start": process_start_ticks(os.getpid()),
        "started_at": time.time(),
        "host": socket.gethostname(),
    }
    temp = write_temp(files.start, [dump_json(record)])
    try:
        os.link(temp, files.start)
    except FileExistsError:
        return False
    finally:
        temp.unlink(missing_ok=True)
    return True


def run_task(files: TaskFiles) -> int:
    """Run the task behind ``files``; the process exit code."""
    if not _claim_start(files):
        print(f"{files.start} exists: another process runs this task", file=sys.stderr)
        return EXIT_ALREADY_STARTED
    if files.cancelled.exists():
        return 0
    try:
        fn, args = cloudpickle.loads(files.submission.read_bytes())
        value = fn(*args)
    except Exception:  # noqa: BLE001  # whatever the job raised is its failure, recorded below
        trace = traceback.format_exc()
        print(trace, file=sys.stderr, flush=True)
        atomic_write_bytes(files.result, cloudpickle.dumps(("error", trace)))
        atomic_write_json(files.exit, {"exit_code": 1, "ended_at": time.time()})
        return 1
    atomic_write_bytes(files.result, cloudpickle.dumps(("success", value)))
    atomic_write_json(files.exit, {"exit_code": 0, "ended_at": time.time()})
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ringrift_hpc.cluster.local_task TASK_PREFIX", file=sys.stderr)
        return 2
    return run_task(TaskFiles(Path(argv[0])))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
