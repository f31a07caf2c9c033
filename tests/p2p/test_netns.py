"""The namespace lab: nodes reach each other, a partition cuts exactly the named links, heal mends them."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .netns import NetnsLab, namespaces

PORT = 8931
# Fetches URL; with WAIT > 0 retries (1 s per try) until WAIT seconds have passed. Prints the body.
FETCH = """
import sys, time, urllib.request
url, wait = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + wait
while True:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as reply:
            sys.stdout.write(reply.read().decode())
            sys.exit(0)
    except OSError as err:
        if time.monotonic() >= deadline:
            sys.exit(f"{url}: {err}")
        time.sleep(0.1)
"""


def _fetch(lab: NetnsLab, src: int, dst: int, *, wait: float) -> subprocess.CompletedProcess[str]:
    url = f"http://{lab.address(dst)}:{PORT}/who"
    return lab.run(
        src, [sys.executable, "-c", FETCH, url, str(wait)], capture_output=True, text=True, timeout=wait + 30
    )


def _reaches(lab: NetnsLab, src: int, dst: int) -> bool:
    """Whether `src` gets node `dst`'s page (allowing 10 s for a server that is still starting)."""
    proc = _fetch(lab, src, dst, wait=10.0)
    assert proc.returncode != 0 or proc.stdout == f"node {dst}\n", proc.stdout
    return proc.returncode == 0


def _cut_off(lab: NetnsLab, src: int, dst: int) -> bool:
    """Whether one 1 s attempt from `src` to node `dst` fails."""
    return _fetch(lab, src, dst, wait=0.0).returncode != 0


def _serve(lab: NetnsLab, i: int, root: Path) -> subprocess.Popen[bytes]:
    site = root / f"site{i}"
    site.mkdir()
    (site / "who").write_text(f"node {i}\n")
    argv = [
        sys.executable,
        "-m",
        "http.server",
        "--bind",
        lab.address(i),
        "--directory",
        str(site),
        str(PORT),
    ]
    return lab.popen(i, argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_partition_cuts_links_between_groups_and_heal_restores_them(
    netns_lab: Callable[..., NetnsLab], tmp_path: Path
) -> None:
    lab = netns_lab(3)
    assert len({lab.address(i) for i in range(3)}) == 3
    for i in (0, 2):
        _serve(lab, i, tmp_path)
    assert _reaches(lab, 1, 0)
    assert _reaches(lab, 2, 0)
    assert _reaches(lab, 1, 2)

    lab.partition([{0}, {1, 2}])
    assert _cut_off(lab, 1, 0)
    assert _cut_off(lab, 2, 0)
    assert _reaches(lab, 1, 2)

    lab.heal()
    assert _reaches(lab, 1, 0)
    assert _reaches(lab, 2, 0)


def test_nodes_named_in_no_group_are_isolated(netns_lab: Callable[..., NetnsLab], tmp_path: Path) -> None:
    lab = netns_lab(3)
    _serve(lab, 0, tmp_path)
    assert _reaches(lab, 1, 0)
    lab.partition([{0, 2}])
    assert _cut_off(lab, 1, 0)
    assert _reaches(lab, 2, 0)


def test_exit_deletes_namespaces_and_kills_processes_even_after_an_error(
    netns_lab: Callable[..., NetnsLab],
) -> None:
    del netns_lab  # requested for its skip only: this test enters and leaves the lab itself
    with pytest.raises(RuntimeError, match="inside the lab"), NetnsLab(2) as lab:
        made = lab.namespaces
        assert set(made) <= set(namespaces())
        sleeper = lab.popen(0, ["sleep", "300"])
        raise RuntimeError("inside the lab")
    assert not set(made) & set(namespaces())
    assert sleeper.poll() is not None


def test_entering_deletes_leftovers_of_a_crashed_lab_with_the_same_prefix(
    netns_lab: Callable[..., NetnsLab],
) -> None:
    prefix = f"rrtleft{time.monotonic_ns() % 10**6}"
    crashed = NetnsLab(1, prefix=prefix).__enter__()  # never exited, as if its process died
    leftovers = set(crashed.namespaces)
    assert leftovers <= set(namespaces())
    lab = netns_lab(1, prefix=prefix)
    assert set(lab.namespaces) == leftovers  # rebuilt afresh under the same names
    lab.close()
    assert not leftovers & set(namespaces())


def test_entering_deletes_leftovers_of_default_labs_whose_process_died(
    netns_lab: Callable[..., NetnsLab],
) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    leftover = f"rrt{gone.pid}x0-sw"
    subprocess.run(["ip", "netns", "add", leftover], check=True, timeout=20)
    netns_lab(1)
    assert leftover not in namespaces()


def test_bad_arguments_name_the_fix() -> None:
    with pytest.raises(ValueError, match="use 1 to"):
        NetnsLab(0)
    with pytest.raises(ValueError, match="no '-'"):
        NetnsLab(1, prefix="a-b")
