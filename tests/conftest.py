"""Shared fixtures: a small seeded simulation and the team's shared data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnngwp.data.simulate import SimulationConfig, simulate_qtlmas2010

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def small_sim():
    """A few hundred animals and SNPs, the same every run."""
    return simulate_qtlmas2010(seed=7, config=SimulationConfig.small())


@pytest.fixture(scope="session")
def mice_dir() -> Path:
    """../shared/data/mice, or skip when this checkout has no shared folder beside it."""
    folder = SHARED_DATA / "mice"
    if not (folder / "mice.bed").is_file():
        pytest.skip(f"shared mice data not found at {folder} (tests read ../shared/data beside the checkout)")
    return folder
