"""Copying a run's pointer files (`best.json`, `promotions.jsonl`, the leaderboards) after its artifacts.

Pointer files are mutable and have one writer, the run's controller, so they are copied only to
a run whose controller is not running, each replaced atomically. The promotion history is only
ever extended: a destination whose history is not a prefix of the source's has decisions of its
own, and the sync stops rather than lose them. `promotions.jsonl` goes before `best.json` (the
history is never behind the pointer, as `rating.best` keeps it), and `best.json` only once its
model is at the destination.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from ringrift_hpc.p2p.artifacts import artifact_index
from ringrift_hpc.p2p.replica import check_pointer_relpath
from ringrift_hpc.p2p.ssh_run import SshRun
from ringrift_hpc.p2p.sync import SyncError, endpoint_name
from ringrift_hpc.store.atomic import atomic_write_bytes
from ringrift_hpc.store.layout import RunLayout
from ringrift_hpc.store.lease import LeaseRecord, parse_lease, read_lease

HISTORY = "promotions.jsonl"
BEST = "best.json"
# In the order they are written within a variant.
POINTER_NAMES = (HISTORY, BEST, "leaderboard.json", "leaderboard.md", "leaderboard.csv")

LocalOrSsh = RunLayout | SshRun


async def read_side(endpoint: LocalOrSsh, names: Sequence[str]) -> tuple[dict[str, bytes], set[str]]:
    """(relpath -> content of each pointer file called one of `names`, published artifact paths)."""
    if isinstance(endpoint, RunLayout):
        pointers = await asyncio.to_thread(_local_pointers, endpoint, names)
        artifacts = await asyncio.to_thread(artifact_index, endpoint)
    else:
        snapshot = await asyncio.to_thread(endpoint.snapshot)
        pointers = {path: data for path, data in snapshot.contents.items() if _is_pointer(path, names)}
        artifacts = snapshot.artifact_index()
    return pointers, {entry.artifact for entry in artifacts}


def _local_pointers(layout: RunLayout, names: Sequence[str]) -> dict[str, bytes]:
    found = {}
    if layout.variants_dir.is_dir():
        for variant in sorted(layout.variants_dir.iterdir()):
            for name in names:
                path = variant / name
                if path.is_file():
                    found[f"variants/{variant.name}/{name}"] = path.read_bytes()
    return found


def _is_pointer(path: str, names: Sequence[str]) -> bool:
    parts = PurePosixPath(path).parts
    return len(parts) == 3 and parts[0] == "variants" and parts[2] in names


async def controller_lease(endpoint: LocalOrSsh) -> LeaseRecord | None:
    """The run's controller lease, if it has one."""
    if isinstance(endpoint, RunLayout):
        return await asyncio.to_thread(read_lease, endpoint.lease)
    raw = (await asyncio.to_thread(endpoint.snapshot)).contents.get("controller.lease")
    return None if raw is None else parse_lease(raw, Path(f"{endpoint}/controller.lease"))


def plan_pointers(
    src: Mapping[str, bytes],
    dst: Mapping[str, bytes],
    models_at_dst: set[str],
    *,
    src_name: str,
    dst_name: str,
) -> list[tuple[str, bytes]]:
    """The pointer files to write at the destination, in writing order; SyncError if one may not be.

    `models_at_dst` holds the artifact paths the destination has once the artifacts are copied.
    """
    writes = []
    for relpath in sorted(src, key=_write_order):
        check_pointer_relpath(relpath)
        data, held = src[relpath], dst.get(relpath)
        if held == data:
            continue
        _, variant, name = relpath.split("/")
        if name == HISTORY and held is not None and not data.startswith(held):
            raise SyncError(
                f"{dst_name}/{relpath} holds promotion decisions that {src_name} lacks, so the two runs "
                "have diverged; nothing was written to the pointer files: copy the other way first, or "
                "move the destination's history aside if its decisions may be lost"
            )
        if name == BEST:
            model = f"variants/{variant}/models/{_model_id(data, f'{src_name}/{relpath}')}.pt"
            if model not in models_at_dst:
                raise SyncError(
                    f"{src_name}/{relpath} names {model}, which {dst_name} lacks; sync with what='models' "
                    "(or 'all') so the model is copied with its pointer"
                )
        writes.append((relpath, data))
    return writes


def _write_order(relpath: str) -> tuple[str, int]:
    _, variant, name = relpath.split("/")
    return variant, POINTER_NAMES.index(name) if name in POINTER_NAMES else len(POINTER_NAMES)


def _model_id(best: bytes, where: str) -> str:
    try:
        model_id = json.loads(best)["model_id"]
    except (ValueError, TypeError, KeyError):
        model_id = None
    if not isinstance(model_id, str) or not model_id:
        raise SyncError(f"{where} is not a best pointer with a model_id; repair the source run first")
    return model_id


async def check_no_controller(dst: LocalOrSsh) -> None:
    """SyncError while a controller holds `dst`'s lease: its pointer files are its own to write."""
    lease = await controller_lease(dst)
    if lease is not None and lease.live(time.time()):
        raise SyncError(
            f"a controller runs on {endpoint_name(dst)} ({lease.describe()}) and writes its pointer files; "
            "stop it first, or sync only artifacts with what='data'"
        )


async def sync_pointers(
    src: LocalOrSsh, dst: LocalOrSsh, names: Sequence[str], *, copied: Sequence[str], dry_run: bool
) -> tuple[str, ...]:
    """Copy `src`'s pointer files called one of `names` that differ at `dst`, after the artifacts
    (`copied`: those the sync copied, or in a dry run would copy); the paths written (or, in a dry
    run, that would be)."""
    if not names:
        return ()
    src_pointers, _ = await read_side(src, names)
    dst_pointers, dst_artifacts = await read_side(dst, names)
    plan = plan_pointers(
        src_pointers,
        dst_pointers,
        dst_artifacts | set(copied),
        src_name=endpoint_name(src),
        dst_name=endpoint_name(dst),
    )
    if plan and not dry_run:
        if isinstance(dst, RunLayout):
            for relpath, data in plan:
                await asyncio.to_thread(atomic_write_bytes, dst.root / relpath, data)
        else:
            await asyncio.to_thread(dst.write_files, plan)
    return tuple(relpath for relpath, _ in plan)
