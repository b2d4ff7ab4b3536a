"""The public way to write a playbook: a `Playbook` subclass with its `symbols` and a `target(view)`.

    from strategies import Playbook, Target

    class Tilt(Playbook):
        symbols = ("SPY", "QQQ")
        def target(self, view):
            if view.close["QQQ"] > view.history("QQQ", 50).mean():
                return Target({"QQQ": 0.6, "SPY": 0.4})
            return Target({"SPY": 1.0})

The engine (strategies.base.PlaybookStrategy) calls `target` at each close with a `SessionView` of
what is known at that close, and turns the `Target` into orders under the run's risk rules, sizing
and costs. A `Target` may carry an index option hedge (`HedgePlan`) and ask for limit orders: what
the built-in playbooks (momentum, neutral, defensive, playbook, benchmark) use is this same surface.
"""

from __future__ import annotations

from strategies.errors import ConfigError
from strategies.risk import RiskConfig
from strategies.targets import SessionView, Target


class Playbook:
    """A playbook: which symbols it trades and what it wants held at each close.

    symbols       the symbols it trades (they are loaded as feeds; the index, SPY, is always a feed:
                  it carries the signal lines and is the option underlying)
    signals       the market's signal lines it reads (`SessionView.signal`); checked to exist
    uses_options  True when its targets carry a `HedgePlan` (the run then keeps an option book)
    default_risk  the risk rules a run uses when it is given none
    params_type   the frozen dataclass of its parameters (None: it has none); `Playbook(params)`
    name          how runs, reports and run.json call it (default: the class name, lower case)
    """

    symbols: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    uses_options: bool = False
    default_risk: RiskConfig = RiskConfig()
    params_type: type | None = None
    name: str = ""
    summary: str = ""

    def __init__(self, params=None):
        if params is None and self.params_type is not None:
            params = self.params_type()
        if params is not None and self.params_type is not None and not isinstance(params, self.params_type):
            raise ConfigError(f"{self.title()} takes {self.params_type.__name__} parameters, "
                              f"got {type(params).__name__}")
        self.params = params

    def title(self) -> str:
        """The playbook's name in runs and reports."""
        return self.name or type(self).__name__.lower()

    def __str__(self) -> str:
        return self.title()

    def target(self, view: SessionView) -> Target:
        """What to hold after the next open, decided from `view` (this close and before only)."""
        raise NotImplementedError(f"{type(self).__name__} must define target(self, view)")
