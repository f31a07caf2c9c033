"""What `sync` does once its arguments are parsed (the command itself is in `sync_cmd`)."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from ringrift_hpc.cli.errors import fail
from ringrift_hpc.p2p.artifacts import ArtifactEntry
from ringrift_hpc.p2p.sync import SyncError, SyncReport
from ringrift_hpc.p2p.sync_api import What, sync
from ringrift_hpc.store import StoreError


def run_sync(
    src: str,
    dst: str,
    *,
    what: What,
    prune: bool,
    dry_run: bool,
    yes: bool,
    token_file: Path | None,
    node_id: str,
    ssh_command: str,
) -> None:
    """Copy SRC's files to DST (see `sync_command`); prints the report, exits 2 on errors."""
    ssh = shlex.split(ssh_command)
    if not ssh:
        raise fail("--ssh-command is empty; give the ssh program, e.g. --ssh-command 'ssh -p 2222'")

    def run(*, prune: bool, dry_run: bool) -> SyncReport:
        return sync(
            src,
            dst,
            what,
            prune=prune,
            dry_run=dry_run,
            token_file=token_file,
            node_id=node_id,
            ssh_command=ssh,
            on_copy=None if dry_run else _echo_copy,
        )

    try:
        if prune and not dry_run and not yes:
            plan = run(prune=True, dry_run=True)
            if plan.pruned:
                for path in plan.pruned:
                    typer.echo(f"would prune {path}")
                raise fail(
                    f"--prune would delete the {len(plan.pruned)} artifacts above from {dst}; add --yes to do it"
                )
        report = run(prune=prune, dry_run=dry_run)
    except (SyncError, StoreError, ValueError) as error:
        raise fail(str(error)) from None
    _print_report(report)


def _echo_copy(entry: ArtifactEntry) -> None:
    typer.echo(f"copied {entry.artifact} ({entry.size} bytes)")


def _print_report(report: SyncReport) -> None:
    for note in report.notes:
        typer.echo(f"note: {note}")
    if report.dry_run:
        for path in report.copied:
            typer.echo(f"would copy {path}")
        for path in report.pruned:
            typer.echo(f"would prune {path}")
        for path in report.pointers:
            typer.echo(f"would write {path}")
        typer.echo(
            f"dry run: would copy {len(report.copied)} artifacts ({report.bytes} bytes), prune "
            f"{len(report.pruned)} and write {len(report.pointers)} pointer files; {report.skipped} "
            "already present; nothing changed"
        )
        return
    for path in report.pruned:
        typer.echo(f"pruned {path}")
    for path in report.pointers:
        typer.echo(f"wrote {path}")
    typer.echo(
        f"copied {len(report.copied)} artifacts ({report.bytes} bytes), pruned {len(report.pruned)}, "
        f"wrote {len(report.pointers)} pointer files, {report.skipped} already present"
    )
