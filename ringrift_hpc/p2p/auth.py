"""Shared-secret request signing for the P2P HTTP API: sign on the client, verify on the server.

Every node holds the same token file. A request carries its node id, a timestamp, a random nonce
and the sha256 of its body; the HMAC-SHA256 over method, path, timestamp, nonce and body hash
proves the sender knows the token. The receiver refuses requests outside its time window and
nonces it has already accepted, so a captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import logging
import math
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

NODE_HEADER = "X-RR-Node"
TIMESTAMP_HEADER = "X-RR-Timestamp"
NONCE_HEADER = "X-RR-Nonce"
BODY_SHA256_HEADER = "X-RR-Body-Sha256"
SIGNATURE_HEADER = "X-RR-Signature"
SIGNED_HEADERS = (NODE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, BODY_SHA256_HEADER, SIGNATURE_HEADER)

MIN_SECRET_BYTES = 16
_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_NONCE = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Plain decimal only: float() would also accept "nan", "inf" and "1e9".
_TIMESTAMP = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,9})?$")
_FIX = 'python -c "import secrets; print(secrets.token_hex(32))" > {path}; chmod 600 {path}'

_log = logging.getLogger("ringrift_hpc.p2p.auth")


class AuthConfigError(ValueError):
    """The token file or the credentials cannot be used."""


@dataclass(frozen=True)
class Credentials:
    """Who this node is and the shared token every request is signed with."""

    node_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _NODE_ID.match(self.node_id):
            raise AuthConfigError(
                f"node id {self.node_id!r} is not valid: use 1-40 letters, digits, '_', '.' or '-', "
                "starting with a letter or digit"
            )
        if len(self.secret) < MIN_SECRET_BYTES:
            raise AuthConfigError(
                f"secret is {len(self.secret)} bytes; it needs at least {MIN_SECRET_BYTES} (load it "
                "with load_secret)"
            )


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one request; `node` is the claimed node id ("" if absent)."""

    ok: bool
    node: str
    reason: str


def load_secret(path: Path) -> bytes:
    """The shared token from `path` (surrounding whitespace stripped), at least 16 bytes."""
    fix = _FIX.format(path=path)
    try:
        raw = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise AuthConfigError(f"token file {path} does not exist; create it with: {fix}") from None
    except OSError as exc:
        raise AuthConfigError(f"token file {path} cannot be read ({exc.strerror}); fix: {fix}") from None
    secret = raw.strip()
    if not secret:
        raise AuthConfigError(f"token file {path} is empty; fill it with: {fix}")
    if len(secret) < MIN_SECRET_BYTES:
        raise AuthConfigError(
            f"token file {path} holds {len(secret)} bytes; at least {MIN_SECRET_BYTES} are needed "
            f"(use the same file on every node); make a new one with: {fix}"
        )
    if stat.S_IMODE(mode) & 0o077:
        _log.warning("token file %s is readable by other users; run: chmod 600 %s", path, path)
    return secret


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _signature(
    secret: bytes, node: str, method: str, path_qs: str, timestamp: str, nonce: str, body_hash: str
) -> str:
    # The node id is signed too, so nobody on the path can make a request speak for another node.
    message = f"{node}\n{method.upper()}\n{path_qs}\n{timestamp}\n{nonce}\n{body_hash}"
    return hmac.new(secret, message.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_headers(
    creds: Credentials,
    method: str,
    path_qs: str,
    body_sha256: str,
    *,
    now: float,
    nonce: str | None = None,
) -> dict[str, str]:
    """The X-RR-* headers that authenticate one request for `path_qs` (as sent on the wire)."""
    if not path_qs.startswith("/") or any(c.isspace() for c in path_qs):
        raise ValueError(f"path {path_qs!r} must start with '/' and contain no whitespace (URL-encode it)")
    if not _SHA256.match(body_sha256):
        raise ValueError(f"body_sha256 {body_sha256!r} is not 64 lowercase hex digits")
    if not math.isfinite(now) or now < 0:
        raise ValueError(f"now={now!r} is not a unix time")
    nonce = secrets.token_hex(16) if nonce is None else nonce
    if not _NONCE.match(nonce):
        raise ValueError(f"nonce {nonce!r} is not 32 lowercase hex digits")
    timestamp = f"{now:.3f}"
    return {
        NODE_HEADER: creds.node_id,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        BODY_SHA256_HEADER: body_sha256,
        SIGNATURE_HEADER: _signature(
            creds.secret, creds.node_id, method, path_qs, timestamp, nonce, body_sha256
        ),
    }


class RequestVerifier:
    """Checks signed requests; remembers accepted nonces until their timestamp leaves the window.

    The body hash is only checked to be signed: the caller compares it with the body it reads
    (uploads are hashed while they stream to disk). Thread-safe.
    """

    def __init__(self, secret: bytes, *, window_s: float, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise AuthConfigError(f"secret is {len(secret)} bytes; it needs at least {MIN_SECRET_BYTES}")
        if not (math.isfinite(window_s) and window_s > 0):
            raise AuthConfigError(f"window_s={window_s!r} must be a positive number of seconds")
        self._secret = secret
        self._window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        # (time after which the request is stale anyway, nonce): nonces are forgotten in this order.
        self._expiries: list[tuple[float, str]] = []

    def remembered_nonces(self) -> int:
        with self._lock:
            return len(self._seen)

    def verify(self, method: str, path_qs: str, headers: Mapping[str, str]) -> Verdict:
        found: dict[str, str] = {}
        wanted = {name.lower(): name for name in SIGNED_HEADERS}
        for key, value in headers.items():
            name = wanted.get(key.lower())
            if name is None:
                continue
            if name in found:
                return Verdict(False, "", f"header {name} appears twice")
            found[name] = value
        node = found.get(NODE_HEADER, "")
        missing = [name for name in SIGNED_HEADERS if name not in found]
        if missing:
            return Verdict(False, node, f"unsigned request: missing header(s) {', '.join(missing)}")
        malformed = self._malformed(found)
        if malformed:
            return Verdict(False, node, malformed)
        timestamp, nonce = found[TIMESTAMP_HEADER], found[NONCE_HEADER]
        expected = _signature(self._secret, node, method, path_qs, timestamp, nonce, found[BODY_SHA256_HEADER])
        if not hmac.compare_digest(expected, found[SIGNATURE_HEADER]):
            return Verdict(False, node, "bad signature: wrong token file?")
        # Time and nonce are checked only for correctly signed requests, so that strangers can
        # neither learn this node's clock nor fill the nonce memory.
        sent = float(timestamp)
        with self._lock:
            now = self._clock()
            skew = sent - now
            if abs(skew) > self._window_s:
                return Verdict(
                    False,
                    node,
                    f"stale request: timestamp {timestamp} is {skew:+.1f} s from this node's clock; check "
                    f"clocks (NTP) or request_window_s ({self._window_s:g} s)",
                )
            self._forget_expired(now)
            if nonce in self._seen:
                return Verdict(False, node, f"replayed request: nonce {nonce} was already used")
            self._seen.add(nonce)
            heapq.heappush(self._expiries, (sent + self._window_s, nonce))
        return Verdict(True, node, "ok")

    @staticmethod
    def _malformed(found: Mapping[str, str]) -> str | None:
        checks = (
            (NODE_HEADER, _NODE_ID, "a node id"),
            (TIMESTAMP_HEADER, _TIMESTAMP, "unix seconds"),
            (NONCE_HEADER, _NONCE, "32 lowercase hex digits"),
            (BODY_SHA256_HEADER, _SHA256, "64 lowercase hex digits"),
            (SIGNATURE_HEADER, _SHA256, "64 lowercase hex digits"),
        )
        for name, pattern, what in checks:
            if not pattern.match(found[name]):
                return f"malformed header {name}: {found[name][:80]!r} is not {what}"
        return None

    def _forget_expired(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] < now:
            _, nonce = heapq.heappop(self._expiries)
            self._seen.discard(nonce)
