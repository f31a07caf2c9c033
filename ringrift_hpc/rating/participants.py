"""Who plays: a rating participant is (model id, player kind, search budget) within one variant.

The stable id is the participant's name everywhere (match files, leaderboards, promotions):
`<kind>`, then `@<budget>` when the player searches, then `#<model id>` when it has a network,
e.g. `random`, `heuristic`, `gumbel@200#3f2a...` (the full 64-hex sha256 of the weights). Names
are never file names or aliases: two participants are the same exactly when their ids are.
"""

from __future__ import annotations

import functools
import re
from typing import Any, ClassVar

from pydantic import ValidatorFunctionWrapHandler, model_serializer, model_validator

from ringrift_hpc.config.base import Int, Str
from ringrift_hpc.config.spec_model import StrictModel, keyword_init
from ringrift_hpc.config.variants import Variant
from ringrift_hpc.store.names import check_model_id

RANDOM_KIND = "random"
HEURISTIC_KIND = "heuristic"

_KIND = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_ID = re.compile(r"(?P<kind>[a-z][a-z0-9_-]{0,31})(?:@(?P<budget>[1-9][0-9]*))?(?:#(?P<model>[0-9a-f]{64}))?")
_FIELDS = ("variant", "kind", "budget", "model_id")


class ParticipantError(ValueError):
    """A participant, variant or participant id is malformed."""


@functools.total_ordering
class Participant(StrictModel):
    """One rated player of one variant.

    `budget` is the search budget (simulations per move; 0 for players that do not search) and
    `model_id` the sha256 of the network's weights (None for players without a network).
    Participants sort by (variant name, kind, budget, model id).
    """

    error_class: ClassVar[type[ValueError]] = ParticipantError
    what: ClassVar[str] = "participant"

    variant: Variant
    kind: Str
    budget: Int = 0
    model_id: Str | None = None

    @keyword_init
    def __init__(
        self, variant: Variant | str, kind: str, budget: int = 0, model_id: str | None = None
    ) -> None:
        super().__init__(variant=variant, kind=kind, budget=budget, model_id=model_id)

    @model_validator(mode="wrap")
    @classmethod
    def _document(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """A participant document names all four fields; its `id`, where given, must agree."""
        if not isinstance(value, dict):
            return handler(value)
        missing = [key for key in _FIELDS if key not in value]
        if missing:
            raise ParticipantError(f"participant is missing field(s) {', '.join(missing)}")
        written = value.get("id")
        participant: Participant = handler({key: item for key, item in value.items() if key != "id"})
        participant._check()
        if written is not None and written != participant.id:
            raise ParticipantError(
                f"field 'id' is {written!r} but kind/budget/model_id give {participant.id!r}; "
                "the file was edited by hand or written by another version"
            )
        return participant

    def _check(self) -> None:
        if _KIND.fullmatch(self.kind) is None:
            raise ParticipantError(
                f"participant kind {self.kind!r} is invalid: use 1-32 characters from [a-z0-9_-] "
                "starting with a letter, e.g. 'random', 'heuristic', 'gumbel'"
            )
        if self.budget < 0:
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

    @model_serializer
    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "variant": self.variant.name,
            "kind": self.kind,
            "budget": self.budget,
            "model_id": self.model_id,
        }

    def _order(self) -> tuple[str, str, int, str]:
        return (self.variant.name, self.kind, self.budget, self.model_id or "")

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Participant):
            return NotImplemented
        return self._order() < other._order()

    def __str__(self) -> str:
        return f"{self.variant}/{self.id}"


def short_participant_id(participant_id: str) -> str:
    """The id with the model hash cut to 12 characters, for tables a person reads."""
    model = participant_id.find("#")
    return participant_id if model < 0 else participant_id[: model + 13]


def parse_participant_id(variant: Variant | str, participant_id: str) -> Participant:
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


_SHA256_LENGTH = 64


def participant_from_text(variant: Variant | str, text: str, budget: int) -> Participant:
    """A participant id, or a bare model id meaning that model searched at `budget` (what commands
    take from a person)."""
    if len(text) == _SHA256_LENGTH and "#" not in text:
        return Participant(variant=variant, kind="gumbel", budget=budget, model_id=text)
    return parse_participant_id(variant, text)


def participant_from_json(doc: Any, *, where: str) -> Participant:
    """Parse a participant object; `where` (file and field) prefixes every error."""
    if not isinstance(doc, dict):
        raise ParticipantError(
            f"{where}: a participant must be an object with variant, kind, budget, model_id"
        )
    participant: Participant = Participant.checked(doc, source=where)
    return participant


def random_player(variant: Variant | str) -> Participant:
    """The rating anchor of every variant: the uniformly random player (rating 0)."""
    return Participant(variant=variant, kind=RANDOM_KIND)
