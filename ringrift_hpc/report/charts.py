"""The report's charts as PNG bytes, drawn with matplotlib's Agg canvas (no display, no pyplot
state). Imported only when a report is written: matplotlib takes a second to import, which the
CLI's other commands must not pay. A chart without data is an image that says so."""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ringrift_hpc.report.data import ComputeShare, PromotedModel, VariantReport

SIZE = (7.0, 3.6)  # inches
DPI = 100
ANCHOR_COLOURS = ("tab:gray", "tab:orange", "tab:purple", "tab:brown")


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=SIZE, layout="constrained")
    return figure, figure.add_subplot()


def _generations(axes: Axes) -> None:
    """Label an axis of generations with whole numbers only."""
    axes.set_xlabel("generation")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def no_data(title: str, why: str) -> bytes:
    """A chart's place before its data exists."""
    figure, axes = _figure()
    axes.set_title(title)
    axes.text(0.5, 0.5, f"no data yet\n{why}", ha="center", va="center", fontsize=13, color="dimgray")
    axes.set_axis_off()
    return _png(figure)


def rating_chart(variant: VariantReport, *, by: str, confidence: float) -> bytes:
    """Each promoted model's rating and interval by generation (`by="generation"`) or by the
    CPU-hours spent when it was promoted (`by="compute"`), over the anchors' lines."""
    title = f"{variant.variant}: rating of promoted models by {by}"
    points = [
        (_x(m, by), m.rating)
        for m in variant.promoted
        if m.rating is not None and (by == "compute" or m.generation is not None)
    ]
    if not points:
        return no_data(title, "no promoted model is on the leaderboard")
    figure, axes = _figure()
    axes.errorbar(
        [x for x, _ in points],
        [r.rating for _, r in points],
        yerr=[[r.rating - r.lower for _, r in points], [r.upper - r.rating for _, r in points]],
        fmt="o-",
        capsize=3,
        label="promoted model",
    )
    for anchor, colour in zip(variant.anchors, ANCHOR_COLOURS):
        axes.axhline(anchor.rating, color=colour, linestyle="--", label=anchor.participant)
        if anchor.upper > anchor.lower:
            axes.axhspan(anchor.lower, anchor.upper, color=colour, alpha=0.15)
    axes.set_title(title)
    if by == "generation":
        _generations(axes)
    else:
        axes.set_xlabel("CPU-hours of the variant's jobs")
    axes.set_ylabel(f"Elo ({confidence * 100:g}% interval)")
    axes.legend(loc="best", fontsize=8)
    axes.grid(alpha=0.3)
    return _png(figure)


def _x(model: PromotedModel, by: str) -> float:
    if by == "compute":
        return model.cpu_hours
    assert model.generation is not None
    return float(model.generation)


def selfplay_chart(variant: VariantReport) -> bytes:
    title = f"{variant.variant}: selfplay positions per second"
    if not variant.selfplay:
        return no_data(title, "no selfplay shard ingested")
    figure, axes = _figure()
    axes.plot([s.generation for s in variant.selfplay], [s.positions_per_s for s in variant.selfplay], "o-")
    axes.set_title(title)
    _generations(axes)
    axes.set_xlabel("generation of the model playing")
    axes.set_ylabel("positions / s of playing time")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    return _png(figure)


def loss_chart(variant: VariantReport) -> bytes:
    title = f"{variant.variant}: training losses"
    if not variant.losses:
        return no_data(title, "no trained model ingested")
    figure = Figure(figsize=SIZE, layout="constrained")
    figure.suptitle(title)
    generations = [loss.generation for loss in variant.losses]
    for column, (name, train, validation) in enumerate(
        (
            ("policy", [x.policy for x in variant.losses], [x.validation_policy for x in variant.losses]),
            ("value", [x.value for x in variant.losses], [x.validation_value for x in variant.losses]),
        )
    ):
        axes = figure.add_subplot(1, 2, column + 1)
        axes.plot(generations, train, "o", label="training")
        measured = [(g, v) for g, v in zip(generations, validation) if v is not None]
        if measured:
            axes.plot([g for g, _ in measured], [v for _, v in measured], "s", label="validation")
        axes.set_title(f"{name} loss")
        _generations(axes)
        axes.legend(loc="best", fontsize=8)
        axes.grid(alpha=0.3)
    return _png(figure)


def compute_chart(shares: Sequence[ComputeShare], *, measured: bool) -> bytes:
    """Measured or reserved CPU-hours by purpose, one stacked segment per variant."""
    title = f"compute split: {'measured' if measured else 'reserved'} CPU-hours by job purpose"
    if not any(s.cpu_hours > 0 for s in shares):
        return no_data(title, "no job has ended")
    figure, axes = _figure()
    purposes = sorted({s.purpose for s in shares})
    base = [0.0] * len(purposes)
    for variant in sorted({s.variant for s in shares}):
        hours = [
            sum(s.cpu_hours for s in shares if s.variant == variant and s.purpose == p) for p in purposes
        ]
        axes.bar(purposes, hours, bottom=base, label=variant)
        base = [b + h for b, h in zip(base, hours)]
    total = sum(base)
    for index, height in enumerate(base):
        axes.annotate(f"{height / total:.0%}", (index, height), ha="center", va="bottom", fontsize=9)
    axes.set_title(title)
    axes.set_ylabel("CPU-hours")
    axes.legend(loc="best", fontsize=8)
    axes.grid(alpha=0.3, axis="y")
    return _png(figure)
