"""Prometheus textfiles: metric families rendered in the text exposition format and written
atomically to ``RUN/metrics/<name>.prom``, where the metrics server (or a node exporter's
textfile collector) picks them up.

Each writer owns its file and rewrites it whole, so a reader never sees half of one. Counters
are named ``*_total`` and never negative; samples carry no timestamps (the scrape time is
theirs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ringrift_hpc.store import RunLayout, atomic_write_text

MetricKind = Literal["gauge", "counter"]

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class MetricError(ValueError):
    """A metric that cannot be written as valid exposition text."""


@dataclass(frozen=True)
class Sample:
    """One value of a family, with its labels sorted by name."""

    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass(frozen=True)
class MetricFamily:
    """A named gauge or counter with its help text and samples."""

    name: str
    kind: MetricKind
    help: str
    samples: tuple[Sample, ...]

    def __post_init__(self) -> None:
        if not _METRIC_NAME.fullmatch(self.name):
            raise MetricError(f"metric name {self.name!r} is not [a-zA-Z_:][a-zA-Z0-9_:]*")
        if self.kind not in ("gauge", "counter"):
            raise MetricError(f"metric {self.name}: kind {self.kind!r} is neither gauge nor counter")
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise MetricError(f"counter {self.name} must be named *_total, e.g. {self.name}_total")
        if not self.help.strip():
            raise MetricError(f"metric {self.name} needs a help text saying what it counts")
        seen: set[tuple[tuple[str, str], ...]] = set()
        for sample in self.samples:
            for label, _ in sample.labels:
                if not _LABEL_NAME.fullmatch(label) or label.startswith("__"):
                    raise MetricError(
                        f"metric {self.name}: label name {label!r} is not a Prometheus label name"
                    )
            if sample.labels in seen:
                raise MetricError(f"metric {self.name}: two samples with labels {dict(sample.labels)}")
            seen.add(sample.labels)
            if self.kind == "counter" and not (math.isfinite(sample.value) and sample.value >= 0):
                raise MetricError(
                    f"counter {self.name}{dict(sample.labels)} = {sample.value}; counters are >= 0"
                )


def family(
    name: str, kind: MetricKind, help_text: str, samples: Iterable[tuple[Mapping[str, str], float]]
) -> MetricFamily:
    """A family from (labels, value) pairs, e.g.
    ``family("x", "gauge", "...", [({"purpose": "train"}, 2)])``."""
    return MetricFamily(
        name,
        kind,
        help_text,
        tuple(Sample(tuple(sorted(labels.items())), float(value)) for labels, value in samples),
    )


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def render_textfile(families: Iterable[MetricFamily]) -> str:
    """Exposition text (format 0.0.4) of ``families``, each with its HELP and TYPE lines."""
    families = list(families)
    names = [f.name for f in families]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise MetricError(f"metric families {', '.join(repeated)} appear more than once in one file")
    lines = []
    for metric in families:
        lines.append(f"# HELP {metric.name} {_escape_help(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for sample in metric.samples:
            labels = ",".join(f'{key}="{_escape_label(value)}"' for key, value in sample.labels)
            lines.append(
                f"{metric.name}{{{labels}}} {_number(sample.value)}"
                if labels
                else f"{metric.name} {_number(sample.value)}"
            )
    return "\n".join(lines) + "\n" if lines else ""


def write_textfile(path: Path, families: Iterable[MetricFamily]) -> None:
    """Replace the textfile at ``path`` atomically."""
    atomic_write_text(path, render_textfile(families))


def write_run_textfile(layout: RunLayout, name: str, families: Iterable[MetricFamily]) -> Path:
    """Replace ``RUN/metrics/<name>.prom``; ``name`` is a plain file name such as ``controller``."""
    path = layout.metrics_file(name)
    write_textfile(path, families)
    return path
