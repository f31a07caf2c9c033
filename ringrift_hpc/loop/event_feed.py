"""The lines `ringrift-hpc loop` prints: the journal's records appended since it started.

The journal is the source of truth, so the feed reads it rather than hooking the controller:
`poll` reads the complete lines after the offset it reached, formats them (`event_lines`) with
the leaderboards as they are then, and reports HALT appearing or going (a halt is a file, not a
record).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping

from ringrift_hpc.loop.event_lines import EventLines, Rated, summary_lines
from ringrift_hpc.loop.halt import read_halt
from ringrift_hpc.loop.status import leaderboard_rows, variants_status
from ringrift_hpc.store import RunLayout
from ringrift_hpc.store.journal import read_journal


class JournalFeed:
    """Prints each journal record appended after its creation, once."""

    def __init__(
        self, layout: RunLayout, echo: Callable[[str], None], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.layout = layout
        self.echo = echo
        self.clock = clock
        self.started = clock()
        # After the last complete line: a torn one is cut off when the controller opens the journal.
        self.offset = read_journal(layout.journal).valid_size
        self.format = EventLines(ratings=self.ratings)
        self.halted = read_halt(layout) is not None

    def ratings(self, variant: str) -> Mapping[str, Rated]:
        return {
            str(row.get("participant")): Rated(float(row["rating"]), float(row["lower"]), float(row["upper"]))
            for row in leaderboard_rows(self.layout, variant)
            if all(isinstance(row.get(key), (int, float)) for key in ("rating", "lower", "upper"))
        }

    def poll(self) -> None:
        """Print the records appended since the last poll, and a change of HALT."""
        halt = read_halt(self.layout)
        if (halt is not None) != self.halted:
            self.halted = halt is not None
            self.echo(f"HALTED: {halt.reason}" if halt is not None else "resumed: HALT removed")
        try:
            with self.layout.journal.open("rb") as file:
                file.seek(self.offset)
                data = file.read()
        except FileNotFoundError:
            return
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the controller's replay names a damaged line; the feed only shows
            if isinstance(record, dict):
                for text in self.format.lines(record):
                    self.echo(text)

    def summary(self) -> None:
        """Print what this loop decided, each variant's best with its rating, and the time taken."""
        self.poll()
        wall = self.clock() - self.started
        for text in summary_lines(variants_status(self.layout), self.format.tally, wall):
            self.echo(text)
