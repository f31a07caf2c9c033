"""Does lease exclusion hold on this filesystem? Race real processes for leases and count winners.

Used by `doctor` (`probe_lease_exclusion`) and by the store's tests (`race_for_lease`).
"""

from __future__ import annotations

import multiprocessing
import queue
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringrift_hpc.store.errors import LeaseHeldError
from ringrift_hpc.store.lease import acquire_lease

_LEASE_NAME = "controller.lease"
_FENCE_NAME = "controller.fence"
_TTL_S = 600.0


@dataclass(frozen=True)
class RaceRound:
    """What each contender got in one round: ("won", token), ("held", message) or ("error", text)."""

    round: int
    stale_start: bool  # the round began with an expired lease to take over
    outcomes: tuple[tuple[str, str], ...]

    @property
    def winners(self) -> int:
        return sum(1 for kind, _ in self.outcomes if kind == "won")

    @property
    def exclusive(self) -> bool:
        return self.winners == 1 and all(kind in ("won", "held") for kind, _ in self.outcomes)


def race_for_lease(
    directory: Path, *, rounds: int, contenders: int = 2, timeout_s: float = 60.0
) -> tuple[RaceRound, ...]:
    """Run `rounds` races of `contenders` processes for fresh leases under `directory`.

    Odd rounds start from an expired lease (a takeover race), even rounds from none. In every
    round all contenders are released from one barrier at once and call `acquire_lease`.
    """
    directory = Path(directory)
    for number in range(rounds):
        round_dir = directory / f"round-{number:05d}"
        round_dir.mkdir(parents=True)
        if number % 2 == 1:
            acquire_lease(
                round_dir / _LEASE_NAME, round_dir / _FENCE_NAME, ttl_s=1.0, clock=lambda: time.time() - 3600.0
            )
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(contenders)
    results: Any = context.Queue()
    workers = [
        context.Process(target=_contend, args=(str(directory), rounds, barrier, results, timeout_s), daemon=True)
        for _ in range(contenders)
    ]
    for worker in workers:
        worker.start()
    outcomes: dict[int, list[tuple[str, str]]] = {number: [] for number in range(rounds)}
    deadline = time.monotonic() + timeout_s
    try:
        for _ in range(rounds * contenders):
            number, kind, detail = results.get(timeout=max(0.1, deadline - time.monotonic()))
            outcomes[number].append((kind, detail))
    except queue.Empty:
        raise TimeoutError(f"lease race under {directory} did not finish within {timeout_s}s") from None
    finally:
        for worker in workers:
            worker.join(timeout=5.0)
            if worker.is_alive():
                worker.kill()
    return tuple(
        RaceRound(round=number, stale_start=number % 2 == 1, outcomes=tuple(outcomes[number]))
        for number in range(rounds)
    )


def probe_lease_exclusion(directory: Path, *, rounds: int = 6) -> bool:
    """True when, racing two processes `rounds` times in `directory`, exactly one wins each time."""
    scratch = Path(tempfile.mkdtemp(prefix=".lease-probe-", dir=directory))
    try:
        return all(race.exclusive for race in race_for_lease(scratch, rounds=rounds))
    finally:
        shutil.rmtree(scratch)


def _contend(directory: str, rounds: int, barrier: Any, results: Any, timeout_s: float) -> None:
    for number in range(rounds):
        round_dir = Path(directory) / f"round-{number:05d}"
        barrier.wait(timeout=timeout_s)
        try:
            lease = acquire_lease(round_dir / _LEASE_NAME, round_dir / _FENCE_NAME, ttl_s=_TTL_S)
            results.put((number, "won", str(lease.token)))
        except LeaseHeldError as error:
            results.put((number, "held", str(error)))
        except Exception as error:  # noqa: BLE001 - reported to the parent, which fails the round
            results.put((number, "error", f"{type(error).__name__}: {error}"))
