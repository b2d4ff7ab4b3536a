"""Options inside the backtrader portfolio.

`OptionMarket` prices any listed contract on any session from information known at that moment;
`OptionBook` holds the positions, fills orders, settles expiries and marks to model; `OptionBroker`
is backtrader's BackBroker with the book's value in the portfolio value, so every analyzer, observer,
drawdown stop and tearsheet sees the options.

Timing (no look-ahead): a strategy decides at the close of session t and `submit`s; the order fills at
the open of session t+1 at the model price from t+1's opening index level and the implied volatility
known at t's close, plus half the bid-ask spread, plus commission. Contracts expiring on session t+1
settle first, at that session's opening level (SPX-style AM settlement, where the expiring and the new
month's option meet at the same opening print, as in Cboe's benchmark indices). Where t+1's open is not
a real print (`real_open` False: a stale open or a close-only series), "the open" is t+1's close: fills
are the model price at that close with that close's volatility, and settlement is at that close (see
backtests.market.FILL_RULE). Marks at each close use that close and that close's volatility.

Short calls: covered up to the index units the portfolio holds long in the underlying; beyond that
each contract reserves Cboe's broad-based index margin, 15% of the underlying value less the
out-of-the-money amount, at least 10%, and a fill that would leave less cash than the margin reserved
is rejected and recorded as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import backtrader as bt
import numpy as np
import pandas as pd

from strategies.contracts import OptionContract
from strategies.options import OptionCosts
from strategies.options import quote as option_quote
from strategies.volsurface import SkewParams, smile_vol_one

DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class Quote:
    """A model quote for one contract at one moment; prices per option-underlying point."""

    mid: float
    vol: float
    spot: float  # option-underlying level used (index x scale)
    years: float
    delta: float
    gamma: float
    vega: float
    theta: float


@dataclass
class OptionMarket:
    """Everything needed to price index options on every session, as arrays on one session index.

    `atm_vol[i]` and `rate[i]` are the figures known at the close of session i.
    """

    dates: pd.DatetimeIndex
    open: np.ndarray  # underlying level orders fill at: the open, or the close where it is not real
    close: np.ndarray  # ... and close
    atm_vol: np.ndarray  # annualised fraction, known at each close
    rate: np.ndarray  # annualised risk-free rate, fraction, known at each close
    expiries: pd.DatetimeIndex  # listed monthly expiry sessions
    div_yield: float | np.ndarray = 0.02  # continuous yield, a constant or known at each close
    skew: SkewParams = field(default_factory=SkewParams)
    vol_source: np.ndarray | None = None  # where each session's vol came from ("vix", "garch", ...)
    block_start: np.ndarray | None = None  # stepped markets: True on the first session after a gap
    real_open: np.ndarray | None = None  # False where the open is not a real print; None: all real

    def __post_init__(self):
        self._quotes: dict = {}
        # the session dates as a list, for the per-session comparisons of the book and the broker:
        # a list element is the DatetimeIndex's own Timestamp, without the index's ~15 us boxing
        # per access (a tuning trial asks for a date a few times every session)
        self.days = list(self.dates)
        self._position = {d: i for i, d in enumerate(self.days)}
        # the same per-session figures in plain Python numbers, for the broker's interest each
        # session: the calendar days since the previous session, and the rate known at each close
        self.gap_days = [0] + [(b - a).days for a, b in zip(self.days, self.days[1:])]
        self.rate_list = np.asarray(self.rate, dtype=float).tolist()

    def yield_at(self, i: int) -> float:
        """The dividend yield known at session i's close."""
        q = self.div_yield
        return float(q) if np.ndim(q) == 0 else float(q[i])

    def is_real_open(self, i: int) -> bool:
        return self.real_open is None or bool(self.real_open[i])

    def fill_level(self, i: int) -> float:
        """The underlying level orders fill and options settle at on session i: its open where the
        open is a real print, else its close."""
        return float(self.open[i] if self.is_real_open(i) else self.close[i])

    def cut(self, keep: np.ndarray, block_start: np.ndarray | None = None) -> OptionMarket:
        """The same market on the sessions where `keep` is True (every per-session array cut)."""
        def part(a):
            return None if a is None else (a if np.ndim(a) == 0 else np.asarray(a)[keep])
        return OptionMarket(dates=self.dates[keep], open=self.open[keep], close=self.close[keep],
                            atm_vol=self.atm_vol[keep], rate=self.rate[keep], expiries=self.expiries,
                            div_yield=part(self.div_yield), skew=self.skew,
                            vol_source=part(self.vol_source), block_start=block_start,
                            real_open=part(self.real_open))

    def index_of(self, date: pd.Timestamp) -> int:
        return self._position[pd.Timestamp(date)]

    def quote(self, contract: OptionContract, i: int, at: str = "close") -> Quote:
        """Model quote at session i's open (with i-1's close volatility) or at its close.

        Quotes are cached: a session's marks, greeks and hedge decisions ask for the same ones."""
        key = (contract, i, at)
        cached = self._quotes.get(key)
        if cached is None:
            cached = self._quotes[key] = self._quote(contract, i, at)
        return cached

    def _quote(self, contract: OptionContract, i: int, at: str) -> Quote:
        if at == "open" and not self.is_real_open(i):
            at = "close"  # no opening print: the fill is at the close, priced with what it knows
        if at == "open":
            if i == 0:
                raise ValueError("no option can fill at the first session's open: nothing was known before")
            level, known = self.open[i], i - 1
        else:
            level, known = self.close[i], i
        spot = float(level * contract.spec.scale)
        years = max((contract.expiry - self.dates[i]).days, 0) / DAYS_PER_YEAR
        vol = smile_vol_one(float(self.atm_vol[known]), spot, contract.strike,
                            max(years, 1 / DAYS_PER_YEAR), self.skew)
        q = option_quote(contract.kind, spot, contract.strike, years, vol, float(self.rate[known]),
                         self.yield_at(known))
        return Quote(float(q["price"]), vol, spot, years, float(q["delta"]), float(q["gamma"]),
                     float(q["vega"]), float(q["theta"]))


@dataclass
class _Lot:
    """An open position in one contract since it was last flat: the averaged price of what is still
    held, and what the round trip's trade record needs (every fill's cash, commission and spread)."""

    quantity: float = 0.0
    avg_price: float = 0.0
    entry_date: pd.Timestamp | None = None
    entry_index: int = 0
    peak_quantity: float = 0.0  # signed, the largest size held during the round trip
    opened: float = 0.0  # contracts bought (long) or sold (short) to open or add
    opened_value: float = 0.0  # their |premium| at fill prices, account currency
    closed: float = 0.0  # contracts sold (long) or bought back (short)
    closed_value: float = 0.0
    cash: float = 0.0  # premium received less premium paid at fill prices, before commission
    commission: float = 0.0
    spread: float = 0.0  # half-spreads paid, already inside the fill prices (information only)
    exit_reason: str = ""


class OptionBook:
    """Option positions of one portfolio: fills, settlement, marks, greeks, records."""

    def __init__(self, market: OptionMarket, costs: OptionCosts, records: bool = True):
        self.market = market
        self.costs = costs
        # False: no fill or round-trip records (a tuning trial is judged on its returns alone)
        self.records = records
        self.lots: dict[OptionContract, _Lot] = {}
        self.pending: list[tuple[OptionContract, float, str]] = []
        self.fills: list[dict] = []
        self.trades: list[dict] = []
        self.commission_paid = 0.0
        self.spread_paid = 0.0
        self.margin_rejections = 0

    # --- what strategies call (at the close of session i) -------------------------------------
    def submit(self, contract: OptionContract, quantity: float, reason: str = "") -> None:
        """Queue an order for `quantity` contracts (negative sells) to fill at the next open."""
        if quantity:
            self.pending.append((contract, float(quantity), reason))

    def positions(self) -> dict[OptionContract, float]:
        return {c: lot.quantity for c, lot in self.lots.items() if lot.quantity}

    def value(self, i: int) -> float:
        """Mark-to-model value of all positions at session i's close (mid prices)."""
        total = 0.0
        for c, lot in self.lots.items():
            if lot.quantity:
                total += lot.quantity * self._mark(c, i) * c.spec.multiplier
        return total

    def dollar_delta(self, i: int) -> float:
        """Net delta of the options at session i's close, in account currency per 100% index move."""
        total = 0.0
        for c, lot in self.lots.items():
            if lot.quantity and c.expiry > self.market.days[i]:
                q = self.market.quote(c, i, "close")
                total += lot.quantity * q.delta * c.spec.multiplier * q.spot
        return total

    def notional(self, i: int) -> float:
        """Index value the open contracts are written on at session i's close, long and short alike
        (|contracts| x multiplier x underlying level), in account currency."""
        total = 0.0
        for c, lot in self.lots.items():
            if lot.quantity and c.expiry > self.market.days[i]:
                total += abs(lot.quantity) * c.spec.multiplier * self.market.close[i] * c.spec.scale
        return total

    def quote(self, contract: OptionContract, i: int, at: str = "close") -> Quote:
        return self.market.quote(contract, i, at)

    # --- what the broker calls at each session's open ----------------------------------------
    def on_open(self, i: int, cash: float, underlying_units: float) -> float:
        """Settle what expires at or before this session, fill pending orders; returns the new cash."""
        date = self.market.days[i]
        for c in [c for c, lot in self.lots.items() if lot.quantity and c.expiry <= date]:
            settle = c.intrinsic(self.market.fill_level(i))
            cash += self.lots[c].quantity * settle * c.spec.multiplier
            self._record_fill(i, c, -self.lots[c].quantity, settle, 0.0, 0.0, None, "expiry")
            self._book(c, -self.lots[c].quantity, settle, i, 0.0, 0.0, "expiry")
        orders, self.pending = self.pending, []
        for c, qty, reason in orders:
            if c.expiry <= date:
                self._record_rejection(i, c, qty, f"{reason}: contract expired before the fill")
                continue
            q = self.market.quote(c, i, "open")
            half = float(self.costs.half_spread(q.mid, q.vega, q.vol))  # widens with the vol regime
            fill = q.mid + half if qty > 0 else max(q.mid - half, 0.0)
            commission = self.costs.commission(qty)
            new_cash = cash - qty * fill * c.spec.multiplier - commission
            if qty < 0 and c.kind == "call":
                margin = self._uncovered_call_margin(i, underlying_units, extra=(c, qty))
                if margin > 0 and new_cash < margin:  # a fully covered sale needs no margin
                    self.margin_rejections += 1
                    self._record_rejection(i, c, qty, f"{reason}: margin for uncovered calls exceeds cash")
                    continue
            cash = new_cash
            spread_cost = abs(qty) * (fill - q.mid if qty > 0 else q.mid - fill) * c.spec.multiplier
            self.commission_paid += commission
            self.spread_paid += spread_cost
            self._record_fill(i, c, qty, fill, commission, spread_cost, q, reason)
            self._book(c, qty, fill, i, commission, spread_cost, reason)
        return cash

    # --- internals -----------------------------------------------------------------------------
    def _mark(self, c: OptionContract, i: int) -> float:
        if c.expiry <= self.market.days[i]:
            return c.intrinsic(self.market.close[i])
        return self.market.quote(c, i, "close").mid

    def _uncovered_call_margin(self, i: int, underlying_units: float, extra) -> float:
        short_units = 0.0
        contracts: dict[OptionContract, float] = {c: lot.quantity for c, lot in self.lots.items()}
        c_new, q_new = extra
        contracts[c_new] = contracts.get(c_new, 0.0) + q_new
        margin = 0.0
        # cover the calls nearest the money first: they need the most margin
        for c, q in sorted(contracts.items(), key=lambda kv: kv[0].strike):
            if c.kind != "call" or q >= 0:
                continue
            units = -q * c.spec.units_per_contract
            covered = min(units, max(underlying_units - short_units, 0.0))
            short_units += units
            uncovered_contracts = (units - covered) / c.spec.units_per_contract
            if uncovered_contracts > 0:
                spot = self.market.fill_level(i) * c.spec.scale
                out_of_money = max(c.strike - spot, 0.0)
                per_point = max(0.15 * spot - out_of_money, 0.10 * spot)
                margin += uncovered_contracts * per_point * c.spec.multiplier
        return margin

    def _book(self, c: OptionContract, qty: float, fill: float, i: int, commission: float,
              spread_cost: float, reason: str) -> None:
        """Put one fill of `qty` contracts at `fill` into the contract's round trip.

        A round trip runs from the fill that opens the contract from flat to the fill that leaves it
        flat again; partial closes and adds in between belong to it. Its P&L is the premium cash of
        all its fills at fill prices (which already hold the half-spread, so the spread is not taken
        again) less its commissions. A fill that crosses through zero closes one round trip and opens
        the next with the rest, its commission shared pro rata."""
        lot = self.lots.setdefault(c, _Lot())
        multiplier = c.spec.multiplier
        if lot.quantity and np.sign(lot.quantity) != np.sign(qty):
            closing = -lot.quantity if abs(qty) > abs(lot.quantity) else qty
            share = closing / qty
            lot.closed += abs(closing)
            lot.closed_value += abs(closing) * fill * multiplier
            lot.cash -= closing * fill * multiplier
            lot.commission += commission * share
            lot.spread += spread_cost * share
            lot.quantity += closing
            lot.exit_reason = reason or "signal"
            if abs(lot.quantity) < 1e-12:
                if self.records:
                    self.trades.append(self._record(c, lot, i, fill))
                del self.lots[c]
            qty -= closing
            commission, spread_cost = commission * (1 - share), spread_cost * (1 - share)
            if abs(qty) < 1e-12:
                return
            lot = self.lots.setdefault(c, _Lot())
        if lot.quantity == 0:
            lot.entry_date, lot.entry_index = self.market.dates[i], i
        total = lot.quantity + qty
        lot.avg_price = (lot.avg_price * lot.quantity + fill * qty) / total
        lot.quantity = total
        if abs(total) > abs(lot.peak_quantity):
            lot.peak_quantity = total
        lot.opened += abs(qty)
        lot.opened_value += abs(qty) * fill * multiplier
        lot.cash -= qty * fill * multiplier
        lot.commission += commission
        lot.spread += spread_cost

    def _record(self, c: OptionContract, lot: _Lot, i: int, exit_price: float, still_open: bool = False):
        """The trade record of a round trip (closed at session i, or open and marked at i's close)."""
        multiplier = c.spec.multiplier
        pnl = lot.cash + (lot.quantity * exit_price * multiplier if still_open else 0.0)
        pnl_net = pnl - lot.commission
        entry_price = lot.opened_value / (lot.opened * multiplier) if lot.opened else np.nan
        if still_open:
            exit_value, exit_quantity = lot.closed_value + abs(lot.quantity) * exit_price * multiplier, \
                lot.closed + abs(lot.quantity)
        else:
            exit_value, exit_quantity = lot.closed_value, lot.closed
        return {
            "instrument": c.label, "kind": "option", "entry_date": lot.entry_date,
            "exit_date": pd.NaT if still_open else self.market.dates[i],
            "quantity": lot.peak_quantity, "entry_price": entry_price,
            "exit_price": exit_value / (exit_quantity * multiplier) if exit_quantity else np.nan,
            "pnl": pnl, "pnl_net": pnl_net, "commission": lot.commission, "spread": lot.spread,
            "dividends": 0.0,
            # on the premium that opened it: a bought option's cost, a sold one's credit
            "return": pnl_net / lot.opened_value if lot.opened_value else np.nan,
            "sessions": i - lot.entry_index, "exit_reason": "open" if still_open else lot.exit_reason,
        }

    def open_records(self, i: int) -> list[dict]:
        """Trade records of the round trips still open at session i's close, marked to model there
        (exit_date NaT, exit_reason "open"): with the closed ones they account for every fill."""
        return [self._record(c, lot, i, self._mark(c, i), still_open=True)
                for c, lot in self.lots.items() if lot.quantity]

    def _record_fill(self, i, c, qty, fill, commission, spread_cost, q: Quote | None, reason):
        if not self.records:
            return
        self.fills.append({
            "date": self.market.dates[i], "instrument": c.label, "kind": "option",
            "side": "buy" if qty > 0 else "sell", "quantity": abs(qty), "price": fill,
            "commission": commission, "slippage": spread_cost, "strike": c.strike, "expiry": c.expiry,
            "option_type": c.kind, "implied_vol": q.vol if q else np.nan,
            "delta": q.delta if q else np.nan, "gamma": q.gamma if q else np.nan,
            "vega": q.vega if q else np.nan, "theta": q.theta if q else np.nan,
            "reason": reason,
        })

    def _record_rejection(self, i, c, qty, reason):
        if not self.records:
            return
        self.fills.append({
            "date": self.market.dates[i], "instrument": c.label, "kind": "option",
            "side": "buy" if qty > 0 else "sell", "quantity": 0.0, "price": np.nan,
            "commission": 0.0, "slippage": 0.0, "strike": c.strike, "expiry": c.expiry,
            "option_type": c.kind, "implied_vol": np.nan, "delta": np.nan, "gamma": np.nan,
            "vega": np.nan, "theta": np.nan, "reason": f"rejected ({reason})",
        })


class SessionOpening:
    """What each session's open does to cash before any stock order is tried: the interest cash
    earned overnight, the dividends of the stock held overnight, then the option book's settlements
    and fills. Written once for the two brokers that run a playbook: `OptionBroker` (backtrader) and
    backtests.trial_engine's. The broker provides cash and getposition; `start_sessions` sets the
    rest."""

    def start_sessions(self, book: OptionBook | None, underlying, rates: OptionMarket | None,
                       accrue_interest: bool, carry: dict | None) -> None:
        """The opening's inputs and running totals, before the first session."""
        self.book = book
        self.rates = book.market if book is not None else rates
        self.underlying = underlying
        self.accrue_interest = accrue_interest and self.rates is not None
        self.carry = dict(carry or {})
        self.interest_earned = 0.0
        self.dividends_earned = 0.0
        # running total per feed name: a stock leg's dividends are the change over its life
        self.dividends_by_symbol: dict[str, float] = {}
        self.session_index = -1

    def open_session(self, i: int) -> None:
        gap = self.rates.block_start is not None and self.rates.block_start[i]
        if self.accrue_interest and i > 0 and not gap:
            days = self.rates.gap_days[i]
            interest = self.cash * self.rates.rate_list[i - 1] * days / DAYS_PER_YEAR
            self.cash += interest
            self.interest_earned += interest
        if i > 0 and not gap:
            for feed, (closes, carry) in self.carry.items():
                units = self.getposition(feed).size
                if units and carry[i]:
                    dividend = units * float(closes[i - 1]) * float(carry[i])
                    self.cash += dividend
                    self.dividends_earned += dividend
                    so_far = self.dividends_by_symbol.get(feed._name, 0.0)
                    self.dividends_by_symbol[feed._name] = so_far + dividend
        self.session_index = i
        if self.book is not None:
            self.cash = self.book.on_open(i, self.cash, self.getposition(self.underlying).size)


class OptionBroker(SessionOpening, bt.brokers.BackBroker):
    """BackBroker whose portfolio value includes an OptionBook, and whose cash earns interest.

    `underlying` is the feed the options are written on (its dates drive the book); `rates` is the
    OptionMarket whose dates and T-bill rates the cash accrues on (the book's, when there is one).
    Cash, positive or negative, accrues the rate known at the previous close for the calendar days
    in between, except across the gap before a window in a stepped market (nothing is held there,
    and a windows-only run is judged on its windows).

    Dividends: `carry` maps a feed to (its closes, its carry) on the same sessions, carry[i] being
    the dividend per unit held at close i-1 as a fraction of that close (backtests.market._carry).
    At each session the position held overnight gets units x close[i-1] x carry[i] in cash, before
    any fill: long stock earns it, short stock pays it. Skipped across a stepped market's gaps, as
    interest is.
    """

    def __init__(self, book: OptionBook | None, underlying, rates: OptionMarket | None = None,
                 accrue_interest: bool = True, carry: dict | None = None):
        super().__init__()
        self.start_sessions(book, underlying, rates, accrue_interest, carry)
        frame = getattr(getattr(underlying, "p", None), "dataname", None)
        if self.rates is not None and isinstance(frame, pd.DataFrame) \
                and not self.rates.dates.equals(pd.DatetimeIndex(frame.index)):
            raise ValueError("the underlying feed's sessions are not the option market's")

    def next(self):
        if self.rates is not None:
            # the underlying feed's bars are the rates' sessions one for one (checked in __init__):
            # its bar count gives the session without building a Timestamp and looking it up
            self.open_session(len(self.underlying) - 1)
        super().next()

    def _get_value(self, datas=None, lever=False):
        value = super()._get_value(datas=datas, lever=lever)
        if datas is None and self.book is not None and self.session_index >= 0:
            options = self.book.value(self.session_index)
            self._value += options
            self._valuelever += options
            value += options
        return value
