"""`bench search`: the library's measurements and the CLI's report, at a tiny budget."""

from __future__ import annotations

import dataclasses

import typer
from typer.testing import CliRunner

from ringrift_hpc.ai.search import SearchConfig
from ringrift_hpc.bench.search_bench import (
    SMALL_NET,
    run_search_bench,
    sample_positions,
)
from ringrift_hpc.cli.bench_search import format_search_result, search_command
from ringrift_hpc.rules import is_terminal, legal_moves

TINY_NET = dataclasses.replace(SMALL_NET, channels=8, blocks=1, gpool_every=1)


def test_sampled_positions_all_have_a_choice() -> None:
    positions = sample_positions("hex8", 3, 40, seed=1)
    assert len(positions) == 40
    assert all(not is_terminal(s) and len(legal_moves(s)) > 1 for s in positions)


def test_bench_measures_every_setting() -> None:
    result = run_search_bench(
        "square8",
        2,
        batch_sizes=(1, 3),
        game_counts=(1, 2),
        search_config=SearchConfig(simulations=3, gumbel_actions=2),
        net_config=TINY_NET,
        seconds=0.01,
        threads=1,
    )
    assert [r.batch for r in result.network] == [1, 3]
    assert all(r.evaluations >= r.batch and r.evals_per_s > 0 for r in result.network)
    assert [r.games for r in result.selfplay] == [1, 2]
    for rate in result.selfplay:
        # Every step searches each game once: one root call plus one call per simulation.
        assert rate.positions >= rate.games and rate.positions % rate.games == 0
        assert rate.evaluations <= rate.positions * (1 + 3)
        assert 0 < rate.rules_s + rate.network_s <= rate.seconds
    assert result.speedup(1) == 1.0 and result.speedup(64) is None
    text = format_search_result(result)
    assert "network evaluations" in text and "selfplay, 3 simulations" in text
    assert "target" not in text  # 64 games were not measured


def test_cli_prints_both_tables_and_the_target() -> None:
    app = typer.Typer()
    app.command("search")(search_command)

    @app.callback()
    def _group() -> None:
        """A group, so the command keeps its name."""

    args = ["search", "--seconds", "0.01", "--simulations", "2", "--channels", "8", "--blocks", "1"]
    args += ["--batch", "2", "--games", "1", "--games", "64", "--threads", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "square8 2p, network 8x1" in result.output
    assert "target: 64 games >= 10x the positions/s of 1 game" in result.output
    bad = CliRunner().invoke(app, ["search", "--board", "square9", "--seconds", "0.01"])
    assert bad.exit_code != 0 and "square9" in bad.output
