"""HTTP routes that serve a run's published artifacts to peers and install the ones they upload.

Uploading is two steps: PUT the bytes as a blob named by their sha256 (verified while written),
then POST the index entry, which installs the staged blob with its manifest. Only the POST is
fenced (`may_install` sees the sender's term), because only it changes what the run publishes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from ringrift_hpc.p2p.artifacts import (
    ArtifactConflictError,
    ArtifactEntry,
    ArtifactIndex,
    InstallReply,
    InstallRequest,
    artifact_index,
    blob_path,
    install_artifact,
)
from ringrift_hpc.p2p.http_guard import json_error, read_json, read_verified_stream
from ringrift_hpc.p2p.wire import WireError
from ringrift_hpc.store.errors import CorruptArtifactError
from ringrift_hpc.store.layout import RunLayout

_BLOBS = "/v1/blobs/"


def is_streaming(request: web.Request) -> bool:
    """Blob uploads are streamed to disk instead of read into memory by the guard."""
    return request.method == "PUT" and request.path.startswith(_BLOBS)


def artifact_routes(
    layout: RunLayout, *, may_install: Callable[[int], str | None], max_body_bytes: int
) -> list[web.RouteDef]:
    """GET/POST /v1/artifacts and GET/PUT /v1/blobs/{sha256} for the run at `layout`.

    `may_install(term)` returns None to allow an install, else the reason it is refused (409).
    """
    # Installs run in a thread (hashing is slow); one at a time, so two uploads of one path
    # cannot interleave their rename and manifest link.
    install_lock = asyncio.Lock()

    # sha256 -> entry, refreshed from the run directory on a miss: artifacts are immutable, so a
    # hit stays right as long as its files are still there (not quarantined or pruned meanwhile).
    known: dict[str, ArtifactEntry] = {}

    async def fresh_index() -> list[ArtifactEntry]:
        entries = await asyncio.to_thread(artifact_index, layout)
        known.clear()
        known.update((entry.sha256, entry) for entry in entries)
        return entries

    async def index(request: web.Request) -> web.StreamResponse:
        entries = await fresh_index()
        return web.json_response(ArtifactIndex(artifacts=tuple(entries)).to_json())

    async def get_blob(request: web.Request) -> web.StreamResponse:
        sha = request.match_info["sha256"]
        try:
            blob_path(layout, sha)  # validates the name
        except ValueError as error:
            return json_error(400, str(error))
        entry = known.get(sha)
        if entry is None or not _present(layout, entry):
            await fresh_index()
            entry = known.get(sha)
        if entry is None:
            return json_error(
                404, f"no published artifact has sha256 {sha}; list them with GET /v1/artifacts"
            )
        return web.FileResponse(layout.root / entry.artifact)

    async def put_blob(request: web.Request) -> web.StreamResponse:
        sha = request.match_info["sha256"]
        try:
            dest = blob_path(layout, sha)
        except ValueError as error:
            return json_error(400, str(error))
        digest = await read_verified_stream(request, dest, max_bytes=max_body_bytes, expected_sha256=sha)
        return web.json_response({"sha256": digest})

    async def post_artifact(request: web.Request) -> web.StreamResponse:
        try:
            ask = InstallRequest.from_json(await read_json(request))
        except WireError as error:
            return json_error(400, f"bad {error}")
        entry = ask.entry
        refusal = may_install(ask.term)
        if refusal is not None:
            return json_error(409, refusal)
        async with install_lock:
            try:
                installed = await asyncio.to_thread(
                    install_artifact, layout, entry, blob_path(layout, entry.sha256)
                )
            except FileNotFoundError:
                return json_error(
                    404,
                    f"the blob {entry.sha256} of {entry.artifact} was not uploaded; "
                    f"PUT {_BLOBS}{entry.sha256} first",
                )
            except ArtifactConflictError as error:
                return json_error(409, str(error))
            except CorruptArtifactError as error:
                return json_error(400, str(error))
        return web.json_response(InstallReply(installed=installed).to_json())

    return [
        web.get("/v1/artifacts", index),
        web.post("/v1/artifacts", post_artifact),
        web.get(_BLOBS + "{sha256}", get_blob),
        web.put(_BLOBS + "{sha256}", put_blob),
    ]


def _present(layout: RunLayout, entry: ArtifactEntry) -> bool:
    return (layout.root / entry.path).is_file() and (layout.root / entry.artifact).is_file()
