"""A shared filesystem as the controller's login node sees it: published files show up late.

`LaggedScan` stands in for the controller's `scan` (`loop.ingest.scan_variant`): a file a job
published becomes visible only `lag` scans of its variant (one per tick) after the scan that
first found it on disk, so the scheduler's "job ended" is seen before the job's artifact, as
on NFS or Lustre. What is visible is scanned by the real `scan_variant`; what is not yet
visible is left out of that scan as if it were not there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ringrift_hpc.loop.events import Event
from ringrift_hpc.loop.ingest import scan_variant
from ringrift_hpc.store import RunLayout


@dataclass
class LaggedScan:
    lag: int  # scans of a variant before a newly published file is visible to it
    scans: dict[str, int] = field(default_factory=dict)  # variant -> scans so far
    first_seen: dict[str, int] = field(default_factory=dict)  # run-relative path -> its first scan
    hidden_total: int = 0  # files left out of a scan, over all scans (the lag did something)

    def __call__(self, layout: RunLayout, variant: str, ingested: frozenset[str]) -> list[Event]:
        scan = self.scans[variant] = self.scans.get(variant, 0) + 1
        hidden = set()
        root = layout.variant_dir(variant)
        for path in sorted(root.rglob("*")) if root.is_dir() else ():
            if not path.is_file():
                continue
            relative = str(layout.relative(path))
            if scan - self.first_seen.setdefault(relative, scan) < self.lag:
                hidden.add(relative)
        self.hidden_total += len(hidden)
        # `scan_variant` skips the paths it is told were ingested: the hidden ones are not there yet.
        return scan_variant(layout, variant, ingested | hidden)
