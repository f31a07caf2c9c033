"""A file received over the network: written to a hidden temp file, hashed while written, renamed
into place only when its size and sha256 are right, so nothing unverified ever sits at the
final name."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from types import TracebackType
from typing import final

from ringrift_hpc.store.atomic import ensure_dir, fsync_dir, temp_path_for, write_fd_fully


class TooLargeError(ValueError):
    """More bytes arrived than the limit allows."""


class HashMismatchError(ValueError):
    """The bytes that arrived do not have the expected sha256."""


@final
class VerifiedFile:
    """Use as a context manager: `write` chunks, then `commit`; leaving without commit removes the temp."""

    def __init__(self, dest: Path, *, max_bytes: int | None) -> None:
        self.dest = dest
        self._max_bytes = max_bytes
        self._hash = hashlib.sha256()
        self.size = 0
        ensure_dir(dest.parent)
        self._temp = temp_path_for(dest)
        self._fd: int | None = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def __enter__(self) -> VerifiedFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close()
        self._temp.unlink(missing_ok=True)

    def write(self, chunk: bytes) -> None:
        assert self._fd is not None, "write after commit"
        self.size += len(chunk)
        if self._max_bytes is not None and self.size > self._max_bytes:
            raise TooLargeError(f"{self.dest.name}: more than {self._max_bytes} bytes arrived")
        self._hash.update(chunk)
        write_fd_fully(self._fd, chunk)

    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def commit(self, expected_sha256: str | None) -> str:
        """Check the hash, make the file durable and rename it to `dest`; return its sha256."""
        digest = self.sha256()
        if expected_sha256 is not None and digest != expected_sha256:
            raise HashMismatchError(
                f"{self.dest.name}: hash mismatch: received {self.size} bytes with sha256 {digest}, "
                f"expected {expected_sha256}"
            )
        fd = self._fd
        assert fd is not None, "commit twice"
        # fsync of a large file takes long enough to stall every other request on the event loop.
        await asyncio.to_thread(os.fsync, fd)
        self._close()
        os.replace(self._temp, self.dest)
        fsync_dir(self.dest.parent)
        return digest

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
