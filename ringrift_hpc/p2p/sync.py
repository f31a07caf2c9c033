"""Copying published artifacts between two run directories: local, behind a peer's HTTP API, or
on another machine through ssh (`ssh_run`).

Every copy is verified by sha256 and installed manifest last, so a sync can be interrupted at any
point and simply run again: installed artifacts are not copied twice, a blob staged with the
right hash is not transferred again, and temp files of an interrupted transfer are ignored.
Nothing is deleted unless pruning is asked for, and then only destination artifacts the source
does not have.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tarfile
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeAlias

from ringrift_hpc.p2p.artifacts import (
    ArtifactEntry,
    ArtifactIndex,
    InstallReply,
    InstallRequest,
    artifact_index,
    blob_path,
    install_artifact,
    missing_entries,
)
from ringrift_hpc.p2p.client import PeerClient, PeerError
from ringrift_hpc.p2p.ssh_run import SshRun
from ringrift_hpc.p2p.wire import WireError
from ringrift_hpc.store.atomic import ensure_dir, fsync_dir, temp_path_for
from ringrift_hpc.store.errors import CorruptArtifactError
from ringrift_hpc.store.layout import RunLayout
from ringrift_hpc.store.publish import sha256_file

Endpoint: TypeAlias = "RunLayout | PeerClient | SshRun"
_CHUNK = 1 << 20
_BATCH_FILES, _BATCH_BYTES = 256, 1 << 30


class SyncError(Exception):
    """A peer refused a step of the sync or answered something that is not an artifact index."""


@dataclass(frozen=True)
class SyncReport:
    """What a sync copied (or, in a dry run, would copy) and pruned, as paths relative to RUN."""

    copied: tuple[str, ...]
    skipped: int  # source artifacts the destination already had
    bytes: int
    pruned: tuple[str, ...]
    dry_run: bool
    pointers: tuple[str, ...] = ()  # pointer files written (best.json, promotions.jsonl, leaderboards)
    notes: tuple[str, ...] = ()  # what was left out on purpose, and why


async def sync_runs(
    src: Endpoint,
    dst: Endpoint,
    *,
    term: int = 0,
    prune: bool = False,
    dry_run: bool = False,
    on_copy: Callable[[ArtifactEntry], None] | None = None,
    only: Callable[[ArtifactEntry], bool] | None = None,
    scope: Callable[[ArtifactEntry], bool] | None = None,
) -> SyncReport:
    """Copy every artifact of `src` that `dst` lacks; with `prune`, delete what `src` lacks.

    `only` narrows the copy to the source artifacts it accepts (a worker fetching a job's
    inputs, or pushing just what its job made); pruning still compares whole indexes.
    `scope` narrows both sides (`sync --what models`): nothing outside it is copied or pruned.

    `term` goes with each install request to a remote `dst`, whose coordinator decides whether
    it may install (0: the sender claims no term). `on_copy` is called after each install.
    Raises `ArtifactConflictError` (local) or `SyncError` (remote) when `dst` has another
    artifact at a path, and `SyncError` for pruning a remote `dst`.
    """
    want = [entry for entry in await list_artifacts(src) if scope is None or scope(entry)]
    have = [entry for entry in await list_artifacts(dst) if scope is None or scope(entry)]
    to_copy = missing_entries(have, [e for e in want if only is None or only(e)])
    wanted_paths = {entry.path for entry in want}
    to_prune = [entry for entry in have if entry.path not in wanted_paths] if prune else []
    if to_prune and not isinstance(dst, RunLayout):
        raise SyncError(
            f"pruning {len(to_prune)} artifacts needs a local destination run directory, not "
            f"{endpoint_name(dst)}; run the sync with --prune on that machine, with this side as the source"
        )
    if dry_run:
        return SyncReport(
            copied=tuple(entry.artifact for entry in to_copy),
            skipped=len(want) - len(to_copy),
            bytes=sum(entry.size for entry in to_copy),
            pruned=tuple(entry.artifact for entry in to_prune),
            dry_run=True,
        )
    copied: list[str] = []
    async for entry in _copy_all(src, dst, to_copy, term):
        copied.append(entry.artifact)
        if on_copy is not None:
            on_copy(entry)
    pruned = []
    for entry in to_prune:
        assert isinstance(dst, RunLayout)  # refused above otherwise
        await asyncio.to_thread(_delete, dst, entry)
        pruned.append(entry.artifact)
    sizes = {entry.artifact: entry.size for entry in to_copy}
    return SyncReport(
        copied=tuple(copied),
        skipped=len(want) - len(copied),
        bytes=sum(sizes[path] for path in copied),
        pruned=tuple(pruned),
        dry_run=False,
    )


async def list_artifacts(endpoint: Endpoint) -> list[ArtifactEntry]:
    """The published artifacts of a run directory, or of a peer's (validated entry by entry)."""
    if isinstance(endpoint, RunLayout):
        return await asyncio.to_thread(artifact_index, endpoint)
    if isinstance(endpoint, SshRun):
        return await asyncio.to_thread(endpoint.artifact_index)
    try:
        return list(ArtifactIndex.from_json(await endpoint.get_json("/v1/artifacts")).artifacts)
    except WireError as error:
        raise SyncError(f"{_url(endpoint)}/v1/artifacts sent an invalid artifact index: {error}") from None


async def _copy_all(
    src: Endpoint, dst: Endpoint, entries: Sequence[ArtifactEntry], term: int
) -> AsyncIterator[ArtifactEntry]:
    """Copy `entries`, yielding each once it is installed (not those `dst` had meanwhile).

    Over ssh, artifacts go in batches, one remote command each (a tar stream), since every
    command costs a round trip and a session on the far side.
    """
    if isinstance(src, SshRun) and isinstance(dst, RunLayout):
        for batch in _batches(entries):
            await asyncio.to_thread(_prefetch, src, dst, batch)
            for entry in batch:  # each is staged now: installing it copies nothing more
                if await _copy(src, dst, entry, term):
                    yield entry
    elif isinstance(src, RunLayout) and isinstance(dst, SshRun):
        for batch in _batches(entries):
            uploads = [(entry, src.root / entry.artifact) for entry in batch]
            installed = await asyncio.to_thread(dst.install_many, uploads)
            for entry, done in zip(batch, installed, strict=True):
                if done:
                    yield entry
    else:
        for entry in entries:
            if await _copy(src, dst, entry, term):
                yield entry


def _batches(entries: Sequence[ArtifactEntry]) -> Iterator[list[ArtifactEntry]]:
    batch: list[ArtifactEntry] = []
    size = 0
    for entry in entries:
        if batch and (len(batch) >= _BATCH_FILES or size + entry.size > _BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry.size
    if batch:
        yield batch


def _prefetch(src: SshRun, dst: RunLayout, entries: Sequence[ArtifactEntry]) -> None:
    """Stage the blobs of `entries` at `dst` from one tar stream, each verified by sha256."""
    wanted = {entry.artifact: entry for entry in entries if not _staged(blob_path(dst, entry.sha256), entry)}
    if not wanted:
        return
    with src.open_tar(list(wanted)) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            entry = wanted.get(member.name)
            if entry is not None and member.isfile():
                _stage_member(tar, member, entry, f"{src}/{entry.artifact}", blob_path(dst, entry.sha256))


def _stage_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, entry: ArtifactEntry, where: str, dest: Path
) -> None:
    reader = tar.extractfile(member)
    assert reader is not None  # a regular file's member always has its data
    _copy_verified(lambda: reader, where, entry, dest)


async def _copy(src: Endpoint, dst: Endpoint, entry: ArtifactEntry, term: int) -> bool:
    """Copy one artifact; True if it was installed, False if `dst` had it meanwhile."""
    if isinstance(dst, RunLayout):
        stage = blob_path(dst, entry.sha256)
        if not await asyncio.to_thread(_staged, stage, entry):
            await _fetch(src, entry, stage)
        installed = await asyncio.to_thread(install_artifact, dst, entry, stage)
        if not installed:
            stage.unlink(missing_ok=True)
        return installed
    if isinstance(src, RunLayout):
        return await _upload(dst, entry, src.root / entry.artifact, term)
    with tempfile.TemporaryDirectory(prefix="ringrift-sync-") as scratch:
        local = Path(scratch) / entry.sha256
        await _fetch(src, entry, local)
        return await _upload(dst, entry, local, term)


def _staged(stage: Path, entry: ArtifactEntry) -> bool:
    """Whether an earlier, interrupted sync already staged this blob intact."""
    try:
        return sha256_file(stage) == (entry.size, entry.sha256)
    except FileNotFoundError:
        return False


async def _fetch(src: Endpoint, entry: ArtifactEntry, dest: Path) -> None:
    """Put `src`'s bytes of `entry` at `dest`, verified; a partial copy never sits at `dest`."""
    if isinstance(src, RunLayout):
        source = src.root / entry.artifact
        await asyncio.to_thread(_copy_verified, lambda: source.open("rb"), str(source), entry, dest)
        return
    if isinstance(src, SshRun):
        where = f"{src}/{entry.artifact}"
        await asyncio.to_thread(_copy_verified, lambda: src.open_artifact(entry), where, entry, dest)
        return
    # get_to_file writes a temp file and renames it only once the hash is right.
    await src.get_to_file(
        f"/v1/blobs/{entry.sha256}", dest, expected_sha256=entry.sha256, max_bytes=entry.size
    )


def _copy_verified(
    open_source: Callable[[], AbstractContextManager[IO[bytes]]],
    source: str,
    entry: ArtifactEntry,
    dest: Path,
) -> None:
    ensure_dir(dest.parent)
    temp = temp_path_for(dest)
    digest = hashlib.sha256()
    size = 0
    try:
        with open_source() as reader, temp.open("xb") as writer:
            while chunk := reader.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                writer.write(chunk)
            writer.flush()
            os.fsync(writer.fileno())
        if (size, digest.hexdigest()) != (entry.size, entry.sha256):
            raise CorruptArtifactError(
                f"{source}: size {size} sha256 {digest.hexdigest()[:16]}... does not match its manifest "
                f"(size {entry.size}, sha256 {entry.sha256[:16]}...); quarantine it in the source run "
                "and re-run the job that made it"
            )
        os.replace(temp, dest)
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(dest.parent)


async def _upload(dst: PeerClient | SshRun, entry: ArtifactEntry, source: Path, term: int) -> bool:
    if isinstance(dst, SshRun):
        return (await asyncio.to_thread(dst.install_many, [(entry, source)]))[0]
    try:
        await dst.put_file(f"/v1/blobs/{entry.sha256}", source)
        answer = await dst.post_json("/v1/artifacts", InstallRequest(term=term, entry=entry).to_json())
    except PeerError as error:
        raise SyncError(f"copying {entry.artifact} to the peer failed: {error}") from error
    try:
        return InstallReply.from_json(answer).installed
    except WireError as error:
        raise SyncError(f"{_url(dst)}/v1/artifacts answered an install badly: {error}") from None


def _delete(layout: RunLayout, entry: ArtifactEntry) -> None:
    """Unpublish (manifest first, so no reader sees an artifact without one), then delete."""
    manifest = layout.root / entry.path
    manifest.unlink(missing_ok=True)
    fsync_dir(manifest.parent)
    (layout.root / entry.artifact).unlink(missing_ok=True)
    fsync_dir(manifest.parent)


def _url(peer: PeerClient) -> str:
    return str(peer.base_url).rstrip("/")


def endpoint_name(endpoint: Endpoint) -> str:
    """How messages name an endpoint: its directory, `host:path` or URL."""
    if isinstance(endpoint, RunLayout):
        return str(endpoint.root)
    return _url(endpoint) if isinstance(endpoint, PeerClient) else str(endpoint)
