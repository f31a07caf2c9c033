"""Moving unreadable artifacts aside with a recorded reason. Nothing here ever deletes."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ringrift_hpc.store.atomic import atomic_write_json, ensure_dir, fsync_dir
from ringrift_hpc.store.errors import StoreError, UnsafePathError
from ringrift_hpc.store.layout import RunLayout
from ringrift_hpc.store.publish import MANIFEST_SUFFIX, manifest_path

REASON_FILE = "reason.json"
FILES_DIR = "files"


@dataclass(frozen=True)
class QuarantineRecord:
    """One quarantined item: where it came from, why, when, and the files kept."""

    entry: Path  # quarantine/<entry>/ holding reason.json and files/
    original: str  # the artifact's path relative to the run root
    reason: str
    time: str  # ISO 8601 UTC
    files: tuple[Path, ...]  # what is actually kept under entry/files/


def quarantine(layout: RunLayout, artifact: Path, reason: str) -> QuarantineRecord:
    """Move `artifact` and its manifest (whichever exist) into a new quarantine entry.

    The reason is recorded first and the manifest is moved before the artifact, so a crash
    part-way leaves the artifact unpublished (readers ignore it) and its reason on record. A
    file that vanishes between the check and its move (moved by someone else) is left out;
    `FileNotFoundError` when nothing at all was there to move.
    """
    relative = layout.relative(artifact)
    if relative.parts[:1] == (layout.quarantine_dir.name,):
        raise UnsafePathError(f"{artifact} is already in quarantine; leave it there")
    absolute = layout.root / relative
    companions = [absolute] if absolute.suffix == MANIFEST_SUFFIX else [manifest_path(absolute), absolute]
    present = [path for path in companions if path.exists()]
    if not present:
        raise FileNotFoundError(f"{absolute}: nothing to quarantine, neither the file nor its manifest exists")
    now = datetime.now(timezone.utc)
    entry = layout.quarantine_dir / f"{now.strftime('%Y%m%dT%H%M%SZ')}-{absolute.name}-{secrets.token_hex(4)}"
    files_dir = entry / FILES_DIR
    ensure_dir(files_dir)
    when = now.isoformat(timespec="milliseconds")
    atomic_write_json(
        entry / REASON_FILE,
        {
            "original": relative.as_posix(),
            "reason": reason,
            "time": when,
            "files": [path.name for path in present],
        },
    )
    moved = []
    for path in present:
        try:
            os.rename(path, files_dir / path.name)
        except FileNotFoundError:
            continue
        moved.append(files_dir / path.name)
    fsync_dir(files_dir)
    fsync_dir(absolute.parent)
    if not moved:
        raise FileNotFoundError(
            f"{absolute}: nothing to quarantine, the file and its manifest were moved meanwhile"
        )
    return QuarantineRecord(
        entry=entry, original=relative.as_posix(), reason=reason, time=when, files=tuple(sorted(moved))
    )


def list_quarantined(layout: RunLayout) -> tuple[QuarantineRecord, ...]:
    """Every quarantine entry, oldest first."""
    if not layout.quarantine_dir.is_dir():
        return ()
    records = []
    for entry in sorted(layout.quarantine_dir.iterdir()):
        reason_path = entry / REASON_FILE
        if not reason_path.is_file():
            continue  # an entry whose creation was interrupted before anything was moved
        try:
            doc = json.loads(reason_path.read_bytes())
            original, reason, when = doc["original"], doc["reason"], doc["time"]
        except (ValueError, KeyError, TypeError) as error:
            raise StoreError(
                f"{reason_path}: quarantine reason record is unreadable ({error}); "
                "it should hold 'original', 'reason' and 'time': repair it by hand"
            ) from None
        files_dir = entry / FILES_DIR
        kept = tuple(sorted(files_dir.iterdir())) if files_dir.is_dir() else ()
        records.append(QuarantineRecord(entry=entry, original=original, reason=reason, time=when, files=kept))
    return tuple(records)
