"""Publishing immutable artifacts with a manifest written last, and reading them back verified.

Protocol (DESIGN.md §2.2): the artifact is written to a hidden temp file in its directory,
fsynced and renamed into place; then the manifest (file name, size, sha256, format version,
caller metadata) is written the same way and linked into place. A file without a manifest does
not exist for readers, and readers recompute size and sha256 before accepting anything, so a
writer killed at any point never leaves a file that readers accept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ringrift_hpc.store.atomic import (
    chunked,
    dump_json,
    ensure_dir,
    fsync_dir,
    is_temp_name,
    temp_path_for,
    write_temp,
)
from ringrift_hpc.store.errors import (
    CorruptArtifactError,
    NotPublishedError,
    PublishConflictError,
    StoreError,
)
from ringrift_hpc.store.versioned_json import parse_versioned_json

MANIFEST_FORMAT = "ringrift-hpc.manifest"
MANIFEST_VERSION = 1
MANIFEST_SUFFIX = ".json"
_HASH_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Manifest:
    """What a manifest file records about its artifact."""

    artifact: str  # file name of the artifact, in the manifest's directory
    size: int
    sha256: str
    created_at: str  # ISO 8601 UTC, written by the store; not part of the published identity
    metadata: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "format_version": MANIFEST_VERSION,
            "artifact": self.artifact,
            "size": self.size,
            "sha256": self.sha256,
            "created_at": self.created_at,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class Published:
    """A verified artifact: its path and its manifest."""

    path: Path
    manifest: Manifest

    @property
    def manifest_path(self) -> Path:
        return manifest_path(self.path)


@dataclass(frozen=True)
class Rejected:
    """A manifest or artifact that failed verification, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Listing:
    """What a directory holds, from a reader's point of view."""

    published: tuple[Published, ...]  # verified; the only thing readers may use
    corrupt: tuple[Rejected, ...]  # candidates for quarantine
    unmanifested: tuple[Path, ...]  # artifacts whose manifest never landed (crashed writer)
    temp_files: tuple[Path, ...]  # leftovers of interrupted writes; see clean_temp_files


def manifest_path(artifact: Path) -> Path:
    """`<name>.json` next to `<name>.<ext>`."""
    if artifact.suffix == MANIFEST_SUFFIX:
        raise StoreError(
            f"{artifact}: an artifact cannot end in {MANIFEST_SUFFIX}, which is the manifest's "
            "suffix; give the artifact another extension (e.g. .jsonl)"
        )
    return artifact.with_suffix(MANIFEST_SUFFIX)


def sha256_file(path: Path) -> tuple[int, str]:
    """(size, hex sha256) of a file, streamed."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def publish_bytes(path: Path, data: bytes, metadata: Mapping[str, Any] | None = None) -> Published:
    """Publish `data` as the immutable artifact `path` with a manifest carrying `metadata`.

    Publishing identical bytes and metadata again returns the existing record; anything else
    under an already published name raises `PublishConflictError`.
    """
    meta = _normalise_metadata(path, metadata)
    manifest_path(path)  # refuses a .json artifact before anything is written
    temp = write_temp(path, chunked(data))
    return _publish_temp(path, temp, len(data), hashlib.sha256(data).hexdigest(), meta)


def publish_file(path: Path, source: Path, metadata: Mapping[str, Any] | None = None) -> Published:
    """Publish the finished file `source` as `path`; `source` is moved (renamed) into place.

    Writers of large artifacts (HDF5 shards) should write `source` at `temp_path_for(path)`, so
    the move is a same-directory rename and readers ignore the file until it is published.
    """
    meta = _normalise_metadata(path, metadata)
    manifest_path(path)  # refuses a .json artifact before anything is written
    ensure_dir(path.parent)
    if source.parent != path.parent:
        # Another directory may be another filesystem: copy into a temp next to the target.
        temp = temp_path_for(path)
        shutil.copyfile(source, temp)
        source.unlink()
    else:
        temp = source
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    size, sha = sha256_file(temp)
    return _publish_temp(path, temp, size, sha, meta)


def read_manifest(path: Path, *, verify: bool = True) -> Published:
    """The published record of artifact `path`, checking size and sha256 when `verify`.

    Raises `NotPublishedError` when there is no manifest, `CorruptArtifactError` when the
    manifest or the artifact fails verification.
    """
    manifest = _load_manifest(manifest_path(path), expected_artifact=path.name)
    if verify:
        _verify_artifact(path, manifest)
    return Published(path=path, manifest=manifest)


def list_published(directory: Path, *, verify: bool = True, skip: Container[str] = ()) -> Listing:
    """Classify the files of one directory: published (verified), corrupt, unmanifested, temp.

    Manifests named in `skip` (of artifacts the caller read already) are left out of
    `published` unread, so a directory's known artifacts cost no reads.
    """
    if not directory.is_dir():
        return Listing((), (), (), ())
    published: list[Published] = []
    corrupt: list[Rejected] = []
    unmanifested: list[Path] = []
    temp_files: list[Path] = []
    names = sorted(entry.name for entry in os.scandir(directory) if entry.is_file(follow_symlinks=False))
    present = set(names)
    for name in names:
        path = directory / name
        if is_temp_name(name):
            temp_files.append(path)
        elif name.endswith(MANIFEST_SUFFIX):
            if name in skip:
                continue
            try:
                manifest = _load_manifest(path, expected_artifact=None)
                artifact = directory / manifest.artifact
                if manifest_path(artifact) != path:
                    raise CorruptArtifactError(
                        f"{path}: manifest names artifact {manifest.artifact!r}, whose manifest "
                        f"would be {manifest_path(artifact).name}; quarantine this manifest"
                    )
                if verify:
                    _verify_artifact(artifact, manifest)
                published.append(Published(path=artifact, manifest=manifest))
            except NotPublishedError:
                continue  # moved away (quarantined) after the directory was read
            except StoreError as error:
                corrupt.append(Rejected(path=path, reason=str(error)))
        elif path.with_suffix(MANIFEST_SUFFIX).name not in present:
            unmanifested.append(path)
    return Listing(tuple(published), tuple(corrupt), tuple(unmanifested), tuple(temp_files))


def _normalise_metadata(path: Path, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    # A JSON round trip gives the exact value a reader will see, so the idempotency
    # comparison cannot be fooled by tuples vs lists or int vs float keys.
    try:
        normalised: dict[str, Any] = json.loads(
            json.dumps(dict(metadata or {}), sort_keys=True, allow_nan=False)
        )
        return normalised
    except (TypeError, ValueError) as error:
        raise StoreError(
            f"{path}: metadata is not plain JSON ({error}); pass only str keys and "
            "str/int/float/bool/None/list/dict values without NaN or infinity"
        ) from None


def _publish_temp(path: Path, temp: Path, size: int, sha: str, meta: dict[str, Any]) -> Published:
    target_manifest = manifest_path(path)
    if target_manifest.exists():
        temp.unlink(missing_ok=True)
        return _existing_or_conflict(path, size, sha, meta)
    # An artifact without a manifest here is the leftover of a crashed writer (names are unique
    # per job, so no live writer shares it): no reader accepted it, so replacing it is safe.
    os.replace(temp, path)
    fsync_dir(path.parent)
    manifest = Manifest(
        artifact=path.name,
        size=size,
        sha256=sha,
        created_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        metadata=meta,
    )
    manifest_temp = write_temp(target_manifest, [dump_json(manifest.to_json())])
    try:
        # link(), unlike rename(), refuses to replace an existing name: of two concurrent
        # publishers of one name exactly one manifest lands and the other gets a conflict.
        os.link(manifest_temp, target_manifest)
    except FileExistsError:
        # NFS may answer EEXIST to a retransmitted link that did succeed; the link count tells.
        if os.stat(manifest_temp).st_nlink != 2:
            manifest_temp.unlink()
            return _existing_or_conflict(path, size, sha, meta)
    manifest_temp.unlink()
    fsync_dir(path.parent)
    return Published(path=path, manifest=manifest)


def _existing_or_conflict(path: Path, size: int, sha: str, meta: dict[str, Any]) -> Published:
    existing = read_manifest(path, verify=True)
    theirs = existing.manifest
    if theirs.sha256 == sha and theirs.size == size and dict(theirs.metadata) == meta:
        return existing
    what = "content" if theirs.sha256 != sha else "metadata"
    raise PublishConflictError(
        f"{path} is already published with different {what} (published sha256 "
        f"{theirs.sha256[:16]}..., size {theirs.size}; new sha256 {sha[:16]}..., size {size}). "
        "Published artifacts are immutable: publish under a new name (new task or generation), "
        "or keep volatile facts such as job ids and times out of the metadata"
    )


def _load_manifest(path: Path, *, expected_artifact: str | None) -> Manifest:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotPublishedError(
            f"{path} does not exist, so its artifact is not published (a writer may still be "
            "running or may have crashed before finishing); wait for it or re-run the job"
        ) from None
    fix = "quarantine the artifact and its manifest and re-run the job that made it"
    manifest = parse_manifest(
        raw, path, error=CorruptArtifactError, fix=fix, version_fix="use the ringrift-hpc version that wrote it"
    )
    if expected_artifact is not None and manifest.artifact != expected_artifact:
        raise CorruptArtifactError(
            f"{path}: field 'artifact' is {manifest.artifact!r}, expected {expected_artifact!r}; {fix}"
        )
    return manifest


def parse_manifest(
    raw: bytes, path: Path, *, error: type[Exception], fix: str, version_fix: str
) -> Manifest:
    """A manifest from its bytes (`path` only names it in errors); `error` for anything wrong."""
    doc = parse_versioned_json(
        raw,
        path,
        what="manifest",
        format_name=MANIFEST_FORMAT,
        version=MANIFEST_VERSION,
        error=error,
        fix=fix,
        version_fix=version_fix,
    )
    checks: dict[str, Callable[[Any], bool]] = {
        "artifact": lambda v: isinstance(v, str) and "/" not in v and v not in ("", ".", ".."),
        "size": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "sha256": lambda v: isinstance(v, str) and _SHA256.fullmatch(v) is not None,
        "created_at": lambda v: isinstance(v, str),
        "metadata": lambda v: isinstance(v, dict),
    }
    for field, ok in checks.items():
        if not ok(doc.get(field)):
            raise error(f"{path}: manifest field {field!r} is missing or invalid; {fix}")
    return Manifest(
        artifact=doc["artifact"],
        size=doc["size"],
        sha256=doc["sha256"],
        created_at=doc["created_at"],
        metadata=doc["metadata"],
    )


def _verify_artifact(path: Path, manifest: Manifest) -> None:
    fix = "quarantine the artifact and its manifest and re-run the job that made it"
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CorruptArtifactError(f"{path}: manifest exists but the artifact is missing; {fix}") from None
    if size != manifest.size:
        raise CorruptArtifactError(
            f"{path}: size is {size} bytes, manifest {manifest_path(path).name} says {manifest.size}; {fix}"
        )
    _, sha = sha256_file(path)
    if sha != manifest.sha256:
        raise CorruptArtifactError(
            f"{path}: sha256 is {sha}, manifest {manifest_path(path).name} says {manifest.sha256}; {fix}"
        )
