"""Scenario 1, momentum continues: a selective overweight of tech / semis against the index."""

from __future__ import annotations

from dataclasses import dataclass

from strategies.errors import ConfigError
from strategies.playbook import Playbook
from strategies.risk import RiskConfig, StopRule, TakeProfit
from strategies.targets import SessionView, Target


@dataclass(frozen=True)
class MomentumParams:
    """tilt_weight goes to the growth sleeve (the available ones of `growth`, equally) and
    core_weight to the index while the momentum signal holds; off_weight sits in the index otherwise.
    The fast exit is the risk rules' trailing stop and take-profit (defaults in the registry)."""

    growth: tuple[str, ...] = ("QQQ", "SMH")
    core: str = "SPY"
    tilt_weight: float = 0.6
    core_weight: float = 0.4
    off_weight: float = 1.0

    def __post_init__(self):
        for name in ("tilt_weight", "core_weight", "off_weight"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ConfigError(f"momentum {name} must be between 0 and 1, got {value}")
        if self.tilt_weight + self.core_weight > 1 + 1e-12:
            raise ConfigError("momentum tilt_weight + core_weight must not exceed 1 (no leverage)")


def momentum_target(view: SessionView, p: MomentumParams) -> Target:
    """Tilt into the growth sleeve while the momentum signal holds; else hold the index."""
    growth = [s for s in p.growth if s in view.available]
    if view.signal("momentum_signal", 0.0) > 0 and growth:
        weights = {s: p.tilt_weight / len(growth) for s in growth}
        weights[p.core] = weights.get(p.core, 0.0) + p.core_weight
        return Target(weights, label="momentum: tilt")
    return Target({p.core: p.off_weight}, label="momentum: index")


class Momentum(Playbook):
    """Scenario 1. Entry: the momentum signal holds (tech beats the index over 20 sessions and is
    above its 50-session average): tilt_weight in tech / semis, core_weight in the index. Exit: the
    signal fades (back to the index), or the pre-set fast exit (trailing stop, take-profit) fires."""

    name = "momentum"
    symbols = ("SPY", "QQQ", "SMH")
    params_type = MomentumParams
    signals = ("momentum_signal",)
    default_risk = RiskConfig(stops=(StopRule("trailing", 0.05),), take_profit=TakeProfit("percent", 0.08))
    summary = "scenario 1: tilt into tech/semis while they lead; trailing stop and take-profit"

    def target(self, view):
        return momentum_target(view, self.params)
