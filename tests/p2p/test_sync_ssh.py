"""Syncing with `user@host:/path` through the system's ssh, against an sshd of our own on loopback.

The sshd runs as the test's user on a free port, with a host key and an authorized key made for
the test; the client gets them through an ssh config file (`ssh_command=("ssh", "-F", FILE)`).
Skipped without /usr/sbin/sshd, unless RINGRIFT_TEST_SSHD=1 (bin/test as root installs it).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ringrift_hpc
from ringrift_hpc.cli.app import app
from ringrift_hpc.p2p import sync as sync_module
from ringrift_hpc.p2p import sync_api
from ringrift_hpc.p2p.artifacts import ArtifactConflictError, artifact_index
from ringrift_hpc.p2p.ssh_run import SshRun
from ringrift_hpc.p2p.sync import SyncError
from ringrift_hpc.store import CorruptArtifactError, publish_bytes
from tests.p2p.run_samples import MODEL, VARIANT, empty_run, sample_run, tree

SSHD = "/usr/sbin/sshd"
HOST = "rrtest"


@dataclass(frozen=True)
class Sshd:
    config: Path  # the client's ssh config, naming HOST

    @property
    def ssh(self) -> tuple[str, ...]:
        return ("ssh", "-F", str(self.config))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    missing = [tool for tool in (SSHD, "ssh", "ssh-keygen") if shutil.which(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not found: install openssh-server and openssh-client"
        if os.environ.get("RINGRIFT_TEST_SSHD") == "1":
            pytest.fail(f"{message} (RINGRIFT_TEST_SSHD=1 forbids skipping)", pytrace=False)
        pytest.skip(message)
    home = tmp_path_factory.mktemp("sshd")
    _keygen(home / "host_key")
    _keygen(home / "id")
    shutil.copy(home / "id.pub", home / "authorized_keys")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # root's sshd insists on its privsep dir
    port = _free_port()
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home}/host_key\n"
        f"AuthorizedKeysFile {home}/authorized_keys\nPasswordAuthentication no\n"
        f"KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile {home}/sshd.pid\n"
    )
    host_key = (home / "host_key.pub").read_text().strip()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
    config = home / "ssh_config"
    config.write_text(
        f"Host {HOST}\n  HostName 127.0.0.1\n  Port {port}\n  User {getpass.getuser()}\n"
        f"  IdentityFile {home}/id\n  IdentitiesOnly yes\n  UserKnownHostsFile {home}/known_hosts\n"
        "  StrictHostKeyChecking yes\n  ConnectTimeout 10\n"
    )
    log = (home / "sshd.log").open("wb")
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(home / "sshd_config")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(
            ["ssh", "-F", str(config), "-o", "BatchMode=yes", HOST, "true"], check=False
        ).returncode:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sshd did not come up: {(home / 'sshd.log').read_text()}", pytrace=False)
            time.sleep(0.2)
        yield Sshd(config)
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def test_push_and_pull_through_ssh_copy_everything_once(tmp_path: Path, sshd: Sshd) -> None:
    src, far, back = sample_run(tmp_path / "src"), empty_run(tmp_path / "far"), empty_run(tmp_path / "back")
    up = ringrift_hpc.sync(src.root, f"{HOST}:{far.root}", ssh_command=sshd.ssh)
    assert len(up.copied) == 3 and len(up.pointers) == 4
    assert tree(far.variants_dir) == tree(src.variants_dir)
    assert artifact_index(far) == artifact_index(src)
    assert list((far.root / "p2p" / "blobs").iterdir()) == []  # no staged upload left behind
    again = ringrift_hpc.sync(src.root, f"{HOST}:{far.root}", ssh_command=sshd.ssh)
    assert (again.copied, again.pointers, again.skipped) == ((), (), 3)
    down = ringrift_hpc.sync(f"{HOST}:{far.root}", back.root, ssh_command=sshd.ssh)
    assert len(down.copied) == 3 and len(down.pointers) == 4
    assert tree(back.variants_dir) == tree(src.variants_dir)


def test_cli_syncs_through_ssh(tmp_path: Path, sshd: Sshd) -> None:
    src, far = sample_run(tmp_path / "src"), empty_run(tmp_path / "far")
    args = [
        "sync",
        str(src.root),
        f"{HOST}:{far.root}",
        "--what",
        "models",
        "--ssh-command",
        " ".join(sshd.ssh),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"wrote variants/{VARIANT}/best.json" in result.output
    assert "copied 1 artifacts (7 bytes), pruned 0, wrote 2 pointer files, 0 already present" in result.output
    assert far.model_weights(VARIANT, MODEL).read_bytes() == b"weights"


def test_a_damaged_far_artifact_is_refused(tmp_path: Path, sshd: Sshd) -> None:
    far, dst = sample_run(tmp_path / "far"), empty_run(tmp_path / "dst")
    far.model_weights(VARIANT, MODEL).write_bytes(b"weightz")
    with pytest.raises(CorruptArtifactError, match="does not match its manifest"):
        ringrift_hpc.sync(f"{HOST}:{far.root}", dst.root, "models", ssh_command=sshd.ssh)
    assert not dst.models_dir(VARIANT).exists()


def test_a_conflicting_far_artifact_stops_the_push_and_is_kept(tmp_path: Path, sshd: Sshd) -> None:
    src, far = sample_run(tmp_path / "src"), empty_run(tmp_path / "far")
    match = far.match_file(VARIANT, "eval-1", "task-0")
    publish_bytes(match, b'{"game": 2}\n')
    with pytest.raises(ArtifactConflictError, match="already published"):
        ringrift_hpc.sync(src.root, f"{HOST}:{far.root}", "ratings", ssh_command=sshd.ssh)
    assert match.read_bytes() == b'{"game": 2}\n'


def test_far_paths_that_are_no_run_and_unreachable_hosts_are_named(tmp_path: Path, sshd: Sshd) -> None:
    src = sample_run(tmp_path / "src")
    (tmp_path / "plain").mkdir()
    with pytest.raises(SyncError, match=r"rrtest:\S+/plain is not a run directory \(no run.yaml\)"):
        ringrift_hpc.sync(src.root, f"{HOST}:{tmp_path / 'plain'}", ssh_command=sshd.ssh)
    with pytest.raises(SyncError, match="is not a directory there"):
        ringrift_hpc.sync(src.root, f"{HOST}:{tmp_path / 'nowhere'}", ssh_command=sshd.ssh)
    closed = ("ssh", "-F", str(sshd.config), "-p", str(_free_port()))
    with pytest.raises(SyncError, match="ssh to rrtest failed"):
        ringrift_hpc.sync(src.root, f"{HOST}:{tmp_path / 'plain'}", ssh_command=closed)


def test_artifacts_travel_in_batches_both_ways(
    tmp_path: Path, sshd: Sshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_module, "_BATCH_FILES", 2)  # three artifacts: two batches
    src, far, back = sample_run(tmp_path / "src"), empty_run(tmp_path / "far"), empty_run(tmp_path / "back")
    seen: list[str] = []
    up = ringrift_hpc.sync(src.root, f"{HOST}:{far.root}", ssh_command=sshd.ssh)
    down = sync_api.sync(
        f"{HOST}:{far.root}", back.root, ssh_command=sshd.ssh, on_copy=lambda e: seen.append(e.artifact)
    )
    assert up.copied == down.copied == tuple(seen) and len(seen) == 3
    assert tree(back.variants_dir) == tree(src.variants_dir)


def test_an_upload_the_far_side_already_holds_is_not_installed_again(tmp_path: Path, sshd: Sshd) -> None:
    src, far = sample_run(tmp_path / "src"), empty_run(tmp_path / "far")
    ringrift_hpc.sync(src.root, f"{HOST}:{far.root}", "models", ssh_command=sshd.ssh)
    entry = next(e for e in artifact_index(src) if e.sha256 == MODEL)
    remote = SshRun(HOST, str(far.root), ssh_command=sshd.ssh)
    try:
        assert remote.install_many([(entry, src.root / entry.artifact)]) == [False]
    finally:
        remote.close()


def test_dry_run_and_prune_over_ssh(tmp_path: Path, sshd: Sshd) -> None:
    src, far = sample_run(tmp_path / "src"), empty_run(tmp_path / "far")
    before = tree(far.root)
    plan = ringrift_hpc.sync(src.root, f"{HOST}:{far.root}", dry_run=True, ssh_command=sshd.ssh)
    assert len(plan.copied) == 3 and len(plan.pointers) == 4 and tree(far.root) == before
    publish_bytes(far.selfplay_shard(VARIANT, 9, "task-7"), b"only there")
    with pytest.raises(SyncError, match="needs a local destination run directory"):
        ringrift_hpc.sync(src.root, f"{HOST}:{far.root}", prune=True, ssh_command=sshd.ssh)
