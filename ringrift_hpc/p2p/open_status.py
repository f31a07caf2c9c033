"""`GET /status` without a signature: who may read it, and what they see.

An operator types `curl http://127.0.0.1:8787/status` on the node itself, and a monitoring
system may poll it from elsewhere (`p2p.public_status: true`). That read is the only unsigned
request an agent answers; it changes nothing, and its document leaves out what only the
nodes sharing the token may see (the keepalive command's words and output, which may hold a
cloud provider's credentials).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final

STATUS_PATHS: Final = frozenset({"/status", "/v1/status"})

# The status document's fields an unsigned reader gets; a field added to the document stays
# private until it is listed here (tests/p2p/test_open_status.py makes each new field choose).
PUBLIC_FIELDS: Final = frozenset(
    {
        "format",
        "format_version",
        "node",
        "url",
        "eligible",
        "role",
        "mode",
        "term",
        "coordinator",
        "terms_led",
        "halted",
        "code_version",
        "config_version",
        "resources",
        "peers",
        "controller",
        "jobs",
        "running",
        "jobs_finished_here",
        "work_refused",
        "state",
        "node_states",
        "written_at",
    }
)
# Of each keepalive outcome, what happened, not the command line or its output.
PUBLIC_KEEPALIVE_FIELDS: Final = ("node", "action", "ok", "at")


def is_loopback(remote: str | None) -> bool:
    """True for an address of this machine's loopback (127.0.0.0/8, ::1, ::ffff:127.x.y.z)."""
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def unsigned_status_allowed(method: str, path: str, remote: str | None, *, public: bool) -> bool:
    """May an unsigned request of `method` `path` from `remote` be answered? Only a status read,
    from loopback or, with `p2p.public_status`, from anywhere."""
    return method == "GET" and path in STATUS_PATHS and (public or is_loopback(remote))


def public_status(doc: dict[str, Any]) -> dict[str, Any]:
    """The status document as an unsigned reader sees it."""
    shown = {key: value for key, value in doc.items() if key in PUBLIC_FIELDS}
    shown["keepalive"] = [
        {key: outcome[key] for key in PUBLIC_KEEPALIVE_FIELDS if key in outcome}
        for outcome in doc.get("keepalive", [])
    ]
    return shown
