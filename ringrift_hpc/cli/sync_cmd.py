"""`sync SRC DST`: copy a run's artifacts and pointer files between run directories, machines
(`user@host:/path`, through ssh) and P2P nodes; `ringrift_hpc.sync` from Python.

Exit codes: 0 success, 2 error (bad argument, unreachable or refusing peer, corrupt or
conflicting artifact) or a prune that still needs `--yes`.
"""

from __future__ import annotations

from pathlib import Path

import typer

DEFAULT_NODE_ID = "ringrift-sync"  # the same as ringrift_hpc.p2p.sync_api's, which is not imported here
WHATS = ("all", "models", "data", "ratings")


def sync_command(
    src: str = typer.Argument(
        ...,
        help="Source: a run directory, [user@]host:/path (through ssh) or a P2P node's http(s)://HOST:PORT.",
    ),
    dst: str = typer.Argument(
        ..., help="Destination: a run directory, [user@]host:/path or a P2P node's http(s)://HOST:PORT."
    ),
    what: str = typer.Option(
        "all",
        "--what",
        help="models (weights, best.json, promotions.jsonl), data (selfplay shards), "
        "ratings (match results, leaderboards) or all.",
    ),
    prune: bool = typer.Option(False, "--prune", help="Also delete DST artifacts that SRC does not have."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List what would be copied and pruned; change nothing."
    ),
    yes: bool = typer.Option(
        False, "--yes", help="Confirm the deletions of --prune (listed first without it)."
    ),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="The P2P shared token (needed for a URL)."
    ),
    node_id: str = typer.Option(DEFAULT_NODE_ID, "--node-id", help="Who this command is in the peers' logs."),
    ssh_command: str = typer.Option(
        "ssh", "--ssh-command", help="The ssh program and its options for a host:path, e.g. 'ssh -p 2222'."
    ),
) -> None:
    """Copy every published artifact SRC has and DST lacks, then best.json, the promotion history
    and the leaderboards; verified by sha256, published atomically, safe to re-run."""
    if what not in WHATS:
        raise typer.BadParameter(f"{what!r} is not one of {', '.join(WHATS)}", param_hint="--what")
    # The copying needs aiohttp: imported here, so registering the command costs nothing.
    from ringrift_hpc.cli.sync_run import run_sync

    run_sync(
        src,
        dst,
        what=what,  # type: ignore[arg-type]  # checked against WHATS above
        prune=prune,
        dry_run=dry_run,
        yes=yes,
        token_file=token_file,
        node_id=node_id,
        ssh_command=ssh_command,
    )
