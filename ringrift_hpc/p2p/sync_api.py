"""`ringrift_hpc.sync`: copy a run between run directories, machines (`user@host:/path`) and P2P nodes.

Artifacts first (verified, manifest last, see `sync`), then the pointer files that make them
a run: `best.json` and the promotion history with the models, the leaderboards with the match
results (`sync_pointers`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, get_args

from ringrift_hpc.p2p.artifacts import ArtifactEntry
from ringrift_hpc.p2p.auth import AuthConfigError, Credentials, load_secret
from ringrift_hpc.p2p.client import PeerClient, PeerError
from ringrift_hpc.p2p.ssh_run import SshError, SshRun, parse_ssh_target
from ringrift_hpc.p2p.sync import Endpoint, SyncError, SyncReport, sync_runs
from ringrift_hpc.p2p.sync_pointers import BEST, HISTORY, POINTER_NAMES, check_no_controller, sync_pointers
from ringrift_hpc.store.layout import RunLayout

What = Literal["all", "models", "data", "ratings"]
WHATS: tuple[str, ...] = get_args(What)
DEFAULT_NODE_ID = "ringrift-sync"
# Artifact directories (variants/<v>/<dir>/...) and pointer files each choice covers.
_ARTIFACT_KINDS = {"models": ("models",), "data": ("selfplay",), "ratings": ("matches",)}
_POINTERS = {
    "models": (HISTORY, BEST),
    "data": (),
    "ratings": tuple(n for n in POINTER_NAMES if "leaderboard" in n),
}
_URL_SCHEMES = ("http://", "https://")


def sync(
    src: str | Path,
    dst: str | Path,
    what: What = "all",
    *,
    prune: bool = False,
    dry_run: bool = False,
    token_file: str | Path | None = None,
    node_id: str = DEFAULT_NODE_ID,
    ssh_command: Sequence[str] = ("ssh",),
    on_copy: Callable[[ArtifactEntry], None] | None = None,
) -> SyncReport:
    """Copy what `src` has and `dst` lacks (see `ringrift_hpc.sync`); SyncError on a bad argument."""
    if what not in WHATS:
        raise SyncError(f"what={what!r} is not one of {', '.join(WHATS)}; pick one of them")
    src_text, dst_text = str(src), str(dst)
    if src_text.rstrip("/") == dst_text.rstrip("/"):
        raise SyncError(f"SRC and DST are both {src_text}; name two different runs, machines or nodes")
    creds = _credentials((src_text, dst_text), token_file, node_id)
    try:
        return asyncio.run(_sync(src_text, dst_text, what, creds, ssh_command, prune, dry_run, on_copy))
    except (PeerError, SshError) as error:
        raise SyncError(str(error)) from None


def _credentials(sides: Sequence[str], token_file: str | Path | None, node_id: str) -> Credentials | None:
    if not any(side.startswith(_URL_SCHEMES) for side in sides):
        return None
    if token_file is None:
        raise SyncError(
            "a peer URL needs a token file (--token-file): the same shared token file the P2P nodes use"
        )
    try:
        return Credentials(node_id, load_secret(Path(token_file)))
    except AuthConfigError as error:
        raise SyncError(str(error)) from None


def open_endpoint(text: str, creds: Credentials | None, ssh_command: Sequence[str], *, what: str) -> Endpoint:
    """A run directory, `[user@]host:path` (through ssh) or a P2P node's URL."""
    if text.startswith(_URL_SCHEMES):
        if creds is None:
            raise SyncError(f"{what} {text} is a peer URL and needs a token file")
        return PeerClient(text, creds)
    remote = parse_ssh_target(text)
    if remote is not None:
        return SshRun(*remote, ssh_command=ssh_command)
    layout = RunLayout(Path(text))
    if not layout.run_config.is_file():
        raise SyncError(
            f"{what} {text} is not a run directory (no {layout.run_config.name}); create it with "
            "`ringrift-hpc init RUN --config CONFIG.yaml` using the same config as the other run"
        )
    return layout


async def close_endpoint(endpoint: Endpoint) -> None:
    if isinstance(endpoint, PeerClient):
        await endpoint.close()
    elif isinstance(endpoint, SshRun):
        await asyncio.to_thread(endpoint.close)


async def _sync(
    src_text: str,
    dst_text: str,
    what: What,
    creds: Credentials | None,
    ssh_command: Sequence[str],
    prune: bool,
    dry_run: bool,
    on_copy: Callable[[ArtifactEntry], None] | None,
) -> SyncReport:
    opened: list[Endpoint] = []
    try:
        src = open_endpoint(src_text, creds, ssh_command, what="SRC")
        opened.append(src)
        dst = open_endpoint(dst_text, creds, ssh_command, what="DST")
        opened.append(dst)
        return await sync_endpoints(src, dst, what, prune=prune, dry_run=dry_run, on_copy=on_copy)
    finally:
        for endpoint in opened:
            await close_endpoint(endpoint)


async def sync_endpoints(
    src: Endpoint,
    dst: Endpoint,
    what: What = "all",
    *,
    prune: bool = False,
    dry_run: bool = False,
    on_copy: Callable[[ArtifactEntry], None] | None = None,
) -> SyncReport:
    """Artifacts of the kinds `what` names, then their pointer files (not through a P2P node)."""
    chosen = WHATS[1:] if what == "all" else (what,)
    kinds = {kind for choice in chosen for kind in _ARTIFACT_KINDS[choice]}
    names = [name for name in POINTER_NAMES if any(name in _POINTERS[choice] for choice in chosen)]
    notes = []
    if names and (isinstance(src, PeerClient) or isinstance(dst, PeerClient)):
        notes.append(
            "pointer files (best.json, promotions.jsonl, leaderboards) were not copied: a P2P node's are "
            "written by its coordinator, which replicates them; sync them between run directories"
        )
        names = []
    if names:
        assert not isinstance(dst, PeerClient)  # cleared above
        await check_no_controller(dst)
    report = await sync_runs(
        src,
        dst,
        prune=prune,
        dry_run=dry_run,
        on_copy=on_copy,
        scope=lambda entry: entry.path.split("/")[2] in kinds,
    )
    pointers: tuple[str, ...] = ()
    if names:
        assert not isinstance(src, PeerClient) and not isinstance(dst, PeerClient)
        pointers = await sync_pointers(src, dst, names, copied=report.copied, dry_run=dry_run)
    return dataclasses.replace(report, pointers=pointers, notes=tuple(notes))
