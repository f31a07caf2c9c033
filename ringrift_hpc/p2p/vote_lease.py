"""The coordinator's vote lease behind the controller's `FencingLease` interface."""

from __future__ import annotations

from dataclasses import dataclass

from ringrift_hpc.p2p.election import Elector
from ringrift_hpc.store import LeaseLostError


@dataclass(frozen=True)
class VoteLease:
    """Held while the elector is coordinator in `term`; the elector renews it with the voters."""

    elector: Elector
    term: int

    @property
    def token(self) -> int:
        return self.term

    def check(self) -> None:
        if self.elector.term != self.term or not self.elector.is_coordinator():
            raise LeaseLostError(
                f"the P2P coordinator lease of term {self.term} is lost (this node now knows term "
                f"{self.elector.max_term_seen}); stop writing: another node may coordinate"
            )

    def renew(self) -> None:
        self.check()
