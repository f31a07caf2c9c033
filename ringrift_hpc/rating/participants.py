"""Who plays: a rating participant is (model id, player kind, search budget) within one variant.

The stable id is the participant's name everywhere (match files, leaderboards, promotions):
`<kind>`, then `@<budget>` when the player searches, then `#<model id>` when it has a network,
e.g. `random`, `heuristic`, `gumbel@200#3f2a...` (the full 64-hex sha256 of the weights). Names
are never file names or aliases: two participants are the same exactly when their ids are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ringrift_hpc.store.names import check_model_id, check_variant

RANDOM_KIND = "random"
HEURISTIC_KIND = "heuristic"

_KIND = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_ID = re.compile(r"(?P<kind>[a-z][a-z0-9_-]{0,31})(?:@(?P<budget>[1-9][0-9]*))?(?:#(?P<model>[0-9a-f]{64}))?")


class ParticipantError(ValueError):
    """A participant, variant or participant id is malformed."""


def variant_name(board: str, players: int) -> str:
    """`square8_2p` from its board and player count."""
    return check_variant(f"{board}_{players}p")


def variant_players(variant: str) -> int:
    """The player count of a variant name (`hex8_3p` -> 3)."""
    check_variant(variant)
    players = int(variant.rsplit("_", 1)[1][:-1])
    if players not in (2, 3, 4):
        raise ParticipantError(f"variant {variant!r}: RingRift has 2, 3 or 4 players, not {players}")
    return players


@dataclass(frozen=True, order=True)
class Participant:
    """One rated player of one variant.

    `budget` is the search budget (simulations per move; 0 for players that do not search) and
    `model_id` the sha256 of the network's weights (None for players without a network).
    """

    variant: str
    kind: str
    budget: int = 0
    model_id: str | None = None

    def __post_init__(self) -> None:
        check_variant(self.variant)
        if not isinstance(self.kind, str) or _KIND.fullmatch(self.kind) is None:
            raise ParticipantError(
                f"participant kind {self.kind!r} is invalid: use 1-32 characters from [a-z0-9_-] "
                "starting with a letter, e.g. 'random', 'heuristic', 'gumbel'"
            )
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 0:
            raise ParticipantError(
                f"participant {self.kind!r}: budget {self.budget!r} must be a non-negative integer "
                "(simulations per move, 0 for players that do not search)"
            )
        if self.model_id is not None:
            check_model_id(self.model_id)

    @property
    def id(self) -> str:
        budget = f"@{self.budget}" if self.budget else ""
        model = f"#{self.model_id}" if self.model_id else ""
        return f"{self.kind}{budget}{model}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "variant": self.variant,
            "kind": self.kind,
            "budget": self.budget,
            "model_id": self.model_id,
        }

    def __str__(self) -> str:
        return f"{self.variant}/{self.id}"


def short_participant_id(participant_id: str) -> str:
    """The id with the model hash cut to 12 characters, for tables a person reads."""
    model = participant_id.find("#")
    return participant_id if model < 0 else participant_id[: model + 13]


def parse_participant_id(variant: str, participant_id: str) -> Participant:
    """The participant of `variant` whose stable id is `participant_id`."""
    match = _ID.fullmatch(participant_id) if isinstance(participant_id, str) else None
    if match is None:
        raise ParticipantError(
            f"participant id {participant_id!r} is malformed: write <kind>[@<budget>][#<sha256>], "
            "e.g. 'random' or 'gumbel@200#<64 hex>'"
        )
    return Participant(
        variant=variant,
        kind=match["kind"],
        budget=int(match["budget"] or 0),
        model_id=match["model"],
    )


def participant_from_json(doc: Any, *, where: str) -> Participant:
    """Parse a participant object; `where` (file and field) prefixes every error."""
    if not isinstance(doc, dict):
        raise ParticipantError(
            f"{where}: a participant must be an object with variant, kind, budget, model_id"
        )
    missing = [key for key in ("variant", "kind", "budget", "model_id") if key not in doc]
    if missing:
        raise ParticipantError(f"{where}: participant is missing field(s) {', '.join(missing)}")
    try:
        participant = Participant(
            variant=doc["variant"], kind=doc["kind"], budget=doc["budget"], model_id=doc["model_id"]
        )
    except ValueError as error:
        raise ParticipantError(f"{where}: {error}") from None
    if "id" in doc and doc["id"] != participant.id:
        raise ParticipantError(
            f"{where}: field 'id' is {doc['id']!r} but kind/budget/model_id give {participant.id!r}; "
            "the file was edited by hand or written by another version"
        )
    return participant


def random_player(variant: str) -> Participant:
    """The rating anchor of every variant: the uniformly random player (rating 0)."""
    return Participant(variant=variant, kind=RANDOM_KIND)
