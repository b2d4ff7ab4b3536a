"""Scenario 2, range with high volatility: small, delta-hedged, mostly cash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from strategies.errors import ConfigError
from strategies.playbook import Playbook
from strategies.targets import HedgePlan, SessionView, Target


@dataclass(frozen=True)
class NeutralParams:
    """gross: the cut-down stock exposure; hedge_with: buy puts or sell calls to bring net delta to
    target_delta, re-hedging when it leaves +/- band; "auto" follows the playbook's risk rule 3
    (when implied volatility is high, puts are dear): buy puts while the 20-session average of the
    at-the-money implied volatility is below dear_vol, sell calls while it is at or above, the
    choice made at each roll. Entries by limit orders limit_offset below the close, good for
    limit_sessions sessions; the rest stays in cash at the T-bill rate."""

    symbol: str = "SPY"
    gross: float = 0.5
    hedge_with: Literal["put", "call", "auto"] = "auto"
    dear_vol: float = 0.18  # at-the-money; about VIX 20 under the default smile
    moneyness: float = 0.0
    tenor_days: int = 28
    roll_days: int = 3
    target_delta: float = 0.0
    band: float = 0.10
    limit_offset: float = 0.002
    limit_sessions: int = 2

    def __post_init__(self):
        if not 0 < self.gross <= 1:
            raise ConfigError(f"neutral gross must be in (0, 1], got {self.gross}")
        if self.hedge_with not in ("put", "call", "auto"):
            raise ConfigError(
                f"neutral hedge_with must be 'put', 'call' or 'auto', got {self.hedge_with!r}")
        if not 0 < self.dear_vol < 2:
            raise ConfigError(f"neutral dear_vol must be an annualised vol in (0, 2), got {self.dear_vol}")
        if not 0 <= self.limit_offset < 0.1:
            raise ConfigError(f"neutral limit_offset must be in [0, 0.1), got {self.limit_offset}")
        if self.limit_sessions < 1:
            raise ConfigError(f"neutral limit_sessions must be at least 1, got {self.limit_sessions}")
        self.hedge(float("nan"))  # validates the hedge fields

    def hedge(self, implied_vol_avg: float) -> HedgePlan:
        kind = self.hedge_with
        if kind == "auto":
            kind = "call" if implied_vol_avg >= self.dear_vol else "put"
        return HedgePlan(kind=kind, mode="delta", moneyness=self.moneyness, tenor_days=self.tenor_days,
                         roll_days=self.roll_days, target_delta=self.target_delta, band=self.band,
                         keep_kind_until_roll=self.hedge_with == "auto")


def neutral_target(view: SessionView, p: NeutralParams) -> Target:
    """A cut-down index position, entered by limit orders, hedged toward delta neutral."""
    return Target({p.symbol: p.gross}, hedge=p.hedge(view.signal("iv_avg")), order="limit",
                  limit_offset=p.limit_offset, limit_sessions=p.limit_sessions, label="neutral")


class Neutral(Playbook):
    """Scenario 2. Entry: buy `gross` of equity in the index with a limit order below the close.
    Hedge: buy puts (or sell calls; by default puts while implied vol is cheap, calls while it is
    dear) until net delta is within `band` of `target_delta`;
    re-hedge when it drifts out; roll the options `roll_days` before expiry. Cash earns T-bills."""

    name = "neutral"
    symbols = ("SPY",)
    params_type = NeutralParams
    signals = ("iv_avg",)
    uses_options = True
    summary = "scenario 2: half exposure by limit orders, delta-hedged with index puts or calls"

    def target(self, view):
        return neutral_target(view, self.params)
