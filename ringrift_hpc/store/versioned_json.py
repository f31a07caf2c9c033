"""Reading a versioned JSON document (lease, manifest, leaderboard): JSON, format name, version.

Every such file starts with the same two fields, `format` and `format_version`; a reader
refuses a file that is not JSON, not its format or another version, naming the file, the
field and the fix its caller gives.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def parse_versioned_json(
    raw: bytes,
    path: Path,
    *,
    what: str,
    format_name: str,
    version: int,
    error: type[Exception],
    fix: str,
    version_fix: str,
) -> dict[str, Any]:
    """The object in `raw` (the content of `path`, a `what`), checked to be `format_name` `version`.

    Raises `error`: with `fix` for a file that is not JSON or not of the format, with
    `version_fix` for one of another version.
    """
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as problem:
        raise error(f"{path}: {what} is not valid JSON ({problem}); {fix}") from None
    if not isinstance(doc, dict) or doc.get("format") != format_name:
        raise error(f"{path}: not a {format_name} file (field 'format'); {fix}")
    if doc.get("format_version") != version:
        raise error(
            f"{path}: field 'format_version' is {doc.get('format_version')!r}, this ringrift-hpc reads "
            f"version {version}; {version_fix}"
        )
    return doc
