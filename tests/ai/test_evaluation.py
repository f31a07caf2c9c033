"""Outcome scores: the value targets every seat is trained and searched on."""

from __future__ import annotations

import numpy as np
import pytest

from ringrift_hpc.ai import evaluation
from ringrift_hpc.ai.evaluation import outcome_values, rank_score


@pytest.mark.parametrize(
    ("ranks", "expected"),
    [
        ((1, 2), (1.0, -1.0)),
        ((2, 1), (-1.0, 1.0)),
        ((1, 1), (0.0, 0.0)),
        ((2, 1, 3), (0.0, 1.0, -1.0)),
        ((1, 2, 2, 4), (1.0, 0.0, 0.0, -1.0)),
        ((3, 1, 2, 4), (-1 / 3, 1.0, 1 / 3, -1.0)),
        ((1, 1, 1, 1), (0.0, 0.0, 0.0, 0.0)),
    ],
)
def test_outcome_values_from_ranking(monkeypatch: pytest.MonkeyPatch, ranks: tuple, expected: tuple) -> None:
    class Finished:
        num_players = len(ranks)

    monkeypatch.setattr(evaluation, "ranking", lambda state: ranks)
    values = outcome_values(Finished())  # type: ignore[arg-type]
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, expected, atol=1e-6)
    assert abs(float(values.sum())) < 1e-5


def test_rank_score_endpoints() -> None:
    assert rank_score(1, 4) == 1.0 and rank_score(4, 4) == -1.0 and rank_score(2, 3) == 0.0
