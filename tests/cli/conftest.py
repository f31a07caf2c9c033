"""Fixtures of the CLI tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tiny networks run fastest on one thread, and the commands take their thread count from Slurm's."""
    # Imported here: the CLI tests that play no games (test_init, test_fast_start) need no torch.
    import torch

    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
