"""Child process for the leaderboard SIGKILL test: rewrites the leaderboard files in a loop.

Run as `python leaderboard_child.py RUN_DIR`; prints "ready" after the first complete write,
then cycles through `EDITIONS` forever until it is killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ringrift_hpc.rating.fit import Ratings, fit_ratings
from ringrift_hpc.rating.leaderboard import write_leaderboard
from ringrift_hpc.rating.synthetic import synthetic_table
from ringrift_hpc.store import RunLayout

EDITIONS = 4


def edition(k: int) -> Ratings:
    """Deterministic ratings of different sizes, so every edition's files differ."""
    rng = np.random.default_rng(k)
    participants = 40 + 60 * k
    true = np.concatenate([[0.0], rng.uniform(0.0, 800.0, participants - 1)])
    return fit_ratings(synthetic_table(true, 20 * participants, 2, rng))


def main(run_dir: Path) -> None:
    layout = RunLayout(run_dir)
    editions = [edition(k) for k in range(EDITIONS)]
    write_leaderboard(layout, editions[0])
    print("ready", flush=True)
    k = 1
    while True:
        write_leaderboard(layout, editions[k % EDITIONS])
        k += 1


if __name__ == "__main__":
    main(Path(sys.argv[1]))
