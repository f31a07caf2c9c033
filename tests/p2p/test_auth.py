"""Request signing and verification without a network: what is accepted, what is refused and why."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringrift_hpc.p2p.auth import (
    BODY_SHA256_HEADER,
    NODE_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    SIGNED_HEADERS,
    TIMESTAMP_HEADER,
    AuthConfigError,
    Credentials,
    RequestVerifier,
    body_sha256,
    load_secret,
    sign_headers,
)

SECRET = b"0123456789abcdef0123456789abcdef"
CREDS = Credentials("node-a", SECRET)
NOW = 1_800_000_000.0
EMPTY = body_sha256(b"")


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def verifier(clock: FakeClock | None = None, window_s: float = 30.0) -> RequestVerifier:
    return RequestVerifier(SECRET, window_s=window_s, clock=clock or FakeClock(NOW))


paths = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=0, max_size=40).map(
    lambda s: "/" + s
)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE"])
bodies = st.binary(max_size=200)


@settings(max_examples=60, deadline=None)
@given(method=methods, path=paths, body=bodies, skew=st.floats(min_value=-29.0, max_value=29.0))
def test_signed_request_is_accepted(method: str, path: str, body: bytes, skew: float) -> None:
    headers = sign_headers(CREDS, method, path, body_sha256(body), now=NOW + skew)
    verdict = verifier().verify(method, path, headers)
    assert verdict.ok, verdict.reason
    assert verdict.node == "node-a"


@settings(max_examples=60, deadline=None)
@given(
    method=methods,
    path=paths,
    body=bodies,
    field=st.sampled_from(
        ["method", "path", NODE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, BODY_SHA256_HEADER, SIGNATURE_HEADER]
    ),
)
def test_any_altered_field_breaks_the_signature(method: str, path: str, body: bytes, field: str) -> None:
    headers = sign_headers(CREDS, method, path, body_sha256(body), now=NOW)
    if field == "method":
        method = "PATCH"
    elif field == "path":
        path += "x"
    elif field == TIMESTAMP_HEADER:
        headers[field] = f"{NOW + 1:.3f}"
    elif field == NODE_HEADER:
        headers[field] = "node-b"  # another node's id on node-a's signature
    else:
        # Flip the first hex digit: still well-formed, so only the signature can catch it.
        value = headers[field]
        headers[field] = ("1" if value[0] == "0" else "0") + value[1:]
    verdict = verifier().verify(method, path, headers)
    assert not verdict.ok
    assert verdict.reason == "bad signature: wrong token file?"


def test_wrong_secret_is_a_bad_signature() -> None:
    other = Credentials("node-a", b"another secret of enough length")
    verdict = verifier().verify("GET", "/v1/status", sign_headers(other, "GET", "/v1/status", EMPTY, now=NOW))
    assert (verdict.ok, verdict.reason) == (False, "bad signature: wrong token file?")


def test_method_is_compared_case_insensitively() -> None:
    headers = sign_headers(CREDS, "post", "/v1/x", EMPTY, now=NOW)
    assert verifier().verify("POST", "/v1/x", headers).ok


@pytest.mark.parametrize("missing", SIGNED_HEADERS)
def test_missing_header_is_named(missing: str) -> None:
    headers = sign_headers(CREDS, "GET", "/v1/status", EMPTY, now=NOW)
    del headers[missing]
    verdict = verifier().verify("GET", "/v1/status", headers)
    assert not verdict.ok
    assert verdict.reason == f"unsigned request: missing header(s) {missing}"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (TIMESTAMP_HEADER, "nan"),
        (TIMESTAMP_HEADER, "1e9"),
        (TIMESTAMP_HEADER, "-5"),
        (NONCE_HEADER, "ABCDEF" * 5 + "AB"),
        (NONCE_HEADER, "00"),
        (BODY_SHA256_HEADER, "z" * 64),
        (SIGNATURE_HEADER, "0" * 63),
        (NODE_HEADER, "bad node\nid"),
    ],
)
def test_malformed_header_is_refused_before_hmac(header: str, value: str) -> None:
    headers = sign_headers(CREDS, "GET", "/v1/status", EMPTY, now=NOW)
    headers[header] = value
    verdict = verifier().verify("GET", "/v1/status", headers)
    assert not verdict.ok
    assert verdict.reason.startswith(f"malformed header {header}: ")


def test_header_names_are_case_insensitive_and_duplicates_refused() -> None:
    headers = sign_headers(CREDS, "GET", "/v1/status", EMPTY, now=NOW)
    lower = {name.lower(): value for name, value in headers.items()}
    assert verifier().verify("GET", "/v1/status", lower).ok
    doubled = {**headers, NONCE_HEADER.lower(): headers[NONCE_HEADER]}
    verdict = verifier().verify("GET", "/v1/status", doubled)
    assert (verdict.ok, verdict.reason) == (False, f"header {NONCE_HEADER} appears twice")


@pytest.mark.parametrize("skew", [-30.5, 30.5, -3600.0, 86400.0])
def test_request_outside_the_window_is_stale(skew: float) -> None:
    headers = sign_headers(CREDS, "GET", "/v1/status", EMPTY, now=NOW + skew)
    verdict = verifier(window_s=30.0).verify("GET", "/v1/status", headers)
    assert not verdict.ok
    assert verdict.reason.startswith("stale request: timestamp ")
    assert f"is {skew:+.1f} s from this node's clock" in verdict.reason
    assert "request_window_s (30 s)" in verdict.reason


def test_replayed_nonce_is_refused_until_the_request_is_stale() -> None:
    clock = FakeClock(NOW)
    check = verifier(clock, window_s=10.0)
    headers = sign_headers(CREDS, "POST", "/v1/jobs/claim", EMPTY, now=NOW)
    assert check.verify("POST", "/v1/jobs/claim", headers).ok
    for offset in (0.0, 5.0, 10.0):
        clock.now = NOW + offset
        verdict = check.verify("POST", "/v1/jobs/claim", headers)
        assert not verdict.ok
        assert verdict.reason.startswith("replayed request: nonce ")
    clock.now = NOW + 10.5
    verdict = check.verify("POST", "/v1/jobs/claim", headers)
    assert verdict.reason.startswith("stale request")


def test_same_nonce_on_another_path_is_still_a_replay() -> None:
    check = verifier()
    first = sign_headers(CREDS, "GET", "/v1/a", EMPTY, now=NOW, nonce="ab" * 16)
    second = sign_headers(CREDS, "GET", "/v1/b", EMPTY, now=NOW, nonce="ab" * 16)
    assert check.verify("GET", "/v1/a", first).ok
    assert check.verify("GET", "/v1/b", second).reason.startswith("replayed request")


def test_nonce_memory_is_bounded_by_the_window() -> None:
    clock = FakeClock(NOW)
    check = verifier(clock, window_s=5.0)
    for step in range(400):
        clock.now = NOW + step * 0.5
        headers = sign_headers(CREDS, "GET", "/v1/status", EMPTY, now=clock.now)
        assert check.verify("GET", "/v1/status", headers).ok
        # Requests from the last window_s seconds (2 per second), plus the one just accepted.
        assert check.remembered_nonces() <= 5.0 * 2 + 2
    assert check.remembered_nonces() >= 10


def test_refused_requests_do_not_fill_the_nonce_memory() -> None:
    check = verifier()
    wrong = Credentials("node-a", b"another secret of enough length")
    for _ in range(50):
        check.verify("GET", "/v1/status", sign_headers(wrong, "GET", "/v1/status", EMPTY, now=NOW))
        check.verify("GET", "/v1/status", sign_headers(CREDS, "GET", "/v1/status", EMPTY, now=NOW - 99))
    assert check.remembered_nonces() == 0


def test_concurrent_replays_accept_exactly_one() -> None:
    check = verifier()
    headers = sign_headers(CREDS, "POST", "/v1/jobs/report", EMPTY, now=NOW)
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def attempt() -> None:
        start.wait(timeout=10)
        for _ in range(50):
            ok = check.verify("POST", "/v1/jobs/report", headers).ok
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 400
    assert results.count(True) == 1


def test_sign_headers_shape() -> None:
    headers = sign_headers(CREDS, "GET", "/v1/status?x=1", EMPTY, now=NOW + 0.25)
    assert set(headers) == set(SIGNED_HEADERS)
    assert headers[NODE_HEADER] == "node-a"
    assert headers[TIMESTAMP_HEADER] == f"{NOW + 0.25:.3f}"
    assert len(headers[NONCE_HEADER]) == 32
    assert headers[BODY_SHA256_HEADER] == EMPTY
    assert sign_headers(CREDS, "GET", "/", EMPTY, now=NOW)[NONCE_HEADER] != headers[NONCE_HEADER]


@pytest.mark.parametrize(
    ("path", "body_hash", "now", "nonce"),
    [
        ("v1/status", EMPTY, NOW, None),
        ("/v1/a b", EMPTY, NOW, None),
        ("/v1/a\nb", EMPTY, NOW, None),
        ("/v1/status", "abc", NOW, None),
        ("/v1/status", EMPTY, float("nan"), None),
        ("/v1/status", EMPTY, NOW, "xyz"),
    ],
)
def test_sign_headers_refuses_bad_input(path: str, body_hash: str, now: float, nonce: str | None) -> None:
    with pytest.raises(ValueError):
        sign_headers(CREDS, "GET", path, body_hash, now=now, nonce=nonce)


def test_credentials_validate_and_hide_the_secret() -> None:
    assert SECRET.decode() not in repr(CREDS)
    with pytest.raises(AuthConfigError, match="node id 'bad id' is not valid"):
        Credentials("bad id", SECRET)
    with pytest.raises(AuthConfigError, match="at least 16"):
        Credentials("node-a", b"short")
    with pytest.raises(AuthConfigError, match="at least 16"):
        RequestVerifier(b"short", window_s=30)
    with pytest.raises(AuthConfigError, match="window_s"):
        RequestVerifier(SECRET, window_s=0)


def test_load_secret_strips_whitespace(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("  " + "ab" * 32 + "\n")
    token.chmod(0o600)
    assert load_secret(token) == ("ab" * 32).encode()


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "does not exist"), ("", "is empty"), ("  \n", "is empty"), ("short-token", "holds 11 bytes")],
)
def test_load_secret_refuses_unusable_files(tmp_path: Path, content: str | None, problem: str) -> None:
    token = tmp_path / "token"
    if content is not None:
        token.write_text(content)
    with pytest.raises(AuthConfigError) as refused:
        load_secret(token)
    message = str(refused.value)
    assert f"token file {token} {problem}" in message
    assert "secrets.token_hex(32)" in message
    assert f"chmod 600 {token}" in message
    assert isinstance(refused.value, ValueError)


def test_load_secret_warns_about_a_readable_token(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    token = tmp_path / "token"
    token.write_text("cd" * 32)
    token.chmod(0o644)
    with caplog.at_level("WARNING", logger="ringrift_hpc.p2p.auth"):
        load_secret(token)
    assert f"chmod 600 {token}" in caplog.text
