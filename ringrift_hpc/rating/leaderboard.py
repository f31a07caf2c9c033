"""Leaderboard files of one variant: `leaderboard.json`, `.md` and `.csv`, derived from a refit.

Only the controller (the single writer) writes them; each file is replaced atomically, so a
reader, or a writer killed half-way, only ever leaves a complete old or complete new file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ringrift_hpc.config.variants import Variant
from ringrift_hpc.rating.fit import RatingRow, Ratings, fit_ratings
from ringrift_hpc.rating.match_files import load_match_history
from ringrift_hpc.rating.participants import short_participant_id
from ringrift_hpc.rating.records import MatchGroup
from ringrift_hpc.rating.table import table_from_groups
from ringrift_hpc.store import RunLayout, atomic_write_json, atomic_write_text
from ringrift_hpc.store.versioned_json import parse_versioned_json

LEADERBOARD_FORMAT = "ringrift-hpc.leaderboard"
LEADERBOARD_VERSION = 1
CSV_COLUMNS = ("rank", "participant", "rating", "lower", "upper", "stderr", "games", "score", "anchored")


class LeaderboardError(ValueError):
    """A leaderboard file is not one this version reads."""


def refit_ratings(layout: RunLayout, variant: str, *, confidence: float, zero: str) -> Ratings:
    """Ratings fitted to the variant's whole match history (every published match file)."""
    return ratings_of(variant, load_match_history(layout, variant).groups, confidence=confidence, zero=zero)


def ratings_of(variant: str, groups: Iterable[MatchGroup], *, confidence: float, zero: str) -> Ratings:
    """Ratings fitted to `groups` of `variant` (the controller's, from its cache of match files),
    with the player `zero` pinned at 0 Elo."""
    table = table_from_groups(Variant.model_validate(variant), groups)
    return fit_ratings(table, anchor=zero, confidence=confidence)


def _row_json(rank: int, row: RatingRow) -> dict[str, Any]:
    return {
        "rank": rank,
        "participant": row.participant,
        "rating": round(row.rating, 2),
        "lower": round(row.lower, 2),
        "upper": round(row.upper, 2),
        "stderr": round(row.stderr, 2),
        "games": row.games,
        "score": round(row.score, 4),
        "anchored": row.anchored,
    }


def leaderboard_document(ratings: Ratings) -> dict[str, Any]:
    """The machine-readable leaderboard (the content of `leaderboard.json`)."""
    return {
        "format": LEADERBOARD_FORMAT,
        "format_version": LEADERBOARD_VERSION,
        "variant": ratings.variant.name,
        "model": ratings.model,
        "anchor": ratings.anchor,
        "scale": "Elo above the anchor (400 / ln 10 per unit of log-strength)",
        "confidence": ratings.confidence,
        "prior_sd_elo": ratings.prior_sd_elo,
        "games": ratings.games,
        "rows": [_row_json(rank, row) for rank, row in enumerate(ratings.rows, start=1)],
    }


def leaderboard_csv(ratings: Ratings) -> str:
    """One row per participant, best first, with a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for rank, row in enumerate(ratings.rows, start=1):
        doc = _row_json(rank, row)
        writer.writerow([doc[column] for column in CSV_COLUMNS])
    return out.getvalue()


def leaderboard_markdown(ratings: Ratings, *, short_ids: bool = True) -> str:
    """A table a person reads; model hashes are cut to 12 characters unless `short_ids` is false."""
    percent = f"{ratings.confidence * 100:g}%"
    lines = [
        f"# {ratings.variant} leaderboard",
        "",
        (
            f"Elo above `{ratings.anchor}` (pinned at 0), {ratings.model} fit over {ratings.games:,} games; "
            f"{percent} intervals. Score: share of opponents' seats finished ahead of, ties half."
        ),
        "",
        f"| # | participant | rating | {percent} interval | games | score |",
        "|--:|:--|--:|:--:|--:|--:|",
    ]
    unanchored = False
    for rank, row in enumerate(ratings.rows, start=1):
        name = short_participant_id(row.participant) if short_ids else row.participant
        mark = "" if row.anchored else " *"
        unanchored |= not row.anchored
        interval = "pinned" if row.participant == ratings.anchor else f"{row.lower:.0f} .. {row.upper:.0f}"
        lines.append(
            f"| {rank} | `{name}`{mark} | {row.rating:.0f} | {interval} | {row.games:,} | {row.score:.3f} |"
        )
    if unanchored:
        lines += [
            "",
            "\\* no chain of games links this participant to the anchor: its rating is only the prior's.",
        ]
    return "\n".join(lines) + "\n"


def write_leaderboard(layout: RunLayout, ratings: Ratings) -> tuple[Path, Path, Path]:
    """Replace the variant's three leaderboard files atomically; returns (json, md, csv) paths."""
    paths = (
        layout.leaderboard_json(ratings.variant.name),
        layout.leaderboard_md(ratings.variant.name),
        layout.leaderboard_csv(ratings.variant.name),
    )
    atomic_write_text(paths[2], leaderboard_csv(ratings))
    atomic_write_text(paths[1], leaderboard_markdown(ratings))
    atomic_write_json(paths[0], leaderboard_document(ratings))
    return paths


def read_leaderboard(path: Path) -> dict[str, Any]:
    """A `leaderboard.json` document, checked to be a leaderboard of this format version."""
    fix = "rerun the rating refit to rewrite it"
    return parse_versioned_json(
        path.read_bytes(),
        path,
        what="leaderboard",
        format_name=LEADERBOARD_FORMAT,
        version=LEADERBOARD_VERSION,
        error=LeaderboardError,
        fix=fix,
        version_fix=fix,
    )
