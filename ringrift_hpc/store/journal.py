"""Append-only JSONL journal with a single writer.

Each record is one JSON object on one line, written with a single append and fsynced before
`append` returns. A crash can therefore only tear the *last* line (no trailing newline);
replay reports that line and ignores it. Damage anywhere else was not made by this writer and
is an error naming the file and line.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic_core import from_json

from ringrift_hpc.store.atomic import (
    atomic_write_bytes,
    ensure_dir,
    fsync_dir,
    write_fd_fully,
)
from ringrift_hpc.store.errors import JournalCorruptError, StoreError


@dataclass(frozen=True)
class JournalReplay:
    """A journal's bytes: its complete lines, parsed when asked for (a restart that starts from a
    snapshot parses only the tail), and what (if anything) was torn off its end."""

    path: Path
    data: bytes = field(repr=False)  # the whole file
    valid_size: int  # bytes up to and including the last complete line

    @property
    def torn_tail(self) -> bytes:
        """The unterminated last line, empty when the journal ends cleanly."""
        return self.data[self.valid_size :]

    @property
    def torn(self) -> bool:
        return self.valid_size < len(self.data)

    @cached_property
    def records(self) -> tuple[dict[str, Any], ...]:
        return self.records_after(0, 0)

    def records_after(self, offset: int, lines: int) -> tuple[dict[str, Any], ...]:
        """The records after the first `lines` lines, which end at byte `offset`."""
        records: list[dict[str, Any]] = []
        with gc_paused():
            chunk = self.data[offset : self.valid_size]
            for number, line in enumerate(chunk.split(b"\n")[:-1], start=lines + 1):
                records.append(_parse_line(self.path, number, line))
        return tuple(records)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while replaying: a replay makes millions of objects
    without cycles, and the collector's passes over them cost more than the replay itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_journal(path: Path) -> JournalReplay:
    """Read `path`, leaving its lines unparsed until asked for; a missing journal is an empty one."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    return JournalReplay(path=path, data=data, valid_size=data.rfind(b"\n") + 1)


def replay_journal(path: Path) -> JournalReplay:
    """Read and parse every complete line of `path`; a missing journal is an empty one."""
    replay = read_journal(path)
    _ = replay.records  # parsed now: a damaged line is reported here, naming the file and line
    return replay


def encode_record(record: Mapping[str, Any]) -> bytes:
    """One journal line; json.dumps escapes newlines inside strings, so it is a single line."""
    try:
        text = json.dumps(dict(record), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise StoreError(
            f"journal record is not plain JSON ({error}); pass only str keys and "
            "str/int/float/bool/None/list/dict values without NaN or infinity"
        ) from None
    return text.encode("utf-8") + b"\n"


class JournalWriter:
    """The single writer of one journal file.

    Opening it repairs a torn last line left by a crashed predecessor: the torn bytes are kept
    in a sibling `<journal>.torn-<time>` file (never deleted) and the journal is truncated back
    to its last complete line, so the next append does not glue onto the fragment.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        ensure_dir(path.parent)
        replay = read_journal(path)
        self.replayed = replay  # parsed by whoever asks for its records
        if replay.torn:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
            atomic_write_bytes(path.with_name(f"{path.name}.torn-{stamp}"), replay.torn_tail)
            os.truncate(path, replay.valid_size)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.fsync(self._fd)
        fsync_dir(path.parent)

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record durably (flushed and fsynced before returning)."""
        if self._fd < 0:
            raise StoreError(f"{self.path}: journal writer is closed; open a new JournalWriter")
        write_fd_fully(self._fd, encode_record(record))
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _parse_line(path: Path, number: int, line: bytes) -> dict[str, Any]:
    fix = (
        "the journal was damaged by something other than a crash of its writer (which can only "
        "tear the last line): restore it from a backup, or move it aside and let the controller "
        "rebuild its state from the published artifacts"
    )
    try:
        value = from_json(line)  # a third faster than json.loads, which is a restart's first cost
    except ValueError:
        try:
            value = json.loads(line)  # for its message; or a line only the standard parser reads
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise JournalCorruptError(f"{path}:{number}: line is not valid JSON ({error}); {fix}") from None
    if not isinstance(value, dict):
        raise JournalCorruptError(
            f"{path}:{number}: line is a JSON {type(value).__name__}, not an object; {fix}"
        )
    return value
