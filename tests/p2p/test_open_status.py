"""GET /status without a signature: from loopback always, from elsewhere only with p2p.public_status;
every other request stays signed, and the unsigned answer holds no secret."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler

from ringrift_hpc.p2p.auth import Credentials, RequestVerifier, body_sha256, sign_headers
from ringrift_hpc.p2p.http_guard import PEER_NODE, guard_middleware
from ringrift_hpc.p2p.open_status import (
    PUBLIC_FIELDS,
    is_loopback,
    public_status,
    unsigned_status_allowed,
)

SECRET = b"0123456789abcdef0123456789abcdef"
HINT = "only GET /status is answered without a signature"
# Every field of the agent's status document, and whether an unsigned reader may see it as it is.
STATUS_FIELDS = {
    "format": True,
    "format_version": True,
    "node": True,
    "url": True,
    "eligible": True,
    "role": True,
    "mode": True,
    "term": True,
    "coordinator": True,
    "terms_led": True,
    "halted": True,
    "code_version": True,
    "config_version": True,
    "resources": True,
    "state": True,
    "node_states": True,
    "peers": True,
    "controller": True,
    "jobs": True,
    "running": True,
    "jobs_finished_here": True,
    "work_refused": True,
    "keepalive": False,  # the command line and its output may hold a provider's credentials
    "written_at": True,
}


@pytest.mark.parametrize(
    ("remote", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("192.0.2.2", False),
        ("::ffff:10.0.0.5", False),
        ("fe80::1%eth0", False),
        ("fd00::2", False),
        ("localhost", False),  # aiohttp gives addresses, never names
        ("", False),
        (None, False),
    ],
)
def test_loopback_is_recognised_by_address(remote: str | None, loopback: bool) -> None:
    assert is_loopback(remote) is loopback


def test_only_a_status_read_may_be_unsigned() -> None:
    for path in ("/status", "/v1/status"):
        assert unsigned_status_allowed("GET", path, "127.0.0.1", public=False)
        assert unsigned_status_allowed("GET", path, "::1", public=False)
        assert not unsigned_status_allowed("GET", path, "10.0.0.5", public=False)
        assert unsigned_status_allowed("GET", path, "10.0.0.5", public=True)
        assert not unsigned_status_allowed("POST", path, "127.0.0.1", public=True)
    for path in ("/v1/artifacts", "/v1/blobs/" + "0" * 64, "/v1/heartbeat", "/status/x", "/v1/halt"):
        assert not unsigned_status_allowed("GET", path, "127.0.0.1", public=True)


def test_every_status_field_is_classified_and_the_keepalive_story_is_withheld() -> None:
    assert set(PUBLIC_FIELDS) == {name for name, public in STATUS_FIELDS.items() if public}
    doc: dict[str, Any] = {name: f"value of {name}" for name in STATUS_FIELDS}
    doc["keepalive"] = [
        {
            "node": "gpu2",
            "action": "restart",
            "ok": False,
            "detail": "`vast --api-key S3CR3T` exited 1",
            "at": 5.0,
        }
    ]
    doc["added_later"] = "a field nobody classified yet"
    shown = public_status(doc)
    assert shown["keepalive"] == [{"node": "gpu2", "action": "restart", "ok": False, "at": 5.0}]
    assert "added_later" not in shown and "S3CR3T" not in json.dumps(shown)
    assert {k: v for k, v in shown.items() if k != "keepalive"} == {
        k: v for k, v in doc.items() if STATUS_FIELDS.get(k)
    }


def _from(remote: str) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Outermost middleware: the request arrives from `remote` (the test client is on loopback)."""

    @web.middleware
    async def arrive(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await handler(request.clone(remote=remote))

    return arrive


def _app(remote: str, *, public: bool) -> web.Application:
    guard = guard_middleware(
        RequestVerifier(SECRET, window_s=30.0),
        max_body_bytes=1 << 20,
        streaming=lambda request: False,
        unsigned=lambda request: unsigned_status_allowed(
            request.method, request.path, request.remote, public=public
        ),
        unsigned_hint=HINT,
    )
    app = web.Application(middlewares=[_from(remote), guard])

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"signed_by": request.get(PEER_NODE)})

    async def heartbeat(request: web.Request) -> web.Response:
        return web.json_response({"signed_by": request[PEER_NODE]})

    app.router.add_get("/status", status)
    app.router.add_get("/v1/status", status)
    app.router.add_post("/v1/heartbeat", heartbeat)
    return app


async def _get(
    app: web.Application, path: str, *, signed: bool = False, method: str = "GET"
) -> tuple[int, Any]:
    headers = sign_headers(Credentials("b", SECRET), method, path, body_sha256(b""), now=time.time())
    async with TestClient(TestServer(app)) as client:
        response = await client.request(method, path, headers=headers if signed else None)
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("remote", "public", "answered"),
    [
        ("127.0.0.1", False, True),
        ("::1", False, True),
        ("10.0.0.5", False, False),
        ("10.0.0.5", True, True),
    ],
)
def test_the_guard_answers_an_unsigned_status_read_by_where_it_comes_from(
    remote: str, public: bool, answered: bool
) -> None:
    async def scenario() -> None:
        for path in ("/status", "/v1/status"):
            status, body = await _get(_app(remote, public=public), path)
            if answered:
                assert (status, body) == (200, {"signed_by": None})
            else:
                assert status == 401 and "unsigned request" in body["error"] and HINT in body["error"]
        # A signed read is a peer's, from anywhere, and says who signed it.
        assert await _get(_app(remote, public=public), "/status", signed=True) == (200, {"signed_by": "b"})
        # Everything else stays signed, even from loopback with a public status.
        status, body = await _get(_app(remote, public=True), "/v1/heartbeat", method="POST")
        assert status == 401 and HINT in body["error"]
        assert await _get(_app(remote, public=True), "/v1/heartbeat", method="POST", signed=True) == (
            200,
            {"signed_by": "b"},
        )

    asyncio.run(scenario())


def test_a_status_read_with_a_bad_signature_is_not_let_through_as_unsigned() -> None:
    async def scenario() -> None:
        app = _app("127.0.0.1", public=True)
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/status", headers={"X-RR-Node": "b", "X-RR-Signature": "0" * 64})
            assert response.status == 401
            assert "missing header" in (await response.json())["error"]

    asyncio.run(scenario())
