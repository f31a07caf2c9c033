"""Which keys differ between two configs, for messages like "this run was started with another config"."""

from __future__ import annotations

from typing import Any

from .root import Config


def config_differences(old: Config, new: Config) -> tuple[str, ...]:
    """One line per differing key, `key.path: old -> new`, in config order; empty when equal."""
    lines: list[str] = []
    _compare(old.model_dump(mode="json"), new.model_dump(mode="json"), "", lines)
    return tuple(lines)


def _compare(old: Any, new: Any, path: str, lines: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            _compare(old[key], new[key], f"{path}.{key}" if path else key, lines)
    elif old != new:
        lines.append(f"{path}: {_show(old)} -> {_show(new)}")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)
