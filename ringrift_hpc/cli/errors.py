"""How every command reports a user error: the message on stderr and a non-zero exit."""

from __future__ import annotations

import typer


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` to stderr; raise the returned Exit (2 = bad input or state, by default)."""
    typer.echo(message, err=True)
    return typer.Exit(code)
