"""The lease a controller writes under, whatever grants it.

On a shared filesystem it is the store's file lease; in P2P mode it is a lease granted by a
majority of coordinator-eligible nodes. The controller sees only this interface: a fencing token
stamped on every journal record, a check before every write, a renewal each tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ringrift_hpc.store.lease import Lease, check_lease, renew_lease


class FencingLease(Protocol):
    @property
    def token(self) -> int:
        """Larger for every later holder; stamped on each write."""
        ...

    def check(self) -> None:
        """Raise `LeaseLostError` unless the lease is still held."""
        ...

    def renew(self) -> None:
        """Extend the lease; `LeaseLostError` if it was lost."""
        ...


@dataclass(frozen=True)
class FileLease:
    """The store's file lease (`acquire_lease`) behind `FencingLease`."""

    lease: Lease
    clock: Callable[[], float] = time.time

    @property
    def token(self) -> int:
        return self.lease.token

    def check(self) -> None:
        check_lease(self.lease, clock=self.clock)

    def renew(self) -> None:
        renew_lease(self.lease, clock=self.clock)
