"""The typer command-line app; thin wrappers over the library."""
