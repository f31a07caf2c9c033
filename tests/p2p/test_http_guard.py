"""The guard middleware and PeerClient over real loopback HTTP: signed calls pass, everything else is refused."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ringrift_hpc.p2p.auth import Credentials, RequestVerifier, body_sha256, sign_headers
from ringrift_hpc.p2p.client import PeerClient, PeerError
from ringrift_hpc.p2p.http_guard import (
    PEER_NODE,
    guard_middleware,
    json_error,
    read_json,
    read_verified_stream,
)

SECRET = b"the shared token of this test cluster"
CREDS = Credentials("node-b", SECRET)
MAX_JSON = 4096
MAX_UPLOAD = 256 << 10
BLOB = bytes(range(256)) * 1000  # 256,000 bytes: several chunks, under MAX_UPLOAD
BLOB_SHA = hashlib.sha256(BLOB).hexdigest()


@dataclass
class Node:
    url: str
    blobs: Path
    calls: list[str] = field(default_factory=list)


def _app(blobs: Path, calls: list[str]) -> web.Application:
    verifier = RequestVerifier(SECRET, window_s=30.0)

    def streaming(request: web.Request) -> bool:
        return request.method == "PUT" and request.path.startswith("/v1/blobs/")

    app = web.Application(
        middlewares=[
            guard_middleware(
                verifier, max_body_bytes=MAX_UPLOAD, max_json_bytes=MAX_JSON, streaming=streaming
            )
        ]
    )

    async def echo_get(request: web.Request) -> web.Response:
        calls.append("GET /v1/echo")
        return web.json_response({"peer": request[PEER_NODE], "query": dict(request.query)})

    async def echo_post(request: web.Request) -> web.Response:
        calls.append("POST /v1/echo")
        return web.json_response({"peer": request[PEER_NODE], "got": await read_json(request)})

    async def conflict(request: web.Request) -> web.Response:
        return json_error(409, "term 3 is older than 7", term=7)

    async def put_blob(request: web.Request) -> web.Response:
        calls.append("PUT /v1/blobs")
        name = request.match_info["sha"]
        digest = await read_verified_stream(request, blobs / name, max_bytes=MAX_UPLOAD, expected_sha256=name)
        return web.json_response({"sha256": digest})

    async def get_blob(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(blobs / request.match_info["sha"])

    app.router.add_get("/v1/echo", echo_get)
    app.router.add_post("/v1/echo", echo_post)
    app.router.add_post("/v1/conflict", conflict)
    app.router.add_put("/v1/blobs/{sha}", put_blob)
    app.router.add_get("/v1/blobs/{sha}", get_blob)
    return app


@contextlib.asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[Node]:
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    calls: list[str] = []
    runner = web.AppRunner(_app(blobs, calls))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Node(f"http://127.0.0.1:{port}", blobs, calls)
    finally:
        await runner.cleanup()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=30))


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def raw(
    node: Node, method: str, path: str, *, headers: dict[str, str] | None = None, data: Any = b""
) -> tuple[int, dict[str, Any]]:
    """One request through plain aiohttp, with exactly the given headers."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, node.url + path, headers=headers or {}, data=data) as response,
    ):
        return response.status, await response.json()


def test_signed_get_and_post_round_trip(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as node, PeerClient(node.url, CREDS) as peer:
            query = {"q": "a b&c=d/é", "n": "1"}
            assert await peer.get_json("/v1/echo", query) == {"peer": "node-b", "query": query}
            payload = {"term": 3, "text": "ünïcode", "nested": [1, {"x": None}]}
            assert await peer.post_json("/v1/echo", payload) == {"peer": "node-b", "got": payload}

    run(scenario)


def test_unsigned_request_is_refused_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as node:
            with caplog.at_level("WARNING", logger="ringrift_hpc.p2p.auth"):
                status, body = await raw(node, "GET", "/v1/echo?x=1")
            assert status == 401
            assert body["error"].startswith("unsigned request: missing header(s) X-RR-Node")
            assert node.calls == []

    run(scenario)
    [record] = [r for r in caplog.records if r.name == "ringrift_hpc.p2p.auth"]
    assert record.levelname == "WARNING"
    message = record.getMessage()
    assert "refused 401 GET '/v1/echo?x=1' from 127.0.0.1: unsigned request" in message


def test_wrong_secret_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as node:
            intruder = Credentials("node-b", b"a different token of enough length")
            async with PeerClient(node.url, intruder) as peer:
                with pytest.raises(PeerError) as refused:
                    await peer.post_json("/v1/echo", {"x": 1})
            assert refused.value.status == 401
            assert refused.value.payload == {"error": "bad signature: wrong token file?"}
            assert "HTTP 401: bad signature: wrong token file?" in str(refused.value)
            assert node.url + "/v1/echo" in str(refused.value)
            assert node.calls == []

    run(scenario)


def test_stale_timestamp_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as node:
            headers = sign_headers(CREDS, "GET", "/v1/echo", body_sha256(b""), now=time.time() - 120)
            status, body = await raw(node, "GET", "/v1/echo", headers=headers)
            assert status == 401
            assert body["error"].startswith("stale request: timestamp ")
            assert "check clocks (NTP) or request_window_s" in body["error"]

    run(scenario)


def test_replayed_request_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as node:
            body = b'{"job": 1}'
            headers = sign_headers(CREDS, "POST", "/v1/echo", body_sha256(body), now=time.time())
            assert (await raw(node, "POST", "/v1/echo", headers=headers, data=body))[0] == 200
            status, refusal = await raw(node, "POST", "/v1/echo", headers=headers, data=body)
            assert status == 401
            assert refusal["error"].startswith("replayed request: nonce ")
            assert node.calls == ["POST /v1/echo"]

    run(scenario)


def test_tampered_body_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as node:
            signed = b'{"status": "failed"}'
            headers = sign_headers(CREDS, "POST", "/v1/echo", body_sha256(signed), now=time.time())
            status, body = await raw(node, "POST", "/v1/echo", headers=headers, data=b'{"status": "ok"}')
            assert (status, body) == (401, {"error": "body does not match its signed hash"})
            assert node.calls == []

    run(scenario)


def test_oversize_bodies_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as node:
            async with PeerClient(node.url, CREDS) as peer:
                with pytest.raises(PeerError) as refused:
                    await peer.post_json("/v1/echo", {"pad": "x" * MAX_JSON})
            assert refused.value.status == 413
            assert refused.value.payload["error"].startswith("body of ")

            # Without Content-Length the guard stops reading as soon as the limit is passed.
            big = b"x" * (MAX_JSON + 1)

            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, len(big), 1000):
                    yield big[start : start + 1000]

            headers = sign_headers(CREDS, "POST", "/v1/echo", body_sha256(big), now=time.time())
            status, body = await raw(node, "POST", "/v1/echo", headers=headers, data=chunks())
            assert (status, body) == (413, {"error": f"body exceeds the limit of {MAX_JSON} bytes"})
            assert node.calls == []

    run(scenario)


def test_bad_json_is_a_400_with_a_json_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as node:
            for body, error in [
                (b"{not json", "request body is not valid JSON: "),
                (b"[1, 2]", "request body must be a JSON object, not list"),
                (b'{"x": NaN}', "request body is not valid JSON: NaN is not valid JSON"),
            ]:
                headers = sign_headers(CREDS, "POST", "/v1/echo", body_sha256(body), now=time.time())
                status, reply = await raw(node, "POST", "/v1/echo", headers=headers, data=body)
                assert status == 400
                assert reply["error"].startswith(error)

    run(scenario)


def test_conflict_keeps_the_json_payload(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as node, PeerClient(node.url, CREDS) as peer:
            with pytest.raises(PeerError) as refused:
                await peer.post_json("/v1/conflict", {"term": 3})
            assert refused.value.status == 409
            assert refused.value.payload == {"error": "term 3 is older than 7", "term": 7}

    run(scenario)


def test_streamed_upload_is_verified(tmp_path: Path) -> None:
    async def scenario() -> None:
        src = tmp_path / "model.pt"
        src.write_bytes(BLOB)
        async with serving(tmp_path) as node, PeerClient(node.url, CREDS) as peer:
            assert await peer.put_file(f"/v1/blobs/{BLOB_SHA}", src) == {"sha256": BLOB_SHA}
            assert (node.blobs / BLOB_SHA).read_bytes() == BLOB
            assert leftovers(node.blobs) == [BLOB_SHA]

    run(scenario)


def test_tampered_or_oversize_upload_leaves_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as node:
            path = f"/v1/blobs/{BLOB_SHA}"
            tampered = BLOB[:-1] + b"!"
            headers = sign_headers(CREDS, "PUT", path, BLOB_SHA, now=time.time())
            status, body = await raw(node, "PUT", path, headers=headers, data=tampered)
            assert (status, body) == (401, {"error": "body does not match its signed hash"})

            # Signed correctly, but not the content the URL names.
            headers = sign_headers(CREDS, "PUT", path, body_sha256(tampered), now=time.time())
            status, body = await raw(node, "PUT", path, headers=headers, data=tampered)
            assert status == 400
            assert "this upload must have sha256" in body["error"]

            huge = b"y" * (MAX_UPLOAD + 1)
            huge_path = f"/v1/blobs/{body_sha256(huge)}"
            headers = sign_headers(CREDS, "PUT", huge_path, body_sha256(huge), now=time.time())
            status, body = await raw(node, "PUT", huge_path, headers=headers, data=huge)
            assert status == 413

            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, len(huge), 50_000):
                    yield huge[start : start + 50_000]

            headers = sign_headers(CREDS, "PUT", huge_path, body_sha256(huge), now=time.time())
            status, body = await raw(node, "PUT", huge_path, headers=headers, data=chunks())
            assert (status, body) == (413, {"error": f"upload exceeds the limit of {MAX_UPLOAD} bytes"})
            assert leftovers(node.blobs) == []

    run(scenario)


def test_upload_cut_off_midway_leaves_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as node:
            path = f"/v1/blobs/{BLOB_SHA}"
            signed = sign_headers(CREDS, "PUT", path, BLOB_SHA, now=time.time())
            head = "".join(f"{name}: {value}\r\n" for name, value in signed.items())
            port = int(node.url.rsplit(":", 1)[1])
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(BLOB)}\r\n{head}\r\n".encode()
            )
            writer.write(BLOB[: len(BLOB) // 2])
            await writer.drain()
            deadline = time.monotonic() + 10
            while not node.calls and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert node.calls == ["PUT /v1/blobs"]
            writer.close()
            # The handler created its temp file before it read a byte; it must remove it on the cut.
            while leftovers(node.blobs) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert leftovers(node.blobs) == []

    run(scenario)


def test_oversize_upload_through_the_client_is_a_413(tmp_path: Path) -> None:
    async def scenario() -> None:
        src = tmp_path / "huge.bin"
        src.write_bytes(b"z" * (8 * MAX_UPLOAD))
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        async with serving(tmp_path) as node, PeerClient(node.url, CREDS) as peer:
            with pytest.raises(PeerError) as refused:
                await peer.put_file(f"/v1/blobs/{digest}", src)
            assert refused.value.status == 413
            assert leftovers(node.blobs) == []
            assert node.calls == []

    run(scenario)


def test_download_is_verified_before_it_lands(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as node, PeerClient(node.url, CREDS) as peer:
            (node.blobs / BLOB_SHA).write_bytes(BLOB)
            inbox = tmp_path / "inbox"
            good = inbox / "models" / "model.pt"
            assert await peer.get_to_file(f"/v1/blobs/{BLOB_SHA}", good, expected_sha256=BLOB_SHA) == len(
                BLOB
            )
            assert good.read_bytes() == BLOB

            bad = inbox / "models" / "other.pt"
            with pytest.raises(PeerError, match="hash mismatch") as refused:
                await peer.get_to_file(f"/v1/blobs/{BLOB_SHA}", bad, expected_sha256="0" * 64)
            assert refused.value.status == 200
            with pytest.raises(PeerError, match="exceeds max_bytes=1000"):
                await peer.get_to_file(f"/v1/blobs/{BLOB_SHA}", bad, max_bytes=1000)
            assert leftovers(inbox / "models") == ["model.pt"]

            with pytest.raises(PeerError) as missing:
                await peer.get_to_file("/v1/blobs/" + "1" * 64, bad)
            assert missing.value.status == 404
            assert leftovers(inbox / "models") == ["model.pt"]

    run(scenario)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_unreachable_peer_fails_fast(tmp_path: Path) -> None:
    async def scenario() -> None:
        url = f"http://127.0.0.1:{_closed_port()}"
        async with PeerClient(url, CREDS, timeout_s=5.0) as peer:
            started = time.monotonic()
            with pytest.raises(PeerError) as refused:
                await peer.get_json("/v1/status")
            assert time.monotonic() - started < 2.0
        assert refused.value.status is None
        assert refused.value.payload == {}
        assert str(refused.value).startswith(f"{url}/v1/status: unreachable: ")

    run(scenario)


def test_silent_peer_times_out(tmp_path: Path) -> None:
    async def scenario() -> None:
        async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1 << 16)
            await asyncio.sleep(10)
            writer.close()

        server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with PeerClient(f"http://127.0.0.1:{port}", CREDS, timeout_s=0.5) as peer:
                started = time.monotonic()
                with pytest.raises(PeerError) as refused:
                    await peer.post_json("/v1/heartbeat", {"view": {}})
                assert time.monotonic() - started < 3.0
            assert refused.value.status is None
            assert "timed out" in str(refused.value)
        finally:
            server.close()

    run(scenario)


def test_client_refuses_unusable_urls() -> None:
    for url in ["127.0.0.1:8080", "ftp://host:1", "http://host:1/prefix", "http://host:1/?x=1"]:
        with pytest.raises(ValueError, match="must look like http://HOST:PORT"):
            PeerClient(url, CREDS)
