"""Import heavy code off the event loop, so an agent keeps answering while torch loads."""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading

# One import thread at a time: two threads importing the package's mutually dependent modules
# at once can hit the import system's deadlock detection.
_IMPORTING = threading.Lock()


def _import(module: str) -> None:
    with _IMPORTING:
        importlib.import_module(module)


async def preload(module: str) -> None:
    """Import `module` in a thread (seconds for the job code and the controller, which bring torch
    and h5py); the importing code's own `import` of it is then instant and blocks nothing.

    Node and job heartbeats go on meanwhile: blocking the loop that long could let a job lease
    lapse or make peers suspect the node."""
    if module not in sys.modules:
        await asyncio.to_thread(_import, module)
