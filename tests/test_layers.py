"""The layers hold: every import of the package, lazy ones included, read with `ast`.

* `rules` imports nothing of the package outside `rules`, and neither torch nor numpy.
* `cluster` knows nothing of the game: it imports none of ai, rules, jobs, data, rating, loop, p2p.
* `jobs` never submit: they import none of loop, cli, p2p (and, by the next rule, no executor).
* Only `loop`, `p2p` and `cli` submit: outside them (and `cluster`, which holds the executors)
  nothing imports an executor (`Executor`, `make_executor`, the Slurm, local and P2P executors)
  or calls an executor's `submit` / `submit_array`.

An import inside a function or under `if TYPE_CHECKING:` counts like any other: a lazy import is
allowed only where the layering allows the import itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import ringrift_hpc

PACKAGE = "ringrift_hpc"
GAME = frozenset({"ai", "rules", "jobs", "data", "rating", "loop", "p2p"})
SUBMITTERS = frozenset({"loop", "p2p", "cli", "cluster"})
# Importing any of these modules, or these names from cluster.executor, is a way to submit.
EXECUTOR_MODULES = frozenset(
    f"{PACKAGE}.{name}"
    for name in (
        "cluster.executor_choice",
        "cluster.local_executor",
        "cluster.slurm_executor",
        "p2p.executor",
    )
)
EXECUTOR_NAMES = frozenset({"Executor"})
SUBMIT_CALLS = frozenset({"submit", "submit_array"})


@dataclass(frozen=True)
class Import:
    module: str  # the absolute module imported from
    names: tuple[str, ...]  # the names taken from it ("from m import a, b"); () for "import m"
    line: int


def layer_of(module: str) -> str:
    """`ringrift_hpc.loop.controller` -> `loop`; a top-level module is its own layer."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports_of(module: str, source: str, *, package: bool = False) -> Iterator[Import]:
    """Every import in `source`, wherever it is (module level, function body, TYPE_CHECKING)."""
    here = module.split(".") if package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            yield Import(target, tuple(alias.name for alias in node.names), node.lineno)


def executor_submits(source: str) -> Iterator[int]:
    """Lines that call `submit`/`submit_array` on something named like an executor (not a thread pool)."""
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SUBMIT_CALLS
            and "executor" in ast.unparse(node.func.value).lower()
        ):
            yield node.lineno


def targets(imp: Import) -> list[str]:
    """What an import reaches: `from a.b import c` reaches `a.b.c` (a submodule or a name in a.b)."""
    return [f"{imp.module}.{name}" for name in imp.names] if imp.names else [imp.module]


def takes_executor(target: str) -> bool:
    return any(target == m or target.startswith(m + ".") for m in EXECUTOR_MODULES) or target in {
        f"{PACKAGE}.cluster.executor.{name}" for name in EXECUTOR_NAMES
    }


def violations(module: str, source: str, *, package: bool = False) -> list[str]:
    """What `module` (its `source`) does against the layering rules (module docstring)."""
    layer = layer_of(module)
    found: list[str] = []
    for imp in imports_of(module, source, package=package):
        where = f"{module}:{imp.line} imports {imp.module}"
        ours = [t for t in targets(imp) if t == PACKAGE or t.startswith(PACKAGE + ".")]
        reached = {layer_of(t) for t in ours}
        breaches = []
        if layer == "rules" and imp.module.split(".")[0] in ("torch", "numpy"):
            breaches.append("rules know nothing of tensors")
        if layer == "rules" and reached - {"rules"}:
            breaches.append("rules import nothing of the package outside rules")
        if layer == "cluster" and reached & GAME:
            breaches.append("cluster knows nothing of the game")
        if layer == "jobs" and reached & {"loop", "cli", "p2p"}:
            breaches.append("jobs sit below loop, cli and p2p")
        if layer not in SUBMITTERS and any(takes_executor(t) for t in ours):
            breaches.append("only loop, p2p and cli submit")
        found += [f"{where}: {breach}" for breach in breaches]
    if layer not in SUBMITTERS:
        found += [
            f"{module}:{line} calls an executor's submit: only loop, p2p and cli submit"
            for line in executor_submits(source)
        ]
    return found


def package_sources() -> Mapping[str, tuple[str, bool]]:
    """Module name -> (source, is a package's __init__) for every file of the package."""
    root = Path(ringrift_hpc.__file__).parent
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if package else parts)] = (path.read_text(), package)
    return out


def test_the_package_keeps_its_layers() -> None:
    sources = package_sources()
    assert {"ringrift_hpc.rules.game", "ringrift_hpc.loop.tournament_arrays"} <= set(sources)
    found = [
        breach
        for module, (source, package) in sources.items()
        for breach in violations(module, source, package=package)
    ]
    assert found == []


@pytest.mark.parametrize(
    ("module", "source", "rule"),
    [
        ("ringrift_hpc.rules.game", "from ringrift_hpc.store import RunLayout\n", "rules import"),
        ("ringrift_hpc.rules.game", "def f():\n    import torch\n", "rules know nothing of tensors"),
        ("ringrift_hpc.cluster.slurm_query", "from ringrift_hpc.rating import fit\n", "cluster knows"),
        ("ringrift_hpc.cluster.local_executor", "import ringrift_hpc.ai.net\n", "cluster knows"),
        ("ringrift_hpc.jobs.train", "def f():\n    from ringrift_hpc.loop import policies\n", "jobs sit"),
        ("ringrift_hpc.jobs.evaluate", "from ..p2p.wire import encode\n", "jobs sit below"),
        (
            "ringrift_hpc.jobs.evaluate",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from ringrift_hpc.cluster.executor import Executor, JobRef\n",
            "only loop, p2p and cli submit",
        ),
        ("ringrift_hpc.jobs.evaluate", "def f(executor):\n    executor.submit_array('e', [])\n", "calls"),
        ("ringrift_hpc.ai.net", "from ringrift_hpc.cluster.executor_choice import make_executor\n", "cli"),
        ("ringrift_hpc.rating.table", "from ringrift_hpc.cluster import slurm_executor\n", "p2p"),
        ("ringrift_hpc.jobs.train", "from ringrift_hpc import loop\n", "jobs sit"),
        ("ringrift_hpc.bench.learn_bench", "from ringrift_hpc.p2p.executor import P2PExecutor\n", "only"),
        ("ringrift_hpc.data.shards", "def f(self):\n    self.executor.submit('train', g, ())\n", "calls an"),
    ],
)
def test_each_rule_catches_its_breach(module: str, source: str, rule: str) -> None:
    found = violations(module, source)
    assert len(found) == 1 and rule in found[0], found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("ringrift_hpc.rules.game", "from ringrift_hpc.rules.state import GameState\nfrom . import moves\n"),
        ("ringrift_hpc.cluster.executor", "from ringrift_hpc.config.slurm import JobKind\n"),
        ("ringrift_hpc.jobs.train", "def f(pool):\n    return pool.submit(len, ())\n"),
        ("ringrift_hpc.jobs.evaluate", "from ringrift_hpc.cluster.executor import JobState\n"),
        ("ringrift_hpc.loop.runner", "from ringrift_hpc.cluster.executor_choice import make_executor\n"),
        ("ringrift_hpc.cli.rating_cmds", "def f():\n    from ringrift_hpc.cluster import executor\n"),
        ("ringrift_hpc.p2p.coordinator", "from ringrift_hpc.loop.controller import Controller\n"),
    ],
)
def test_what_the_layering_allows_passes(module: str, source: str) -> None:
    assert violations(module, source) == []
