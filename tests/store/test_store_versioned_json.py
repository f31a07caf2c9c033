"""parse_versioned_json: each way a versioned document can be wrong is refused with its own fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringrift_hpc.store.versioned_json import parse_versioned_json


class DocError(Exception):
    pass


def parse(raw: bytes) -> dict[str, object]:
    return parse_versioned_json(
        raw,
        Path("run/doc.json"),
        what="doc",
        format_name="ringrift-hpc.doc",
        version=2,
        error=DocError,
        fix="rewrite it",
        version_fix="upgrade",
    )


def test_a_document_of_the_format_and_version_is_returned_whole() -> None:
    assert parse(b'{"format": "ringrift-hpc.doc", "format_version": 2, "x": 1}')["x"] == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", r"run/doc.json: doc is not valid JSON .*; rewrite it"),
        (b"\xff\xfe\x00", r"doc is not valid JSON .*; rewrite it"),
        (b"[1]", r"not a ringrift-hpc.doc file \(field 'format'\); rewrite it"),
        (b'{"format": "other"}', r"field 'format'\); rewrite it"),
        (
            b'{"format": "ringrift-hpc.doc", "format_version": 1}',
            r"field 'format_version' is 1, this ringrift-hpc reads version 2; upgrade",
        ),
    ],
)
def test_each_problem_names_the_file_the_field_and_the_fix(raw: bytes, message: str) -> None:
    with pytest.raises(DocError, match=message):
        parse(raw)
