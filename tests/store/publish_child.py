"""Child process for the SIGKILL publish test: publishes `count` large artifacts into a directory.

Run as `python publish_child.py DIR COUNT SIZE`; prints "ready" once imported, "done" at the end.
Even items go through `publish_bytes`, odd ones are staged in chunks and `publish_file`d, as an
HDF5 writer would do.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from ringrift_hpc.store import publish_bytes, publish_file, temp_path_for

_BLOCK = 1 << 16


def item_name(index: int) -> str:
    return f"item-{index:03d}.bin"


def expected_payload(name: str, size: int) -> bytes:
    """Deterministic, name-specific bytes, so a reader can tell any mix-up or truncation."""
    block = b"".join(hashlib.sha256(f"{name}:{i}".encode()).digest() for i in range(_BLOCK // 32))
    return (block * (size // _BLOCK + 1))[:size]


def main(directory: Path, count: int, size: int) -> None:
    print("ready", flush=True)
    for index in range(count):
        name = item_name(index)
        payload = expected_payload(name, size)
        target = directory / name
        if index % 2 == 0:
            publish_bytes(target, payload, {"name": name})
        else:
            staging = temp_path_for(target)
            with staging.open("wb") as handle:
                for start in range(0, size, _BLOCK):
                    handle.write(payload[start : start + _BLOCK])
            publish_file(target, staging, {"name": name})
    print("done", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
