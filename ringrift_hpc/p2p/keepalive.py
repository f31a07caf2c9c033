"""Optional hook that asks a cloud provider to revive a dead peer (`p2p.keepalive_command`).

The coordinator calls `KeepaliveHook.tend` for each peer it holds dead. The hook runs
`COMMAND check NODE URL` (exit 0: the instance lives) and, when the check says it does not,
`COMMAND restart NODE URL`. Every attempt doubles the wait before the next one for that peer, up to
32 x `keepalive_backoff_s`, until the peer is seen alive again (`alive`). Commands run without a
shell, with a timeout; their exit status and output tail are kept in `history`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..config import P2PSection

log = logging.getLogger(__name__)

MAX_DOUBLINGS = 5  # the wait stops growing at 32 x backoff_s
HISTORY_SIZE = 100
OUTPUT_TAIL_CHARS = 2000


def next_attempt_after(failures: int, backoff_s: float) -> float:
    """Seconds to wait after `failures` attempts that have not brought the peer back."""
    if failures < 0:
        raise ValueError(f"failures={failures} is negative; count attempts from 0")
    if backoff_s <= 0:
        raise ValueError(f"p2p.keepalive_backoff_s={backoff_s} is not positive; set it above 0")
    return backoff_s * (1 << min(failures, MAX_DOUBLINGS))


@dataclass(frozen=True)
class KeepaliveOutcome:
    """One `tend` result. `ok`: check -> the instance lives; restart -> the provider accepted it;
    skipped -> always False (nothing was asked). `at`: the hook's clock when the action ended."""

    node: str
    action: str  # "check" | "restart" | "skipped"
    ok: bool
    detail: str
    at: float


@dataclass(frozen=True)
class _Ran:
    """How one command call ended: exit status (None: it could not run or timed out) and its story."""

    code: int | None
    detail: str


@dataclass(frozen=True)
class _Tending:
    """Attempts since the peer was last seen alive, and the clock time before which none is made."""

    failures: int
    not_before: float


def _tail(output: bytes) -> str:
    text = output.decode(errors="replace").strip()
    return text if len(text) <= OUTPUT_TAIL_CHARS else "..." + text[-OUTPUT_TAIL_CHARS:]


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


class KeepaliveHook:
    """Calls the provider command for dead peers, with a per-peer doubling back-off."""

    def __init__(
        self,
        command: str,
        *,
        backoff_s: float,
        timeout_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            argv = shlex.split(command)
        except ValueError as err:
            raise ValueError(
                f"p2p.keepalive_command {command!r} cannot be parsed ({err}); fix the quoting"
            ) from err
        if not argv:
            raise ValueError("p2p.keepalive_command is empty; give a command line or null for no hook")
        next_attempt_after(0, backoff_s)  # rejects a bad backoff_s with its message
        if timeout_s <= 0:
            raise ValueError(f"keepalive timeout_s={timeout_s} is not positive; give seconds above 0")
        self._argv = tuple(argv)
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._tending: dict[str, _Tending] = {}
        self._busy: set[str] = set()
        self._history: deque[KeepaliveOutcome] = deque(maxlen=HISTORY_SIZE)

    @property
    def history(self) -> tuple[KeepaliveOutcome, ...]:
        """The latest checks and restarts (not skips), oldest first."""
        return tuple(self._history)

    def alive(self, node: str) -> None:
        """`node` was heard from again: its next death starts a fresh back-off."""
        if self._tending.pop(node, None) is not None:
            log.info("keepalive: %s is alive again; back-off reset", node)

    async def tend(self, node: str, url: str) -> KeepaliveOutcome:
        """Check dead peer `node` and restart it if the provider says it is gone, unless backing off."""
        now = self._clock()
        state = self._tending.get(node, _Tending(failures=0, not_before=now))
        if node in self._busy:
            return KeepaliveOutcome(node, "skipped", False, "an attempt is already running", now)
        if now < state.not_before:
            wait = state.not_before - now
            return KeepaliveOutcome(node, "skipped", False, f"backing off for {wait:.1f} s more", now)
        self._busy.add(node)
        try:
            outcome = await self._attempt(node, url)
        finally:
            self._busy.discard(node)
        wait = next_attempt_after(state.failures, self._backoff_s)
        self._tending[node] = _Tending(state.failures + 1, outcome.at + wait)
        log.info("keepalive: next attempt for %s in %.0f s unless it comes back", node, wait)
        return outcome

    async def _attempt(self, node: str, url: str) -> KeepaliveOutcome:
        check = await self._call("check", node, url)
        if check.code is None or check.code == 0:
            lives = check.code == 0
            outcome = self._record(node, "check", lives, check.detail)
            if lives:
                log.info("keepalive: provider says %s lives; not restarting (%s)", node, check.detail)
            else:
                log.warning("keepalive: cannot check %s, not restarting: %s", node, check.detail)
            return outcome
        self._record(node, "check", False, check.detail)
        log.warning("keepalive: provider says %s is dead (%s); restarting", node, check.detail)
        restart = await self._call("restart", node, url)
        outcome = self._record(node, "restart", restart.code == 0, restart.detail)
        if outcome.ok:
            log.info("keepalive: restart of %s accepted (%s)", node, restart.detail)
        else:
            log.warning("keepalive: restart of %s failed: %s", node, restart.detail)
        return outcome

    def _record(self, node: str, action: str, ok: bool, detail: str) -> KeepaliveOutcome:
        outcome = KeepaliveOutcome(node, action, ok, detail, self._clock())
        self._history.append(outcome)
        return outcome

    async def _call(self, action: str, node: str, url: str) -> _Ran:
        argv = (*self._argv, action, node, url)
        shown = shlex.join(argv)
        try:
            # Own session: on timeout the whole group dies, so a child holding the pipe cannot hang us.
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as err:
            return _Ran(None, f"cannot run `{shown}`: {err}")
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), self._timeout_s)
        except asyncio.TimeoutError:
            _kill_group(proc.pid)
            await proc.wait()
            return _Ran(None, f"`{shown}` timed out after {self._timeout_s:g} s")
        except BaseException:
            _kill_group(proc.pid)
            raise
        code = proc.returncode
        assert code is not None  # communicate() returns after the process has exited
        tail = _tail(output)
        return _Ran(code, f"`{shown}` exited {code}" + (f": {tail}" if tail else ""))


def keepalive_hook(p2p: P2PSection) -> KeepaliveHook | None:
    """The hook configured in `p2p`, or None when `keepalive_command` is null."""
    if p2p.keepalive_command is None:
        return None
    return KeepaliveHook(p2p.keepalive_command, backoff_s=p2p.keepalive_backoff_s)
