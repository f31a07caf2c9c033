"""Serve every textfile of a run, its lease and the server's own gauges in the exposition format.

On each scrape the collector reads ``RUN/metrics/*.prom`` and parses every file with
prometheus_client's parser. A file that does not parse, or that clashes with what other files
already said (a family typed differently, the same series twice), is left out whole and
reported: a log warning, ``ringrift_metrics_textfile_ok{file=...} 0`` and ``errors``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from ringrift_hpc.config import MetricsSection
from ringrift_hpc.metrics.lease_collector import LEASE_EXPIRES, LEASE_HELD, LeaseCollector
from ringrift_hpc.store import RunLayout, is_temp_name

log = logging.getLogger(__name__)

TEXTFILE_OK = "ringrift_metrics_textfile_ok"
TEXTFILE_MTIME = "ringrift_metrics_textfile_mtime_seconds"
OWN_FAMILIES = frozenset({TEXTFILE_OK, TEXTFILE_MTIME, LEASE_HELD, LEASE_EXPIRES})


def _series(metric: Metric) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {(sample.name, tuple(sorted(sample.labels.items()))) for sample in metric.samples}


def _clash(metric: Metric, served: dict[str, Metric]) -> str | None:
    if metric.name in OWN_FAMILIES:
        return f"{metric.name} is the metrics server's own family"
    other = served.get(metric.name)
    if other is None:
        return None
    if other.type != metric.type:
        return f"{metric.name} is a {metric.type} here but a {other.type} in an earlier file"
    repeated = _series(metric) & _series(other)
    if repeated:
        name, labels = min(repeated)
        return f"series {name}{dict(labels)} is already in an earlier file"
    return None


@dataclass(eq=False)  # registries key collectors by identity
class TextfileCollector(Collector):
    """A prometheus_client collector over the ``*.prom`` files of one folder."""

    folder: Path
    errors: dict[str, str] = field(default_factory=dict)  # file name -> why it was left out, last scrape
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # scrapes may overlap; errors belong to one scrape
            yield from self._collect()

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("*.prom") if not is_temp_name(p.name))

    def _collect(self) -> list[Metric]:
        served: dict[str, Metric] = {}
        ok = GaugeMetricFamily(
            TEXTFILE_OK, "1 when the textfile parsed and was served, 0 when left out.", labels=["file"]
        )
        mtime = GaugeMetricFamily(
            TEXTFILE_MTIME, "When the textfile was last written (Unix time).", labels=["file"]
        )
        errors: dict[str, str] = {}
        for path in self._files():
            try:
                text = path.read_text(encoding="utf-8")
                mtime.add_metric([path.name], path.stat().st_mtime)
                metrics = list(text_string_to_metric_families(text))
                clashes = [why for metric in metrics if (why := _clash(metric, served)) is not None]
                if clashes:
                    raise ValueError(clashes[0])
            except (OSError, UnicodeDecodeError, ValueError) as error:
                errors[path.name] = str(error) or type(error).__name__
                log.warning("metrics textfile %s left out: %s", path, errors[path.name])
                ok.add_metric([path.name], 0)
                continue
            ok.add_metric([path.name], 1)
            for metric in metrics:
                if metric.name in served:
                    served[metric.name].samples.extend(metric.samples)
                else:
                    served[metric.name] = metric
        self.errors = errors
        return [*served.values(), ok, mtime]


class MetricsServer:
    """HTTP server of a folder's textfiles and any ``extra`` collectors; ``port=0`` picks a free
    port (see ``port`` after start)."""

    def __init__(
        self,
        folder: Path,
        *,
        address: str = "127.0.0.1",
        port: int = 9108,
        extra: tuple[Collector, ...] = (),
    ) -> None:
        self.collector = TextfileCollector(Path(folder))
        self.registry = CollectorRegistry(auto_describe=False)
        for collector in (self.collector, *extra):
            self.registry.register(collector)
        self.address = address
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def for_run(cls, layout: RunLayout, section: MetricsSection) -> MetricsServer:
        """The server of a run's ``RUN/metrics/`` and its lease at the config's ``metrics.address``
        and ``metrics.port``."""
        return cls(
            layout.metrics_dir,
            address=section.address,
            port=section.port,
            extra=(LeaseCollector(layout.lease),),
        )

    @property
    def port(self) -> int:
        return self._server.server_port if self._server is not None else self._port

    def start(self) -> MetricsServer:
        if self._server is not None:
            raise RuntimeError(f"metrics server already listens on {self.address}:{self.port}")
        self._server, self._thread = start_http_server(self._port, addr=self.address, registry=self.registry)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
