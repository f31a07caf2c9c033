"""The controller's lease, read from the run directory on each scrape: whether a controller
holds the run, and until when, even when no controller is left to write a textfile."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ringrift_hpc.store import StoreError, read_lease

log = logging.getLogger(__name__)

LEASE_HELD = "ringrift_controller_lease_held"
LEASE_EXPIRES = "ringrift_controller_lease_expires_timestamp_seconds"


@dataclass(eq=False)  # registries key collectors by identity
class LeaseCollector(Collector):
    """Gauges of the lease file at ``path``."""

    path: Path
    clock: Callable[[], float] = field(default=time.time)

    def collect(self) -> Iterator[Metric]:
        held = GaugeMetricFamily(
            LEASE_HELD, "1 while a controller holds the run's lease (not released, not expired)."
        )
        expires = GaugeMetricFamily(
            LEASE_EXPIRES, "When the run's lease expires unless renewed (Unix time); absent without a lease."
        )
        try:
            record = read_lease(self.path)
        except (StoreError, OSError) as error:
            # An unreadable lease is no proof of a live controller: held reads 0.
            log.warning("lease %s unreadable: %s", self.path, error)
            record = None
        live = record is not None and not record.released and record.expires_at > self.clock()
        held.add_metric([], 1.0 if live else 0.0)
        if record is not None:
            expires.add_metric([], record.expires_at)
        yield held
        yield expires
