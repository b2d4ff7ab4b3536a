"""The runner: the only place that builds a Cerebro. One strategy, one prepared Market, one RunResult."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import backtrader as bt
import numpy as np
import pandas as pd

from backtests.market import FILL_RULE, TRADED, Market
from backtests.metrics import assign_packages, realised_tax
from backtests.optionbook import DAYS_PER_YEAR, OptionBook, OptionBroker
from backtests.result import ORDER_COLUMNS, TRADE_COLUMNS, RunResult
from backtests.stand_ins import require_cash_rate, stand_ins
from data.dividends import CONVENTION as DIVIDEND_CONVENTION
from strategies.base import SIGNAL_LINES, InstrumentFeed, SignalFeed, StrategySetup
from strategies.contracts import ContractSpec
from strategies.registry import build_params, get_strategy
from strategies.risk import Costs, RiskConfig


@dataclass(frozen=True)
class RunSettings:
    """Everything that decides a run besides the market data (which run.json records by hash)."""

    strategy: str
    params: object = None  # the strategy's parameter dataclass; None = its defaults
    risk: RiskConfig | None = None  # None = the strategy's default risk rules
    cash: float = 1_000_000.0
    contract_spec: ContractSpec = field(default_factory=ContractSpec)
    rebalance_band: float = 0.02
    stop_cooldown: int = 5
    thin_liquidity_scale: float = 0.75
    cash_buffer: float = 0.01
    windows_only: bool = False
    seed: int = 0

    def resolved(self) -> RunSettings:
        entry = get_strategy(self.strategy)
        params = self.params if self.params is not None else build_params(self.strategy)
        risk = self.risk if self.risk is not None else entry.default_risk
        if self.strategy == "benchmark":
            # the index itself: no stops, no costs, no liquidity scaling
            risk = RiskConfig(costs=Costs(commission_per_share=0.0, min_commission=0.0, slippage_bp=0.0,
                                          option_commission_per_contract=0.0,
                                          option_spread_vol=0.0, option_min_tick=0.0))
            return dataclasses.replace(self, params=params, risk=risk, thin_liquidity_scale=1.0,
                                       cash_buffer=0.0, windows_only=False)
        return dataclasses.replace(self, params=params, risk=risk)


class PerShareCommission(bt.CommInfoBase):
    """A US-broker style commission: a fee per share with a minimum per order."""

    params = (("per_share", 0.005), ("minimum", 1.0), ("stocklike", True),
              ("commtype", bt.CommInfoBase.COMM_FIXED))

    def _getcommission(self, size, price, pseudoexec):
        if not size:
            return 0.0
        return max(abs(size) * self.p.per_share, self.p.minimum)


def run_backtest(settings: RunSettings, market: Market) -> RunResult:
    """Run one strategy over the prepared market and collect everything into a RunResult."""
    settings = settings.resolved()
    entry = get_strategy(settings.strategy)
    if settings.strategy != "benchmark":  # the benchmark accrues no interest and holds no options
        require_cash_rate(market, settings.strategy)
    costs = settings.risk.costs
    cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=True)
    feeds = _add_feeds(cerebro, market, [s for s in TRADED if s in entry.symbols])
    book = None
    if entry.uses_options:
        option_costs = costs.option_costs()
        book = OptionBook(market.options, option_costs)
    carry = {feed: (market.bars[feed._name]["close"].to_numpy(float),
                    market.bars[feed._name]["carry"].to_numpy(float)) for feed in feeds}
    broker = OptionBroker(book, feeds[0], rates=market.options,
                          accrue_interest=settings.strategy != "benchmark", carry=carry)
    cerebro.setbroker(broker)
    broker.setcash(settings.cash)
    broker.addcommissioninfo(PerShareCommission(per_share=costs.commission_per_share,
                                                minimum=costs.min_commission))
    if costs.slippage_bp:
        broker.set_slippage_perc(costs.slippage_bp / 1e4, slip_open=True, slip_limit=False,
                                 slip_match=True, slip_out=False)
    if settings.strategy == "benchmark":
        broker.set_coc(True)  # buy at the first close: the benchmark's return is the index's own
    setup = StrategySetup(params=settings.params, risk=settings.risk, contract_spec=settings.contract_spec,
                          expiries=tuple(market.expiries), rebalance_band=settings.rebalance_band,
                          stop_cooldown=settings.stop_cooldown,
                          thin_liquidity_scale=settings.thin_liquidity_scale,
                          cash_buffer=settings.cash_buffer, windows_only=settings.windows_only)
    cerebro.addstrategy(entry.strategy, setup=setup)
    cerebro.addanalyzer(bt.analyzers.TimeReturn, timeframe=bt.TimeFrame.Days, _name="returns")
    strategy = cerebro.run()[0]
    return _collect(strategy, settings, market, broker, book)


def _add_feeds(cerebro, market: Market, symbols) -> list:
    feeds = []
    for n, symbol in enumerate(symbols):
        if symbol not in market.bars:
            continue
        frame = market.bars[symbol]
        columns = dict(open="open", high="high", low="low", close="close", volume="volume",
                       openinterest=None, atr="atr", rvol="rvol")
        if n == 0:
            frame = frame.join(market.signals)
            feed = SignalFeed(dataname=frame, name=symbol, **columns,
                              **{line: line for line in SIGNAL_LINES})
        else:
            feed = InstrumentFeed(dataname=frame, name=symbol, **columns)
        cerebro.adddata(feed)
        feeds.append(feed)
    return feeds


def _collect(strategy, settings: RunSettings, market: Market, broker: OptionBroker, book) -> RunResult:
    returns = pd.Series(strategy.analyzers.returns.get_analysis(), dtype=float)
    returns.index = pd.DatetimeIndex(returns.index).normalize()
    returns = returns.reindex(market.sessions).fillna(0.0)
    returns.name = settings.strategy
    if market.stepped and settings.strategy == "benchmark":
        # the benchmark holds the index through the gaps between windows (it has no window rule): its
        # return over a gap is not a window session's, and is left out as the benchmark series' is,
        # so its strung-together returns are the windows' own (equity and the ledger keep the gap)
        returns[market.options.block_start] = 0.0
    close = market.bars["SPY"]["close"]
    # the benchmark is the S&P 500's total return: its price return plus the dividends SPY earns
    benchmark = (close.pct_change() + market.bars["SPY"]["carry"]).fillna(0.0)
    if market.stepped:
        benchmark[market.options.block_start] = 0.0  # nothing is held across the gap between windows
    benchmark.name = "benchmark"
    state = pd.DataFrame(strategy.state_log).set_index("date")
    orders = pd.DataFrame(strategy.order_log + (book.fills if book else []), columns=ORDER_COLUMNS)
    orders = orders.sort_values("date", kind="stable").reset_index(drop=True)
    # closed round trips and, marked at the last close, those still open: every fill is in the ledger
    legs = strategy.trade_log + strategy.open_trade_records()
    if book is not None:
        legs += book.trades + book.open_records(broker.session_index)
    trades = pd.DataFrame(legs, columns=[c for c in TRADE_COLUMNS if c != "package"])
    trades = trades.sort_values(["entry_date", "exit_date"], kind="stable", na_position="last")
    trades.insert(0, "package", assign_packages(trades))
    trades = trades.reset_index(drop=True)
    costs = {
        "commission": strategy.commission_paid + (book.commission_paid if book else 0.0),
        "slippage": strategy.slippage_paid,
        "option_spread": book.spread_paid if book else 0.0,
        "tax": realised_tax(trades, settings.risk.costs.tax_rate),
        "interest_earned": broker.interest_earned,
        "dividends_earned": broker.dividends_earned,  # net: short stock pays them
    }
    position_columns = [c for c in state.columns if c not in ("equity", "exposure")]
    return RunResult(
        strategy=settings.strategy,
        returns=returns,
        benchmark=benchmark,
        equity=state["equity"].rename("equity"),
        trades=trades,
        orders=orders,
        positions=state[position_columns],
        exposure=state["exposure"].rename("exposure"),
        risk_free=tbill_returns(market),
        costs=costs,
        settings=settings_record(settings, market),
    )


def tbill_returns(market: Market) -> pd.Series:
    """The T-bill return of each session, as the broker credits cash: the rate known at the previous
    close over the calendar days since (0 on the first session, and across the gap before a window of
    a stepped market, where nothing is held). Sharpe and Sortino are measured over it."""
    rates = market.options
    days = np.diff(rates.dates.values).astype("timedelta64[D]").astype(float)
    values = np.concatenate([[0.0], rates.rate[:-1] * days / DAYS_PER_YEAR])
    if rates.block_start is not None:
        values[np.asarray(rates.block_start, dtype=bool)] = 0.0
    return pd.Series(values, index=rates.dates, name="risk_free").reindex(market.sessions).fillna(0.0)


def settings_record(settings: RunSettings, market: Market) -> dict:
    """Everything needed to repeat the run, as plain JSON-able values."""
    record = dataclasses.asdict(settings)
    record["risk"] = settings.risk.to_dict()
    record["params_type"] = type(settings.params).__name__
    spec = dataclasses.asdict(market.spec)
    record["market"] = {k: (str(v) if isinstance(v, pd.Timestamp) else v) for k, v in spec.items()}
    record["fill_rule"] = FILL_RULE
    q = market.options.div_yield
    record["dividends"] = {
        "convention": DIVIDEND_CONVENTION if market.spec.div_yield is None
        else f"a constant dividend yield of {float(market.spec.div_yield):.4%}, for stock and options alike",
        "benchmark": "total return (price return plus the same dividend yield)",
        "other_symbols": "what each adjusted close adds beyond the close: nothing for the embedded series "
                         "(sector baskets and T-bills are total-return levels; the QQQ proxy, the NASDAQ "
                         "Composite price index, earns no dividends), an ETF's distributions from yahoo/csv",
        "yield_by_year": {str(y): round(float(v), 6) for y, v in
                          pd.Series(np.broadcast_to(q, market.sessions.shape), market.sessions)
                          .groupby(market.sessions.year).first().items()},
    }
    record["data_hash"] = market.data_hash
    record["data_first_session"] = str(market.sessions[0].date())
    record["data_last_session"] = str(market.sessions[-1].date())
    record["proxies"] = market.proxies
    record["notes"] = list(market.notes)
    record["stand_ins"] = stand_ins(market)
    record["segments"] = {s: seg for s, seg in market.segments.items() if len(seg) > 1}  # spliced series
    record["windows"] = len(market.windows)
    record["numpy_seed"] = int(np.int64(settings.seed))
    return record
