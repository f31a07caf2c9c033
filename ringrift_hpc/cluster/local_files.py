"""Where a local job keeps its state, and whether the process that runs it is alive.

Layout under ``RUN/jobs/local/``: one folder per job id, holding ``job.json`` (kind, number of
tasks, submission time; written last, so a folder without it was never submitted) and, per
task index ``T``, the files of ``TaskFiles(folder / T)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class TaskFiles:
    """The files of one task, all named ``PREFIX.<what>``."""

    prefix: Path

    def _with(self, suffix: str) -> Path:
        return self.prefix.with_name(f"{self.prefix.name}.{suffix}")

    @property
    def submission(self) -> Path:
        """The pickled (callable, arguments)."""
        return self._with("pkl")

    @property
    def start(self) -> Path:
        return self._with("start.json")

    @property
    def exit(self) -> Path:
        return self._with("exit.json")

    @property
    def gone(self) -> Path:
        """Written by the executor when it first finds the process gone without an exit record."""
        return self._with("gone.json")

    @property
    def result(self) -> Path:
        return self._with("result.pkl")

    @property
    def cancelled(self) -> Path:
        return self._with("cancelled")

    @property
    def stdout(self) -> Path:
        return self._with("out")

    @property
    def stderr(self) -> Path:
        return self._with("err")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces; split after it.
    return text[text.rindex(")") + 2 :].split()


def process_start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot), which tells a reused pid apart; None off Linux."""
    fields = _stat_fields(pid) if _PROC.is_dir() else None
    return int(fields[19]) if fields is not None else None


def process_alive(pid: int, start_ticks: int | None) -> bool:
    """``pid`` runs and is the process that recorded ``start_ticks``; zombies count as dead."""
    if not _PROC.is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = _stat_fields(pid)
    if fields is None:
        return False
    if fields[0] in ("Z", "X"):
        _reap(pid)
        return False
    return start_ticks is None or int(fields[19]) == start_ticks


def _reap(pid: int) -> None:
    """Collect the exit status of a finished child so it stops being a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: its own parent (or init) collects it
