"""Shared fixtures: the embedded market is prepared once per test session (a few seconds)."""

import pytest
from rates import NOVEMBER_2018_CASH_RATE

from backtests.market import MarketSpec, prepare_market


@pytest.fixture(scope="session")
def embedded_market():
    """The default playbook market (1999-01-04 to 2018-11-30, where every input exists)."""
    return prepare_market(MarketSpec())


@pytest.fixture(scope="session")
def recent_market():
    """2012-2018 only: for tests that rebuild or rerun a market several times."""
    return prepare_market(MarketSpec(start="2012-01-03", end="2018-12-31", cash_rate=NOVEMBER_2018_CASH_RATE))
