"""The classifier called bar by bar inside a backtrader strategy, on only the bars seen so far,
gives the same probabilities as the vectorised computation over the whole history."""

import backtrader as bt
import numpy as np
import pytest

import data
from backtests.regime_eval import calendar_columns
from data.macro import load_macro
from strategies.regime import REGIMES, classify_rules, compute_features

pytestmark = pytest.mark.filterwarnings(
    "ignore:Series.values returning an ndarray that drops timezone:pandas.errors.Pandas4Warning")


class AskEachBar(bt.Strategy):
    params = (("inputs", None), ("every", 25))

    def __init__(self):
        self.answers = {}

    def next(self):
        n = len(self)
        if n % self.p.every:
            return
        spy, qqq, vix, long_yield, calendar = self.p.inputs
        seen = spy.index[:n]
        day = seen[-1]
        assert day == bt.num2date(self.data.datetime[0]).replace(tzinfo=None)
        probs = classify_rules(compute_features(spy.loc[seen], qqq.loc[seen], vix=vix.loc[:day],
                                                long_yield=long_yield.loc[seen], calendar=calendar.loc[seen]))
        self.answers[day] = probs.iloc[-1]


def test_bar_by_bar_equals_vectorised():
    frames = data.load(["SPY", "QQQ", "^VIX"], "2015-01-02", "2018-12-31")
    spy, qqq, vix = frames["SPY"], frames["QQQ"], frames["^VIX"]["close"]
    long_yield = load_macro("long_yield", spy.index)
    calendar = calendar_columns(spy.index)
    whole = classify_rules(compute_features(spy, qqq, vix=vix, long_yield=long_yield, calendar=calendar))
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=spy))
    cerebro.addstrategy(AskEachBar, inputs=(spy, qqq, vix, long_yield, calendar))
    answers = cerebro.run()[0].answers
    assert len(answers) > 30
    for day, row in answers.items():
        np.testing.assert_allclose(row[list(REGIMES)].to_numpy(float),
                                   whole.loc[day, list(REGIMES)].to_numpy(float), rtol=0, atol=1e-12)
        assert row["label"] == whole.loc[day, "label"]
