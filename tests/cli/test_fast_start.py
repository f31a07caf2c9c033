"""The operator's commands start without torch, numpy or h5py (issue 14, fast CLI), nor aiohttp,
rich and matplotlib, which a plain run's commands do not need either.

Each command runs in a fresh interpreter, exactly as `ringrift-hpc ...` would, and reports which
heavy modules it had loaded when it finished. An import check, not a timing one: it cannot flake,
and it names the command that regressed. `ringrift-hpc bench cli` measures the times.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from ringrift_hpc.config import load_config
from ringrift_hpc.loop.run_init import init_run
from ringrift_hpc.store import RunLayout

HEAVY = ("torch", "numpy", "h5py", "aiohttp", "rich", "matplotlib")
VARIANT = "square8_2p"
RUN_CONFIG = """\
version: 1
executor: local
run: {name: fast, variants: [square8_2p], seed: 1}
"""
# Runs the CLI's real entry point with ARGS; whatever happens, the last stderr line names the
# heavy modules loaded by then.
PROBE = """\
import sys
HEAVY = {heavy!r}
sys.argv = ["ringrift-hpc", *{args!r}]
try:
    from ringrift_hpc.cli.app import main
    main()
finally:
    print("HEAVY:" + ",".join(m for m in HEAVY if m in sys.modules), file=sys.stderr)
"""
SUBCOMMANDS = (
    "init", "doctor", "loop", "halt", "resume", "status", "watch", "worker", "accounting",
    "tournament", "leaderboard", "report", "gate", "promote", "rollback", "p2p", "sync", "sbatch",
    "bench", "bench rules", "bench ratings", "bench search", "bench learn", "bench cli",
)  # fmt: skip


def run_cli(*args: str) -> tuple[int, str, list[str]]:
    """(exit code, stdout, heavy modules loaded) of `ringrift-hpc ARGS` in a fresh interpreter."""
    probe = PROBE.format(heavy=HEAVY, args=list(args))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    marker = done.stderr.rstrip().rsplit("\n", 1)[-1]
    assert marker.startswith("HEAVY:"), done.stderr
    return done.returncode, done.stdout, [m for m in marker.removeprefix("HEAVY:").split(",") if m]


def publish_model(layout: RunLayout, content: bytes) -> str:
    """A model file as a run keeps it (named by its sha256); promotion only checks the hash."""
    model = hashlib.sha256(content).hexdigest()
    path = layout.model_weights(VARIANT, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return model


@pytest.fixture
def run(tmp_path: Path) -> RunLayout:
    config = tmp_path / "config.yaml"
    config.write_text(RUN_CONFIG)
    return init_run(tmp_path / "run", load_config(config), source=str(config)).layout


@pytest.mark.parametrize("command", ["", *SUBCOMMANDS])
def test_help_of_every_command_loads_no_heavy_module(command: str) -> None:
    code, out, heavy = run_cli(*command.split(), "--help")
    assert code == 0 and "Usage" in out
    assert heavy == []


def test_operator_commands_on_a_run_load_no_heavy_module(run: RunLayout) -> None:
    root = str(run.root)
    first = publish_model(run, b"first weights")
    second = publish_model(run, b"second weights")
    run.leaderboard_md(VARIANT).parent.mkdir(parents=True, exist_ok=True)
    run.leaderboard_md(VARIANT).write_text("| rank | participant |\n")
    steps = [
        (["status", root], "controller: not running"),
        (["status", root, "--json"], "{"),
        (["halt", root, "--reason", "maintenance"], "halted"),
        (["resume", root], "resumed"),
        (["promote", root, "--variant", VARIANT, "--model", first], first),
        (["promote", root, "--variant", VARIANT, "--model", second], second),
        (["rollback", root, "--variant", VARIANT], first),
        (["leaderboard", root], "participant"),
    ]
    for args, expected in steps:
        code, out, heavy = run_cli(*args)
        assert code == 0 and expected in out, (args, out)
        assert heavy == [], args


def test_the_probe_sees_a_heavy_import() -> None:
    """`bench ratings` fits with numpy: the probe must report it, or the checks above prove nothing."""
    code, _, heavy = run_cli("bench", "ratings", "--participants", "2", "--games", "4")
    assert code == 0 and "numpy" in heavy
