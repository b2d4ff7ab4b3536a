"""What a playbook asks for at one close: target weights and an option hedge plan.

A playbook is a pure function `target(view, params) -> Target`; the base strategy turns the target
into orders, applying the shared risk rules (sizing, stops, costs). Keeping the decision pure means
it is tested without a Cerebro, and the regime-switching playbook can call the other three.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from strategies.errors import ConfigError


@dataclass(frozen=True)
class HedgePlan:
    """Index options to hold beside the stock weights.

    mode "delta"  : keep the portfolio's net delta (stocks + options, per unit of equity) within
                    `band` of `target_delta`, trading `kind` options (puts are only bought, calls only
                    sold), re-hedging only when it leaves the band.
    mode "budget" : each time the held contract rolls, buy `kind` options costing `budget` x equity.
    The contract is the listed one `moneyness` out of the money (0.05 = 5% OTM) with at least
    `tenor_days` calendar days to expiry; it is rolled when `roll_days` or fewer remain, and in delta
    mode also when its |delta| has decayed below `min_abs_delta` (a near-expiry option far from the
    money needs ever more contracts to hedge, and its spread is mostly the minimum tick).
    keep_kind_until_roll: a held contract of the other kind stays until it rolls (used when the
    kind is chosen each session from market conditions, so that it does not flip back and forth).
    """

    kind: Literal["put", "call"] = "put"
    mode: Literal["delta", "budget"] = "delta"
    moneyness: float = 0.0
    tenor_days: int = 28
    roll_days: int = 3
    target_delta: float = 0.0
    band: float = 0.10
    budget: float = 0.005
    min_abs_delta: float = 0.25
    keep_kind_until_roll: bool = False

    def __post_init__(self):
        if self.kind not in ("put", "call"):
            raise ConfigError(f"hedge kind must be 'put' or 'call', got {self.kind!r}")
        if self.mode not in ("delta", "budget"):
            raise ConfigError(f"hedge mode must be 'delta' or 'budget', got {self.mode!r}")
        if self.mode == "budget" and self.kind != "put":
            raise ConfigError("a budget hedge buys puts; use kind='put'")
        if not 0 < self.band < 1:
            raise ConfigError(f"hedge band must be between 0 and 1 (fraction of equity), got {self.band}")
        if self.tenor_days < 1 or self.roll_days < 0 or self.roll_days >= self.tenor_days:
            raise ConfigError(
                f"hedge tenor_days ({self.tenor_days}) must exceed roll_days ({self.roll_days}) >= 0"
            )
        if not 0 <= self.budget < 0.2:
            raise ConfigError(f"put budget must be a fraction of equity below 0.2, got {self.budget}")
        if not 0 <= self.min_abs_delta < 0.5:
            raise ConfigError(f"hedge min_abs_delta must be in [0, 0.5), got {self.min_abs_delta}")
        if not -0.5 < self.moneyness < 0.5:
            raise ConfigError(f"hedge moneyness must be within +/-50%, got {self.moneyness}")


@dataclass(frozen=True)
class Target:
    """Target weights (fraction of equity, long only) per symbol, and an optional option hedge.

    Symbols not named are to be flat; `hedge=None` means no options held.
    `order` chooses market orders at the next open, or limit orders `limit_offset` below (buys) /
    above (sells) the close, good for `limit_sessions` sessions.
    """

    weights: dict[str, float] = field(default_factory=dict)
    hedge: HedgePlan | None = None
    order: Literal["market", "limit"] = "market"
    limit_offset: float = 0.0
    limit_sessions: int = 1
    label: str = ""

    def __post_init__(self):
        for symbol, w in self.weights.items():
            if w < 0:
                raise ConfigError(f"target weight for {symbol} must not be negative, got {w}")


FLAT = Target(label="flat")


@dataclass(frozen=True)
class SessionView:
    """What a playbook may look at when it decides at the close of one session.

    Every field is known at that close: closes, each symbol's realized volatility and ATR up to it,
    and the signal lines (regime probabilities and label, momentum signal, window flags).
    """

    date: pd.Timestamp
    close: dict[str, float]
    realized_vol: dict[str, float]
    signals: dict[str, float]
    available: frozenset[str]  # symbols with a price at this close
    # (symbol, n) -> closes up to this one; supplied by the engine, which holds the series
    closes: Callable[[str, int], pd.Series] | None = field(default=None, repr=False, compare=False)

    def signal(self, name: str, default: float = float("nan")) -> float:
        return self.signals.get(name, default)

    def history(self, symbol: str, sessions: int) -> pd.Series:
        """The last `sessions` closes of `symbol` up to and including this one (never a later one),
        on their session dates; fewer at the start of the data, NaN where the symbol had no price."""
        if self.closes is None:
            raise ConfigError("this view holds no price history (it was built outside a run)")
        if isinstance(sessions, bool) or not isinstance(sessions, int) or sessions < 1:
            raise ConfigError(f"history needs a whole number of sessions >= 1, got {sessions!r}")
        return self.closes(symbol, sessions)
