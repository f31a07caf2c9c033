"""Serve aiohttp routes on 127.0.0.1 for a test and hand it a `PeerClient` of that server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from ringrift_hpc.p2p.artifact_routes import is_streaming
from ringrift_hpc.p2p.auth import Credentials, RequestVerifier
from ringrift_hpc.p2p.client import PeerClient
from ringrift_hpc.p2p.http_guard import guard_middleware


@contextlib.asynccontextmanager
async def serving(
    routes: Sequence[web.RouteDef], credentials: Credentials, *, guarded: bool = True
) -> AsyncIterator[PeerClient]:
    """`routes` behind the signed-request guard (checked against `credentials`' secret, unless
    `guarded` is off) on a free port, and a client signing with `credentials`."""
    middlewares = (
        [
            guard_middleware(
                RequestVerifier(credentials.secret, window_s=60),
                max_body_bytes=1 << 20,
                streaming=is_streaming,
            )
        ]
        if guarded
        else []
    )
    app = web.Application(middlewares=middlewares)
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with PeerClient(f"http://{host}:{port}", credentials, timeout_s=10) as client:
            yield client
    finally:
        await runner.cleanup()
