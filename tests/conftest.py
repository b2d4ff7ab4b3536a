"""Shared fixtures: the embedded market is prepared once per test session (a few seconds)."""

import pytest

from backtests.market import MarketSpec, prepare_market


@pytest.fixture(scope="session")
def embedded_market():
    """The full 1999-2018 embedded market, every strategy's default inputs."""
    return prepare_market(MarketSpec())


@pytest.fixture(scope="session")
def recent_market():
    """2012-2018 only: for tests that rebuild or rerun a market several times."""
    return prepare_market(MarketSpec(start="2012-01-03", end="2018-12-31"))
