"""Listed-style index option contracts: what a strategy asks for ("the put 5% out of the money, one
month out") turned into a concrete contract on the exchange's strike grid and expiry cycle.

Pure functions of their arguments; the expiry dates come in from the caller (the calendar lives in
`data/`, which `strategies/` does not import).
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from strategies.errors import ConfigError

OptionKind = Literal["call", "put"]


@dataclass(frozen=True, order=True)
class ContractSpec:
    """How options on one underlying are listed.

    The embedded S&P 500 proxy trades at index level (about 1,300-2,900 over 1999-2018), so the
    default is a Mini-SPX (XSP) style contract: struck on the index / 10 on a 1-point grid, multiplier
    100, one contract ~ 10 index units of exposure. That keeps hedges of a $1M account in whole
    contracts fine-grained (an SPX contract would be ~$250k a piece). For an ETF-sized underlying
    (Yahoo's SPY) use `scale=1.0, strike_step=1.0`.
    """

    root: str = "XSP"
    scale: float = 0.1  # option underlying = index level x scale
    strike_step: float = 1.0  # strike grid, in option-underlying points
    multiplier: int = 100

    def __post_init__(self):
        if self.scale <= 0 or self.strike_step <= 0 or self.multiplier <= 0:
            raise ConfigError(
                f"contract spec {self.root}: scale, strike_step and multiplier must be positive, "
                f"got {self.scale}, {self.strike_step}, {self.multiplier}"
            )

    @property
    def units_per_contract(self) -> float:
        """Index units one contract controls (multiplier x scale): its delta-1 equivalent."""
        return self.multiplier * self.scale


@dataclass(frozen=True, order=True)
class OptionContract:
    """One listed, European, cash-settled option."""

    kind: OptionKind
    strike: float  # in option-underlying points (index x spec.scale)
    expiry: pd.Timestamp  # the expiry session (holiday-shifted third Friday)
    spec: ContractSpec = ContractSpec()

    # A contract is a dict key every session (the book's lots, the quote cache); the generated hash
    # rebuilds a tuple of its fields and its spec's each time, so it is computed once. It is left out
    # of pickles: a hash of text differs from one process to the next.
    @functools.cached_property
    def _hash(self) -> int:
        return hash((self.kind, self.strike, self.expiry, self.spec))

    def __hash__(self) -> int:
        return self._hash

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    def __post_init__(self):
        if self.kind not in ("call", "put"):
            raise ConfigError(f"option kind must be 'call' or 'put', got {self.kind!r}")
        if not self.strike > 0:
            raise ConfigError(f"option strike must be positive, got {self.strike}")

    @property
    def label(self) -> str:
        """A readable id used in order and trade tables, e.g. 'XSP 2018-12-21 P 250'."""
        return f"{self.spec.root} {self.expiry:%Y-%m-%d} {self.kind[0].upper()} {self.strike:g}"

    def intrinsic(self, index_level: float) -> float:
        """Value per option-underlying point at settlement, for an index level."""
        spot = index_level * self.spec.scale
        return max(spot - self.strike, 0.0) if self.kind == "call" else max(self.strike - spot, 0.0)


def pick_expiry(today: pd.Timestamp, expiries, min_days: int) -> pd.Timestamp:
    """The first listed expiry at least `min_days` calendar days after `today`; `expiries` is a
    DatetimeIndex, or `SortedExpiries`, which the hedge searches once a session without pandas'
    indexing and Timestamp arithmetic.

    "One month out" is min_days=21 or so on the monthly cycle: the next expiry if it is three weeks
    away or more, else the one after.

    >>> exp = pd.DatetimeIndex(["2018-11-16", "2018-12-21", "2019-01-18"])
    >>> day = pd.Timestamp("2018-11-15")
    >>> pick_expiry(day, exp, 21), pick_expiry(day, SortedExpiries.of(exp), 21)
    (Timestamp('2018-12-21 00:00:00'), Timestamp('2018-12-21 00:00:00'))
    """
    if isinstance(expiries, SortedExpiries):
        # today + min_days in nanoseconds, as Timestamp + Timedelta(days=min_days) computes it
        position = bisect.bisect_left(expiries.stamps, today.value + min_days * NS_PER_DAY)
        later = expiries.days[position:position + 1]
    else:
        earliest = today + pd.Timedelta(days=min_days)
        later = expiries[expiries >= earliest]
    if len(later) == 0:
        raise ConfigError(
            f"no option expiry listed {min_days} days or more after {today:%Y-%m-%d}; "
            f"the last known expiry is {expiries[-1]:%Y-%m-%d}"
        )
    return later[0]


NS_PER_DAY = 86_400 * 10**9


def days_between(earlier: pd.Timestamp, later: pd.Timestamp) -> int:
    """Calendar days from `earlier` to `later`: `(later - earlier).days` (floored, as Timedelta's
    days are), from the nanosecond stamps without building a Timedelta.

    >>> days_between(pd.Timestamp("2018-11-15"), pd.Timestamp("2018-12-21"))
    36
    """
    return (later.value - earlier.value) // NS_PER_DAY


@dataclass(frozen=True)
class SortedExpiries:
    """Listed expiries in increasing order, as Timestamps and as their nanosecond stamps."""

    days: list
    stamps: list

    @classmethod
    def of(cls, expiries: pd.DatetimeIndex) -> SortedExpiries | pd.DatetimeIndex:
        """The expiries for pick_expiry's binary search; an index out of order is kept as it is."""
        if not expiries.is_monotonic_increasing or expiries.tz is not None:
            return expiries
        days = list(expiries)
        return cls(days, [d.value for d in days])

    def __len__(self) -> int:
        return len(self.days)

    def __getitem__(self, position):
        return self.days[position]


def pick_strike(
    kind: OptionKind,
    spot: float,
    moneyness: float,
    step: float,
    rounding: Literal["nearest", "out", "in"] = "nearest",
) -> float:
    """The strike on the grid for an option `moneyness` out of the money (0.05 = 5% OTM).

    Puts are struck below spot, calls above; a negative moneyness means in the money. `rounding`
    picks the nearest grid strike, or the next one further out of the money ("out": Cboe's BXM writes
    the call at the nearest strike above the index), or further in.

    >>> pick_strike("put", 250.4, 0.05, 1.0)       # 95% of 250.4 is 237.88
    238.0
    >>> pick_strike("call", 250.4, 0.0, 1.0, "out")
    251.0
    """
    if kind not in ("call", "put"):
        raise ConfigError(f"option kind must be 'call' or 'put', got {kind!r}")
    target = spot * (1 - moneyness) if kind == "put" else spot * (1 + moneyness)
    units = target / step
    # round to 9 decimals first, so 250.0000000001 is on the grid and not one step out
    units = round(units, 9)
    if rounding == "nearest":
        k = math.floor(units + 0.5)
    elif (rounding == "out") == (kind == "call"):
        k = math.ceil(units)
    else:
        k = math.floor(units)
    return max(k, 1) * step
