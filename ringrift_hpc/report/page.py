"""The report's `index.html`: self-contained (inline CSS, PNG charts beside it, no external
script or style), so it reads the same offline, from a copied run directory or a web server.

A small inline script marks `<body>` once the page has loaded: `data-images` counts its images
and `data-broken-images` lists those that did not render, for a browser test (or a person in
the developer tools) to check.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ringrift_hpc.rating.participants import short_participant_id
from ringrift_hpc.report.data import RunReport

STYLE = """\
body { font-family: sans-serif; margin: 1.5em auto; max-width: 60em; color: #222; }
figure { margin: 1.5em 0; } figcaption { color: #555; font-size: 0.9em; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { padding: 0.2em 0.7em; }
th { border-bottom: 1px solid #999; } td.n { text-align: right; } code { font-size: 0.95em; }
"""
CHECK = """\
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !img.complete || img.naturalWidth === 0; });
  document.body.setAttribute("data-images", String(images.length));
  document.body.setAttribute("data-broken-images",
    broken.map(function (img) { return img.getAttribute("src"); }).join(" "));
});
"""


@dataclass(frozen=True)
class ChartFile:
    """A chart as the page shows it: its file (beside `index.html`), title and what it shows."""

    file: str
    title: str
    caption: str
    variant: str | None  # None for a chart of the whole run


def _utc(unix: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(unix))


def _figure(chart: ChartFile) -> str:
    e = html.escape
    return (
        f'<figure><img src="{e(chart.file)}" alt="{e(chart.title)}">'
        f"<figcaption><b>{e(chart.title)}.</b> {e(chart.caption)}</figcaption></figure>"
    )


def _interval(row: Mapping[str, Any], board: Mapping[str, Any]) -> str:
    return "pinned" if row["participant"] == board["anchor"] else f"{row['lower']:.0f} .. {row['upper']:.0f}"


def _leaderboard(board: Mapping[str, Any] | None, variant: str) -> str:
    if board is None:
        return f"<p>No leaderboard for {html.escape(variant)} yet: no tournament or evaluation was rated.</p>"
    e = html.escape
    percent = f"{float(board['confidence']) * 100:g}%"
    rows = "".join(
        f"<tr><td class=n>{row['rank']}</td><td><code>{e(short_participant_id(row['participant']))}</code>"
        f"{'' if row['anchored'] else ' *'}</td><td class=n>{row['rating']:.0f}</td>"
        f"<td class=n>{_interval(row, board)}</td><td class=n>{row['games']:,}</td>"
        f"<td class=n>{row['score']:.3f}</td></tr>"
        for row in board["rows"]
    )
    return (
        f"<p>Elo above <code>{e(str(board['anchor']))}</code> (pinned at 0), {e(str(board['model']))} fit "
        f"over {int(board['games']):,} games, {percent} intervals; * no chain of games links the "
        "participant to the anchor.</p>"
        f"<table><tr><th>#</th><th>participant</th><th>rating</th><th>{percent} interval</th>"
        f"<th>games</th><th>score</th></tr>{rows}</table>"
    )


def render_page(report: RunReport, charts: Sequence[ChartFile]) -> str:
    """The whole `index.html` of `report` with `charts`."""
    e = html.escape
    sections = [
        "<h2>Compute</h2>",
        *(_figure(c) for c in charts if c.variant is None),
    ]
    for variant in report.variants:
        sections += [
            f"<h2>{e(variant.variant)}</h2>",
            *(_figure(c) for c in charts if c.variant == variant.variant),
            "<h3>Leaderboard</h3>",
            _leaderboard(variant.leaderboard, variant.variant),
        ]
    body = "\n".join(sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ringrift-hpc report: {e(report.run)}</title>
<style>
{STYLE}</style>
</head>
<body>
<h1>Run {e(report.run)}</h1>
<p>Run directory <code>{e(report.root)}</code>; report written {_utc(report.written_at)}.
Rewritten by the controller after every promotion decision and by <code>ringrift-hpc report</code>.</p>
{body}
<script>
{CHECK}</script>
</body>
</html>
"""
