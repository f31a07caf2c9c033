"""Each check is one line: pass, fail or skip, with the evidence or the fix."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

from ringrift_hpc.cluster.slurm_query import (
    CheckResult,
    check_accounting,
    check_commands,
    check_max_array_size,
    check_partitions,
)
from ringrift_hpc.config import Config
from ringrift_hpc.store import probe_lease_exclusion

Status = Literal["pass", "fail", "skip"]

# Below this a selfplay generation or a checkpoint can fail half-written.
MIN_FREE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Line:
    name: str
    status: Status
    detail: str


def _from_result(result: CheckResult) -> Line:
    return Line(result.name, "pass" if result.ok else "fail", result.detail)


def _guarded(name: str, check: Callable[[], Line]) -> Line:
    """A check that raised is a failed line, not a crashed doctor."""
    try:
        return check()
    except Exception as error:  # the doctor reports every failure as a line
        return Line(name, "fail", f"{type(error).__name__}: {error}")


def slurm_checks(config: Config | None) -> list[Line]:
    """Commands answer, configured partitions exist, accounting answers, MaxArraySize is read."""
    wanted = [] if config is None else [config.slurm.job(kind).partition for kind in ("selfplay", "train", "evaluate")]
    partitions = sorted({p for p in wanted if p})
    lines = [_from_result(r) for r in check_commands(partition=partitions[0] if partitions else None)]
    lines.append(_from_result(check_partitions(partitions)))
    lines.append(_from_result(check_accounting()))
    lines.append(_from_result(check_max_array_size()))
    return lines


def _writable(root: Path) -> Line:
    probe = root / f".doctor-{secrets.token_hex(4)}"
    probe.write_bytes(b"ok")
    try:
        ok = probe.read_bytes() == b"ok"
    finally:
        probe.unlink()
    return Line("run root writable", "pass" if ok else "fail", f"{root} (wrote, read back and removed a file)")


def _lease(root: Path) -> Line:
    if probe_lease_exclusion(root):
        return Line("lease exclusion", "pass", f"two processes raced for a lease in {root}: one winner every round")
    return Line(
        "lease exclusion",
        "fail",
        f"two processes both acquired a lease in {root}: O_EXCL create does not exclude on this filesystem; "
        "put the run root on a filesystem with atomic exclusive create (any local disk, NFSv3+, Lustre, GPFS)",
    )


def _hdf5(root: Path) -> Line:
    # Imported here: the doctor must still report other lines if h5py is broken, and `init`,
    # which shares the CLI module, starts without numpy.
    import h5py
    import numpy as np

    path = root / f".doctor-{secrets.token_hex(4)}.h5"
    data = np.arange(64, dtype=np.float32).reshape(8, 8)
    try:
        with h5py.File(path, "w", locking=False) as out:
            out.create_dataset("probe", data=data, compression="gzip")
        with h5py.File(path, "r", locking=False) as back:
            same = bool(np.array_equal(back["probe"][...], data))
    finally:
        path.unlink(missing_ok=True)
    detail = f"h5py {h5py.__version__}, HDF5 {h5py.version.hdf5_version}, file locking disabled"
    return Line("HDF5 create/read", "pass" if same else "fail", detail if same else "read back differs: " + detail)


def _disk(root: Path) -> Line:
    free = shutil.disk_usage(root).free
    text = f"{free / 1024**3:.1f} GiB free at {root}"
    if free < MIN_FREE_BYTES:
        return Line("free disk", "fail", f"{text}; need at least {MIN_FREE_BYTES / 1024**3:.0f} GiB: free space or move the run")
    return Line("free disk", "pass", text)


def filesystem_checks(root: Path) -> list[Line]:
    """The run root (or the nearest existing parent) is writable, excludes leases, takes HDF5, has space."""
    target = root
    while not target.exists() and target != target.parent:
        target = target.parent
    if not os.access(target, os.W_OK):
        return [Line("run root writable", "fail", f"{target} is not writable by this user: choose another run root")]
    checks = {"run root writable": _writable, "lease exclusion": _lease, "HDF5 create/read": _hdf5, "free disk": _disk}
    return [_guarded(name, partial(check, target)) for name, check in checks.items()]


def _slurm_wanted(config: Config | None, force: bool) -> tuple[bool, str]:
    if force:
        return True, ""
    executor = "auto" if config is None else config.executor
    if executor == "local":
        return False, "executor is local: Slurm is not used by this run"
    if executor == "auto" and shutil.which("sbatch") is None:
        return False, "executor is auto and sbatch is not on PATH: this run will use the local executor"
    return True, ""


def run_doctor(root: Path, config: Config | None, *, force_slurm: bool = False) -> list[Line]:
    """Every preflight line for a run root; Slurm lines when the config's executor will use Slurm."""
    wanted, why_not = _slurm_wanted(config, force_slurm)
    lines = slurm_checks(config) if wanted else [Line("slurm", "skip", why_not)]
    return lines + filesystem_checks(root)
