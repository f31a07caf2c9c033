"""Published artifacts as a list that peers exchange, and installing one copied from a peer.

An index entry carries the manifest's text, so the receiving run directory gets a byte-identical
manifest; the artifact bytes travel separately as a blob named by its sha256 and are verified
before anything is installed. Installing follows the publish order (artifact, then manifest
last), so a reader never accepts a half-installed artifact.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import BeforeValidator, model_validator

from ringrift_hpc.p2p.wire import WIRE_VERSION, Count, Flag, Sha256, Text, Version, WireModel, list_as_tuple
from ringrift_hpc.store.atomic import dump_json, ensure_dir, fsync_dir, is_temp_name, write_temp
from ringrift_hpc.store.errors import CorruptArtifactError, StoreError
from ringrift_hpc.store.layout import RunLayout
from ringrift_hpc.store.names import check_component, check_variant
from ringrift_hpc.store.publish import (
    MANIFEST_SUFFIX,
    Manifest,
    parse_manifest,
    read_manifest,
    sha256_file,
)

BLOBS_DIR = PurePosixPath("p2p/blobs")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# variants/<variant>/models/<file>, .../selfplay/<generation>/<file>, .../matches/<eval>/<file>
_ARTIFACT_DIRS = {"models": 4, "selfplay": 5, "matches": 5}


class ArtifactConflictError(StoreError):
    """A different artifact is already published at the path being installed."""


class ArtifactEntry(WireModel):
    """One published artifact as listed by a peer: safe paths, and a manifest that agrees."""

    WHAT = "artifact entry"
    path: Text  # manifest path relative to RUN, posix
    artifact: Text  # artifact path relative to RUN
    sha256: Sha256
    size: Count
    manifest: Text  # the manifest file's text

    @model_validator(mode="after")
    def _safe_and_agreeing(self) -> ArtifactEntry:
        check_entry(self)
        return self


class ArtifactIndex(WireModel):
    """GET /v1/artifacts: every artifact the node publishes."""

    WHAT = "artifact index"
    v: Version = WIRE_VERSION
    artifacts: Annotated[tuple[ArtifactEntry, ...], BeforeValidator(list_as_tuple)]


class InstallRequest(WireModel):
    """POST /v1/artifacts: install `entry`, whose blob was uploaded; `term` is the sender's (0: none)."""

    WHAT = "artifact install"
    v: Version = WIRE_VERSION
    term: Count
    entry: ArtifactEntry


class InstallReply(WireModel):
    """`installed` False: the node already had the artifact."""

    WHAT = "artifact install reply"
    v: Version = WIRE_VERSION
    installed: Flag


def check_relpath(text: str) -> PurePosixPath:
    """`text` as a safe relative posix path under `variants/`; ValueError naming it otherwise."""
    fix = "send a posix path relative to the run directory, such as variants/<variant>/models/<file>"
    if not isinstance(text, str):
        raise ValueError(f"path {text!r} is not a string; {fix}")
    if "\\" in text or "\x00" in text:
        raise ValueError(f"path {text!r} contains a backslash or NUL; {fix}")
    if text.startswith("/"):
        raise ValueError(f"path {text!r} is absolute; {fix}")
    parts = text.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"path {text!r} has an empty, '.' or '..' component; {fix}")
    if parts[0] != "variants" or len(parts) < 2:
        raise ValueError(f"path {text!r} is not under variants/; {fix}")
    return PurePosixPath(text)


def check_entry(entry: ArtifactEntry) -> Manifest:
    """The entry's parsed manifest, after checking its paths, digest and manifest agree."""
    check_entry_paths(entry)
    where = f"artifact entry {entry.path!r}"
    manifest = parse_manifest_text(entry.manifest, where=where)
    name = PurePosixPath(entry.artifact).name
    if (manifest.artifact, manifest.sha256, manifest.size) != (name, entry.sha256, entry.size):
        raise ValueError(
            f"{where}: its manifest names {manifest.artifact!r} sha256 {manifest.sha256[:16]}... size "
            f"{manifest.size}, the entry {name!r} sha256 {entry.sha256[:16]}... size {entry.size}; "
            "send the entry built from that manifest"
        )
    return manifest


def check_entry_paths(entry: ArtifactEntry) -> None:
    """Refuse an entry whose paths or digest could place anything outside an artifact directory.

    Only the artifact directories of the layout are accepted, so a peer can never install
    over a pointer file (best.json, leaderboards) or anywhere else.
    """
    where = f"artifact entry {entry.path!r}"
    path = check_relpath(entry.path)
    artifact = check_relpath(entry.artifact)
    parts = path.parts
    kind = parts[2] if len(parts) > 2 else ""
    if _ARTIFACT_DIRS.get(kind) != len(parts):
        raise ValueError(
            f"{where}: not an artifact path; use variants/<variant>/models/<file>, "
            "variants/<variant>/selfplay/<generation>/<file> or variants/<variant>/matches/<eval>/<file>"
        )
    check_variant(parts[1])
    for component in parts[3:]:
        check_component(component, what=f"{where}: path component")
    if (
        path.suffix != MANIFEST_SUFFIX
        or artifact.parent != path.parent
        or artifact.with_suffix(MANIFEST_SUFFIX) != path
    ):
        raise ValueError(
            f"{where}: artifact {entry.artifact!r} does not belong to manifest {entry.path!r}; the manifest "
            f"must be the artifact's path with the suffix {MANIFEST_SUFFIX} in the same directory"
        )
    check_component(artifact.name, what=f"{where}: artifact name")
    if _SHA256.fullmatch(entry.sha256) is None:
        raise ValueError(f"{where}: field 'sha256' is {entry.sha256!r}; use 64 lower-case hex characters")


def parse_manifest_text(text: str, *, where: str) -> Manifest:
    """A manifest from its text, with the checks the store applies to a manifest file."""
    return parse_manifest(
        text.encode("utf-8"),
        Path(where),
        error=ValueError,
        fix="send the manifest file's text unchanged",
        version_fix="run the same ringrift-hpc version on every node",
    )


def artifact_index(layout: RunLayout) -> list[ArtifactEntry]:
    """Every published artifact of the run (manifest parses, artifact present), sorted by path.

    Trusts the manifests (no hashing): this runs on every index request, and installing
    verifies the bytes anyway. Temp files, unmanifested files and quarantine are left out.
    """
    entries = []
    for directory in _artifact_dirs(layout):
        for name in sorted(os.listdir(directory)):
            if not name.endswith(MANIFEST_SUFFIX) or is_temp_name(name):
                continue
            entry = _local_entry(layout, directory / name)
            if entry is not None:
                entries.append(entry)
    return sorted(entries, key=lambda entry: entry.path)


def missing_entries(have: Sequence[ArtifactEntry], want: Sequence[ArtifactEntry]) -> list[ArtifactEntry]:
    """The entries of `want` that `have` lacks or holds with another identity (a conflict)."""
    held = {entry.path: _identity(entry) for entry in have}
    return [entry for entry in want if held.get(entry.path) != _identity(entry)]


def blob_path(layout: RunLayout, sha256: str) -> Path:
    """Where a blob with this sha256 is staged before it is installed: RUN/p2p/blobs/<sha256>."""
    if not isinstance(sha256, str) or _SHA256.fullmatch(sha256) is None:
        raise ValueError(f"blob name {sha256!r} is not a sha256 digest; use 64 lower-case hex characters")
    return layout.root.joinpath(*BLOBS_DIR.parts, sha256)


def clean_stale_blobs(layout: RunLayout, *, min_age_s: float, clock: Callable[[], float] = time.time) -> list[Path]:
    """Remove staged blobs and transfer temp files older than `min_age_s`: uploads whose install
    never came. A young one may belong to a transfer still running, hence the age."""
    folder = layout.root.joinpath(*BLOBS_DIR.parts)
    if not folder.is_dir():
        return []
    now = clock()
    removed = []
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False) and now - entry.stat(follow_symlinks=False).st_mtime >= min_age_s:
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return sorted(removed)


def install_artifact(layout: RunLayout, entry: ArtifactEntry, blob: Path) -> bool:
    """Install the verified `blob` as `entry`'s artifact, then its manifest; False if already there.

    The blob is moved (renamed) into place, so it should lie on the run's filesystem (see
    `blob_path`). Raises `ArtifactConflictError` when another artifact is published at the path,
    `CorruptArtifactError` when the blob or the manifest does not match the entry, ValueError
    when the entry's paths are unsafe; in every failure nothing is installed. Published files
    are never replaced or deleted.
    """
    check_entry_paths(entry)
    try:
        manifest = check_entry(entry)
    except ValueError as error:
        raise CorruptArtifactError(str(error)) from None
    artifact = layout.root / entry.artifact
    target_manifest = layout.root / entry.path
    if target_manifest.exists():
        return _already_installed(artifact, manifest)
    try:
        size, sha = sha256_file(blob)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{blob}: the blob of {entry.artifact} was not staged; upload it first"
        ) from None
    if (size, sha) != (entry.size, entry.sha256):
        raise CorruptArtifactError(
            f"{blob}: blob has size {size} sha256 {sha[:16]}..., entry {entry.artifact} says size "
            f"{entry.size} sha256 {entry.sha256[:16]}...; the copy was damaged in transit, copy it again"
        )
    ensure_dir(artifact.parent)
    # An artifact here without a manifest is a crashed writer's leftover that no reader
    # accepted, so replacing it is as safe as in publish.
    os.replace(blob, artifact)
    fsync_dir(artifact.parent)
    fsync_dir(blob.parent)
    manifest_temp = write_temp(target_manifest, [entry.manifest.encode("utf-8")])
    try:
        # link() refuses an existing name, so a concurrent installer cannot be overwritten.
        os.link(manifest_temp, target_manifest)
    except FileExistsError:
        if os.stat(manifest_temp).st_nlink != 2:
            return _already_installed(artifact, manifest)
    finally:
        manifest_temp.unlink(missing_ok=True)
    fsync_dir(target_manifest.parent)
    return True


def _already_installed(artifact: Path, manifest: Manifest) -> bool:
    existing = read_manifest(artifact, verify=True).manifest
    if _manifest_identity(existing) != _manifest_identity(manifest):
        raise ArtifactConflictError(_conflict(str(artifact), existing, manifest))
    return False


def _artifact_dirs(layout: RunLayout) -> list[Path]:
    if not layout.variants_dir.is_dir():
        return []
    dirs = []
    for variant in sorted(layout.variants_dir.iterdir()):
        dirs.append(variant / "models")
        for kind in ("selfplay", "matches"):
            parent = variant / kind
            if parent.is_dir():
                dirs.extend(sorted(path for path in parent.iterdir() if path.is_dir()))
    return [path for path in dirs if path.is_dir() and not path.is_symlink()]


def _local_entry(layout: RunLayout, manifest_file: Path) -> ArtifactEntry | None:
    """The entry of one manifest, or None when it is not a valid published artifact."""
    try:
        text = manifest_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # quarantined meanwhile or unreadable: not published, so not listed
    return entry_from_manifest(
        layout.relative(manifest_file).as_posix(), text, lambda artifact: (layout.root / artifact).is_file()
    )


def entry_from_manifest(path: str, text: str, artifact_exists: Callable[[str], bool]) -> ArtifactEntry | None:
    """The entry of the manifest at `path` (relative to RUN) with content `text`, or None when it is
    not a valid published artifact (corrupt manifest, or `artifact_exists` says its artifact is gone)."""
    try:
        manifest = parse_manifest_text(text, where=path)
        artifact = (PurePosixPath(path).parent / manifest.artifact).as_posix()
        if not artifact_exists(artifact):
            return None
        return ArtifactEntry(
            path=path, artifact=artifact, sha256=manifest.sha256, size=manifest.size, manifest=text
        )
    except ValueError:
        return None


def is_manifest_relpath(path: str) -> bool:
    """Whether `path` (relative to RUN, posix) lies where a published artifact's manifest lies."""
    parts = PurePosixPath(path).parts
    return (
        len(parts) > 2
        and parts[0] == "variants"
        and _ARTIFACT_DIRS.get(parts[2]) == len(parts)
        and path.endswith(MANIFEST_SUFFIX)
        and not is_temp_name(parts[-1])
    )


def check_same_artifact(existing_manifest: str, entry: ArtifactEntry, *, where: str) -> None:
    """Raise `ArtifactConflictError` unless the manifest published at `where` is `entry`'s artifact."""
    existing = parse_manifest_text(existing_manifest, where=where)
    manifest = parse_manifest_text(entry.manifest, where=entry.path)
    if _manifest_identity(existing) != _manifest_identity(manifest):
        raise ArtifactConflictError(_conflict(where, existing, manifest))


def _conflict(where: str, existing: Manifest, manifest: Manifest) -> str:
    return (
        f"{where} is already published with sha256 {existing.sha256[:16]}... size {existing.size}, "
        f"the copy has sha256 {manifest.sha256[:16]}... size {manifest.size}; published artifacts are "
        "immutable: find out which node published the other one (the run directories have diverged)"
    )


def _manifest_identity(manifest: Manifest) -> tuple[str, str, int, str]:
    # created_at is not part of the published identity (see store.publish).
    return manifest.artifact, manifest.sha256, manifest.size, _canonical(manifest.metadata)


def _identity(entry: ArtifactEntry) -> tuple[str, str, int, str]:
    return _manifest_identity(parse_manifest_text(entry.manifest, where=entry.path))


def _canonical(metadata: Mapping[str, Any]) -> str:
    return dump_json(dict(metadata)).decode("utf-8")
