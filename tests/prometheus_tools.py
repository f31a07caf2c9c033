"""Debian's Prometheus tools for the metrics tests: `promtool` checks and a real Prometheus.

Without them a test is skipped with the reason, unless RINGRIFT_TEST_PROMETHEUS=1 (bin/test sets
it when it installed them): then it fails, so such a runner never passes by skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

WAIT_S = 60.0  # every wait on a process or a scrape, generous for a loaded machine
T = TypeVar("T")


def prometheus_tool(name: str) -> str:
    """The path of `promtool` or `prometheus`, or skip (fail under RINGRIFT_TEST_PROMETHEUS=1)."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"{name} is not installed (as root: apt-get install -y prometheus)"
    if os.environ.get("RINGRIFT_TEST_PROMETHEUS") == "1":
        pytest.fail(f"{message}; RINGRIFT_TEST_PROMETHEUS=1 forbids skipping", pytrace=False)
    pytest.skip(message)


def promtool(*args: str, stdin: str | None = None, cwd: Path | None = None) -> None:
    """Run `promtool ARGS`; fail the test with its output unless it succeeds."""
    done = subprocess.run(
        [prometheus_tool("promtool"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}: {done.stdout}{done.stderr}"


def check_metrics(text: str) -> None:
    """`promtool check metrics` (the exposition format and its lint rules) on `text`."""
    assert text.strip(), "no metrics to check"
    promtool("check", "metrics", stdin=text)


def wait_for(probe: Callable[[], T | None], what: str, timeout_s: float = WAIT_S) -> T:
    """The first non-None result of `probe`, polled every 0.2 s for up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(0.2)


def free_port() -> int:
    """A loopback port free right now (the kernel does not hand it out again at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prometheus:
    """A Prometheus on loopback scraping `target` ("host:port") every second, with its config
    and storage in `folder`; `close` stops it."""

    def __init__(self, folder: Path, target: str) -> None:
        binary = prometheus_tool("prometheus")
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: ringrift\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        promtool("check", "config", str(config))
        self.log = folder / "prometheus.log"
        # The free port may be taken between the probe and Prometheus binding it: try another.
        for attempt in range(3):
            self.port = free_port()
            with self.log.open("wb") as log:
                self.process = subprocess.Popen(
                    [
                        binary,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={folder / 'data'}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                wait_for(self._ready, f"Prometheus ready on port {self.port}")
                return
            except AssertionError:
                self.close()
                if attempt == 2 or "address already in use" not in self.log.read_text():
                    raise

    def _ready(self) -> bool | None:
        if self.process.poll() is not None:
            raise AssertionError(f"Prometheus exited with {self.process.returncode}:\n{self.log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=5) as response:
                return True if response.status == 200 else None
        except OSError:
            return None

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result vector of an instant query through the HTTP API."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=WAIT_S)
