"""Prometheus metrics: textfiles written atomically into ``RUN/metrics/``, and a server that
serves all of a run's textfiles (validated with prometheus_client's parser). Every metric name
is listed in ``docs/metrics.md``."""

from __future__ import annotations

from ringrift_hpc.metrics.server import MetricsServer, TextfileCollector
from ringrift_hpc.metrics.textfile import (
    MetricError,
    MetricFamily,
    MetricKind,
    Sample,
    family,
    render_textfile,
    write_run_textfile,
    write_textfile,
)

__all__ = [
    "MetricError",
    "MetricFamily",
    "MetricKind",
    "MetricsServer",
    "Sample",
    "TextfileCollector",
    "family",
    "render_textfile",
    "write_run_textfile",
    "write_textfile",
]
