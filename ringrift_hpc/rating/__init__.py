"""Ratings and promotion: match records, Bradley-Terry / Plackett-Luce fits with intervals,
leaderboard files, the SPRT, and the one promotion gate.

Pure statistics over numpy arrays; files only through `ringrift_hpc.store`. Knows nothing
about the rules engine, torch or the cluster.
"""

from __future__ import annotations

from ringrift_hpc.rating.best import (
    BestPointerError,
    best_document,
    promotion_history,
    read_best,
    record_decision,
    repair_best,
    rollback,
)
from ringrift_hpc.rating.fit import (
    ELO_PER_NAT,
    RatingFitError,
    RatingRow,
    Ratings,
    fit_ratings,
    pair_counts,
    stage_counts,
)
from ringrift_hpc.rating.leaderboard import (
    LeaderboardError,
    leaderboard_csv,
    leaderboard_document,
    leaderboard_markdown,
    read_leaderboard,
    write_leaderboard,
)
from ringrift_hpc.rating.match_files import (
    MatchCache,
    MatchFile,
    MatchFileError,
    MatchHistory,
    decode_match_file,
    encode_match_file,
    load_match_history,
    publish_match_file,
)
from ringrift_hpc.rating.participants import (
    Participant,
    ParticipantError,
    parse_participant_id,
    random_player,
    short_participant_id,
)
from ringrift_hpc.rating.promotion import (
    AnchorResult,
    Evaluation,
    EvaluationError,
    PromotionDecision,
    anchor_result,
    decide_promotion,
)
from ringrift_hpc.rating.records import (
    CrossVariantError,
    GameRecord,
    MatchGroup,
    MatchRecordError,
    rotation_seats,
)
from ringrift_hpc.rating.sprt import SprtError, SprtParams, SprtResult, expected_score, group_score, sprt_test
from ringrift_hpc.rating.table import GameTable, table_from_groups

__all__ = [
    "ELO_PER_NAT",
    "AnchorResult",
    "BestPointerError",
    "CrossVariantError",
    "Evaluation",
    "EvaluationError",
    "GameRecord",
    "GameTable",
    "LeaderboardError",
    "MatchCache",
    "MatchFile",
    "MatchFileError",
    "MatchGroup",
    "MatchHistory",
    "MatchRecordError",
    "Participant",
    "ParticipantError",
    "PromotionDecision",
    "RatingFitError",
    "RatingRow",
    "Ratings",
    "SprtError",
    "SprtParams",
    "SprtResult",
    "anchor_result",
    "best_document",
    "decide_promotion",
    "decode_match_file",
    "encode_match_file",
    "expected_score",
    "fit_ratings",
    "group_score",
    "leaderboard_csv",
    "leaderboard_document",
    "leaderboard_markdown",
    "load_match_history",
    "pair_counts",
    "parse_participant_id",
    "promotion_history",
    "publish_match_file",
    "random_player",
    "read_best",
    "read_leaderboard",
    "record_decision",
    "repair_best",
    "rollback",
    "rotation_seats",
    "short_participant_id",
    "sprt_test",
    "stage_counts",
    "table_from_groups",
    "write_leaderboard",
]
