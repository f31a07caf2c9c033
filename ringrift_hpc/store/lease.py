"""The controller's singleton lease, with fencing tokens, for a shared (possibly NFS) filesystem.

`flock` does not exclude across NFS clients, so exclusion comes from exclusive creation
(`O_CREAT | O_EXCL`, atomic on the NFS server since v3) of a *claim* file per acquisition:

    controller.lease                 JSON: holder host, pid, nonce, token, expiry; replaced atomically
    controller.fence/000000000007    one claim per acquisition; the name is the fencing token

Acquiring means: read the lease; if it is live (not released, not expired) give up; otherwise
claim token `last + 1` by creating its claim file with O_EXCL, then write the lease. Of any
number of processes racing for one token, exactly one create succeeds; the others get EEXIST
and give up. A process that arrives after a claim was made but before the lease names it sees
a claim newer than the lease's token and gives up too, unless that claim is older than the ttl
(its claimer died between the two steps), in which case the next token is claimed. Claim files
are never removed, so the largest claim only grows: that is the persisted, monotonic counter.

A holder stays valid while the lease names its token and nonce, has not expired, and no larger
claim exists. `check_lease` tests exactly that and the holder calls it before every write, so once
another process has claimed a larger token the old holder's writes are refused even if it was
paused and wakes up believing it still holds the lease.

Assumptions, as for every clock-based lease: host clocks agree to well within the ttl (NTP),
and the holder renews well before expiry. A holder paused between its check and its write can
still land that one write; nothing short of a storage server that checks tokens closes that.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringrift_hpc.store.atomic import (
    atomic_write_json,
    dump_json,
    ensure_dir,
    fsync_dir,
    write_fd_fully,
)
from ringrift_hpc.store.errors import LeaseCorruptError, LeaseHeldError, LeaseLostError
from ringrift_hpc.store.versioned_json import parse_versioned_json

LEASE_FORMAT = "ringrift-hpc.lease"
LEASE_VERSION = 1
_TOKEN_DIGITS = 12

Clock = Callable[[], float]


@dataclass(frozen=True)
class LeaseRecord:
    """The content of the lease file."""

    host: str
    pid: int
    nonce: str  # random per acquisition: tells two holders apart even with equal host and pid
    token: int  # fencing token, strictly larger for every acquisition
    acquired_at: float  # unix time
    expires_at: float  # unix time
    released: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "format": LEASE_FORMAT,
            "format_version": LEASE_VERSION,
            "host": self.host,
            "pid": self.pid,
            "nonce": self.nonce,
            "token": self.token,
            "acquired_at": self.acquired_at,
            "expires_at": self.expires_at,
            "released": self.released,
        }

    def describe(self) -> str:
        return f"host {self.host} pid {self.pid} token {self.token}"

    def live(self, now: float) -> bool:
        """Whether a controller holds it at `now`: neither released nor expired."""
        return not self.released and self.expires_at > now


@dataclass(frozen=True)
class Lease:
    """A held lease: what this process needs to renew it, release it and fence its writes."""

    path: Path
    fence_dir: Path
    ttl_s: float
    host: str
    pid: int
    nonce: str
    token: int
    acquired_at: float


def read_lease(path: Path) -> LeaseRecord | None:
    """The lease file's content, or None when there is none."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    return parse_lease(raw, path)


def parse_lease(raw: bytes, path: Path) -> LeaseRecord:
    """A lease file's bytes as a record; `path` names it in errors (it may be another machine's)."""
    fix = "if no controller of this run is running anywhere, delete the file and start again"
    doc = parse_versioned_json(
        raw,
        path,
        what="lease file",
        format_name=LEASE_FORMAT,
        version=LEASE_VERSION,
        error=LeaseCorruptError,
        fix=fix,
        version_fix="stop the controller of the other ringrift-hpc version first",
    )
    expected: dict[str, tuple[type, ...]] = {
        "host": (str,),
        "pid": (int,),
        "nonce": (str,),
        "token": (int,),
        "acquired_at": (int, float),
        "expires_at": (int, float),
        "released": (bool,),
    }
    for field, types in expected.items():
        value = doc.get(field)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise LeaseCorruptError(f"{path}: field {field!r} is missing or invalid; {fix}")
    return LeaseRecord(
        host=doc["host"],
        pid=doc["pid"],
        nonce=doc["nonce"],
        token=doc["token"],
        acquired_at=float(doc["acquired_at"]),
        expires_at=float(doc["expires_at"]),
        released=doc["released"],
    )


def latest_token(fence_dir: Path) -> int:
    """The largest fencing token ever claimed in `fence_dir` (0 when none)."""
    if not fence_dir.is_dir():
        return 0
    tokens = [int(name) for name in os.listdir(fence_dir) if name.isdigit()]
    return max(tokens, default=0)


def acquire_lease(path: Path, fence_dir: Path, *, ttl_s: float, clock: Clock = time.time) -> Lease:
    """Acquire the lease for `ttl_s` seconds, taking over a released or expired one.

    Raises `LeaseHeldError` when another process holds it or is acquiring it right now.
    """
    if ttl_s <= 0:
        raise ValueError(f"lease ttl_s must be positive, got {ttl_s}")
    ensure_dir(fence_dir)
    now = clock()
    current = read_lease(path)
    if current is not None and not current.released and current.expires_at > now:
        raise LeaseHeldError(
            f"{path} is held by {current.describe()} until {_format_time(current.expires_at)}; "
            "stop that controller first (or wait for the lease to expire if it is dead)"
        )
    held = current.token if current is not None else 0
    latest = latest_token(fence_dir)
    if latest > held:
        claim_age = now - _claim_mtime(fence_dir, latest)
        if claim_age < ttl_s:
            raise LeaseHeldError(
                f"{path}: another process claimed token {latest} {claim_age:.1f}s ago and is "
                f"acquiring the lease ({_claim_holder(fence_dir, latest)}); stop it first"
            )
    token = max(latest, held) + 1
    host, pid, nonce = socket.gethostname(), os.getpid(), secrets.token_hex(16)
    _claim(path, fence_dir, token, {"host": host, "pid": pid, "nonce": nonce, "claimed_at": now})
    lease = Lease(
        path=path,
        fence_dir=fence_dir,
        ttl_s=ttl_s,
        host=host,
        pid=pid,
        nonce=nonce,
        token=token,
        acquired_at=now,
    )
    _write_record(lease, expires_at=clock() + ttl_s, released=False)
    # A paused claimer may have written its lease over a newer holder's; the check catches it.
    check_lease(lease, clock=clock)
    return lease


def check_lease(lease: Lease, *, clock: Clock = time.time) -> LeaseRecord:
    """Raise `LeaseLostError` unless `lease` is still held; return the current record."""
    record = read_lease(lease.path)
    fix = "stop writing: another controller may be running; re-acquire the lease to continue"
    if record is None:
        raise LeaseLostError(f"{lease.path} has disappeared (token {lease.token} was ours); {fix}")
    if record.nonce != lease.nonce or record.token != lease.token:
        raise LeaseLostError(
            f"{lease.path} is now held by {record.describe()}, not by us (token {lease.token}); {fix}"
        )
    if record.released:
        raise LeaseLostError(f"{lease.path}: our lease (token {lease.token}) was released; {fix}")
    latest = latest_token(lease.fence_dir)
    if latest > lease.token:
        raise LeaseLostError(
            f"{lease.path}: token {latest} was claimed by {_claim_holder(lease.fence_dir, latest)} "
            f"after ours ({lease.token}); {fix}"
        )
    if record.expires_at <= clock():
        raise LeaseLostError(
            f"{lease.path}: our lease (token {lease.token}) expired at {_format_time(record.expires_at)}; "
            f"renew it more often than every {lease.ttl_s:g}s; {fix}"
        )
    return record


def renew_lease(lease: Lease, *, clock: Clock = time.time) -> LeaseRecord:
    """Extend the lease by its ttl from now; `LeaseLostError` if it is no longer held."""
    check_lease(lease, clock=clock)
    return _write_record(lease, expires_at=clock() + lease.ttl_s, released=False)


def release_lease(lease: Lease, *, clock: Clock = time.time) -> bool:
    """Give the lease up; False when it was already lost (then nothing is written).

    The lease file is kept, marked released, so that its token stays on record.
    """
    try:
        check_lease(lease, clock=clock)
    except LeaseLostError:
        return False
    _write_record(lease, expires_at=clock(), released=True)
    return True


def _claim(path: Path, fence_dir: Path, token: int, holder: dict[str, Any]) -> None:
    claim = fence_dir / f"{token:0{_TOKEN_DIGITS}d}"
    try:
        fd = os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise LeaseHeldError(
            f"{path}: another process claimed token {token} at the same moment and is acquiring "
            "the lease; stop it first"
        ) from None
    try:
        # Content is for people only: exclusion comes from the create, liveness from the mtime.
        write_fd_fully(fd, dump_json(holder))
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(fence_dir)


def _claim_mtime(fence_dir: Path, token: int) -> float:
    return (fence_dir / f"{token:0{_TOKEN_DIGITS}d}").stat().st_mtime


def _claim_holder(fence_dir: Path, token: int) -> str:
    try:
        doc = json.loads((fence_dir / f"{token:0{_TOKEN_DIGITS}d}").read_bytes())
        return f"host {doc['host']} pid {doc['pid']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "an unknown process (its claim file is still being written)"


def _write_record(lease: Lease, *, expires_at: float, released: bool) -> LeaseRecord:
    record = LeaseRecord(
        host=lease.host,
        pid=lease.pid,
        nonce=lease.nonce,
        token=lease.token,
        acquired_at=lease.acquired_at,
        expires_at=expires_at,
        released=released,
    )
    atomic_write_json(lease.path, record.to_json())
    return record


def _format_time(unix_time: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix_time))
