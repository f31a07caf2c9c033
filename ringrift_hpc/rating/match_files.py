"""Match files: one immutable JSONL file of game groups per evaluation task, published via the store.

Line 1 is a header (format, version, variant, group count); every further line is one group
(`MatchGroup.to_json`). The file lives at `variants/<variant>/matches/<eval>/<task>.jsonl` with
its manifest; readers only see it once the manifest has landed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringrift_hpc.rating.records import CrossVariantError, MatchGroup, MatchRecordError, group_from_json
from ringrift_hpc.store import (
    NotPublishedError,
    Published,
    QuarantineRecord,
    RunLayout,
    list_published,
    publish_bytes,
    quarantine,
)

MATCH_FORMAT = "ringrift-hpc.matches"
MATCH_FORMAT_VERSION = 1
ARTIFACT_SUFFIX = ".jsonl"


class MatchFileError(ValueError):
    """A match file cannot be read: bad header, bad line, wrong variant or count."""


def encode_match_file(variant: str, groups: Sequence[MatchGroup]) -> bytes:
    """The bytes of a match file; refuses an empty file and groups of another variant."""
    if not groups:
        raise MatchRecordError(
            f"no game groups to write for {variant}: a task that played nothing failed; "
            "report the task as failed instead of publishing an empty match file"
        )
    for number, group in enumerate(groups):
        if group.variant.name != variant:
            raise CrossVariantError(
                f"group {number} is a {group.variant} group but the match file is for {variant}; "
                "write each variant's groups into that variant's match file"
            )
    header = {
        "format": MATCH_FORMAT,
        "format_version": MATCH_FORMAT_VERSION,
        "variant": variant,
        "groups": len(groups),
    }
    lines = [header, *(group.to_json() for group in groups)]
    return "".join(json.dumps(line, sort_keys=True, allow_nan=False) + "\n" for line in lines).encode("utf-8")


def decode_match_file(path: Path, data: bytes, *, variant: str) -> tuple[MatchGroup, ...]:
    """Parse and validate a match file's bytes; every error names `path`, the line and the field."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MatchFileError(f"{path}: not UTF-8 text ({error})") from None
    lines = text.split("\n")
    if lines[-1] != "":
        raise MatchFileError(f"{path}: the last line is not terminated; the file is truncated")
    docs: list[Any] = []
    for number, line in enumerate(lines[:-1], start=1):
        try:
            docs.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise MatchFileError(f"{path}:{number}: not valid JSON ({error})") from None
    if not docs or not isinstance(docs[0], dict) or docs[0].get("format") != MATCH_FORMAT:
        raise MatchFileError(f"{path}:1: not a {MATCH_FORMAT} file (field 'format' of the header line)")
    header = docs[0]
    if header.get("format_version") != MATCH_FORMAT_VERSION:
        raise MatchFileError(
            f"{path}:1: field 'format_version' is {header.get('format_version')!r}, this ringrift-hpc reads "
            f"version {MATCH_FORMAT_VERSION}; read it with the version that wrote it"
        )
    if header.get("variant") != variant:
        raise MatchFileError(
            f"{path}:1: field 'variant' is {header.get('variant')!r} but the file lies under variant {variant}; "
            "match files of one variant must not be moved to another"
        )
    if header.get("groups") != len(docs) - 1:
        raise MatchFileError(
            f"{path}:1: field 'groups' says {header.get('groups')!r} but the file holds {len(docs) - 1} groups"
        )
    groups = []
    for number, doc in enumerate(docs[1:], start=2):
        try:
            group = group_from_json(doc, where=f"{path}:{number}")
        except ValueError as error:
            raise MatchFileError(str(error)) from None
        if group.variant.name != variant:
            raise MatchFileError(
                f"{path}:{number}: field 'variant' is {group.variant}, the file is for {variant}"
            )
        groups.append(group)
    return tuple(groups)


def publish_match_file(
    layout: RunLayout,
    variant: str,
    eval_id: str,
    task: str,
    groups: Sequence[MatchGroup],
    *,
    cpu_seconds: float | None = None,
) -> Published:
    """Publish the groups one task played as its immutable match file; the manifest's metadata
    records `cpu_seconds`, the CPU time the task used, when given (the file's lines never do).

    Publishing the same groups (and CPU seconds) again is a no-op (the store compares content);
    different groups under the same task name raise `PublishConflictError`.
    """
    data = encode_match_file(variant, groups)
    path = layout.match_file(variant, eval_id, task)
    games = sum(len(group.games) for group in groups)
    metadata: dict[str, Any] = {"kind": "matches", "variant": variant, "groups": len(groups), "games": games}
    if cpu_seconds is not None:
        metadata["cpu_seconds"] = cpu_seconds
    return publish_bytes(path, data, metadata)


class MatchCache:
    """Decoded groups of published match files, by path: a published match file never changes,
    so a process decodes each once (a refit reads thousands of files at every new result)."""

    def __init__(self) -> None:
        self._groups: dict[Path, tuple[MatchGroup, ...]] = {}

    def add(self, path: Path, groups: tuple[MatchGroup, ...]) -> None:
        """Keep groups decoded elsewhere (by the ingest that verified the file)."""
        self._groups[path] = groups

    def groups(self, path: Path, variant: str) -> tuple[MatchGroup, ...]:
        """The file's groups, decoded on the first call (`MatchFileError` when it cannot be read)."""
        cached = self._groups.get(path)
        if cached is None:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise MatchFileError(
                    f"{path}: this match file was ingested but is gone; only the controller may move "
                    "match files: restore it from a replica or the quarantine"
                ) from None
            cached = self._groups[path] = decode_match_file(path, data, variant=variant)
        return cached


@dataclass(frozen=True)
class MatchFile:
    """The groups of one published match file."""

    path: Path
    eval_id: str
    groups: tuple[MatchGroup, ...]


@dataclass(frozen=True)
class MatchHistory:
    """Every readable match file of a variant, and what was quarantined while reading."""

    variant: str
    files: tuple[MatchFile, ...]  # ordered by evaluation id, then task
    quarantined: tuple[QuarantineRecord, ...]

    @property
    def groups(self) -> tuple[MatchGroup, ...]:
        return tuple(group for file in self.files for group in file.groups)


def load_match_history(layout: RunLayout, variant: str) -> MatchHistory:
    """Load every published match file of `variant`, quarantining the unreadable ones.

    Only the single writer (the controller) may call this, because quarantining moves files.
    Files without a manifest and temp files are skipped: their writer may still be running.
    """
    files: list[MatchFile] = []
    moved: list[QuarantineRecord] = []
    root = layout.matches_root(variant)
    eval_dirs = sorted(entry for entry in root.iterdir() if entry.is_dir()) if root.is_dir() else []
    for eval_dir in eval_dirs:
        listing = list_published(eval_dir)
        for rejected in listing.corrupt:
            artifact = rejected.path.with_suffix(ARTIFACT_SUFFIX)
            target = artifact if artifact.exists() else rejected.path
            moved.append(quarantine(layout, target, rejected.reason))
        for published in listing.published:
            if published.path.suffix != ARTIFACT_SUFFIX:
                continue
            try:
                groups = decode_match_file(published.path, published.path.read_bytes(), variant=variant)
            except FileNotFoundError:
                raise NotPublishedError(
                    f"{published.path} vanished while being read; only the controller may move match files"
                ) from None
            except MatchFileError as error:
                moved.append(quarantine(layout, published.path, str(error)))
                continue
            files.append(MatchFile(path=published.path, eval_id=eval_dir.name, groups=groups))
    return MatchHistory(variant=variant, files=tuple(files), quarantined=tuple(moved))
