"""`ringrift-hpc` entry point: registers every sub-command."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="ringrift-hpc",
    help="Slurm-first AlphaZero-style self-improvement loop for RingRift.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """ringrift-hpc: run, inspect and test the RingRift training loop."""


def main() -> None:
    app()
