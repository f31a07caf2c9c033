"""Validation of the names that become path components of the run directory."""

from __future__ import annotations

import re

from ringrift_hpc.store.errors import UnsafePathError

# A leading alphanumeric excludes "", ".", "..", hidden names and the store's own temp files
# (".<name>.<hex>.tmp"), so a validated component can never collide with them or climb out.
_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_VARIANT = re.compile(r"[a-z][a-z0-9]*_[1-9][0-9]*p")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_component(value: str, *, what: str) -> str:
    """Return `value` if it is a safe single path component, else raise `UnsafePathError`."""
    if not isinstance(value, str) or _COMPONENT.fullmatch(value) is None:
        raise UnsafePathError(
            f"{what} {value!r} is not a safe file name: use 1-128 characters from "
            "[A-Za-z0-9._-] starting with a letter or digit (no '/', no leading '.')"
        )
    return value


def check_variant(value: str) -> str:
    """Return `value` if it has the `<board>_<n>p` shape (e.g. `hex8_2p`)."""
    if not isinstance(value, str) or _VARIANT.fullmatch(value) is None:
        raise UnsafePathError(
            f"variant {value!r} is not of the form <board>_<players>p with a lower-case board "
            "name, e.g. 'square8_2p' or 'hexagonal_4p'"
        )
    return value


def check_model_id(value: str) -> str:
    """Return `value` if it is a model id: the lower-case hex sha256 of the weights file."""
    if not isinstance(value, str) or _SHA256.fullmatch(value) is None:
        raise UnsafePathError(
            f"model id {value!r} is not a sha256 digest: use the 64 lower-case hex characters "
            "of the weights file's sha256"
        )
    return value


def check_generation(value: int) -> int:
    """Return `value` if it is a non-negative integer generation number."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UnsafePathError(f"generation {value!r} must be a non-negative integer")
    return value
