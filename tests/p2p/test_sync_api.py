"""`ringrift_hpc.sync`: artifacts of the chosen kinds, then the pointer files, between run directories."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ringrift_hpc
from ringrift_hpc.p2p.ssh_run import parse_ssh_target, remote_command
from ringrift_hpc.p2p.sync import SyncError
from ringrift_hpc.p2p.sync_pointers import plan_pointers
from ringrift_hpc.store import publish_bytes
from ringrift_hpc.store.atomic import atomic_write_bytes
from ringrift_hpc.store.lease import acquire_lease
from tests.p2p.run_samples import HISTORY, MODEL, VARIANT, empty_run, sample_run, tree

V = f"variants/{VARIANT}"


def test_sync_copies_artifacts_then_pointer_files_and_a_second_sync_nothing(tmp_path: Path) -> None:
    src, dst = sample_run(tmp_path / "src"), empty_run(tmp_path / "dst")
    first = ringrift_hpc.sync(src.root, dst.root)
    assert len(first.copied) == 3 and first.notes == ()
    # The history before the pointer it explains, the pointer once its model is there.
    assert first.pointers == (
        f"{V}/promotions.jsonl",
        f"{V}/best.json",
        f"{V}/leaderboard.json",
        f"{V}/leaderboard.md",
    )
    assert tree(dst.variants_dir) == tree(src.variants_dir)
    second = ringrift_hpc.sync(src.root, dst.root)
    assert (second.copied, second.pointers, second.skipped) == ((), (), 3)


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        (
            "models",
            {f"models/{MODEL}.pt", f"models/{MODEL}.json", "best.json", "promotions.jsonl"},
        ),
        ("data", {"selfplay/000003/task-0.h5", "selfplay/000003/task-0.json"}),
        (
            "ratings",
            {
                "matches/eval-1/task-0.jsonl",
                "matches/eval-1/task-0.json",
                "leaderboard.json",
                "leaderboard.md",
            },
        ),
    ],
)
def test_what_picks_the_kinds_copied(tmp_path: Path, what: str, expected: set[str]) -> None:
    src, dst = sample_run(tmp_path / "src"), empty_run(tmp_path / "dst")
    ringrift_hpc.sync(src.root, dst.root, what)  # type: ignore[arg-type]
    assert set(tree(dst.variant_dir(VARIANT))) == expected


def test_prune_stays_inside_what(tmp_path: Path) -> None:
    src, dst = sample_run(tmp_path / "src"), empty_run(tmp_path / "dst")
    shard = dst.selfplay_shard(VARIANT, 9, "task-7")
    match = dst.match_file(VARIANT, "eval-9", "task-7")
    publish_bytes(shard, b"only at dst")
    publish_bytes(match, b'{"game": 9}\n')
    report = ringrift_hpc.sync(src.root, dst.root, "ratings", prune=True)
    assert report.pruned == (f"{V}/matches/eval-9/task-7.jsonl",)
    assert not match.exists() and shard.exists()


def test_dry_run_lists_pointer_files_and_changes_nothing(tmp_path: Path) -> None:
    src, dst = sample_run(tmp_path / "src"), empty_run(tmp_path / "dst")
    before = tree(dst.root)
    report = ringrift_hpc.sync(src.root, dst.root, dry_run=True)
    assert report.dry_run and len(report.copied) == 3 and f"{V}/best.json" in report.pointers
    assert tree(dst.root) == before


def test_a_history_is_extended_but_a_diverged_one_is_refused(tmp_path: Path) -> None:
    src, dst = sample_run(tmp_path / "src"), empty_run(tmp_path / "dst")
    longer = HISTORY + b'{"decision": "reject"}\n'
    atomic_write_bytes(dst.promotions(VARIANT), HISTORY)
    atomic_write_bytes(src.promotions(VARIANT), longer)
    ringrift_hpc.sync(src.root, dst.root)
    assert dst.promotions(VARIANT).read_bytes() == longer
    atomic_write_bytes(dst.promotions(VARIANT), HISTORY + b'{"decision": "rollback"}\n')
    atomic_write_bytes(dst.best(VARIANT), b'{"model_id": "mine"}')
    with pytest.raises(SyncError, match="holds promotion decisions that .* lacks"):
        ringrift_hpc.sync(src.root, dst.root, "models")
    assert dst.best(VARIANT).read_bytes() == b'{"model_id": "mine"}'
    assert dst.promotions(VARIANT).read_bytes().endswith(b'"rollback"}\n')


def test_a_running_controller_keeps_its_pointer_files(tmp_path: Path) -> None:
    src, dst = sample_run(tmp_path / "src"), empty_run(tmp_path / "dst")
    acquire_lease(dst.lease, dst.fence_dir, ttl_s=600)
    with pytest.raises(SyncError, match="a controller runs on .*stop it first, or sync only artifacts"):
        ringrift_hpc.sync(src.root, dst.root)
    assert not dst.variants_dir.exists()
    # Shards are immutable artifacts the running controller ingests: copying them is safe.
    assert len(ringrift_hpc.sync(src.root, dst.root, "data").copied) == 1


def test_a_best_pointer_is_written_only_with_its_model() -> None:
    best = json.dumps({"model_id": MODEL}).encode()
    with pytest.raises(SyncError, match=f"names {V}/models/{MODEL}.pt, which D lacks"):
        plan_pointers({f"{V}/best.json": best}, {}, set(), src_name="S", dst_name="D")
    with pytest.raises(SyncError, match="is not a best pointer with a model_id"):
        plan_pointers({f"{V}/best.json": b"[]"}, {}, set(), src_name="S", dst_name="D")
    assert plan_pointers({f"{V}/best.json": best}, {}, {f"{V}/models/{MODEL}.pt"}, src_name="S", dst_name="D")


def test_bad_arguments_are_refused_before_anything_is_copied(tmp_path: Path) -> None:
    src = sample_run(tmp_path / "src")
    with pytest.raises(SyncError, match="what='weights' is not one of all, models, data, ratings"):
        ringrift_hpc.sync(src.root, tmp_path / "dst", "weights")  # type: ignore[arg-type]
    with pytest.raises(SyncError, match="SRC and DST are both"):
        ringrift_hpc.sync(src.root, f"{src.root}/")
    with pytest.raises(SyncError, match="is not a run directory"):
        ringrift_hpc.sync(src.root, tmp_path / "nothing")
    with pytest.raises(SyncError, match="needs a token file"):
        ringrift_hpc.sync(src.root, "http://127.0.0.1:9")
    assert not (tmp_path / "nothing").exists()


def test_ssh_targets_are_told_from_paths_and_urls() -> None:
    assert parse_ssh_target("alice@gpu1:/shared/runs/rr") == ("alice@gpu1", "/shared/runs/rr")
    assert parse_ssh_target("gpu1:runs/rr") == ("gpu1", "runs/rr")
    for local in ("/shared/runs/rr", "runs/rr", "./a:b", "http://gpu1:8787", "gpu1:"):
        assert parse_ssh_target(local) is None, local


def test_importing_the_package_stays_light() -> None:
    probe = (
        "import sys, ringrift_hpc; assert callable(ringrift_hpc.sync); "
        "print(','.join(m for m in ('pydantic', 'aiohttp', 'torch', 'numpy', 'ringrift_hpc.p2p') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("login_shell", ["sh", "bash", "tcsh", "fish"])
def test_the_remote_command_survives_any_login_shell(login_shell: str) -> None:
    """ssh runs its command with the far user's login shell; the script must reach sh intact."""
    if shutil.which(login_shell) is None:
        pytest.skip(f"{login_shell} is not installed")
    # Digits after each escaped character: `$1` must not become another character.
    script = (
        "set -- one\nx=\"a b\"; echo \"$x\" '$x' \"$1\" `echo 7`7 done!1 \\\\2 'it''s'\nprintf '%s\\n' 100%\n"
    )
    direct = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    through = subprocess.run(
        [login_shell, "-c", remote_command(script)], capture_output=True, text=True, check=False
    )
    assert (through.returncode, through.stdout) == (0, direct)
