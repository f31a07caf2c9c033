"""The CPU time the run's jobs measured, per variant and purpose, folded from the journal.

Each job records the CPU seconds it used in what it publishes (`jobs.cpu_time`), and the
controller's ``ingested`` record of the artifact carries them: a selfplay shard's, a model's
(its training) and a match file's (an evaluation's or a tournament's task, told apart by the
evaluation id: `cluster.purposes.match_purpose`). A job that published nothing (it failed) and
an artifact ingested before jobs measured their CPU count nothing here; the reserved figures
(`job_figures`) count every ended attempt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ringrift_hpc.cluster.purposes import Purpose, check_purpose, match_purpose
from ringrift_hpc.loop.events import Event, MatchIngested, ModelIngested, ShardIngested, UnknownEvent

HOUR = 3600.0
# The status line's three parts: selfplay, training and evaluation (gating matches and tournaments).
_PARTS: tuple[tuple[str, tuple[Purpose, ...]], ...] = (
    ("selfplay", ("selfplay",)),
    ("training", ("train",)),
    ("evaluation", ("evaluate", "tournament")),
)


def measured(event: Event | UnknownEvent) -> tuple[tuple[str, Purpose], float] | None:
    """((variant, purpose), CPU seconds) of an ``ingested`` record that carries them, else None."""
    if isinstance(event, ShardIngested):
        purpose: Purpose = "selfplay"
    elif isinstance(event, ModelIngested):
        purpose = "train"
    elif isinstance(event, MatchIngested):
        purpose = match_purpose(event.eval_id)
    else:
        return None
    if event.cpu_seconds is None:
        return None
    return (event.variant, purpose), event.cpu_seconds


@dataclass(frozen=True)
class CpuSplit:
    """Measured CPU seconds by (variant, purpose)."""

    seconds: Mapping[tuple[str, Purpose], float]

    @classmethod
    def of(cls, events: Iterable[Event | UnknownEvent]) -> CpuSplit:
        totals: defaultdict[tuple[str, Purpose], float] = defaultdict(float)
        for event in events:
            found = measured(event)
            if found is not None:
                totals[found[0]] += found[1]
        return cls(dict(totals))

    def to_json(self) -> dict[str, dict[str, float]]:
        """{variant: {purpose: seconds}}."""
        doc: dict[str, dict[str, float]] = {}
        for (variant, purpose), seconds in sorted(self.seconds.items()):
            doc.setdefault(variant, {})[purpose] = seconds
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Mapping[str, float]]) -> CpuSplit:
        return cls(
            {
                (variant, check_purpose(purpose)): float(seconds)
                for variant, purposes in doc.items()
                for purpose, seconds in purposes.items()
            }
        )

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def purpose(self, *purposes: Purpose) -> float:
        """CPU seconds of the jobs of `purposes`, all variants together."""
        return sum(s for (_, p), s in self.seconds.items() if p in purposes)

    def evaluation_share(self) -> float | None:
        """Evaluation's (gating matches and tournaments) share of the total; None before any."""
        total = self.total
        return self.purpose("evaluate", "tournament") / total if total > 0 else None

    def line(self) -> str:
        """The status line: hours and share of selfplay, training and evaluation."""
        total = self.total
        if total <= 0:
            return "compute (measured CPU): no ingested artifact records it yet"
        parts = []
        for name, purposes in _PARTS:
            seconds = self.purpose(*purposes)
            parts.append(f"{name} {seconds / HOUR:.2f} h ({seconds / total:.0%})")
        return "compute (measured CPU): " + ", ".join(parts)
