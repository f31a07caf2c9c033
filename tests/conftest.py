"""Shared pytest hooks.

Tests marked ``slurm`` need the local cluster (``bin/local-slurm up`` and its ``env``). Without
it they are skipped with the reason, unless RINGRIFT_TEST_SLURM=1 (set by bin/test once it
started the cluster): then they fail, so that CI never passes by skipping them.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator

import pytest
from p2p.netns import NetnsLab, netns_available

from ringrift_hpc.cluster.slurm_query import check_command

_START_HINT = 'start it with: bin/local-slurm up && eval "$(bin/local-slurm env)"'


@functools.cache
def _slurm_unreachable_reason() -> str | None:
    conf = os.environ.get("SLURM_CONF")
    if not conf:
        return "SLURM_CONF is not set"
    if not os.path.isfile(conf):
        # Checked here because sinfo retries a missing config file for a minute.
        return f"SLURM_CONF={conf} is not a file"
    sinfo = check_command("sinfo", ("sinfo", "--noheader", "--format=%P"), timeout_s=15)
    return None if sinfo.ok else f"sinfo does not answer ({sinfo.detail})"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("slurm") is None:
        return
    reason = _slurm_unreachable_reason()
    if reason is None:
        return
    message = f"local Slurm cluster not reachable: {reason}; {_START_HINT}"
    if os.environ.get("RINGRIFT_TEST_SLURM") == "1":
        pytest.fail(f"{message} (RINGRIFT_TEST_SLURM=1 forbids skipping)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def netns_lab() -> Iterator[Callable[..., NetnsLab]]:
    """Factory `netns_lab(nodes, prefix=None)` of entered labs, all closed after the test.

    Skips with the reason when namespaces cannot be built here, unless RINGRIFT_TEST_NETNS=1
    (bin/test sets it as root): then it fails, so such a runner never passes by skipping.
    """
    reason = netns_available()
    if reason is not None:
        message = f"network namespace lab unavailable: {reason}"
        if os.environ.get("RINGRIFT_TEST_NETNS") == "1":
            pytest.fail(f"{message} (RINGRIFT_TEST_NETNS=1 forbids skipping)", pytrace=False)
        pytest.skip(message)
    with contextlib.ExitStack() as labs:

        def make(nodes: int, *, prefix: str | None = None) -> NetnsLab:
            return labs.enter_context(NetnsLab(nodes, prefix=prefix))

        yield make
