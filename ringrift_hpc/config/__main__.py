"""`python -m ringrift_hpc.config > docs/config.md` regenerates the config reference."""

from __future__ import annotations

from .reference import config_reference_markdown

print(config_reference_markdown(), end="")
