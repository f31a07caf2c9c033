"""The keepalive hook, driven against a fake provider script that records its calls (no cloud API)."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from ringrift_hpc.config import P2PSection
from ringrift_hpc.p2p.keepalive import (
    OUTPUT_TAIL_CHARS,
    KeepaliveHook,
    KeepaliveOutcome,
    keepalive_hook,
    next_attempt_after,
)

URL = "http://10.0.0.7:8470"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "keepalive" / "provider_example.sh"

# The fake provider: the files next to it say what it answers.
#   state: "alive" or "dead" (check); restart_fails: restart exits 3; hang: the call sleeps in a child;
#   slow: the call takes 0.5 s; noisy: the call prints 5000 characters first.
FAKE = """#!/bin/bash
set -u
dir=$(dirname "$0")
printf '%s\\n' "$*" >>"$dir/calls"
if [ -e "$dir/noisy" ]; then head -c 5000 /dev/zero | tr '\\0' x; echo; fi
if [ -e "$dir/slow" ]; then sleep 0.5; fi
if [ -e "$dir/hang" ]; then sleep 300 & echo $! >"$dir/sleeper"; wait; fi
action=${*: -3:1}  # any leading words are the configured command's own arguments
case "$action" in
  check)
    if [ "$(cat "$dir/state")" = alive ]; then echo "instance running"; exit 0; fi
    echo "instance exited"; exit 1 ;;
  restart)
    if [ -e "$dir/restart_fails" ]; then echo "quota exceeded" >&2; exit 3; fi
    echo "instance starting"; exit 0 ;;
esac
echo "unknown action $action" >&2; exit 64
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Provider:
    def __init__(self, root: Path, state: str = "dead") -> None:
        self.dir = root / "fake provider"  # a space: the command line must be quoted, not split
        self.dir.mkdir()
        self.script = self.dir / "provider"
        self.script.write_text(FAKE)
        self.script.chmod(0o755)
        self.set("state", state)

    @property
    def command(self) -> str:
        return shlex.quote(str(self.script))

    def set(self, name: str, text: str = "") -> None:
        (self.dir / name).write_text(text)

    def calls(self) -> list[str]:
        path = self.dir / "calls"
        return path.read_text().splitlines() if path.exists() else []


def tend(hook: KeepaliveHook, node: str = "n1") -> KeepaliveOutcome:
    return asyncio.run(hook.tend(node, URL))


def test_wait_doubles_per_failure_up_to_32_times_the_backoff() -> None:
    assert [next_attempt_after(f, 1.5) for f in range(8)] == [1.5, 3, 6, 12, 24, 48, 48, 48]
    assert next_attempt_after(10**6, 2.0) == 64.0
    with pytest.raises(ValueError, match="negative"):
        next_attempt_after(-1, 1.0)
    with pytest.raises(ValueError, match="keepalive_backoff_s"):
        next_attempt_after(0, 0.0)


def test_dead_instance_is_checked_then_restarted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    provider = Provider(tmp_path, "dead")
    clock = Clock()
    hook = KeepaliveHook(provider.command, backoff_s=10, clock=clock)
    with caplog.at_level(logging.INFO, logger="ringrift_hpc.p2p.keepalive"):
        outcome = tend(hook)
    assert provider.calls() == [f"check n1 {URL}", f"restart n1 {URL}"]
    assert outcome == KeepaliveOutcome("n1", "restart", True, outcome.detail, clock.now)
    assert "exited 0: instance starting" in outcome.detail
    assert [(o.action, o.ok) for o in hook.history] == [("check", False), ("restart", True)]
    assert "instance exited" in hook.history[0].detail
    assert any("n1 is dead" in r.getMessage() for r in caplog.records)


def test_living_instance_is_not_restarted(tmp_path: Path) -> None:
    provider = Provider(tmp_path, "alive")
    outcome = tend(KeepaliveHook(provider.command, backoff_s=10, clock=Clock()))
    assert provider.calls() == [f"check n1 {URL}"]
    assert (outcome.action, outcome.ok) == ("check", True)
    assert "instance running" in outcome.detail


def test_failed_restart_keeps_exit_status_and_output(tmp_path: Path) -> None:
    provider = Provider(tmp_path, "dead")
    provider.set("restart_fails")
    outcome = tend(KeepaliveHook(provider.command, backoff_s=10, clock=Clock()))
    assert (outcome.action, outcome.ok) == ("restart", False)
    assert "exited 3: quota exceeded" in outcome.detail


def test_attempts_within_the_backoff_are_skipped_and_the_wait_doubles(tmp_path: Path) -> None:
    provider = Provider(tmp_path, "dead")
    clock = Clock()
    hook = KeepaliveHook(provider.command, backoff_s=10, clock=clock)
    ran_at = []
    for step in range(75):  # one tend per simulated second
        clock.now = 1000.0 + step
        if tend(hook).action != "skipped":
            ran_at.append(step)
    assert ran_at == [0, 10, 30, 70]  # waits 10, 20, 40
    assert len(provider.calls()) == 2 * len(ran_at)
    clock.now = 1000.0 + 71
    skipped = tend(hook)
    assert (skipped.ok, skipped.detail) == (False, "backing off for 79.0 s more")


def test_seen_alive_resets_the_backoff_for_that_node_only(tmp_path: Path) -> None:
    provider = Provider(tmp_path, "dead")
    clock = Clock()
    hook = KeepaliveHook(provider.command, backoff_s=10, clock=clock)
    for node in ("n1", "n2"):
        tend(hook, node)
    clock.now += 10
    for node in ("n1", "n2"):
        tend(hook, node)  # second attempts: the next wait is 20 s
    clock.now += 1
    hook.alive("n1")
    assert tend(hook, "n1").action == "restart"
    assert tend(hook, "n2").action == "skipped"
    clock.now += 10  # a fresh back-off for n1 starts at 10 s again
    assert tend(hook, "n1").action == "restart"


def test_hanging_command_times_out_and_its_children_die(tmp_path: Path) -> None:
    provider = Provider(tmp_path, "dead")
    provider.set("hang")
    hook = KeepaliveHook(provider.command, backoff_s=10, timeout_s=1.0, clock=Clock())
    started = time.monotonic()
    outcome = tend(hook)
    assert time.monotonic() - started < 15
    assert (outcome.action, outcome.ok) == ("check", False)
    assert "timed out after 1 s" in outcome.detail
    assert provider.calls() == [f"check n1 {URL}"]  # an unanswered check never leads to a restart
    sleeper = int((provider.dir / "sleeper").read_text())
    deadline = time.monotonic() + 10
    while _running(sleeper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(sleeper)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_concurrent_attempts_for_one_node_run_once(tmp_path: Path) -> None:
    provider = Provider(tmp_path, "alive")
    provider.set("slow")
    hook = KeepaliveHook(provider.command, backoff_s=10, clock=Clock())

    async def both() -> list[KeepaliveOutcome]:
        return list(await asyncio.gather(hook.tend("n1", URL), hook.tend("n1", URL)))

    actions = sorted(o.action for o in asyncio.run(both()))
    assert actions == ["check", "skipped"]
    assert provider.calls() == [f"check n1 {URL}"]


def test_command_that_cannot_run_is_reported(tmp_path: Path) -> None:
    outcome = tend(KeepaliveHook(str(tmp_path / "no-such-provider"), backoff_s=10, clock=Clock()))
    assert (outcome.action, outcome.ok) == ("check", False)
    assert "cannot run" in outcome.detail


def test_arguments_are_passed_without_a_shell(tmp_path: Path) -> None:
    provider = Provider(tmp_path, "alive")
    marker = tmp_path / "injected"
    command = f"{provider.command} --profile 'a b; touch {marker}'"
    tend(KeepaliveHook(command, backoff_s=10, clock=Clock()))
    assert provider.calls() == [f"--profile a b; touch {marker} check n1 {URL}"]
    assert not marker.exists()


def test_output_is_cut_to_its_tail(tmp_path: Path) -> None:
    provider = Provider(tmp_path, "alive")
    provider.set("noisy")
    outcome = tend(KeepaliveHook(provider.command, backoff_s=10, clock=Clock()))
    assert outcome.detail.endswith("instance running")
    assert len(outcome.detail) < OUTPUT_TAIL_CHARS + 200


def test_bad_settings_name_the_field_and_fix() -> None:
    with pytest.raises(ValueError, match="keepalive_command is empty"):
        KeepaliveHook("  ", backoff_s=1)
    with pytest.raises(ValueError, match="cannot be parsed.*quoting"):
        KeepaliveHook("provider 'unclosed", backoff_s=1)
    with pytest.raises(ValueError, match="keepalive_backoff_s"):
        KeepaliveHook("provider", backoff_s=-1)
    with pytest.raises(ValueError, match="timeout_s"):
        KeepaliveHook("provider", backoff_s=1, timeout_s=0)


def test_hook_from_config(tmp_path: Path) -> None:
    assert keepalive_hook(P2PSection()) is None
    provider = Provider(tmp_path, "alive")
    hook = keepalive_hook(P2PSection(keepalive_command=provider.command, keepalive_backoff_s=5))
    assert hook is not None
    assert tend(hook).ok


def test_example_provider_script_parses() -> None:
    # `bash -n` only parses: the example is never run by tests.
    assert os.access(EXAMPLE, os.X_OK)
    proc = subprocess.run(
        ["bash", "-n", str(EXAMPLE)], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
