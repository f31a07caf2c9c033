"""`ringrift-hpc bench controller`: time one controller tick and a restart's journal replay at
the size of a weeks-long run; thin printing over `ringrift_hpc.bench.controller_bench`."""

from __future__ import annotations

import typer

SCALES = (100, 10, 1)  # the tick is timed at the sizes divided by each


def controller_command(
    shards: int = typer.Option(
        100_000, "--shards", min=1, help="Published selfplay shards at the largest size."
    ),
    matches: int = typer.Option(
        10_000, "--matches", min=1, help="Published match files at the largest size."
    ),
    models: int = typer.Option(1_000, "--models", min=1, help="Published models at the largest size."),
    records: int = typer.Option(1_000_000, "--records", min=1, help="Journal records the restart replays."),
) -> None:
    """Build synthetic runs in a temporary directory; report tick and replay times and targets."""
    # Imported here: the controller brings the job modules, which only this command needs.
    from ringrift_hpc.bench.controller_bench import time_replay, time_tick
    from ringrift_hpc.loop.replay_snapshot import EVERY_RECORDS, EVERY_S

    typer.echo("controller tick: a restarted controller's first tick lists every directory once;")
    typer.echo(
        "the steady tick finds one new shard and one new match file (poll, ingest, refit, state, metrics)"
    )
    typer.echo(
        f"{'shards':>9}{'matches':>9}{'models':>8}{'journal':>10}{'first tick':>12}{'tick':>9}{'target':>8}"
    )
    for scale in SCALES:
        tick = time_tick(
            shards=max(1, shards // scale), matches=max(1, matches // scale), models=max(1, models // scale)
        )
        typer.echo(
            f"{tick.shards:>9,}{tick.matches:>9,}{tick.models:>8,}{tick.journal_records:>10,}"
            f"{tick.first_tick_s:>11.3f}s{tick.tick_s:>8.3f}s{tick.target_s:>7.1f}s"
        )
    replay = time_replay(records)
    verdict = "meets" if replay.seconds <= replay.target_s else "misses"
    typer.echo(
        f"replay snapshot: {replay.snapshot_megabytes:.0f} MB written in {replay.snapshot_write_s:.2f} s "
        f"(every {EVERY_RECORDS:,} records or {EVERY_S:.0f} s, at the end of a tick)"
    )
    typer.echo(f"full journal replay (no snapshot): {replay.full_replay_s:.2f} s")
    typer.echo(
        f"journal replay: {replay.records:,} records ({replay.megabytes:.0f} MB) in {replay.seconds:.2f} s "
        f"from the snapshot and a {replay.tail:,}-record tail; target {replay.target_s:.1f} s ({verdict} it)"
    )
