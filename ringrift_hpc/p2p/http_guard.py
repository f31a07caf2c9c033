"""The aiohttp side of request signing: a middleware that refuses unsigned, stale, replayed,
tampered or oversized requests, and helpers that read verified bodies."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ringrift_hpc.p2p.auth import BODY_SHA256_HEADER, SIGNED_HEADERS, RequestVerifier, body_sha256
from ringrift_hpc.p2p.verified_file import HashMismatchError, TooLargeError, VerifiedFile

_log = logging.getLogger("ringrift_hpc.p2p.auth")
_CHUNK = 1 << 16
_JSON = "application/json"


BODY = web.RequestKey("ringrift_body", bytes)
PEER_NODE = web.RequestKey("ringrift_peer_node", str)


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def _log_refusal(request: web.Request, status: int, reason: str) -> None:
    peer = request.remote or "unknown address"
    _log.warning("refused %s %s %r from %s: %s", status, request.method, request.raw_path, peer, reason)


def _refuse(request: web.Request, status: int, reason: str) -> web.Response:
    _log_refusal(request, status, reason)
    return json_error(status, reason)


def _error_text(message: str) -> str:
    return json.dumps({"error": message})


def guard_middleware(
    verifier: RequestVerifier,
    *,
    max_body_bytes: int,
    max_json_bytes: int = 4 << 20,
    streaming: Callable[[web.Request], bool],
    unsigned: Callable[[web.Request], bool] | None = None,
    unsigned_hint: str = "",
) -> Middleware:
    """Authenticate every request; read and hash-check bodies, except where `streaming(request)`.

    Handlers find the verified body in `request[BODY]` (use `read_json`) and the sender in
    `request[PEER_NODE]`; streaming handlers read their body with `read_verified_stream`.
    A request without any signature header for which `unsigned(request)` holds reaches its
    handler as it is, with neither key set (its body unread); any other request without one is
    refused with `unsigned_hint` added to the reason.
    """
    json_limit = min(max_json_bytes, max_body_bytes)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        bare = not any(name in request.headers for name in SIGNED_HEADERS)
        if bare and unsigned is not None and unsigned(request):
            return await handler(request)
        verdict = verifier.verify(request.method, request.raw_path, request.headers)
        if not verdict.ok:
            hint = f"; {unsigned_hint}" if bare and unsigned_hint else ""
            return _refuse(request, 401, verdict.reason + hint)
        is_stream = streaming(request)
        limit = max_body_bytes if is_stream else json_limit
        length = request.content_length
        if length is not None and length > limit:
            return _refuse(request, 413, f"body of {length} bytes exceeds the limit of {limit} bytes")
        if not is_stream:
            body = await _read_bounded(request, limit)
            if body is None:
                return _refuse(request, 413, f"body exceeds the limit of {limit} bytes")
            if body_sha256(body) != request.headers[BODY_SHA256_HEADER]:
                return _refuse(request, 401, "body does not match its signed hash")
            request[BODY] = body
        request[PEER_NODE] = verdict.node
        return await handler(request)

    return guard


async def _read_bounded(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None as soon as it grows past `limit`."""
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)


async def read_verified_stream(
    request: web.Request, dest: Path, *, max_bytes: int, expected_sha256: str | None = None
) -> str:
    """Stream the body into `dest`, verified against its signed sha256; return that sha256.

    `expected_sha256` (e.g. the hash named in the URL) must equal the signed one, else 400 before
    anything is read. Too large -> 413, hash differs -> 401; then nothing is left at `dest`.
    """
    signed = request.headers[BODY_SHA256_HEADER]
    if expected_sha256 is not None and expected_sha256 != signed:
        reason = f"the body is signed as sha256 {signed} but this upload must have sha256 {expected_sha256}"
        _log_refusal(request, 400, reason)
        raise web.HTTPBadRequest(text=_error_text(reason), content_type=_JSON)
    with VerifiedFile(dest, max_bytes=max_bytes) as target:
        try:
            async for chunk in request.content.iter_chunked(_CHUNK):
                target.write(chunk)
            return await target.commit(signed)
        except TooLargeError:
            reason = f"upload exceeds the limit of {max_bytes} bytes"
            _log_refusal(request, 413, reason)
            raise web.HTTPRequestEntityTooLarge(
                max_bytes, target.size, text=_error_text(reason), content_type=_JSON
            ) from None
        except HashMismatchError as exc:
            _log_refusal(request, 401, str(exc))
            raise web.HTTPUnauthorized(
                text=_error_text("body does not match its signed hash"), content_type=_JSON
            ) from None


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The verified body as a JSON object; 400 with a JSON error otherwise."""
    body = request[BODY]
    try:
        value = json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise web.HTTPBadRequest(
            text=_error_text(f"request body is not valid JSON: {exc}"), content_type=_JSON
        ) from None
    if not isinstance(value, dict):
        raise web.HTTPBadRequest(
            text=_error_text(f"request body must be a JSON object, not {type(value).__name__}"),
            content_type=_JSON,
        )
    return value
