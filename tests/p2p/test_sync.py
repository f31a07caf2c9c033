"""Syncing published artifacts: local and remote endpoints, idempotent, resumable, verified, pruning."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import typer
from aiohttp import web
from typer.testing import CliRunner

from ringrift_hpc.cli.sync_cmd import sync_command
from ringrift_hpc.p2p.artifact_routes import artifact_routes
from ringrift_hpc.p2p.artifacts import ArtifactConflictError, ArtifactEntry, artifact_index, blob_path
from ringrift_hpc.p2p.auth import Credentials
from ringrift_hpc.p2p.client import PeerClient, PeerError
from ringrift_hpc.p2p.sync import SyncError, SyncReport, sync_runs
from ringrift_hpc.store import CorruptArtifactError, RunLayout, publish_bytes, quarantine

from .peer_server import serving

VARIANT = "square8_2p"
MODEL = hashlib.sha256(b"weights").hexdigest()
SECRET = b"0123456789abcdef0123456789abcdef"
CREDS = Credentials("tester", SECRET)
T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def _sample(root: Path) -> RunLayout:
    layout = RunLayout(root)
    publish_bytes(layout.model_weights(VARIANT, MODEL), b"weights", {"generation": 1})
    publish_bytes(layout.selfplay_shard(VARIANT, 3, "task-0"), b"shard" * 1000, {"games": 4})
    publish_bytes(layout.match_file(VARIANT, "eval-1", "task-0"), b'{"game": 1}\n')
    return layout


def _artifacts(layout: RunLayout) -> list[str]:
    return [entry.artifact for entry in artifact_index(layout)]


def _staged(layout: RunLayout) -> list[Path]:
    blobs = layout.root / "p2p" / "blobs"
    return sorted(blobs.iterdir()) if blobs.is_dir() else []


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_local_sync_copies_everything_and_a_second_sync_copies_nothing(tmp_path: Path) -> None:
    src, dst = _sample(tmp_path / "src"), RunLayout(tmp_path / "dst")
    first = _run(sync_runs(src, dst))
    assert first == SyncReport(
        copied=tuple(_artifacts(src)), skipped=0, bytes=7 + 5000 + 12, pruned=(), dry_run=False
    )
    assert artifact_index(dst) == artifact_index(src)
    assert _tree(dst.variants_dir) == _tree(src.variants_dir)
    assert _staged(dst) == []
    second = _run(sync_runs(src, dst))
    assert second == SyncReport(copied=(), skipped=3, bytes=0, pruned=(), dry_run=False)


def test_interrupted_sync_resumes_without_copying_again(tmp_path: Path) -> None:
    src, dst = _sample(tmp_path / "src"), RunLayout(tmp_path / "dst")
    order = _artifacts(src)

    def interrupt(entry: ArtifactEntry) -> None:
        raise KeyboardInterrupt(entry.artifact)

    with pytest.raises(KeyboardInterrupt):
        _run(sync_runs(src, dst, on_copy=interrupt))
    assert _artifacts(dst) == order[:1]
    seen: list[str] = []
    report = _run(sync_runs(src, dst, on_copy=lambda entry: seen.append(entry.artifact)))
    assert report.copied == tuple(order[1:]) and seen == order[1:]
    assert report.skipped == 1
    assert artifact_index(dst) == artifact_index(src)


def test_a_correctly_staged_blob_is_not_copied_again(tmp_path: Path) -> None:
    src, dst = _sample(tmp_path / "src"), RunLayout(tmp_path / "dst")
    stage = blob_path(dst, MODEL)
    stage.parent.mkdir(parents=True)
    stage.write_bytes(b"weights")
    # Had the sync read the source again it would have found these bytes and refused them.
    src.model_weights(VARIANT, MODEL).write_bytes(b"weightz")
    entry = next(e for e in artifact_index(src) if e.sha256 == MODEL)
    _run(sync_runs(src, dst))
    assert (dst.root / entry.artifact).read_bytes() == b"weights"
    assert not stage.exists()


def test_a_damaged_staged_blob_is_replaced_by_a_fresh_copy(tmp_path: Path) -> None:
    src, dst = _sample(tmp_path / "src"), RunLayout(tmp_path / "dst")
    stage = blob_path(dst, MODEL)
    stage.parent.mkdir(parents=True)
    stage.write_bytes(b"garbage, half a download")
    _run(sync_runs(src, dst))
    assert dst.model_weights(VARIANT, MODEL).read_bytes() == b"weights"


def test_tampered_source_is_refused_and_nothing_is_installed(tmp_path: Path) -> None:
    src, dst = _sample(tmp_path / "src"), RunLayout(tmp_path / "dst")
    src.model_weights(VARIANT, MODEL).write_bytes(b"weightz")
    with pytest.raises(CorruptArtifactError, match="does not match its manifest"):
        _run(sync_runs(src, dst))
    assert not dst.models_dir(VARIANT).exists()
    assert _staged(dst) == []


def test_conflicting_artifact_at_the_destination_stops_the_sync_and_is_kept(tmp_path: Path) -> None:
    src, dst = _sample(tmp_path / "src"), RunLayout(tmp_path / "dst")
    match = dst.match_file(VARIANT, "eval-1", "task-0")
    publish_bytes(match, b'{"game": 2}\n')
    with pytest.raises(ArtifactConflictError, match="already published"):
        _run(sync_runs(src, dst))
    assert match.read_bytes() == b'{"game": 2}\n'


def test_dry_run_lists_copies_and_prunes_and_changes_nothing(tmp_path: Path) -> None:
    src, dst = _sample(tmp_path / "src"), RunLayout(tmp_path / "dst")
    extra = dst.selfplay_shard(VARIANT, 9, "task-7")
    publish_bytes(extra, b"only at dst")
    before = _tree(dst.root)
    report = _run(sync_runs(src, dst, prune=True, dry_run=True))
    assert report.copied == tuple(_artifacts(src))
    assert report.pruned == (f"variants/{VARIANT}/selfplay/000009/task-7.h5",)
    assert report.dry_run and report.bytes == 5019
    assert _tree(dst.root) == before


def test_prune_deletes_only_what_the_source_lacks(tmp_path: Path) -> None:
    src, dst = _sample(tmp_path / "src"), RunLayout(tmp_path / "dst")
    _run(sync_runs(src, dst))
    extra = dst.selfplay_shard(VARIANT, 9, "task-7")
    publish_bytes(extra, b"only at dst")
    report = _run(sync_runs(src, dst, prune=True))
    assert report.pruned == (f"variants/{VARIANT}/selfplay/000009/task-7.h5",)
    assert not extra.exists() and not extra.with_suffix(".json").exists()
    assert artifact_index(dst) == artifact_index(src)
    assert _run(sync_runs(src, dst)).copied == ()


def _node(
    layout: RunLayout, may_install: Callable[[int], str | None] = lambda term: None
) -> contextlib.AbstractAsyncContextManager[PeerClient]:
    """A guarded artifact server for `layout` on 127.0.0.1 and a client for it."""
    return serving(artifact_routes(layout, may_install=may_install, max_body_bytes=1 << 20), CREDS)


def test_sync_to_and_from_a_peer_both_directions(tmp_path: Path) -> None:
    src, middle, back = _sample(tmp_path / "src"), RunLayout(tmp_path / "peer"), RunLayout(tmp_path / "back")
    terms: list[int] = []

    def allow(term: int) -> None:
        terms.append(term)

    async def scenario() -> tuple[SyncReport, SyncReport, SyncReport]:
        async with _node(middle, allow) as peer:
            up = await sync_runs(src, peer, term=4)
            again = await sync_runs(src, peer, term=4)
            down = await sync_runs(peer, back)
        return up, again, down

    up, again, down = _run(scenario())
    assert up.copied == tuple(_artifacts(src)) and terms[:3] == [4, 4, 4]
    assert again.copied == () and again.skipped == 3
    assert down.copied == tuple(_artifacts(src))
    assert artifact_index(middle) == artifact_index(src) == artifact_index(back)
    assert _tree(back.variants_dir) == _tree(src.variants_dir)


def test_sync_between_two_peers(tmp_path: Path) -> None:
    src, dst = _sample(tmp_path / "src"), RunLayout(tmp_path / "dst")

    async def scenario() -> SyncReport:
        async with _node(src) as one, _node(dst) as two:
            return await sync_runs(one, two)

    assert _run(scenario()).copied == tuple(_artifacts(src))
    assert artifact_index(dst) == artifact_index(src)


def test_refused_install_surfaces_the_peers_reason(tmp_path: Path) -> None:
    src, dst = _sample(tmp_path / "src"), RunLayout(tmp_path / "dst")

    async def scenario() -> None:
        async with _node(dst, lambda term: f"term {term} is older than term 7") as peer:
            await sync_runs(src, peer, term=3)

    with pytest.raises(SyncError, match=r"HTTP 409: term 3 is older than term 7"):
        _run(scenario())
    assert artifact_index(dst) == []


def test_pruning_a_remote_destination_is_refused(tmp_path: Path) -> None:
    src, dst = RunLayout(tmp_path / "src"), _sample(tmp_path / "dst")

    async def scenario() -> None:
        async with _node(dst) as peer:
            await sync_runs(src, peer, prune=True)

    with pytest.raises(SyncError, match="needs a local destination"):
        _run(scenario())
    assert len(artifact_index(dst)) == 3


def test_routes_refuse_bad_uploads_and_unknown_blobs(tmp_path: Path) -> None:
    src, dst = _sample(tmp_path / "src"), RunLayout(tmp_path / "dst")
    entry = next(e for e in artifact_index(src) if e.sha256 == MODEL)
    weights = src.model_weights(VARIANT, MODEL)

    async def status_of(call: Coroutine[Any, Any, Any]) -> tuple[int | None, str]:
        try:
            await call
        except PeerError as error:
            return error.status, str(error)
        return 200, ""

    async def scenario() -> list[tuple[int | None, str]]:
        async with _node(dst) as peer:
            other = "0" * 64
            evil = {**entry.to_json(), "path": "variants/../state.json"}
            return [
                await status_of(peer.put_file(f"/v1/blobs/{other}", weights)),
                await status_of(peer.get_to_file(f"/v1/blobs/{MODEL}", tmp_path / "x")),
                await status_of(peer.post_json("/v1/artifacts", {"term": 0, "entry": entry.to_json()})),
                await status_of(peer.post_json("/v1/artifacts", {"term": 0, "entry": evil})),
                await status_of(peer.post_json("/v1/artifacts", {"term": -1, "entry": entry.to_json()})),
                await status_of(peer.get_json("/v1/blobs/not-a-digest")),
            ]

    results = _run(scenario())
    assert [status for status, _ in results] == [400, 404, 404, 400, 400, 400]
    assert "must have sha256" in results[0][1]
    assert "was not uploaded" in results[2][1]
    assert "'..'" in results[3][1]
    assert _staged(dst) == []
    assert artifact_index(dst) == []


def test_blob_of_an_artifact_quarantined_after_serving_is_no_longer_served(tmp_path: Path) -> None:
    src = _sample(tmp_path / "src")

    async def scenario() -> int | None:
        async with _node(src) as peer:
            await peer.get_to_file(f"/v1/blobs/{MODEL}", tmp_path / "first", expected_sha256=MODEL)
            quarantine(src, src.model_weights(VARIANT, MODEL), "test: bad weights")
            try:
                await peer.get_to_file(f"/v1/blobs/{MODEL}", tmp_path / "second")
            except PeerError as error:
                return error.status
            return 200

    assert _run(scenario()) == 404
    assert (tmp_path / "first").read_bytes() == b"weights"
    assert not (tmp_path / "second").exists()


def test_peer_sending_an_unsafe_entry_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    src, dst = _sample(tmp_path / "src"), RunLayout(tmp_path / "dst")
    evil = {
        **artifact_index(src)[0].to_json(),
        "artifact": "variants/square8_2p/matches/eval-1/../../../../x",
    }

    async def lying_index(request: web.Request) -> web.Response:
        return web.json_response({"artifacts": [evil]})

    async def scenario() -> None:
        async with serving([web.get("/v1/artifacts", lying_index)], CREDS, guarded=False) as peer:
            await sync_runs(peer, dst)

    with pytest.raises(
        SyncError,
        match=r"/v1/artifacts sent an invalid artifact index: artifact index: field 'artifacts': item 0: "
        r"path 'variants/square8_2p/matches/eval-1/\.\./\.\./\.\./\.\./x' has an empty, '\.' or '\.\.' component",
    ):
        _run(scenario())
    assert not dst.root.exists()


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(sync_command)
    return app


def _run_dir(root: Path) -> RunLayout:
    layout = RunLayout(root)
    root.mkdir(parents=True, exist_ok=True)
    layout.run_config.write_text("# test run\n")
    return layout


def test_cli_syncs_local_runs_and_prune_needs_yes(tmp_path: Path) -> None:
    src = _run_dir(tmp_path / "src")
    _sample(src.root)
    dst = _run_dir(tmp_path / "dst")
    runner = CliRunner()
    cli = _cli()
    first = runner.invoke(cli, [str(src.root), str(dst.root)])
    assert first.exit_code == 0, first.output
    assert f"copied variants/{VARIANT}/models/{MODEL}.pt (7 bytes)" in first.output
    assert (
        "copied 3 artifacts (5019 bytes), pruned 0, wrote 0 pointer files, 0 already present" in first.output
    )
    second = runner.invoke(cli, [str(src.root), str(dst.root)])
    assert "copied 0 artifacts (0 bytes), pruned 0, wrote 0 pointer files, 3 already present" in second.output
    extra = dst.selfplay_shard(VARIANT, 9, "task-7")
    publish_bytes(extra, b"only at dst")
    dry = runner.invoke(cli, [str(src.root), str(dst.root), "--prune", "--dry-run"])
    assert dry.exit_code == 0 and "would prune variants/square8_2p/selfplay/000009/task-7.h5" in dry.output
    unconfirmed = runner.invoke(cli, [str(src.root), str(dst.root), "--prune"])
    assert unconfirmed.exit_code == 2 and "add --yes" in unconfirmed.output
    assert extra.exists()
    confirmed = runner.invoke(cli, [str(src.root), str(dst.root), "--prune", "--yes"])
    assert (
        confirmed.exit_code == 0
        and "pruned variants/square8_2p/selfplay/000009/task-7.h5" in confirmed.output
    )
    assert not extra.exists()


def test_cli_refuses_a_url_without_token_and_a_directory_that_is_no_run(tmp_path: Path) -> None:
    src = _run_dir(tmp_path / "src")
    runner = CliRunner()
    no_token = runner.invoke(_cli(), [str(src.root), "http://127.0.0.1:9"])
    assert no_token.exit_code == 2 and "--token-file" in no_token.output
    no_run = runner.invoke(_cli(), [str(src.root), str(tmp_path / "nothing")])
    assert no_run.exit_code == 2 and "is not a run directory" in no_run.output
    assert not (tmp_path / "nothing").exists()


def test_cli_reports_an_unreachable_peer(tmp_path: Path) -> None:
    src = _run_dir(tmp_path / "src")
    token = tmp_path / "token"
    token.write_bytes(SECRET)
    os.chmod(token, 0o600)
    result = CliRunner().invoke(_cli(), [str(src.root), "http://127.0.0.1:9", "--token-file", str(token)])
    assert result.exit_code == 2 and "unreachable" in result.output


def test_sync_is_a_ringrift_hpc_command() -> None:
    from ringrift_hpc.cli.app import app

    result = CliRunner().invoke(app, ["sync", "--help"])
    assert result.exit_code == 0 and "--prune" in result.output and "--token-file" in result.output
