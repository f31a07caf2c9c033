"""What `sync` does once its arguments are parsed (the command itself is in `sync_cmd`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from ringrift_hpc.cli.errors import fail
from ringrift_hpc.p2p.artifacts import ArtifactEntry
from ringrift_hpc.p2p.auth import AuthConfigError, Credentials, load_secret
from ringrift_hpc.p2p.client import PeerClient, PeerError
from ringrift_hpc.p2p.sync import Endpoint, SyncError, SyncReport, sync_runs
from ringrift_hpc.store import RunLayout, StoreError

_URL_SCHEMES = ("http://", "https://")


def run_sync(
    src: str, dst: str, *, prune: bool, dry_run: bool, yes: bool, token_file: Path | None, node_id: str
) -> None:
    """Copy SRC's artifacts to DST (see `sync_command`); prints the report, exits 2 on errors."""
    if src.rstrip("/") == dst.rstrip("/"):
        raise fail(f"SRC and DST are both {src}; name two different runs or nodes")
    creds = _credentials(src, dst, token_file, node_id)
    try:
        if prune and not dry_run and not yes:
            plan = asyncio.run(_sync(src, dst, creds, prune=True, dry_run=True))
            if plan.pruned:
                for path in plan.pruned:
                    typer.echo(f"would prune {path}")
                raise fail(
                    f"--prune would delete the {len(plan.pruned)} artifacts above from {dst}; "
                    "add --yes to do it"
                )
        report = asyncio.run(_sync(src, dst, creds, prune=prune, dry_run=dry_run))
    except (SyncError, PeerError, StoreError, ValueError) as error:
        raise fail(str(error)) from None
    _print_report(report)


def _credentials(src: str, dst: str, token_file: Path | None, node_id: str) -> Credentials | None:
    if not any(side.startswith(_URL_SCHEMES) for side in (src, dst)):
        return None
    if token_file is None:
        raise fail("a peer URL needs --token-file: the same shared token file the P2P nodes use")
    try:
        return Credentials(node_id, load_secret(token_file))
    except AuthConfigError as error:
        raise fail(str(error)) from None


async def _sync(src: str, dst: str, creds: Credentials | None, *, prune: bool, dry_run: bool) -> SyncReport:
    source = _endpoint(src, creds, what="SRC")
    target = _endpoint(dst, creds, what="DST")
    try:
        return await sync_runs(
            source, target, prune=prune, dry_run=dry_run, on_copy=None if dry_run else _echo_copy
        )
    finally:
        for side in (source, target):
            if isinstance(side, PeerClient):
                await side.close()


def _endpoint(text: str, creds: Credentials | None, *, what: str) -> Endpoint:
    if text.startswith(_URL_SCHEMES):
        assert creds is not None  # _credentials insists on a token for any URL
        return PeerClient(text, creds)
    layout = RunLayout(Path(text))
    if not layout.run_config.is_file():
        raise fail(
            f"{what} {text} is not a run directory (no {layout.run_config.name}); create it with "
            "`ringrift-hpc init RUN --config CONFIG.yaml` using the same config as the other run"
        )
    return layout


def _echo_copy(entry: ArtifactEntry) -> None:
    typer.echo(f"copied {entry.artifact} ({entry.size} bytes)")


def _print_report(report: SyncReport) -> None:
    if report.dry_run:
        for path in report.copied:
            typer.echo(f"would copy {path}")
        for path in report.pruned:
            typer.echo(f"would prune {path}")
        typer.echo(
            f"dry run: would copy {len(report.copied)} artifacts ({report.bytes} bytes) and prune "
            f"{len(report.pruned)}; {report.skipped} already present; nothing changed"
        )
        return
    for path in report.pruned:
        typer.echo(f"pruned {path}")
    typer.echo(
        f"copied {len(report.copied)} artifacts ({report.bytes} bytes), pruned {len(report.pruned)}, "
        f"{report.skipped} already present"
    )
