"""Writing `RUN/report/`: the chart images first, each named by its content, then `index.html`,
replaced atomically last (DESIGN.md §2: publish atomically, the file that makes the rest visible
last). A reader sees the old page or the new one, each with every image it names.

Images no page names any more are removed once they are `PRUNE_AFTER_S` old, so that a page a
browser loaded a moment ago, or the page of a second writer (`ringrift-hpc report` beside the
controller), keeps its images.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

from ringrift_hpc.config import Config
from ringrift_hpc.report.data import RunReport, read_report
from ringrift_hpc.report.page import ChartFile, render_page
from ringrift_hpc.store import RunLayout, atomic_write_bytes, atomic_write_text, clean_temp_files

log = logging.getLogger(__name__)

INDEX = "index.html"
PRUNE_AFTER_S = 600.0


def _file(stem: str, png: bytes) -> str:
    return f"{stem}.{hashlib.sha256(png).hexdigest()[:16]}.png"


def draw_charts(report: RunReport) -> list[tuple[ChartFile, bytes]]:
    """Every chart of `report` with its PNG bytes: the run's compute split, then per variant its
    ratings by generation and by compute, selfplay throughput and training losses."""
    from ringrift_hpc.report import charts  # matplotlib: imported only to draw

    level = f"{report.confidence * 100:g}%"
    anchors = (
        "Dashed lines: the players without a network (random, pinned at 0, and heuristic), their "
        "intervals shaded."
    )
    compute = charts.compute_chart(report.compute, measured=report.compute_measured)
    basis = (
        "CPU-hours the jobs measured (user plus system time of their processes, recorded in the "
        "shards, models and match files they published; jobs that published nothing count nothing)"
        if report.compute_measured
        else "Reserved CPU-hours of the ended jobs (wall time times the cores slurm.<kind>.cpus "
        "reserves; no job of this run recorded its measured CPU time)"
    )
    drawn = [
        (
            ChartFile(
                _file("compute", compute),
                "Compute split",
                f"{basis} by purpose: selfplay, train, evaluate (gating matches) and tournament, one "
                "segment per variant; the label is the purpose's share of the total.",
                None,
            ),
            compute,
        )
    ]
    for v in report.variants:
        pictures = (
            (
                "rating-generation",
                "Rating by generation",
                (
                    f"Elo of each promoted model on the current leaderboard, with its {level} interval, by "
                    f"the generation it was trained as. {anchors}"
                ),
                charts.rating_chart(v, by="generation", confidence=report.confidence),
            ),
            (
                "rating-compute",
                "Rating by compute",
                (
                    f"The same ratings by the reserved CPU-hours of the variant's jobs ended when the model "
                    f"was promoted. {anchors}"
                ),
                charts.rating_chart(v, by="compute", confidence=report.confidence),
            ),
            (
                "selfplay",
                "Selfplay throughput",
                (
                    "Training positions per second of playing time, per generation of the model playing "
                    "(the generation's positions over its shards' summed playing seconds)."
                ),
                charts.selfplay_chart(v),
            ),
            (
                "losses",
                "Training losses",
                (
                    "Policy and value loss of every trained candidate (promoted or not) by generation: "
                    "training over its last steps, validation on held-out positions where measured."
                ),
                charts.loss_chart(v),
            ),
        )
        drawn += [
            (ChartFile(_file(f"{stem}-{v.variant}", png), f"{v.variant}: {title}", caption, v.variant), png)
            for stem, title, caption, png in pictures
        ]
    return drawn


def _prune(directory: Path, keep: set[str]) -> None:
    """Remove chart images `keep` does not name once they are old (see the module docstring)."""
    now = time.time()  # file times are wall-clock times, whatever clock the caller runs on
    for entry in os.scandir(directory):
        stale = (
            entry.name.endswith(".png") and entry.name not in keep and entry.is_file(follow_symlinks=False)
        )
        if stale and now - entry.stat(follow_symlinks=False).st_mtime >= PRUNE_AFTER_S:
            Path(entry.path).unlink(missing_ok=True)
    clean_temp_files(directory, min_age_s=PRUNE_AFTER_S)


def write_report(layout: RunLayout, config: Config, *, now: float) -> Path:
    """Write the run's report (see the module docstring); returns the path of `index.html`."""
    report = read_report(layout, config, now=now)
    drawn = draw_charts(report)
    directory = layout.report_dir
    for chart, png in drawn:
        atomic_write_bytes(directory / chart.file, png)
    index = directory / INDEX
    atomic_write_text(index, render_page(report, [chart for chart, _ in drawn]))
    _prune(directory, {chart.file for chart, _ in drawn})
    return index


def refresh_report(layout: RunLayout, config: Config, *, now: float) -> str | None:
    """`write_report` for the loop: the failure as text (for the journal) instead of an exception.
    The report is a view of the run; drawing it must never stop the run itself."""
    try:
        write_report(layout, config, now=now)
    except Exception as error:  # any failure, matplotlib's included: the loop goes on
        log.exception("writing the run report failed")
        return f"report: writing {layout.report_dir} failed: {type(error).__name__}: {error}"
    return None
