"""`sync SRC DST`: copy published artifacts between run directories and P2P nodes.

Exit codes: 0 success, 2 error (bad argument, unreachable or refusing peer, corrupt or
conflicting artifact) or a prune that still needs `--yes`.
"""

from __future__ import annotations

from pathlib import Path

import typer

DEFAULT_NODE_ID = "ringrift-sync"


def sync_command(
    src: str = typer.Argument(..., help="Source: a run directory or a P2P node's http(s)://HOST:PORT."),
    dst: str = typer.Argument(..., help="Destination: a run directory or a P2P node's http(s)://HOST:PORT."),
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
) -> None:
    """Copy every published artifact SRC has and DST lacks, verified by sha256; safe to re-run."""
    # The copying needs aiohttp: imported here, so registering the command costs nothing.
    from ringrift_hpc.cli.sync_run import run_sync

    run_sync(src, dst, prune=prune, dry_run=dry_run, yes=yes, token_file=token_file, node_id=node_id)
