"""The operator's commands start without torch, numpy or h5py (issue 14, fast CLI), nor aiohttp,
rich and matplotlib, which a plain run's commands do not need either. Nor do they build the config's pydantic
models (`Config` and its sections, a third of the CLI's import) unless they read a config: no
command's module does at import, and `status`, `halt`, `resume` and `leaderboard` never do.

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
CONFIG_MODELS = "ringrift_hpc.config.root"  # Config, and through it every section's model
WATCHED = (*HEAVY, CONFIG_MODELS)
VARIANT = "square8_2p"
RUN_CONFIG = """\
version: 1
executor: local
run: {name: fast, variants: [square8_2p], seed: 1}
"""
# Runs the CLI's real entry point with ARGS; whatever happens, the last stderr line names the
# watched modules loaded by then.
PROBE = """\
import sys
WATCHED = {watched!r}
sys.argv = ["ringrift-hpc", *{args!r}]
try:
    from ringrift_hpc.cli.app import main
    main()
finally:
    print("LOADED:" + ",".join(m for m in WATCHED if m in sys.modules), file=sys.stderr)
"""
SUBCOMMANDS = (
    "init", "doctor", "loop", "halt", "resume", "status", "watch", "worker", "accounting",
    "tournament", "leaderboard", "report", "gate", "promote", "rollback", "p2p", "p2p drain", "sync", "sbatch",
    "sbatch render", "spec", "spec selfplay", "spec train", "spec evaluate", "spec tournament",
    "bench", "bench rules", "bench ratings", "bench search", "bench learn", "bench cli",
)  # fmt: skip


def run_cli(*args: str) -> tuple[int, str, list[str]]:
    """(exit code, stdout, watched modules loaded) of `ringrift-hpc ARGS` in a fresh interpreter."""
    probe = PROBE.format(watched=WATCHED, args=list(args))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    marker = done.stderr.rstrip().rsplit("\n", 1)[-1]
    assert marker.startswith("LOADED:"), done.stderr
    return done.returncode, done.stdout, [m for m in marker.removeprefix("LOADED:").split(",") if m]


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
def test_help_of_every_command_loads_no_heavy_module_nor_the_config_models(command: str) -> None:
    """`--help` imports every command's module: none may build the config's models at import."""
    code, out, loaded = run_cli(*command.split(), "--help")
    assert code == 0 and "Usage" in out
    assert loaded == []


def test_operator_commands_on_a_run_load_no_heavy_module(run: RunLayout) -> None:
    root = str(run.root)
    first = publish_model(run, b"first weights")
    second = publish_model(run, b"second weights")
    run.leaderboard_md(VARIANT).parent.mkdir(parents=True, exist_ok=True)
    run.leaderboard_md(VARIANT).write_text("| rank | participant |\n")
    # (args, what the output shows, whether the command reads the run's config)
    steps = [
        (["status", root], "controller: not running", False),
        (["status", root, "--json"], "{", False),
        (["halt", root, "--reason", "maintenance"], "halted", False),
        (["resume", root], "resumed", False),
        (["promote", root, "--variant", VARIANT, "--model", first], first, True),
        (["promote", root, "--variant", VARIANT, "--model", second], second, True),
        (["rollback", root, "--variant", VARIANT], first, True),
        (["leaderboard", root], "participant", False),
    ]
    for args, expected, reads_config in steps:
        code, out, loaded = run_cli(*args)
        assert code == 0 and expected in out, (args, out)
        assert not set(loaded) & set(HEAVY), args
        if not reads_config:
            assert CONFIG_MODELS not in loaded, args


def test_the_probe_sees_a_heavy_import() -> None:
    """`bench ratings` fits with numpy: the probe must report it, or the checks above prove nothing."""
    code, _, loaded = run_cli("bench", "ratings", "--participants", "2", "--games", "4")
    assert code == 0 and "numpy" in loaded


def test_the_probe_sees_the_config_models(tmp_path: Path) -> None:
    """`init` validates its config: the probe must report the models, or the checks above prove nothing."""
    config = tmp_path / "config.yaml"
    config.write_text(RUN_CONFIG)
    code, out, loaded = run_cli("init", str(tmp_path / "run"), "--config", str(config))
    assert code == 0 and "created" in out, out
    assert CONFIG_MODELS in loaded
