"""The base strategy: it owns sizing, stops, take-profits, the portfolio drawdown stop, order types,
the option hedge and the records, once, so that each playbook is only its target function.

Timing: everything runs in `next()` at the close of session t, from what is known at that close;
orders are market orders for t+1's open, limit orders from t+1 on, stop and take-profit orders armed
from t+1 on (a stop fills at its level, or at the open when the price gaps through it). Option orders
go to the option book, which fills them at t+1's open.

Signals arrive as feed lines of the first feed (the option underlying): `regime`, `p_momentum`,
`p_range`, `p_selloff`, `momentum_signal`, `in_window`, `thin_liquidity`, `iv` (the at-the-money
implied volatility proxy), `iv_avg` (its 20-session average) and `session_number` (the session's
position in the full history, so that counts of sessions (cooldowns, time stops, limit-order lives)
mean the same when a run steps only through windows); each instrument feed carries
its own `atr` and `rvol` (realized volatility) lines computed in pandas up to each close.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import backtrader as bt
import numpy as np
import pandas as pd

from strategies.contracts import (
    ContractSpec,
    OptionContract,
    SortedExpiries,
    days_between,
    pick_expiry,
    pick_strike,
)
from strategies.errors import ConfigError
from strategies.playbook import Playbook
from strategies.risk import RiskConfig
from strategies.targets import FLAT, HedgePlan, SessionView, Target

SIGNAL_LINES = ("regime", "p_momentum", "p_range", "p_selloff", "momentum_signal", "in_window",
                "thin_liquidity", "iv", "iv_avg", "session_number")


class ArrayFeed(bt.feeds.PandasData):
    """PandasData that reads each bar from numpy arrays taken once at start.

    backtrader's own PandasData reads every cell with `DataFrame.iloc`, which is half the time of a
    full-history run with five feeds; the values loaded are the same.
    """

    def start(self):
        super().start()
        frame = self.p.dataname
        # line name -> its values, as the feed loads them (backtests.trial_engine reads the same)
        self.arrays = {name: frame.iloc[:, column].to_numpy(float)
                       for name, column in self._colmapping.items()
                       if name != "datetime" and column is not None}
        self._fields = [(getattr(self.lines, name), values) for name, values in self.arrays.items()]
        self._stamps = [bt.date2num(t.to_pydatetime()) for t in frame.index]
        self.session_dates = pd.DatetimeIndex(frame.index)
        self._days = None

    def session_days(self) -> list[pd.Timestamp]:
        """Each bar's date, as `pd.Timestamp(self.datetime.date(0))` gives it (same value and unit)."""
        if self._days is None:
            self._days = [pd.Timestamp(bt.num2date(stamp).date()) for stamp in self._stamps]
        return self._days

    def day(self) -> pd.Timestamp:
        """The current bar's date, from a list built on first use: the strategy asks every session,
        and converting the bar's float stamp each time is a measurable part of a tuning trial."""
        return self.session_days()[len(self) - 1]

    def _load(self):
        self._idx += 1
        if self._idx >= len(self._stamps):
            return False
        for line, values in self._fields:
            line[0] = values[self._idx]
        self.lines.datetime[0] = self._stamps[self._idx]
        return True


class SignalFeed(ArrayFeed):
    """The underlying's bars plus the signal lines the playbooks read, and its ATR / realized vol."""

    lines = SIGNAL_LINES + ("atr", "rvol", "tradable", "last_bar")
    params = tuple((name, -1) for name in SIGNAL_LINES + ("atr", "rvol", "tradable", "last_bar"))


class InstrumentFeed(ArrayFeed):
    """An instrument's bars plus its ATR and realized volatility up to each close, and whether it
    can be traded at this bar (`tradable`) and for the last time (`last_bar`: its series ends)."""

    lines = ("atr", "rvol", "tradable", "last_bar")
    params = (("atr", -1), ("rvol", -1), ("tradable", -1), ("last_bar", -1))


@dataclass(frozen=True)
class StrategySetup:
    """Everything a playbook run needs besides the data; passed to backtrader as one parameter.

    rebalance_band   : trade a stock only when its value is this far (fraction of equity) from target
    stop_cooldown    : sessions an instrument stays out after a stop or take-profit closed it
    thin_liquidity_scale : weights are multiplied by this in thin-liquidity sessions (holiday weeks,
                       the last two weeks of December): the playbook's "smaller weights while
                       liquidity is thin"; 1.0 turns it off
    cash_buffer      : buys decided at a close are sized to leave this fraction of the cash free, so
                       that a gap up to the next open does not make them unaffordable
    windows_only     : hold positions only inside evaluation windows, cash outside
    """

    playbook: Playbook
    risk: RiskConfig = field(default_factory=RiskConfig)
    contract_spec: ContractSpec = field(default_factory=ContractSpec)
    expiries: tuple = ()
    rebalance_band: float = 0.02
    stop_cooldown: int = 5
    thin_liquidity_scale: float = 1.0
    cash_buffer: float = 0.01
    windows_only: bool = False
    # ATR look-back (sessions) -> symbol -> the ATR known at each bar's close: one series per window
    # the stop and take-profit rules name, so that each rule reads its own
    atr: dict = field(default_factory=dict)


@dataclass
class _Holding:
    """Exit-rule state of one instrument's position."""

    opened_index: int = -1
    peak_close: float = 0.0
    atr_at_entry: dict = field(default_factory=dict)  # ATR window -> the ATR at the entry decision
    stop_order: object = None
    take_order: object = None
    armed_size: float = 0.0
    cooldown_until: int = -1
    max_size: float = 0.0
    exit_price: float = float("nan")
    exit_reason: str = ""
    dividends_at_open: float = 0.0  # the broker's running dividend total for this symbol at the opening fill
    tranche_goal: float = float("nan")  # the target weight the current tranches move toward
    tranche_step: float = 0.0  # the weight each tranche moves (Sizing.tranche_step)


class PlaybookLogic:
    """Turns a playbook's target into orders under the shared risk rules: every decision of a run.

    The playbook (`setup.playbook`, a strategies.playbook.Playbook) defines `target(view) -> Target`.
    Buys are sized by the sizing rule, capped at the
    maximum weight per instrument and moved in tranches; each stock position gets the configured stop
    and take-profit orders; a portfolio drawdown stop flattens everything for a cooldown.

    Why a host-free class: the decisions are written once and run on two hosts that give them the
    same orders, fills and notifications. `PlaybookStrategy` is backtrader's (every run, with its
    records); `backtests.trial_engine.TrialStrategy` is the tuning trial's event loop, which needs
    only the equity path and is checked bit for bit against backtrader. A host provides `datas`,
    `broker` (getvalue, getcash, session_index, book), `getposition`, `buy`, `sell`, `close`,
    `cancel`, delivers order notifications to `notify_order`, and implements `_log_fill`.
    """

    # --- the one thing a playbook writes ----------------------------------------------------------
    def target(self, view: SessionView) -> Target:
        return self.setup.playbook.target(view)

    def _start_logic(self, setup: StrategySetup):
        self.setup: StrategySetup = setup
        self.risk = self.setup.risk
        self.by_name = {d._name: d for d in self.datas}
        self.underlying = self.datas[0]
        # the underlying's signal lines, looked up once: the view reads all of them every session
        self._signal_lines = [(line, getattr(self.underlying.lines, line)) for line in SIGNAL_LINES]
        self.holdings = {d._name: _Holding() for d in self.datas}
        self.pending = {d._name: None for d in self.datas}
        self.expiries = SortedExpiries.of(pd.DatetimeIndex(self.setup.expiries))
        self.book = getattr(self.broker, "book", None)
        self.index = -1
        self.peak_equity = -math.inf
        self.flat_until = -1
        self.order_log: list[dict] = []
        self.trade_log: list[dict] = []
        self.state_log: list[dict] = []
        self.commission_paid = 0.0
        self.slippage_paid = 0.0

    def next(self):
        self.index = self._session_number()
        view = self._view()
        equity = self.broker.getvalue()
        self._record_state(view, equity)
        if self._portfolio_stop(equity):
            return
        target = self.target(view)
        if self.setup.windows_only and not view.signal("in_window", 0.0) > 0:
            target = FLAT
        weights = self._sized_weights(target, view)
        self._expire_limits()
        self._time_stops(view)
        expected = self._rebalance(weights, target, view, equity)
        self._arm_exits(view, expected)
        self._hedge(target.hedge, view, equity, expected)

    def _session_number(self) -> int:
        return int(self.underlying.session_number[0])

    # --- the view at this close --------------------------------------------------------------------
    def _view(self) -> SessionView:
        close, vol, available = {}, {}, set()
        for name, d in self.by_name.items():
            close[name] = d.close[0]
            vol[name] = d.rvol[0]
            if d.tradable[0] > 0 and not d.last_bar[0] > 0:
                available.add(name)
        u = self.underlying
        signals = {line: values[0] for line, values in self._signal_lines}
        return SessionView(u.day(), close, vol, signals, frozenset(available),
                           closes=self._closes)

    def _closes(self, symbol: str, sessions: int) -> pd.Series:
        """The last `sessions` closes of `symbol` up to this bar: backtrader's line buffer ends at the
        current bar (the preloaded future is beyond it), NaN where the series has no price yet."""
        d = self.by_name.get(symbol)
        if d is None:
            raise ConfigError(f"history of {symbol!r}: not a symbol of this playbook "
                              f"(its feeds: {', '.join(self.by_name)})")
        n = min(sessions, len(d))
        values = np.array(d.close.get(size=n), dtype=float)
        values[np.array(d.tradable.get(size=n), dtype=float) <= 0] = np.nan
        return pd.Series(values, index=d.session_dates[len(d) - n:len(d)], name=symbol)

    # --- sizing ------------------------------------------------------------------------------------
    def _sized_weights(self, target: Target, view: SessionView) -> dict[str, float]:
        """The playbook's weights under the sizing rule: fixed-fraction multiplies each by `level`
        (100% = as the playbook says); vol-target multiplies each by level / the instrument's
        realised vol, never above 1 (no leverage from a quiet series); then the maximum weight per
        instrument and the thin-liquidity scale apply."""
        sizing = self.risk.sizing
        thin = self.setup.thin_liquidity_scale if view.signal("thin_liquidity", 0.0) > 0 else 1.0
        weights = {}
        for symbol, w in target.weights.items():
            if w <= 0 or symbol not in view.available:
                continue
            weights[symbol] = sizing.weight(w, view.realized_vol.get(symbol, math.nan)) * thin
        return weights

    # --- stock orders --------------------------------------------------------------------------------
    def _rebalance(self, weights, target: Target, view: SessionView, equity: float) -> dict[str, float]:
        """Move each position toward its target, one tranche a session; sells go first so that
        their proceeds pay for the buys. Returns the expected size of each position after the
        next open's market orders."""
        expected = {name: self.getposition(d).size for name, d in self.by_name.items()}
        sizing = self.risk.sizing
        gaps = {}
        for name in self.by_name:
            pos = expected[name]
            if not self.by_name[name].tradable[0] > 0:
                continue
            want = weights.get(name, 0.0) * equity if name in view.available else 0.0
            pending = self.pending[name]
            if pending is not None and want == 0 and pending.exectype == bt.Order.Limit:
                self.cancel(pending)  # a working limit order must not outlive the wish to be flat
                self.pending[name] = pending = None
            if pending is not None:
                continue
            if want > 0 and self.index < self.holdings[name].cooldown_until:
                continue  # stopped out: stay out until the cooldown ends
            have = pos * view.close[name]
            gap = want - have
            closing = want == 0 and pos != 0
            if abs(gap) < self.setup.rebalance_band * equity and not closing:
                continue
            if sizing.tranches > 1 and not closing:
                gap = self._tranche(name, want, have, gap, equity)
            gaps[name] = (gap, closing)
        cash = self.broker.getcash()
        for name, (gap, closing) in gaps.items():
            if gap < 0:
                size = expected[name] if closing else -gap / view.close[name]
                if self._place(name, -size, target, view, closing):
                    cash += size * view.close[name]
                    expected[name] -= size
        buys = {name: gap for name, (gap, _) in gaps.items() if gap > 0}
        budget = max(cash, 0.0) * (1 - self.setup.cash_buffer)
        scale = min(1.0, budget / sum(buys.values())) if buys else 1.0
        for name, gap in buys.items():
            size = gap * scale / view.close[name]
            if size > 0 and self._place(name, size, target, view, False):
                expected[name] += size
        return expected

    def _tranche(self, name: str, want: float, have: float, gap: float, equity: float) -> float:
        """The part of `gap` this session's tranche moves: equal steps of (target - weight held when
        the target was set) / tranches, so a 30% target in 3 tranches takes three sessions of 10%. A
        target that moves by the rebalance band or more starts a new set of steps."""
        h = self.holdings[name]
        goal = want / equity
        if not abs(goal - h.tranche_goal) < self.setup.rebalance_band:  # True for NaN: none yet
            h.tranche_goal = goal
            h.tranche_step = self.risk.sizing.tranche_step(have / equity, goal)
        step = h.tranche_step * equity
        return max(min(gap, step), -step)

    def _place(self, name: str, size: float, target: Target, view: SessionView, closing: bool) -> bool:
        """Send one order; returns True when it is a market order (it fills at the next open).

        A limit order is a target's way into and around the instruments it holds. A position the
        target no longer holds is closed by a market order: a sell limit above the close on a sleeve
        that barely moves (T-bills) would never fill, and the old sleeve would stay in the book."""
        d = self.by_name[name]
        pos = self.getposition(d).size
        reason = "entry" if pos == 0 else ("signal" if closing else "rebalance")
        limit = target.order == "limit" and target.weights.get(name, 0.0) > 0
        if limit:
            offset = -target.limit_offset if size > 0 else target.limit_offset
            order = self._order(d, size, exectype=bt.Order.Limit, price=view.close[name] * (1 + offset))
            order.addinfo(placed=self.index, sessions=target.limit_sessions)
        else:
            order = self._order(d, size)
        order.addinfo(reason=reason)
        self.pending[name] = order
        return not limit

    def _order(self, d, size: float, **kwargs):
        return self.buy(d, size=size, **kwargs) if size > 0 else self.sell(d, size=-size, **kwargs)

    def _expire_limits(self):
        """Cancel limit orders that have been working for their full number of sessions."""
        for name, order in self.pending.items():
            if order is not None and order.exectype == bt.Order.Limit:
                if self.index - order.info.get("placed", self.index) >= order.info.get("sessions", 1):
                    self.cancel(order)
                    self.pending[name] = None

    # --- exits -----------------------------------------------------------------------------------------
    def _time_stops(self, view: SessionView):
        for rule in self.risk.stops:
            if rule.kind != "time":
                continue
            for name, d in self.by_name.items():
                h = self.holdings[name]
                pos = self.getposition(d).size
                # held `level` sessions counting the entry's: sell at the open `level` sessions later
                if pos > 0 and h.opened_index >= 0 and self.index - h.opened_index >= rule.level - 1 \
                        and self.pending[name] is None:
                    self._cancel_exits(h)
                    order = self.close(d)
                    order.addinfo(reason="stop-time")
                    self.pending[name] = order
                    h.cooldown_until = self.index + self.setup.stop_cooldown

    def _stop_level(self, name: str, h: _Holding, entry: float) -> tuple[float, str] | None:
        """The highest (tightest) stop among the configured rules, with the rule's name."""
        best = None
        for rule in self.risk.stops:
            if rule.kind == "fixed":
                level = entry * (1 - rule.level)
            elif rule.kind == "trailing":
                level = h.peak_close * (1 - rule.level)
            elif rule.kind == "atr":
                atr = h.atr_at_entry.get(rule.atr_sessions, math.nan)
                if not atr == atr:
                    continue
                level = entry - rule.level * atr
            else:
                continue
            if best is None or level > best[0]:
                best = (level, f"stop-{rule.kind}")
        return best

    def _take_level(self, h: _Holding, entry: float) -> float | None:
        tp = self.risk.take_profit
        if tp is None:
            return None
        if tp.kind == "percent":
            return entry * (1 + tp.level)
        atr = h.atr_at_entry.get(tp.atr_sessions, math.nan)
        if atr == atr:
            return entry + tp.level * atr
        return None

    def _arm_exits(self, view: SessionView, expected: dict[str, float]):
        """(Re)place each position's stop and take-profit for the next session."""
        if not self.risk.stops and self.risk.take_profit is None:
            return
        for name, d in self.by_name.items():
            h = self.holdings[name]
            pos = self.getposition(d).size
            size = expected.get(name, pos)
            if pos <= 0 or size <= 0 or name not in view.available:
                self._cancel_exits(h)
                continue
            h.peak_close = max(h.peak_close, view.close[name])
            entry = self.getposition(d).price
            stop = self._stop_level(name, h, entry)
            take = self._take_level(h, entry)
            same_size = abs(h.armed_size - size) < 1e-9
            stop_same = stop is None or (h.stop_order is not None and h.stop_order.alive()
                                         and abs(h.stop_order.created.price - stop[0]) < 1e-9)
            if same_size and stop_same and (take is None or (h.take_order is not None
                                                             and h.take_order.alive())):
                continue
            self._cancel_exits(h)
            h.armed_size = size
            if stop is not None:
                h.stop_order = self.sell(d, size=size, exectype=bt.Order.Stop, price=stop[0])
                h.stop_order.addinfo(reason=stop[1])
            if take is not None:
                h.take_order = self.sell(d, size=size, exectype=bt.Order.Limit, price=take,
                                         oco=h.stop_order)
                h.take_order.addinfo(reason="take-profit")

    def _cancel_exits(self, h: _Holding):
        for order in (h.stop_order, h.take_order):
            if order is not None and order.alive():
                self.cancel(order)
        h.stop_order = h.take_order = None
        h.armed_size = 0.0

    def _portfolio_stop(self, equity: float) -> bool:
        """Flatten everything when equity falls the configured fraction below its peak."""
        rule = self.risk.portfolio_stop
        if rule is None:
            return False
        if self.index < self.flat_until:
            return True
        if self.flat_until >= 0:  # the cooldown is over: a fresh start
            self.peak_equity = equity
            self.flat_until = -1
        self.peak_equity = max(self.peak_equity, equity)
        if equity >= self.peak_equity * (1 - rule.max_drawdown):
            return False
        for name, d in self.by_name.items():
            self._cancel_exits(self.holdings[name])
            if self.pending[name] is not None:
                self.cancel(self.pending[name])
            if self.getposition(d).size:
                order = self.close(d)
                order.addinfo(reason="stop-portfolio")
                self.pending[name] = order
        if self.book is not None:
            for contract, qty in self.book.positions().items():
                self.book.submit(contract, -qty, "stop-portfolio")
        self.flat_until = self.index + rule.cooldown_sessions
        return True

    # --- options -----------------------------------------------------------------------------------------
    def _hedge(self, plan: HedgePlan | None, view: SessionView, equity: float, expected):
        """Hold the option position the plan asks for; close anything else."""
        if self.book is None:
            return
        i = self.broker.session_index
        dates = self.book.market.days
        next_session = dates[i + 1] if i + 1 < len(dates) else None
        held = self.book.positions()
        keep = None
        for contract, qty in held.items():
            if next_session is not None and contract.expiry <= next_session:
                continue  # it settles at the next open, where its replacement fills
            days_left = days_between(view.date, contract.expiry)
            if plan is not None and (contract.kind == plan.kind or plan.keep_kind_until_roll) \
                    and days_left > plan.roll_days and keep is None and self._still_hedges(contract, plan, i):
                keep = contract
            else:
                self.book.submit(contract, -qty, "roll" if plan is not None else "signal")
        if plan is None or self.underlying._name not in view.available:
            return
        if keep is None:
            spot = view.close[self.underlying._name] * self.setup.contract_spec.scale
            expiry = pick_expiry(view.date, self.expiries, plan.tenor_days)
            strike = pick_strike(plan.kind, spot, plan.moneyness, self.setup.contract_spec.strike_step)
            contract = OptionContract(plan.kind, strike, expiry, self.setup.contract_spec)
        else:
            contract = keep
        quote = self.book.quote(contract, i, "close")
        held_qty = held.get(keep, 0.0) if keep is not None else 0.0
        if plan.mode == "budget":
            if keep is None and quote.mid > 0:  # False for NaN too: no quote, no hedge yet
                n = math.floor(plan.budget * equity / (quote.mid * contract.spec.multiplier))
                if n > 0:
                    self.book.submit(contract, n, "put-budget")
            return
        per_contract = quote.delta * contract.spec.multiplier * quote.spot
        # stocks count with a beta of 1 to the index: the neutral book holds only the index itself
        stocks = sum(expected.get(n, 0.0) * view.close[n] for n in view.available)
        options = held_qty * per_contract
        net = (stocks + options) / equity
        if keep is not None and abs(net - plan.target_delta) <= plan.band:
            return
        if not (math.isfinite(per_contract) and per_contract):  # NaN until the vol proxy has history
            return
        wanted = held_qty + (plan.target_delta * equity - stocks - options) / per_contract
        wanted = round(wanted)
        # puts are only bought and calls only sold: the playbook's "buy puts or sell calls"
        wanted = max(wanted, 0) if contract.kind == "put" else min(wanted, 0)
        if wanted != held_qty:
            self.book.submit(contract, wanted - held_qty, "hedge" if keep is not None else "hedge-open")

    def _still_hedges(self, contract: OptionContract, plan: HedgePlan, i: int) -> bool:
        if plan.mode != "delta":
            return True
        return abs(self.book.quote(contract, i, "close").delta) >= plan.min_abs_delta

    # --- records ----------------------------------------------------------------------------------------
    def notify_order(self, order):
        if order.status in (order.Submitted, order.Accepted):
            return
        name = order.data._name
        # backtrader notifies a clone of the order: compare references, not objects
        pending = self.pending.get(name)
        if pending is not None and pending.ref == order.ref and not order.alive():
            self.pending[name] = None
        if order.status != order.Completed:
            return
        h = self.holdings[name]
        reason = order.info.get("reason", "")
        ex = order.executed
        self._log_fill(order, name, reason)
        pos = self.getposition(order.data).size
        h.max_size = max(h.max_size, pos)
        if order.isbuy() and h.opened_index < 0:
            # opened at this session's open from yesterday's decision: the entry's ATR is yesterday's
            h.opened_index = self._session_number()  # the fill's session
            h.peak_close = ex.price
            bar = len(order.data) - 2  # the decision's close
            h.atr_at_entry = {n: (float(series[name][bar]) if bar >= 0 else math.nan)
                              for n, series in self.setup.atr.items()}
        if pos <= 1e-12:
            if reason.startswith("stop") or reason == "take-profit":
                h.cooldown_until = self._session_number() + self.setup.stop_cooldown
                if self.pending[name] is not None:
                    self.cancel(self.pending[name])
            h.opened_index = -1
            h.peak_close = 0.0
            self._cancel_exits(h)
            h.exit_price, h.exit_reason = ex.price, reason
        if any(o is not None and o.ref == order.ref for o in (h.stop_order, h.take_order)):
            h.armed_size = 0.0

    def _record_state(self, view: SessionView, equity: float):
        row = {"date": view.date, "equity": equity, "cash": self.broker.getcash()}
        gross = 0.0
        for name, d in self.by_name.items():
            value = self.getposition(d).size * view.close.get(name, 0.0)
            row[name] = value
            gross += abs(value)
        if self.book is not None and self.broker.session_index >= 0:
            row["options"] = self.book.value(self.broker.session_index)
            row["options_delta"] = self.book.dollar_delta(self.broker.session_index)
            row["options_notional"] = self.book.notional(self.broker.session_index)
        # the stock weight only: an option's delta or notional is a different quantity, kept apart
        row["exposure"] = gross / equity if equity else np.nan
        self.state_log.append(row)


class PlaybookStrategy(PlaybookLogic, bt.Strategy):
    """The playbook's decisions (PlaybookLogic) on backtrader, with every record of the run: orders,
    round trips (backtrader's trades) and the state at each close."""

    params = (("setup", None),)

    def __init__(self):
        self._start_logic(self.p.setup)

    def _log_fill(self, order, name: str, reason: str):
        """The completed stock order in the order log, with the commission and slippage it paid."""
        ex = order.executed
        # the broker moved market and stop fills by the slippage fraction; a limit order is moved only
        # when it fills at the open (an open at or through its price; never past the limit itself)
        slip = self.risk.costs.slippage_bp / 1e4
        if not slip:
            slippage = 0.0
        elif order.exectype == bt.Order.Limit:
            opened = order.data.open[0]
            limit = order.created.price
            at_open = limit >= opened if order.isbuy() else limit <= opened
            slippage = abs(ex.price - opened) * abs(ex.size) if at_open else 0.0
        else:
            before = ex.price / (1 + slip) if order.isbuy() else ex.price / (1 - slip)
            slippage = abs(ex.price - before) * abs(ex.size)
        self.commission_paid += ex.comm
        self.slippage_paid += slippage
        self.order_log.append({
            "date": pd.Timestamp(order.data.datetime.date(0)), "instrument": name, "kind": "stock",
            "side": "buy" if order.isbuy() else "sell", "quantity": abs(ex.size), "price": ex.price,
            "commission": ex.comm, "slippage": slippage, "strike": np.nan, "expiry": pd.NaT,
            "option_type": "", "implied_vol": np.nan, "delta": np.nan, "gamma": np.nan,
            "vega": np.nan, "theta": np.nan, "reason": reason,
        })

    def notify_trade(self, trade):
        h = self.holdings[trade.data._name]
        if trade.justopened:
            h.dividends_at_open = self._dividends_so_far(trade.data._name)
        if not trade.isclosed:
            return
        self.trade_log.append(self._trade_record(trade, h.max_size, h.exit_price, h.exit_reason))
        h.max_size = 0.0

    def _trade_record(self, trade, size: float, exit_price: float, exit_reason: str,
                      still_open: bool = False) -> dict:
        """One stock round trip, open to flat (backtrader's trade: fill prices hold the slippage, so
        pnl is after it and pnl_net after commissions too), plus the dividends it earned while held
        (total return, as the benchmark). An open one is marked at this close."""
        name = trade.data._name
        dividends = self._dividends_so_far(name) - self.holdings[name].dividends_at_open
        pnl = trade.pnl + (trade.size * (exit_price - trade.price) if still_open else 0.0) + dividends
        pnl_net = pnl - trade.commission
        return {
            "instrument": trade.data._name, "kind": "stock",
            "entry_date": pd.Timestamp(bt.num2date(trade.dtopen).date()),
            "exit_date": pd.NaT if still_open else pd.Timestamp(bt.num2date(trade.dtclose).date()),
            "quantity": size, "entry_price": trade.price, "exit_price": exit_price,
            "pnl": pnl, "pnl_net": pnl_net, "commission": trade.commission, "spread": 0.0,
            "dividends": dividends,
            "return": pnl_net / (trade.price * size) if size else np.nan,
            "sessions": (len(trade.data) - trade.baropen) if still_open else trade.barlen,
            "exit_reason": "open" if still_open else (exit_reason or "signal"),
        }

    def _dividends_so_far(self, name: str) -> float:
        return getattr(self.broker, "dividends_by_symbol", {}).get(name, 0.0)

    def open_trade_records(self) -> list[dict]:
        """Stock round trips still open at the last close, marked at that close: with the closed
        ones they account for every stock fill."""
        records = []
        for d, by_id in self._trades.items():
            for trades in by_id.values():
                for trade in trades:
                    if trade.isopen and abs(trade.size) > 1e-12:
                        h = self.holdings[d._name]
                        records.append(self._trade_record(trade, max(h.max_size, trade.size), d.close[0],
                                                          "", still_open=True))
        return records
