"""The backtesting engine and its public Python API (backtests.api):

    from backtests import prepare_market, run, compare, tune
"""

from backtests.api import compare, prepare_market, run, tune

__all__ = ["prepare_market", "run", "compare", "tune"]
