"""Signed HTTP calls to one peer: JSON requests, streamed and hash-verified file transfers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import aiohttp
from yarl import URL

from ringrift_hpc.p2p.auth import Credentials, body_sha256, sign_headers
from ringrift_hpc.p2p.verified_file import HashMismatchError, TooLargeError, VerifiedFile
from ringrift_hpc.store.publish import sha256_file

_CHUNK = 1 << 16
_ERROR_BODY_LIMIT = 64 << 10


class PeerError(RuntimeError):
    """A call to a peer failed: `status` None means unreachable or timed out; `payload` is its JSON error."""

    def __init__(
        self, url: str, status: int | None, detail: str, payload: dict[str, Any] | None = None
    ) -> None:
        where = "unreachable" if status is None else f"HTTP {status}"
        super().__init__(f"{url}: {where}: {detail}")
        self.url = url
        self.status = status
        self.payload: dict[str, Any] = payload if payload is not None else {}


def _base_url(base_url: str) -> URL:
    url = URL(base_url)
    if url.scheme not in ("http", "https") or not url.host or url.path not in ("", "/") or url.query_string:
        raise ValueError(f"peer URL {base_url!r} must look like http://HOST:PORT (no path, no query)")
    return url.with_path("/")


async def _refusal(url: str, response: aiohttp.ClientResponse) -> PeerError:
    """The PeerError for a non-2xx reply, keeping its JSON error document."""
    text = (await response.content.read(_ERROR_BODY_LIMIT)).decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    payload = parsed if isinstance(parsed, dict) else {}
    error = payload.get("error")
    detail = error if isinstance(error, str) else (text.strip()[:300] or response.reason or "no reason given")
    return PeerError(url, response.status, detail, payload)


def _describe(error: BaseException) -> str:
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__


class PeerClient:
    """One peer's API; use as `async with PeerClient(...) as peer` (or call `close`)."""

    def __init__(self, base_url: str, creds: Credentials, *, timeout_s: float = 10.0) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s={timeout_s!r} must be positive")
        self.base_url = _base_url(base_url)
        self._creds = creds
        # JSON calls are small: bound the whole exchange. Transfers may take long: bound each wait.
        self._json_timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_s, sock_connect=timeout_s, sock_read=timeout_s
        )
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PeerClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        async with self._exchange("GET", path, params=params) as (url, response):
            return await self._json_reply(url, response)

    async def post_json(self, path: str, payload: Any) -> Any:
        body = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")
        async with self._exchange("POST", path, body=body, body_hash=body_sha256(body)) as (url, response):
            return await self._json_reply(url, response)

    async def get_to_file(
        self, path: str, dest: Path, *, expected_sha256: str | None = None, max_bytes: int | None = None
    ) -> int:
        """Download to `dest` (atomically, verified when `expected_sha256` is given); return its size."""
        async with self._exchange("GET", path, streaming=True) as (url, response):
            length = response.content_length
            if max_bytes is not None and length is not None and length > max_bytes:
                raise PeerError(
                    url, response.status, f"reply of {length} bytes exceeds max_bytes={max_bytes}"
                )
            with VerifiedFile(dest, max_bytes=max_bytes) as target:
                try:
                    async for chunk in response.content.iter_chunked(_CHUNK):
                        target.write(chunk)
                    await target.commit(expected_sha256)
                except (TooLargeError, HashMismatchError) as error:
                    raise PeerError(url, response.status, str(error)) from None
                return target.size

    async def put_file(self, path: str, src: Path) -> Any:
        """Upload `src` as the signed body (its sha256 computed first); return the JSON reply."""
        _, digest = await asyncio.to_thread(sha256_file, src)
        with src.open("rb") as handle:
            async with self._exchange("PUT", path, body=handle, body_hash=digest, streaming=True) as (
                url,
                response,
            ):
                return await self._json_reply(url, response)

    @contextlib.asynccontextmanager
    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | IO[bytes] = b"",
        body_hash: str = body_sha256(b""),
        streaming: bool = False,
    ) -> AsyncIterator[tuple[str, aiohttp.ClientResponse]]:
        """Send one signed request; yield the 2xx response, raise PeerError for anything else."""
        if not path.startswith("/"):
            raise ValueError(f"request path {path!r} must start with '/'")
        target = self.base_url.with_path(path)
        if params:
            target = target.with_query(dict(params))
        url = str(target)
        headers = sign_headers(self._creds, method, target.raw_path_qs, body_hash, now=time.time())
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.request(
                method,
                target,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=self._stream_timeout if streaming else self._json_timeout,
            ) as response:
                if not 200 <= response.status < 300:
                    raise await _refusal(url, response)
                yield url, response
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise PeerError(url, None, _describe(error)) from error

    @staticmethod
    async def _json_reply(url: str, response: aiohttp.ClientResponse) -> Any:
        raw = await response.read()
        try:
            return json.loads(raw)
        except ValueError:
            raise PeerError(url, response.status, f"reply is not JSON: {raw[:200]!r}") from None
