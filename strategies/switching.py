"""The regime-switching playbook: each session, the classifier's scenario picks the playbook."""

from __future__ import annotations

from dataclasses import dataclass, field

from strategies.defensive import DefensiveParams, defensive_target
from strategies.errors import ConfigError
from strategies.momentum import MomentumParams, momentum_target
from strategies.neutral import NeutralParams, neutral_target
from strategies.playbook import Playbook
from strategies.regime import REGIMES
from strategies.targets import SessionView, Target


@dataclass(frozen=True)
class SwitchingParams:
    """The three playbooks' parameters, and how sure the classifier must be before leaving the range
    playbook: a momentum or selloff label counts only with probability >= min_confidence."""

    momentum: MomentumParams = field(default_factory=MomentumParams)
    neutral: NeutralParams = field(default_factory=NeutralParams)
    defensive: DefensiveParams = field(default_factory=DefensiveParams)
    min_confidence: float = 0.0

    def __post_init__(self):
        if not 0 <= self.min_confidence < 1:
            raise ConfigError(f"playbook min_confidence must be in [0, 1), got {self.min_confidence}")


def switching_target(view: SessionView, p: SwitchingParams) -> Target:
    """Run the playbook of the scenario the classifier names at this close (range when unsure)."""
    code = view.signal("regime")
    label = REGIMES[int(code)] if code == code and 0 <= code < len(REGIMES) else "range"
    if label != "range" and view.signal(f"p_{label}", 0.0) < p.min_confidence:
        label = "range"
    if label == "momentum":
        return momentum_target(view, p.momentum)
    if label == "selloff":
        return defensive_target(view, p.defensive)
    return neutral_target(view, p.neutral)


class Switching(Playbook):
    """The playbook. Each close: ask the regime classifier (the model the market was prepared with,
    `MarketSpec.regime_model`: by default the one that scores best out of sample); momentum -> the
    momentum tilt, range -> the delta-hedged neutral book, selloff -> the defensive rotation with
    puts. On the prior model the label is always range, so this is the neutral book. Positions and
    option hedges not in the new scenario's target are closed at the next open."""

    name = "playbook"
    symbols = ("SPY", "QQQ", "SMH", "XLE", "XLP", "XLF", "BIL")
    params_type = SwitchingParams
    signals = ("regime", "p_momentum", "p_selloff", "momentum_signal", "iv_avg")
    uses_options = True
    summary = "the regime classifier picks scenario 1, 2 or 3 each session"

    def target(self, view):
        return switching_target(view, self.params)
