"""Crash-safe file writes: temp file in the same directory, fsync, rename, fsync the directory.

A reader of the final name sees either the old content or the new content, never a mix, and
after the call returns the new content survives a power loss. Temp files are hidden
(`.<name>.<hex>.tmp`) so every reader in the store skips them.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".tmp"
_CHUNK = 1 << 20


def temp_path_for(final: Path) -> Path:
    """A fresh hidden temp name next to `final` (same directory, so rename is atomic)."""
    return final.with_name(f".{final.name}.{secrets.token_hex(8)}{TEMP_SUFFIX}")


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def fsync_dir(directory: Path) -> None:
    """Make the directory's entries (a rename, a create) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(directory: Path) -> None:
    """Create `directory` and missing parents, making each new entry durable."""
    missing: list[Path] = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            if not path.is_dir():
                raise
        fsync_dir(path.parent)


def write_fd_fully(fd: int, data: bytes) -> None:
    """`os.write` may write less than asked; loop until every byte is written."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view[:_CHUNK])
        view = view[written:]


def write_temp(final: Path, chunks: Iterable[bytes]) -> Path:
    """Write `chunks` to a new temp file next to `final`, fsync it and return its path."""
    ensure_dir(final.parent)
    temp = temp_path_for(final)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        for chunk in chunks:
            write_fd_fully(fd, chunk)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return temp


def chunked(data: bytes) -> Iterable[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        yield bytes(view[start : start + _CHUNK])


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically and durably (single-writer mutable files)."""
    temp = write_temp(path, chunked(data))
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def dump_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no NaN/Infinity, trailing newline."""
    return (json.dumps(value, indent=2, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, dump_json(value))


def clean_temp_files(
    directory: Path, *, min_age_s: float, clock: Callable[[], float] = time.time
) -> list[Path]:
    """Remove store temp files in `directory` older than `min_age_s`; return what was removed.

    Temp files are never artifacts (nothing reads them), but a young one may belong to a
    writer that is still running, hence the age threshold.
    """
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    now = clock()
    for entry in os.scandir(directory):
        if not is_temp_name(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        if now - entry.stat(follow_symlinks=False).st_mtime >= min_age_s:
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    if removed:
        fsync_dir(directory)
    return sorted(removed)
