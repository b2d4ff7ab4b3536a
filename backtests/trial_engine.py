"""The tuning trial's engine: a playbook's decisions over a prepared market, without backtrader's
event loop, for the one thing a trial needs, its daily returns.

Why a second loop: a tuning trial of the neutral playbook spent about 80% of its time in
backtrader's per-bar machinery (line buffers advanced line by line, orders built through
metaclasses, a clone of every notification, analyzers), not in the playbook's decisions. Here the
decisions are the same code (strategies.base.PlaybookLogic, which backtrader runs as
PlaybookStrategy), and so are the session's opening (backtests.optionbook.SessionOpening: interest,
dividends, the option book) and bt.Position's arithmetic. What this module writes again is the part
of backtrader's BackBroker the playbooks use, line for line in the same order with the same
floating-point operations:

1. each session's open: SessionOpening.open_session;
2. BackBroker.next: orders submitted at the last close are checked against cash by pseudo-execution
   (a buy that would leave cash below zero is refused, "Margin"); then the pending orders are tried
   against the bar in queue order: market orders at the open, stop orders at their level or at an
   open that gaps through it, limit orders at the open or their limit, one-cancels-other groups,
   slippage as set_slippage_perc(slip_open=True, slip_limit=False, slip_match=True); the portfolio
   value is cash plus each position as BackBroker._get_value sums it, plus the option book;
3. the notifications queued since the last delivery, delivered to notify_order in their order (the
   submitted/accepted ones are left out: notify_order ignores them);
4. the session's return as backtrader's TimeReturn analyzer has it: value / last value - 1;
5. the close's decisions, PlaybookLogic.next.

Left out, because a trial is judged on its returns alone: the order log, the round-trip ledger and
the state log (`cli.py backtest` with the trial's rule gives them). Steps of BackBroker that add
exactly 0.0 for a stock-like commission scheme with no credit interest (the runner's
CostsCommission) are left out too; each is named where it would be.

Checked bit for bit against backtrader: tests/test_trial_engine.py runs every built-in playbook with
stops, take-profits, tranches, limit orders and a portfolio stop through both engines; and `tune`
runs a study's first cell through both before its trials start, using backtrader for every trial if
the two differ in any bit (the report says which engine ran).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

import backtrader as bt
import pandas as pd

from backtests.market import Market
from backtests.optionbook import OptionBook, SessionOpening
from backtests.runner import RunSettings, carry_arrays, feed_symbols, market_feeds, strategy_setup
from backtests.stand_ins import require_cash_rate
from strategies.base import PlaybookLogic, StrategySetup
from strategies.errors import ConfigError
from strategies.risk import Costs

ENGINES = ("trial", "backtrader")  # the trial engine, or backtrader's Cerebro (backtests.runner)
_ORDER = bt.Order  # the order type and status numbers PlaybookLogic compares with


# --- bars ---------------------------------------------------------------------------------------


class TrialLine:
    """One line of a feed: `line[0]` is the current bar's value, `line[-1]` the one before, and
    `get(size=n)` the last n values up to the current bar, as backtrader's line buffer gives them."""

    __slots__ = ("values", "feed")

    def __init__(self, values: list, feed: TrialFeed):
        self.values = values
        self.feed = feed

    def __getitem__(self, ago: int) -> float:
        return self.values[self.feed.i + ago]

    def get(self, ago: int = 0, size: int = 1) -> list:
        end = self.feed.i + ago + 1
        return self.values[end - size:end]


class TrialFeed:
    """A market feed's bars as Python floats (the values backtrader's lines hold: the feed's own
    arrays, read once per study), stepped by the engine's bar index `i`."""

    def __init__(self, feed):
        feed.start()  # the backtrader feed maps the market's columns to lines (runner.market_feeds)
        self._name = feed._name
        self.lines = self  # PlaybookLogic reads a signal line as getattr(feed.lines, name)[0]
        self.session_dates = feed.session_dates
        self._days = feed.session_days()
        self.i = -1
        n = len(self._days)
        for name in feed.lines.getlinealiases():
            if name == "datetime":
                continue
            values = feed.arrays[name].tolist() if name in feed.arrays else [float("nan")] * n
            setattr(self, name, TrialLine(values, self))

    def __len__(self) -> int:
        return self.i + 1

    def day(self) -> pd.Timestamp:
        return self._days[self.i]


# --- orders -------------------------------------------------------------------------------------


class _OrderData:
    """backtrader's OrderData, the fields the engine and PlaybookLogic read."""

    __slots__ = ("dt", "size", "remsize", "price", "pricelimit", "pclose", "comm")

    def __init__(self, dt=None, size=0, price=0.0, pricelimit=0.0, remsize=0, pclose=0.0):
        self.dt, self.size, self.remsize, self.pclose = dt, size, remsize, pclose
        self.price = pricelimit if pricelimit and not price else price
        self.pricelimit = pricelimit if pricelimit else self.price
        self.comm = 0.0

    def add(self, size: float, price: float, comm: float) -> None:
        # OrderData.addbit: the running average fill price, computed as backtrader does
        self.remsize -= size
        old_value = self.size * self.price
        new_value = size * price
        self.size += size
        self.price = (old_value + new_value) / self.size
        self.comm += comm

    def clone(self) -> _OrderData:
        twin = _OrderData.__new__(_OrderData)
        twin.dt, twin.size, twin.remsize, twin.price = self.dt, self.size, self.remsize, self.price
        twin.pricelimit, twin.pclose, twin.comm = self.pricelimit, self.pclose, self.comm
        return twin


class TrialOrder:
    """An order as PlaybookLogic sees it (the attributes and numbers of backtrader's bt.Order)."""

    Market, Close, Limit, Stop = _ORDER.Market, _ORDER.Close, _ORDER.Limit, _ORDER.Stop
    Created, Submitted, Accepted, Partial = _ORDER.Created, _ORDER.Submitted, _ORDER.Accepted, _ORDER.Partial
    Completed, Canceled, Margin = _ORDER.Completed, _ORDER.Canceled, _ORDER.Margin
    _ALIVE = (Created, Submitted, Partial, Accepted)

    __slots__ = ("ref", "data", "buying", "exectype", "status", "created", "executed", "info")

    def __init__(self, ref: int, data: TrialFeed, size: float, buying: bool, exectype, price, bar: int):
        if exectype is None:
            exectype = _ORDER.Market
        if exectype not in (_ORDER.Market, _ORDER.Limit, _ORDER.Stop):
            raise ConfigError(f"the trial engine runs market, limit and stop orders, not "
                              f"{_ORDER.ExecTypes[exectype]}: run the trial with engine='backtrader'")
        self.ref, self.data, self.buying, self.exectype = ref, data, buying, exectype
        self.status = _ORDER.Created
        size = size if buying else -size
        close = data.close[0]
        self.created = _OrderData(dt=bar, size=size, price=close if not price else price, pclose=close)
        self.executed = _OrderData(remsize=size)
        self.info: dict = {}

    def addinfo(self, **kwargs) -> None:
        self.info.update(kwargs)

    def isbuy(self) -> bool:
        return self.buying

    def alive(self) -> bool:
        return self.status in self._ALIVE

    def clone(self) -> TrialOrder:
        """What a notification carries: the order as it is now (backtrader notifies clones)."""
        twin = TrialOrder.__new__(TrialOrder)
        twin.ref, twin.data, twin.buying, twin.exectype = self.ref, self.data, self.buying, self.exectype
        twin.status, twin.created, twin.info = self.status, self.created, self.info
        twin.executed = self.executed.clone()
        return twin

    def __eq__(self, other) -> bool:
        return other is not None and self.ref == other.ref

    def __hash__(self) -> int:
        return self.ref


# --- the broker ---------------------------------------------------------------------------------


class TrialBroker(SessionOpening):
    """backtrader's BackBroker for market, limit and stop orders with OCO groups, and OptionBroker's
    interest, dividends and option book (SessionOpening): cash, positions and value as they have them."""

    def __init__(self, book: OptionBook | None, underlying: TrialFeed, rates, carry: dict, cash: float,
                 costs: Costs):
        self.start_sessions(book, underlying, rates, accrue_interest=True, carry=carry)
        self.cash = float(cash)
        self._value = self.cash
        self.commission = costs.stock_commission
        self.slip = costs.slippage_fraction if costs.slippage_bp else 0.0
        self.positions = defaultdict(bt.Position)  # created on first look, in backtrader's order
        self.submitted: deque = deque()
        self.pending: deque = deque()
        self.notifs: list = []
        self._ocos: dict = {}
        self._ocol = defaultdict(list)
        self._refs = 0

    # what PlaybookLogic asks
    def getcash(self) -> float:
        return self.cash

    def getvalue(self) -> float:
        return self._value

    def getposition(self, data) -> bt.Position:
        return self.positions[data]

    def submit(self, data: TrialFeed, size: float, buying: bool, exectype, price, oco) -> TrialOrder:
        self._refs += 1
        order = TrialOrder(self._refs, data, size, buying, exectype, price, data.i)
        if oco is None:  # BackBroker._ocoize: every order leads a group of its own
            self._ocos[order.ref] = order.ref
            self._ocol[order.ref].append(order.ref)
        else:
            leader = self._ocos[oco.ref]
            self._ocos[order.ref] = leader
            self._ocol[leader].append(order.ref)
        order.status = _ORDER.Submitted
        self.submitted.append(order)
        return order

    def cancel(self, order: TrialOrder) -> bool:
        try:
            self.pending.remove(order)
        except ValueError:
            return False
        order.status = _ORDER.Canceled
        self.notify(order)
        self._ococheck(order)
        return True

    def notify(self, order: TrialOrder) -> None:
        self.notifs.append(order.clone())

    # one session
    def next(self) -> None:
        if self.rates is not None:
            self.open_session(self.underlying.i)
        self._check_submitted()
        # (BackBroker charges credit interest here: 0.0 with CostsCommission's interest of 0)
        self.pending.append(None)
        while True:
            order = self.pending.popleft()
            if order is None:
                break
            self._try_exec(order)  # (orders never expire: the playbooks give no valid= date)
            if order.alive():
                self.pending.append(order)
        # (BackBroker adds each position's cashadjust here: 0.0 for stock-like instruments)
        self._update_value()

    def _check_submitted(self) -> None:
        cash = self.cash
        positions = {}
        while self.submitted:
            order = self.submitted.popleft()
            position = positions.setdefault(order.data, self.positions[order.data].clone())
            cash = self._pseudo_execute(order, cash, position)
            if cash >= 0.0:
                order.status = _ORDER.Accepted
                self.pending.append(order)
                continue
            order.status = _ORDER.Margin
            self.notify(order)
            self._ococheck(order)

    def _pseudo_execute(self, order: TrialOrder, cash: float, position: bt.Position) -> float:
        """BackBroker._execute without a bar (ago=None): the cash left if the order filled at its
        creation price, given the orders accepted before it in this check."""
        size = order.executed.remsize
        price = pprice_orig = order.created.price
        _, _, opened, closed = position.update(size, price)
        if closed:
            cash += -closed * pprice_orig + 0  # closed value (short cash) plus no P&L (the 0 of pnl)
            cash -= self.commission(closed, price)
        if opened:
            cash -= opened * price
            cash -= self.commission(opened, price)
        return cash

    def _execute(self, order: TrialOrder, price: float | None) -> None:
        """BackBroker._execute at the bar (ago=0): the fill, the cash it moves, the notification."""
        if price is None:
            return
        size = order.executed.remsize
        position = self.positions[order.data]
        pprice_orig = position.price
        psize, _, opened, closed = position.pseudoupdate(size, price)
        pnl = -closed * (price - pprice_orig)
        cash = self.cash
        closedcomm = openedcomm = 0.0
        if closed:
            cash += -closed * pprice_orig + pnl
            closedcomm = self.commission(closed, price)
            cash -= closedcomm
            self.cash = cash
        popened = opened
        if opened:
            cash -= opened * price
            openedcomm = self.commission(opened, price)
            cash -= openedcomm
            if cash < 0.0:
                opened = 0
                openedcomm = 0.0
            else:
                self.cash = cash
        execsize = closed + opened
        if execsize:
            position.update(execsize, price)
            order.executed.add(execsize, price, closedcomm + openedcomm)
            order.status = _ORDER.Partial if order.executed.remsize else _ORDER.Completed
            self.notify(order)
            self._ococheck(order)
        if popened and not opened:
            order.status = _ORDER.Margin
            self.notify(order)
            self._ococheck(order)

    def _try_exec(self, order: TrialOrder) -> None:
        data = order.data
        popen, phigh, plow = data.open[0], data.high[0], data.low[0]
        pcreated = order.created.price
        if order.exectype == _ORDER.Market:
            if data.i <= order.created.dt:
                return  # only after the bar it was decided at
            if order.buying:
                self._execute(order, self._slip_up(phigh, popen))
            else:
                self._execute(order, self._slip_down(plow, popen))
        elif order.exectype == _ORDER.Limit:
            if order.buying:
                if pcreated >= popen:
                    self._execute(order, self._slip_up(min(phigh, pcreated), popen))
                elif pcreated >= plow:
                    self._execute(order, pcreated)
            elif pcreated <= popen:
                self._execute(order, self._slip_down(pcreated, popen))
            elif pcreated <= phigh:
                self._execute(order, pcreated)
        elif order.buying:  # a stop
            if popen >= pcreated:
                self._execute(order, self._slip_up(phigh, popen))
            elif phigh >= pcreated:
                self._execute(order, self._slip_up(phigh, pcreated))
        elif popen <= pcreated:
            self._execute(order, self._slip_down(plow, popen))
        elif plow <= pcreated:
            self._execute(order, self._slip_down(plow, pcreated))

    # BackBroker._slip_up/_slip_down with slip_open=True, slip_match=True, slip_limit=False,
    # slip_out=False when the run has slippage (runner.run_backtest); no slippage returns the price
    def _slip_up(self, pmax: float, price: float) -> float:
        if not self.slip:
            return price
        pslip = price * (1 + self.slip)
        if pslip <= pmax:
            return pslip
        return pmax  # slip_match: the bar's high

    def _slip_down(self, pmin: float, price: float) -> float:
        if not self.slip:
            return price
        pslip = price * (1 - self.slip)
        if pslip >= pmin:
            return pslip
        return pmin

    def _ococheck(self, order: TrialOrder) -> None:
        leader = self._ocos.get(self._ocos[order.ref], None)
        group = self._ocol.pop(leader, None)
        if group:
            for i in range(len(self.pending) - 1, -1, -1):
                other = self.pending[i]
                if other is not None and other.ref in group:
                    del self.pending[i]
                    other.status = _ORDER.Canceled
                    self.notify(other)

    def _update_value(self) -> None:
        """BackBroker._get_value (short cash, leverage 1, multiplier 1) plus OptionBroker's options."""
        unlevered = 0.0
        for data, position in self.positions.items():
            close = data.close[0]
            value = position.size * close
            if value > 0:  # a long position: its value less its unrealised P&L, then the P&L back
                unrealized = position.size * (close - position.price)
                value -= unrealized
                unlevered += value
                unlevered += unrealized
            else:
                unlevered += value
        self._value = self.cash + unlevered
        if self.book is not None and self.session_index >= 0:
            self._value += self.book.value(self.session_index)


# --- the strategy and the loop -------------------------------------------------------------------


class TrialStrategy(PlaybookLogic):
    """PlaybookLogic hosted by the trial engine: backtrader's Strategy order methods over TrialBroker."""

    def __init__(self, feeds: list[TrialFeed], broker: TrialBroker, setup: StrategySetup):
        self.datas = feeds
        self.broker = broker
        self._start_logic(setup)

    def getposition(self, data=None, broker=None) -> bt.Position:
        return self.broker.positions[data if data is not None else self.datas[0]]

    def buy(self, data=None, size=None, price=None, exectype=None, oco=None):
        if size:
            return self.broker.submit(data, abs(size), True, exectype, price, oco)
        return None

    def sell(self, data=None, size=None, price=None, exectype=None, oco=None):
        if size:
            return self.broker.submit(data, abs(size), False, exectype, price, oco)
        return None

    def close(self, data=None, size=None):
        held = self.getposition(data).size
        size = abs(size if size is not None else held)
        if held > 0:
            return self.sell(data, size=size)
        if held < 0:
            return self.buy(data, size=size)
        return None

    def cancel(self, order) -> None:
        self.broker.cancel(order)

    def _log_fill(self, order, name: str, reason: str) -> None:
        pass  # a trial keeps no order log

    def _record_state(self, view, equity: float) -> None:
        pass  # nor a state log


@dataclass
class _Shared:
    """The bars of one market's feeds as TrialFeeds: built once per study, read by every trial."""

    market: Market
    symbols: tuple
    feeds: list
    carry: dict


_shared: _Shared | None = None


def _feeds(market: Market, symbols: list[str]) -> _Shared:
    """The market's trial feeds, built on the first trial of a process and kept for the next ones
    (`tune` runs its engine check in the parent, so forked workers inherit them built)."""
    global _shared
    if _shared is None or _shared.market is not market or _shared.symbols != tuple(symbols):
        feeds = [TrialFeed(feed) for feed in market_feeds(market, symbols)]
        if any(not feed.session_dates.equals(feeds[0].session_dates) for feed in feeds[1:]):
            # backtrader aligns feeds by date; this loop steps them by bar (prepare_market puts
            # every frame on the market's sessions)
            raise ConfigError("the trial engine needs every feed on the same sessions; "
                              "run with engine='backtrader'")
        _shared = _Shared(market, tuple(symbols), feeds, carry_arrays(market, feeds))
    return _shared


def trial_returns(settings: RunSettings, market: Market) -> pd.Series:
    """The run's daily returns on the market's sessions: `backtests.runner.run_backtest(settings,
    market).returns`, bit for bit, without its records."""
    settings = settings.resolved()
    if settings.strategy == "benchmark":
        raise ConfigError("the trial engine runs playbooks; the benchmark runs on backtrader")
    playbook = settings.playbook()
    require_cash_rate(market, settings.name)
    shared = _feeds(market, feed_symbols(playbook, market))
    feeds = shared.feeds
    costs = settings.risk.costs
    book = OptionBook(market.options, costs.option_costs(), records=False) if playbook.uses_options else None
    broker = TrialBroker(book, feeds[0], market.options, shared.carry, settings.cash, costs)
    for feed in feeds:
        feed.i = -1
    strategy = TrialStrategy(feeds, broker, strategy_setup(settings, playbook, market,
                                                           [f._name for f in feeds]))
    returns = []
    last = broker.getvalue()
    for i in range(len(feeds[0].session_dates)):
        for feed in feeds:
            feed.i = i
        broker.next()
        notes, broker.notifs = broker.notifs, []
        for order in notes:
            strategy.notify_order(order)
        value = broker.getvalue()
        returns.append(value / last - 1.0)
        last = value
        strategy.next()
    series = pd.Series(returns, index=pd.DatetimeIndex(feeds[0].session_dates), dtype=float,
                       name=settings.name)
    return series.reindex(market.sessions).fillna(0.0)
