"""ringrift-hpc: the AlphaZero-style self-improvement loop for RingRift on HPC clusters."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ringrift_hpc.p2p.sync import SyncReport

__version__ = "0.1.0"
__all__ = ["__version__", "sync"]


def sync(
    src: str | Path,
    dst: str | Path,
    what: Literal["all", "models", "data", "ratings"] = "all",
    *,
    prune: bool = False,
    dry_run: bool = False,
    token_file: str | Path | None = None,
    ssh_command: Sequence[str] = ("ssh",),
) -> SyncReport:
    """Copy a run's published files from `src` to `dst`; safe to interrupt and to run again.

    `src` and `dst` are each a run directory, `[user@]host:/path` (a run directory on another
    machine, through the system's `ssh`; nothing but a POSIX shell is needed there) or a P2P
    node's `http(s)://HOST:PORT` (with `token_file`). `what` picks: `models` (weights,
    `best.json`, `promotions.jsonl`), `data` (selfplay shards), `ratings` (match results and
    the leaderboards) or `all`. Each artifact is verified by sha256 and published manifest last;
    pointer files are replaced atomically, only while no controller runs on `dst`, and only when
    `dst`'s promotion history is a prefix of `src`'s. Nothing is deleted unless `prune`, and then
    only `dst` artifacts of the chosen kinds that `src` lacks. `ssh_command` replaces `ssh`
    (e.g. `("ssh", "-F", "my_config")`).

    Returns the `SyncReport`; raises `SyncError` (bad argument, unreachable or refusing side,
    running controller, diverged history) or a `StoreError` (corrupt or conflicting artifact).
    See docs/sync.md.
    """
    # Imported here: `import ringrift_hpc` stays free of pydantic, aiohttp and the rest.
    from ringrift_hpc.p2p.sync_api import sync as sync_runs

    return sync_runs(
        src, dst, what, prune=prune, dry_run=dry_run, token_file=token_file, ssh_command=ssh_command
    )
