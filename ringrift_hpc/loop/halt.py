"""`RUN/HALT`: present means halted. Jobs stop starting work when they see it; the controller
submits nothing while it exists but keeps polling and ingesting. `resume` removes it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from ringrift_hpc.loop.requests import requester
from ringrift_hpc.store import RunLayout, atomic_write_json


@dataclass(frozen=True)
class Halt:
    reason: str
    created_at: float
    requested_by: str


def write_halt(layout: RunLayout, reason: str, *, clock: Callable[[], float] = time.time) -> Halt:
    """Create (or replace) HALT with `reason`, atomically."""
    if not reason.strip():
        raise ValueError("halt needs a reason (--reason TEXT), so whoever resumes knows why it stopped")
    halt = Halt(reason, clock(), requester())
    atomic_write_json(
        layout.halt, {"reason": halt.reason, "created_at": halt.created_at, "requested_by": halt.requested_by}
    )
    return halt


def read_halt(layout: RunLayout) -> Halt | None:
    """The HALT file's content; a HALT that is not our JSON still halts, with its text as reason."""
    try:
        raw = layout.halt.read_bytes()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(raw)
        return Halt(str(doc["reason"]), float(doc["created_at"]), str(doc["requested_by"]))
    except (ValueError, KeyError, TypeError):
        return Halt(
            raw.decode("utf-8", "replace").strip() or "(empty HALT file)", layout.halt.stat().st_mtime, ""
        )


def clear_halt(layout: RunLayout) -> bool:
    """Remove HALT; False when there was none."""
    try:
        layout.halt.unlink()
    except FileNotFoundError:
        return False
    return True
