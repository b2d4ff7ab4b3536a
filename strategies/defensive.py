"""Scenario 3, rate-shock sell-off: out of growth, into cash-flow sectors and T-bills, index puts."""

from __future__ import annotations

from dataclasses import dataclass, field

from strategies.errors import ConfigError
from strategies.playbook import Playbook
from strategies.targets import HedgePlan, SessionView, Target


def _default_rotation() -> dict[str, float]:
    return {"XLE": 0.2, "XLP": 0.3, "XLF": 0.2, "BIL": 0.3}


@dataclass(frozen=True)
class DefensiveParams:
    """rotation: weights in energy, staples, financials and short T-bills (the growth sleeve is not
    named, so it is sold); protective puts on the index put_moneyness out of the money with at least
    put_tenor_days to expiry, spending put_budget of equity each time they roll."""

    rotation: dict = field(default_factory=_default_rotation)
    put_moneyness: float = 0.05
    put_tenor_days: int = 28
    put_roll_days: int = 0
    put_budget: float = 0.005

    def __post_init__(self):
        total = sum(self.rotation.values())
        if any(w < 0 for w in self.rotation.values()) or total > 1 + 1e-12:
            raise ConfigError(f"defensive rotation weights must be >= 0 and sum to at most 1, got {total}")
        self.hedge()

    def hedge(self) -> HedgePlan:
        return HedgePlan(kind="put", mode="budget", moneyness=self.put_moneyness,
                         tenor_days=self.put_tenor_days, roll_days=self.put_roll_days,
                         budget=self.put_budget)


def defensive_target(view: SessionView, p: DefensiveParams) -> Target:
    """Hold the rotation sleeve (what is available; the rest stays in cash) and the put hedge."""
    weights = {s: w for s, w in p.rotation.items() if s in view.available}
    return Target(weights, hedge=p.hedge(), label="defensive")


class Defensive(Playbook):
    """Scenario 3. Sell growth, hold energy / staples / financials / T-bills at `rotation` weights,
    buy index puts `put_moneyness` out of the money for `put_tenor_days`, spending `put_budget` of
    equity a roll; puts are held to expiry and replaced."""

    name = "defensive"
    symbols = ("SPY", "XLE", "XLP", "XLF", "BIL")
    params_type = DefensiveParams
    uses_options = True
    summary = "scenario 3: energy/staples/financials/T-bills plus index puts"

    def target(self, view):
        return defensive_target(view, self.params)
