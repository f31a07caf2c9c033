"""The cross-engine state fingerprint and its 16-hex hash (vectors-report 1.8)."""

from __future__ import annotations

from typing import NamedTuple

from ringrift_hpc.rules.state import COMPLETED, GAME_OVER, GameState, cap_height

_M32 = 0xFFFFFFFF


class Fingerprint(NamedTuple):
    """`text`: the readable five-section string; `hash`: its 16-hex-digit simple hash."""

    text: str
    hash: str


def fingerprint_text(s: GameState) -> str:
    g = s.geo
    if s.status == COMPLETED:
        meta = f"0:{GAME_OVER}:{s.status}:{int(s.pending_line)}"
    else:
        meta = f"{s.current}:{s.phase}:{s.status}:{int(s.pending_line)}"
    players = sorted(
        f"{p}:{s.hand[p]}:{s.eliminated[p]}:{s.territory[p]}" for p in range(1, s.num_players + 1)
    )
    stacks = sorted(
        f"{g.keys[c]}:{r[-1]}:{len(r)}:{cap_height(r)}" for c, r in enumerate(s.stacks) if r
    )
    markers = sorted(f"{g.keys[c]}:{v}" for c, v in enumerate(s.cells) if v > 0)
    collapsed = sorted(f"{g.keys[c]}:{-v}" for c, v in enumerate(s.cells) if v < 0)
    return "#".join((meta, "|".join(players), "|".join(stacks), "|".join(markers), "|".join(collapsed)))


def simple_hash(text: str) -> str:
    """Two 32-bit multiplicative lanes, finalised and printed as h2 then h1 (8 hex each)."""
    h1 = 0xDEADBEEF
    h2 = 0x41C6CE57
    for ch in text:
        c = ord(ch)
        h1 = ((h1 ^ c) * 2654435761) & _M32
        h2 = ((h2 ^ c) * 1597334677) & _M32
    h1 = (((h1 ^ (h1 >> 16)) * 2246822507) & _M32) ^ (((h2 ^ (h2 >> 13)) * 3266489909) & _M32)
    h2 = (((h2 ^ (h2 >> 16)) * 2246822507) & _M32) ^ (((h1 ^ (h1 >> 13)) * 3266489909) & _M32)
    return f"{h2:08x}{h1:08x}"


def fingerprint(s: GameState) -> Fingerprint:
    """The readable fingerprint string and its hash."""
    text = fingerprint_text(s)
    return Fingerprint(text, simple_hash(text))
