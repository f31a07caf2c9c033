"""The controller lease: exclusive among racing processes, taken over after expiry, fenced."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ringrift_hpc.store import (
    LeaseCorruptError,
    LeaseHeldError,
    LeaseLostError,
    RunLayout,
    acquire_lease,
    atomic_write_json,
    check_lease,
    latest_token,
    probe_lease_exclusion,
    race_for_lease,
    read_lease,
    release_lease,
    renew_lease,
)

T0 = 1_800_000_000.0


def _at(moment: float):
    return lambda: moment


def test_a_live_lease_excludes_everyone_else(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=60, clock=_at(T0))
    assert lease.token == 1
    record = read_lease(layout.lease)
    assert record is not None
    assert (record.host, record.pid, record.token, record.expires_at) == (lease.host, os.getpid(), 1, T0 + 60)
    with pytest.raises(LeaseHeldError, match=rf"controller\.lease is held by host .* pid {os.getpid()} token 1"):
        acquire_lease(layout.lease, layout.fence_dir, ttl_s=60, clock=_at(T0 + 59))
    assert latest_token(layout.fence_dir) == 1


def test_renewal_extends_and_release_hands_over_with_a_larger_token(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=60, clock=_at(T0))
    assert renew_lease(lease, clock=_at(T0 + 50)).expires_at == T0 + 110
    check_lease(lease, clock=_at(T0 + 100))
    assert release_lease(lease, clock=_at(T0 + 101))
    with pytest.raises(LeaseLostError, match="was released"):
        check_lease(lease, clock=_at(T0 + 101))
    successor = acquire_lease(layout.lease, layout.fence_dir, ttl_s=60, clock=_at(T0 + 102))
    assert successor.token == 2
    assert not release_lease(lease, clock=_at(T0 + 103))
    check_lease(successor, clock=_at(T0 + 103))


def test_tokens_grow_with_every_acquisition(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    tokens = []
    for step in range(6):
        lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=10, clock=_at(T0 + 100 * step))
        tokens.append(lease.token)
        if step % 2 == 0:
            release_lease(lease, clock=_at(T0 + 100 * step + 1))
    assert tokens == [1, 2, 3, 4, 5, 6]
    assert sorted(os.listdir(layout.fence_dir)) == [f"{t:012d}" for t in tokens]


def test_an_expired_lease_is_taken_over_and_the_old_holder_is_fenced(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    old = acquire_lease(layout.lease, layout.fence_dir, ttl_s=30, clock=_at(T0))
    new = acquire_lease(layout.lease, layout.fence_dir, ttl_s=30, clock=_at(T0 + 31))
    assert new.token == old.token + 1
    with pytest.raises(LeaseLostError, match="is now held by .* token 2, not by us"):
        check_lease(old, clock=_at(T0 + 32))
    with pytest.raises(LeaseLostError):
        renew_lease(old, clock=_at(T0 + 32))
    assert not release_lease(old, clock=_at(T0 + 32))
    check_lease(new, clock=_at(T0 + 32))


def test_a_holder_that_overslept_its_expiry_is_refused(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=30, clock=_at(T0))
    with pytest.raises(LeaseLostError, match="expired at .* renew it more often than every 30s"):
        check_lease(lease, clock=_at(T0 + 30))


def test_a_zombie_that_rewrites_the_lease_file_is_still_fenced(tmp_path: Path) -> None:
    """A paused holder that wakes and rewrites its old record cannot write: a larger token exists."""
    layout = RunLayout(tmp_path)
    zombie = acquire_lease(layout.lease, layout.fence_dir, ttl_s=30, clock=_at(T0))
    zombie_record = read_lease(layout.lease)
    assert zombie_record is not None
    successor = acquire_lease(layout.lease, layout.fence_dir, ttl_s=30, clock=_at(T0 + 31))
    atomic_write_json(layout.lease, {**zombie_record.to_json(), "expires_at": T0 + 1000})
    with pytest.raises(LeaseLostError, match="token 2 was claimed by host .* after ours \\(1\\)"):
        check_lease(zombie, clock=_at(T0 + 32))
    with pytest.raises(LeaseLostError, match="not by us"):
        check_lease(successor, clock=_at(T0 + 32))


def test_a_fresh_claim_blocks_and_an_abandoned_claim_is_passed(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    layout.fence_dir.mkdir()
    claim = layout.fence_dir / f"{1:012d}"
    claim.write_text('{"host": "other", "pid": 4242}')
    with pytest.raises(LeaseHeldError, match=r"claimed token 1 .* ago and is acquiring .*host other pid 4242"):
        acquire_lease(layout.lease, layout.fence_dir, ttl_s=60)
    os.utime(claim, (time.time() - 120, time.time() - 120))
    lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=60)
    assert lease.token == 2


def test_an_unreadable_lease_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    layout.lease.write_text("host=me")
    with pytest.raises(LeaseCorruptError, match=r"controller\.lease: lease file is not valid JSON .* delete the file"):
        acquire_lease(layout.lease, layout.fence_dir, ttl_s=60)
    layout.lease.write_text('{"format": "ringrift-hpc.lease", "format_version": 1, "token": "7"}')
    with pytest.raises(LeaseCorruptError, match="field 'host' is missing or invalid"):
        read_lease(layout.lease)


def test_ttl_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ttl_s must be positive"):
        acquire_lease(tmp_path / "controller.lease", tmp_path / "controller.fence", ttl_s=0)


def test_racing_processes_exactly_one_wins_every_round(tmp_path: Path) -> None:
    rounds = race_for_lease(tmp_path, rounds=120, contenders=2)
    assert len(rounds) == 120
    failures = [race for race in rounds if not race.exclusive]
    assert failures == []
    assert {race.stale_start for race in rounds} == {True, False}


def test_two_acquirers_with_the_same_view_are_split_by_the_exclusive_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both saw token 1 as the latest (simultaneous reads, or a stale NFS listing): one claim wins."""
    layout = RunLayout(tmp_path)
    acquire_lease(layout.lease, layout.fence_dir, ttl_s=30, clock=_at(T0))
    (layout.fence_dir / f"{2:012d}").write_text('{"host": "rival", "pid": 7}')  # the rival's claim
    monkeypatch.setattr("ringrift_hpc.store.lease.latest_token", lambda fence_dir: 1)
    with pytest.raises(LeaseHeldError, match="another process claimed token 2 at the same moment"):
        acquire_lease(layout.lease, layout.fence_dir, ttl_s=30, clock=_at(T0 + 31))
    assert read_lease(layout.lease).token == 1  # type: ignore[union-attr]


def test_four_processes_racing_still_yield_one_winner(tmp_path: Path) -> None:
    assert all(race.exclusive for race in race_for_lease(tmp_path, rounds=30, contenders=4))


def test_probe_reports_exclusion_and_cleans_up(tmp_path: Path) -> None:
    assert probe_lease_exclusion(tmp_path)
    assert list(tmp_path.iterdir()) == []


_HOLDER = """
import sys, time
from pathlib import Path
from ringrift_hpc.store import LeaseLostError, RunLayout, acquire_lease, check_lease
layout = RunLayout(Path(sys.argv[1]))
lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=float(sys.argv[2]))
print(lease.token, flush=True)
sys.stdin.readline()  # paused here while the lease expires and someone else takes it
try:
    check_lease(lease)
    print("still held", flush=True)
except LeaseLostError as error:
    print("refused", error, flush=True)
"""


def test_a_process_whose_lease_was_taken_over_cannot_write(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    ttl_s = 5.0
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path), str(ttl_s)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    assert holder.stdout.readline().strip() == "1"
    with pytest.raises(LeaseHeldError):
        acquire_lease(layout.lease, layout.fence_dir, ttl_s=30)
    # Instead of sleeping through the ttl, the successor's clock runs past the holder's expiry.
    later = lambda: time.time() + ttl_s + 1  # noqa: E731
    successor = acquire_lease(layout.lease, layout.fence_dir, ttl_s=30, clock=later)
    assert successor.token == 2
    check_lease(successor, clock=later)
    holder.stdin.write("go\n")
    holder.stdin.flush()
    out, _ = holder.communicate(timeout=30)
    assert out.startswith("refused"), out
    assert "now held by" in out and "token 2" in out
