"""Import heavy code off the event loop, so an agent keeps answering while torch loads."""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading

# One import thread at a time: two threads importing the package's mutually dependent modules
# at once can hit the import system's deadlock detection.
_IMPORTING = threading.Lock()


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # the awaiting task was cancelled: the agent is stopping
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


async def preload(module: str) -> None:
    """Import `module` in a thread (seconds for the job code and the controller, which bring torch
    and h5py); the importing code's own `import` of it is then instant and blocks nothing.

    Node and job heartbeats go on meanwhile: blocking the loop that long could let a job lease
    lapse or make peers suspect the node. The thread is a daemon, not the loop's executor, so a
    SIGTERM during the import does not wait for it: the agent exits at once."""
    if module in sys.modules:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def load() -> None:
        error: BaseException | None = None
        try:
            with _IMPORTING:
                importlib.import_module(module)
        except BaseException as failure:  # noqa: BLE001  # handed to the awaiting task
            error = failure
        try:
            loop.call_soon_threadsafe(_settle, done, error)
        except RuntimeError:
            pass  # the loop is closed: nobody waits for the import any more

    threading.Thread(target=load, name=f"preload {module}", daemon=True).start()
    await done
