"""The runner: the only place that builds a Cerebro. One strategy, one prepared Market, one RunResult."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import backtrader as bt
import numpy as np
import pandas as pd

from backtests.errors import RunError
from backtests.market import FILL_RULE, TRADED, Market
from backtests.metrics import assign_packages, realised_tax
from backtests.optionbook import DAYS_PER_YEAR, OptionBook, OptionBroker
from backtests.result import ORDER_COLUMNS, TRADE_COLUMNS, RunResult
from backtests.stand_ins import require_cash_rate, stand_ins
from backtests.versions import code_version, package_versions
from data.dividends import CONVENTION as DIVIDEND_CONVENTION
from strategies.base import SIGNAL_LINES, InstrumentFeed, PlaybookStrategy, SignalFeed, StrategySetup
from strategies.contracts import ContractSpec
from strategies.errors import ConfigError
from strategies.playbook import Playbook
from strategies.registry import build_params, get_strategy
from strategies.risk import Costs, RiskConfig


@dataclass(frozen=True)
class RunSettings:
    """Everything that decides a run besides the market data (which run.json records by hash)."""

    strategy: str | Playbook  # a built-in's name (strategies.registry) or a Playbook instance
    params: object = None  # a built-in's parameter dataclass; None = its defaults
    risk: RiskConfig | None = None  # None = the strategy's default risk rules
    cash: float = 1_000_000.0
    contract_spec: ContractSpec = field(default_factory=ContractSpec)
    rebalance_band: float = 0.02
    stop_cooldown: int = 5
    thin_liquidity_scale: float = 0.75
    cash_buffer: float = 0.01
    windows_only: bool = False
    seed: int = 0

    @property
    def name(self) -> str:
        """The strategy's name in the result, its files and reports."""
        return self.strategy if isinstance(self.strategy, str) else self.strategy.title()

    def playbook(self) -> Playbook:
        """The playbook this run trades: the instance given, or the built-in with these params."""
        if isinstance(self.strategy, Playbook):
            return self.strategy
        return get_strategy(self.strategy).build(self.params)

    def resolved(self) -> RunSettings:
        if isinstance(self.strategy, Playbook):
            if self.params is not None:
                raise ConfigError(f"{self.name}: a Playbook instance carries its own parameters; "
                                  "drop params=")
            risk = self.risk if self.risk is not None else self.strategy.default_risk
            return dataclasses.replace(self, risk=risk)
        if not isinstance(self.strategy, str):
            raise ConfigError(f"strategy must be a built-in's name or a Playbook instance, "
                              f"got {type(self.strategy).__name__}")
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


class CostsCommission(bt.CommInfoBase):
    """backtrader's commission hook, asking the run's costs object (`Costs.stock_commission`, or a
    user's replacement with the same method) what each stock order pays."""

    params = (("costs", None), ("stocklike", True), ("commtype", bt.CommInfoBase.COMM_FIXED))

    def _getcommission(self, size, price, pseudoexec):
        return self.p.costs.stock_commission(size, price)


def run_backtest(settings: RunSettings, market: Market) -> RunResult:
    """Run one strategy over the prepared market and collect everything into a RunResult."""
    settings = settings.resolved()
    playbook = settings.playbook()
    benchmark = settings.strategy == "benchmark"
    if not benchmark:  # the benchmark accrues no interest and holds no options
        require_cash_rate(market, settings.name)
    costs = settings.risk.costs
    cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=True)
    feeds = _add_feeds(cerebro, market, feed_symbols(playbook, market))
    book = OptionBook(market.options, costs.option_costs()) if playbook.uses_options else None
    broker = OptionBroker(book, feeds[0], rates=market.options, accrue_interest=not benchmark,
                          carry=carry_arrays(market, feeds))
    cerebro.setbroker(broker)
    broker.setcash(settings.cash)
    broker.addcommissioninfo(CostsCommission(costs=costs))
    if costs.slippage_bp:
        broker.set_slippage_perc(costs.slippage_fraction, slip_open=True, slip_limit=False,
                                 slip_match=True, slip_out=False)
    if benchmark:
        broker.set_coc(True)  # buy at the first close: the benchmark's return is the index's own
    cerebro.addstrategy(PlaybookStrategy, setup=strategy_setup(settings, playbook, market,
                                                                  [f._name for f in feeds]))
    cerebro.addanalyzer(bt.analyzers.TimeReturn, timeframe=bt.TimeFrame.Days, _name="returns")
    strategy = cerebro.run()[0]
    return _collect(strategy, settings, market, broker, book)


def strategy_setup(settings: RunSettings, playbook: Playbook, market: Market, symbols) -> StrategySetup:
    """The strategy's setup for resolved settings over the market's feeds `symbols`."""
    return StrategySetup(playbook=playbook, risk=settings.risk,
                         contract_spec=settings.contract_spec, expiries=tuple(market.expiries),
                         rebalance_band=settings.rebalance_band, stop_cooldown=settings.stop_cooldown,
                         thin_liquidity_scale=settings.thin_liquidity_scale,
                         cash_buffer=settings.cash_buffer, windows_only=settings.windows_only,
                         atr=atr_series(settings.risk, market, symbols))


def carry_arrays(market: Market, feeds) -> dict:
    """Per feed: (its closes, its carry) on the market's sessions, as the broker credits dividends."""
    return {feed: (market.bars[feed._name]["close"].to_numpy(float),
                   market.bars[feed._name]["carry"].to_numpy(float)) for feed in feeds}


def feed_symbols(playbook: Playbook, market: Market) -> list[str]:
    """The feeds of a run: the index first (it carries the signal lines and is the option
    underlying), then the playbook's symbols. A symbol of the playbook's that the market does not
    hold is refused, naming it; a traded symbol the data lacks (market.notes says so) is left out."""
    unknown = [line for line in playbook.signals if line not in SIGNAL_LINES]
    if unknown:
        raise ConfigError(f"{playbook.title()} reads signal line(s) {', '.join(map(repr, unknown))} "
                          f"the market does not compute; it has {', '.join(SIGNAL_LINES)}")
    if isinstance(playbook.symbols, str) or not all(isinstance(s, str) for s in playbook.symbols):
        raise ConfigError(f"{playbook.title()}.symbols must be a tuple of symbols, got {playbook.symbols!r}")
    missing = [s for s in playbook.symbols if s not in market.bars and s not in TRADED]
    if missing:
        raise ConfigError(f"{playbook.title()} trades {', '.join(missing)}, which the market does not hold "
                          f"(it holds {', '.join(market.bars)})")
    index = TRADED[0]
    ordered = [index] + [s for s in TRADED[1:] if s in playbook.symbols] \
        + [s for s in dict.fromkeys(playbook.symbols) if s not in TRADED]
    return [s for s in ordered if s in market.bars]


def atr_series(risk: RiskConfig, market: Market, symbols) -> dict:
    """Per ATR look-back a rule names: each symbol's ATR at each bar's close (the market's `atr`
    column for its own look-back, `atr_<n>` for the others it was prepared with)."""
    windows = sorted({r.atr_sessions for r in (*risk.stops, risk.take_profit)
                      if r is not None and r.kind == "atr"})
    out = {}
    for n in windows:
        column = "atr" if n == market.spec.atr_sessions else f"atr_{n}"
        if column not in market.bars[TRADED[0]]:
            raise RunError(f"a rule reads ATR({n}) but the market was prepared with ATR "
                           f"{', '.join(map(str, (market.spec.atr_sessions, *market.spec.atr_windows)))}; "
                           f"prepare it with atr_windows=({n},)")
        out[n] = {s: market.bars[s][column].to_numpy(float) for s in symbols}
    return out


def _add_feeds(cerebro, market: Market, symbols) -> list:
    feeds = market_feeds(market, symbols)
    for feed in feeds:
        cerebro.adddata(feed)
    return feeds


def market_feeds(market: Market, symbols) -> list:
    """The backtrader feeds of a run, the underlying first with the signal lines: the one mapping
    of the market's columns to feed lines (backtests.trial_engine loads its bars from these)."""
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
        feeds.append(feed)
    return feeds


def _collect(strategy, settings: RunSettings, market: Market, broker: OptionBroker, book) -> RunResult:
    returns = pd.Series(strategy.analyzers.returns.get_analysis(), dtype=float)
    returns.index = pd.DatetimeIndex(returns.index).normalize()
    returns = returns.reindex(market.sessions).fillna(0.0)
    returns.name = settings.name
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
        strategy=settings.name,
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
    record = dataclasses.asdict(dataclasses.replace(settings, strategy=settings.name))
    if isinstance(settings.strategy, Playbook):
        cls = type(settings.strategy)
        record["playbook"] = f"{cls.__module__}.{cls.__qualname__}"  # a user's: not runnable by name
        params = getattr(settings.strategy, "params", None)
        record["params"] = dataclasses.asdict(params) if dataclasses.is_dataclass(params) else params
    record["risk"] = settings.risk.to_dict()
    record["params_type"] = type(settings.params if isinstance(settings.strategy, str)
                                 else getattr(settings.strategy, "params", None)).__name__
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
    record["code_version"] = code_version()
    record["packages"] = package_versions()
    return record
