"""Prometheus textfiles and the metrics server (loopback only, an ephemeral port)."""

from __future__ import annotations

import math
import os
import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ringrift_hpc.config import MetricsSection
from ringrift_hpc.metrics import (
    MetricError,
    MetricsServer,
    family,
    render_textfile,
    write_run_textfile,
)
from ringrift_hpc.metrics.lease_collector import LEASE_EXPIRES, LEASE_HELD, LeaseCollector
from ringrift_hpc.metrics.server import TEXTFILE_OK
from ringrift_hpc.store import RunLayout, acquire_lease, release_lease

pytestmark = pytest.mark.timeout(30)


def _scrape(server: MetricsServer) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{sample name: {sorted labels: value}} of one scrape."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
        text = response.read().decode()
    scraped: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for metric in text_string_to_metric_families(text):
        for sample in metric.samples:
            scraped.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return scraped


def test_textfile_round_trips_through_prometheus_parser_with_escaped_labels() -> None:
    text = render_textfile(
        [
            family(
                "ringrift_jobs",
                "gauge",
                "Jobs by kind and state.",
                [({"kind": "selfplay", "state": "running"}, 3), ({"kind": 'we"ird\\\n', "state": "x"}, 0.5)],
            ),
            family("ringrift_games_total", "counter", "Games played.", [({}, 12)]),
            family("ringrift_ratio", "gauge", "Not a number yet.", [({}, math.nan)]),
        ]
    )
    assert "# TYPE ringrift_games_total counter\nringrift_games_total 12\n" in text
    parsed = {metric.name: metric for metric in text_string_to_metric_families(text)}
    assert parsed["ringrift_games"].type == "counter"
    jobs = {tuple(sorted(s.labels.items())): s.value for s in parsed["ringrift_jobs"].samples}
    assert jobs[(("kind", 'we"ird\\\n'), ("state", "x"))] == 0.5
    assert math.isnan(parsed["ringrift_ratio"].samples[0].value)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: family("bad-name", "gauge", "x", []), "metric name"),
        (lambda: family("ringrift_games", "counter", "x", []), "must be named"),
        (lambda: family("ringrift_games_total", "counter", "x", [({}, -1)]), "counters are >= 0"),
        (lambda: family("ringrift_x", "gauge", " ", []), "help text"),
        (lambda: family("ringrift_x", "gauge", "x", [({"__name": "a"}, 1)]), "label name"),
        (lambda: family("ringrift_x", "gauge", "x", [({"a": "1"}, 1), ({"a": "1"}, 2)]), "two samples"),
        (lambda: render_textfile([family("ringrift_x", "gauge", "x", [])] * 2), "more than once"),
    ],
)
def test_invalid_metrics_are_refused_with_the_reason(build: Callable[[], object], message: str) -> None:
    with pytest.raises(MetricError, match=message):
        build()


def test_textfile_is_written_atomically_into_the_run(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "run")
    path = write_run_textfile(layout, "controller", [family("ringrift_up", "gauge", "Up.", [({}, 1)])])
    assert path == layout.metrics_dir / "controller.prom"
    write_run_textfile(layout, "controller", [family("ringrift_up", "gauge", "Up.", [({}, 0)])])
    assert path.read_text().endswith("ringrift_up 0\n")
    assert os.listdir(layout.metrics_dir) == ["controller.prom"]


def test_server_serves_good_textfiles_and_reports_broken_ones(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "run")
    jobs = "ringrift_selfplay_games_total"
    write_run_textfile(layout, "selfplay-1", [family(jobs, "counter", "Games.", [({"task": "1"}, 5)])])
    write_run_textfile(layout, "selfplay-2", [family(jobs, "counter", "Games.", [({"task": "2"}, 7)])])
    write_run_textfile(layout, "controller", [family("ringrift_up", "gauge", "Up.", [({}, 1)])])
    layout.metrics_file("broken").write_text("this is { not exposition text\n")
    # Same series as selfplay-1: a file cannot overwrite what another already said.
    write_run_textfile(layout, "selfplay-3", [family(jobs, "counter", "Games.", [({"task": "1"}, 99)])])
    # A family typed differently from the earlier files.
    layout.metrics_file("zz-retyped").write_text("# TYPE ringrift_up counter\nringrift_up 3\n")
    (layout.metrics_dir / ".half-written.prom.1234.tmp").write_text("garbage")

    with MetricsServer(layout.metrics_dir, address="127.0.0.1", port=0) as server:
        assert server.port > 0
        scraped = _scrape(server)
        errors = dict(server.collector.errors)
    assert scraped[jobs] == {(("task", "1"),): 5.0, (("task", "2"),): 7.0}
    assert scraped["ringrift_up"] == {(): 1.0}
    assert scraped[TEXTFILE_OK] == {
        (("file", "broken.prom"),): 0.0,
        (("file", "controller.prom"),): 1.0,
        (("file", "selfplay-1.prom"),): 1.0,
        (("file", "selfplay-2.prom"),): 1.0,
        (("file", "selfplay-3.prom"),): 0.0,
        (("file", "zz-retyped.prom"),): 0.0,
    }
    assert sorted(errors) == ["broken.prom", "selfplay-3.prom", "zz-retyped.prom"]
    assert "already in an earlier file" in errors["selfplay-3.prom"]
    assert "counter here but a gauge" in errors["zz-retyped.prom"]


def test_server_on_an_empty_run_serves_only_the_lease_and_answers(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "run-without-metrics-yet")
    with socket.socket() as probe:  # a port that was free a moment ago (the config refuses 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with MetricsServer.for_run(layout, MetricsSection(address="127.0.0.1", port=port)) as server:
        assert server.port == port
        assert _scrape(server) == {LEASE_HELD: {(): 0.0}}  # no lease file: no controller
        with pytest.raises(RuntimeError, match="already listens"):
            server.start()


def _lease_gauges(collector: LeaseCollector) -> dict[str, float]:
    return {metric.name: metric.samples[0].value for metric in collector.collect() if metric.samples}


def test_lease_is_held_only_while_unreleased_and_unexpired(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    layout = RunLayout(tmp_path / "run")
    lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=60, clock=lambda: 1000.0)
    assert _lease_gauges(LeaseCollector(layout.lease, clock=lambda: 1059.0)) == {
        LEASE_HELD: 1.0,
        LEASE_EXPIRES: 1060.0,
    }
    assert _lease_gauges(LeaseCollector(layout.lease, clock=lambda: 1061.0))[LEASE_HELD] == 0.0  # expired
    release_lease(lease, clock=lambda: 1010.0)
    assert _lease_gauges(LeaseCollector(layout.lease, clock=lambda: 1011.0))[LEASE_HELD] == 0.0  # released
    layout.lease.write_text("{torn")
    assert _lease_gauges(LeaseCollector(layout.lease)) == {LEASE_HELD: 0.0}  # no proof of a controller
    assert "unreadable" in caplog.text
