"""`ringrift-hpc metrics serve RUN`: a run's metrics without a controller, read afresh on each
scrape, valid for `promtool check metrics`, and scraped by a real Prometheus that answers a
query about them through its HTTP API."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_tools import WAIT_S, Prometheus, check_metrics, wait_for
from test_controller_fake import FakeExecutor
from tiny_run import make_tiny_run
from typer.testing import CliRunner

from ringrift_hpc.cli.app import app
from ringrift_hpc.loop.runner import run_loop
from ringrift_hpc.store import RunLayout, acquire_lease, release_lease

pytestmark = pytest.mark.timeout(300)

SELFPLAY = 'ringrift_jobs_submitted_total{purpose="selfplay",variant="square8_2p"}'
# The command alone, as its own process: what it imports is what a scrape host needs.
SERVE = (
    "import sys; from ringrift_hpc.cli.metrics_cmd import metrics_app; metrics_app(['serve', *sys.argv[1:]])"
)


@pytest.fixture
def run(tmp_path: Path) -> RunLayout:
    """A tiny run after one controller tick (two selfplay tasks submitted); no controller left."""
    layout = make_tiny_run(tmp_path / "run")
    run_loop(layout, once=True, executor=FakeExecutor())
    return layout


@contextmanager
def served(layout: RunLayout, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`metrics serve RUN --port 0` in a process of its own, and the port it chose."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(layout.root), "--port", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def port() -> int | None:
            if process.poll() is not None:
                raise AssertionError(f"metrics serve exited with {process.returncode}:\n{log.read_text()}")
            text = log.read_text()
            return int(text.split("http://127.0.0.1:")[1].split("/")[0]) if "/metrics\n" in text else None

        yield process, wait_for(port, "metrics serve listening")
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=WAIT_S)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def test_serve_reads_the_run_on_each_scrape_and_passes_promtool(run: RunLayout, tmp_path: Path) -> None:
    check_metrics(run.metrics_file("controller").read_text())
    with served(run, tmp_path / "serve.log") as (process, port):
        first = scrape(port)
        assert f"{SELFPLAY} 2.0" in first
        assert "ringrift_controller_lease_held 0.0" in first  # the controller has stopped
        check_metrics(first)
        lease = acquire_lease(run.lease, run.fence_dir, ttl_s=600)
        try:
            assert "ringrift_controller_lease_held 1.0" in scrape(port)
        finally:
            release_lease(lease)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT_S) == 0


def test_serve_imports_no_torch() -> None:
    code = "import sys, ringrift_hpc.cli.metrics_cmd; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT_S, check=True
    )
    assert done.stdout.strip() == "[]"


def test_serve_refuses_what_is_not_a_run_and_a_taken_port(run: RunLayout, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["metrics", "serve", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "is not a run directory (no run.yaml)" in missing.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = runner.invoke(app, ["metrics", "serve", str(run.root), "--port", str(port)])
    assert busy.exit_code == 1 and f"cannot serve metrics on 127.0.0.1:{port}" in busy.output


def test_a_real_prometheus_scrapes_serve_and_answers_a_query(run: RunLayout, tmp_path: Path) -> None:
    with served(run, tmp_path / "serve.log") as (_, port):
        prometheus = Prometheus(tmp_path / "prometheus", f"127.0.0.1:{port}")
        try:

            def answer() -> list[dict[str, object]] | None:
                result = prometheus.query(SELFPLAY)
                return result or None

            (sample,) = wait_for(answer, f"Prometheus answering {SELFPLAY}")
            assert sample["value"][1] == "2"  # type: ignore[index]
            (up,) = prometheus.query('up{job="ringrift"}')
            assert up["value"][1] == "1"
        finally:
            prometheus.close()
