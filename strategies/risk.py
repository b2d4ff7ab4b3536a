"""Risk-rule parameters: stops, take-profit, portfolio stop, position sizing and trading costs.

The playbook insists that sizing, stop-loss and take-profit are fixed *before* entry and that every
cost is counted. These frozen dataclasses are those rules, validated when they are built so that a
nonsense value fails at the command line rather than halfway through a backtest. The base strategy
reads them; nothing here knows about backtrader.

Units: price distances and weights are fractions (0.05 is 5%), ATR distances are multiples of the
average true range, holding periods and look-backs are in sessions, slippage is in basis points and
commissions are in account currency. Text forms such as ``trailing:5%`` are parsed in
`strategies.rulespec`; each rule's ``spec()`` writes that form back, so a rule survives the trip
through a command line, a config file and ``run.json`` unchanged.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from strategies.errors import ConfigError
from strategies.options import SPREAD_VOL, OptionCosts

StopKind = Literal["fixed", "trailing", "atr", "time"]
TakeProfitKind = Literal["percent", "atr"]
SizingKind = Literal["fixed-fraction", "vol-target"]

STOP_KINDS: tuple[str, ...] = ("fixed", "trailing", "atr", "time")
TAKE_PROFIT_KINDS: tuple[str, ...] = ("percent", "atr")
SIZING_KINDS: tuple[str, ...] = ("fixed-fraction", "vol-target")

# 4x is the most buying power a US Reg T margin account gets (a pattern day-trader, intraday); a
# weight above it cannot be carried by a retail account and is almost always a typo (400 for 4%).
MAX_LEVERAGE = 4.0

# The conventional ATR look-back (Wilder's 14 sessions).
DEFAULT_ATR_SESSIONS = 14


def did_you_mean(word: str, choices) -> str:
    """A " (did you mean 'x'?)" hint for a mistyped name, or "" when nothing is close.

    >>> did_you_mean("trailng", STOP_KINDS)
    " (did you mean 'trailing'?)"
    >>> did_you_mean("zzz", STOP_KINDS)
    ''
    """
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def format_percent(fraction: float) -> str:
    """Write a fraction as the shortest exact percent text: the inverse of `parse_percent`.

    Goes through the float's shortest repr as a decimal, so 0.143 reads "14.3%" and not
    "14.299999999999999%".

    >>> format_percent(0.05), format_percent(0.143), format_percent(1.5), format_percent(0.0)
    ('5%', '14.3%', '150%', '0%')
    """
    scaled = (Decimal(repr(float(fraction))) * 100).normalize()
    return f"{scaled:f}%"


def format_number(value: float) -> str:
    """Shortest text of a number, without a trailing ".0" for whole values.

    >>> format_number(3.0), format_number(2.5), format_number(0.005)
    ('3', '2.5', '0.005')
    """
    return f"{Decimal(repr(float(value))).normalize():f}"


def _real(owner: str, field: str, value) -> float:
    """`value` as a finite float; a bool, a string or NaN is the user's mistake, named."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{owner} {field} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"{owner} {field} must be a finite number, got {value!r}")
    return number


def _whole(owner: str, field: str, value, minimum: int) -> int:
    """`value` as an int >= minimum; 10.0 is accepted because YAML and JSON may hand it over so."""
    number = _real(owner, field, value)
    if number != int(number) or number < minimum:
        raise ConfigError(f"{owner} {field} must be a whole number >= {minimum}, got {value!r}")
    return int(number)


def _kind(owner: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(
            f"{owner} kind {value!r} is unknown{did_you_mean(value, choices)}; accepted: {', '.join(choices)}"
        )
    return value


@dataclass(frozen=True)
class StopRule:
    """One stop-loss, set before entry; a position may carry several (say trailing and time).

    kind      how the exit level is measured; for a long position (a short mirrors it):
              fixed     exit when price falls `level` below the entry price
              trailing  exit when price falls `level` below its highest close since entry
              atr       exit when price falls `level` x ATR below the entry price, the ATR being the
                        `atr_sessions`-session average true range known at the entry session's close
              time      exit once the position has been held `level` sessions, whatever the price
    level     a fraction of price in (0, 1) for fixed and trailing (0.05 = 5%), a positive ATR
              multiple for atr, a whole number of sessions >= 1 for time
    atr_sessions  ATR look-back in sessions; read only by atr stops

    >>> StopRule("trailing", 0.05).spec(), StopRule("time", 10).describe()
    ('trailing:5%', 'time 10 sessions')
    """

    kind: StopKind
    level: float
    atr_sessions: int = DEFAULT_ATR_SESSIONS

    def __post_init__(self):
        _kind("stop", self.kind, STOP_KINDS)
        level = _real(f"{self.kind} stop", "level", self.level)
        if self.kind in ("fixed", "trailing") and not 0 < level < 1:
            raise ConfigError(
                f"{self.kind} stop level must be a fraction of price between 0 and 1 "
                f"(0.05 = 5%), got {self.level!r}"
            )
        if self.kind == "atr" and level <= 0:
            raise ConfigError(f"atr stop level must be a positive ATR multiple, got {self.level!r}")
        if self.kind == "time":
            level = float(_whole("time stop", "level (sessions)", self.level, 1))
        # Normalised in place so that StopRule("time", 10) and StopRule("time", 10.0) serialise alike.
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "atr_sessions", _whole("stop", "atr_sessions", self.atr_sessions, 1))

    def spec(self) -> str:
        """The command-line text that `rulespec.parse_stop` turns back into this rule."""
        if self.kind in ("fixed", "trailing"):
            return f"{self.kind}:{format_percent(self.level)}"
        if self.kind == "time":
            return f"time:{int(self.level)}"
        text = f"atr:{format_number(self.level)}x"
        if self.atr_sessions != DEFAULT_ATR_SESSIONS:
            text += f",sessions:{self.atr_sessions}"
        return text

    def describe(self) -> str:
        """A few words for a report line."""
        if self.kind in ("fixed", "trailing"):
            return f"{self.kind} {format_percent(self.level)}"
        if self.kind == "time":
            return f"time {int(self.level)} sessions"
        return f"{format_number(self.level)}x ATR({self.atr_sessions})"


@dataclass(frozen=True)
class TakeProfit:
    """Take-profit set before entry: exit a long when price rises `level` above the entry price.

    kind      percent: `level` is a fraction of the entry price (0.08 = 8%); atr: `level` is a
              multiple of the `atr_sessions`-session ATR known at the entry session's close
    level     positive

    >>> TakeProfit("percent", 0.08).spec(), TakeProfit("atr", 2).spec()
    ('8%', 'atr:2x')
    """

    kind: TakeProfitKind
    level: float
    atr_sessions: int = DEFAULT_ATR_SESSIONS

    def __post_init__(self):
        _kind("take-profit", self.kind, TAKE_PROFIT_KINDS)
        level = _real(f"{self.kind} take-profit", "level", self.level)
        if level <= 0:
            raise ConfigError(f"{self.kind} take-profit level must be positive, got {self.level!r}")
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "atr_sessions", _whole("take-profit", "atr_sessions", self.atr_sessions, 1))

    def spec(self) -> str:
        """The command-line text that `rulespec.parse_take_profit` turns back into this rule."""
        if self.kind == "percent":
            return format_percent(self.level)
        text = f"atr:{format_number(self.level)}x"
        if self.atr_sessions != DEFAULT_ATR_SESSIONS:
            text += f",sessions:{self.atr_sessions}"
        return text

    def describe(self) -> str:
        if self.kind == "percent":
            return format_percent(self.level)
        return f"{format_number(self.level)}x ATR({self.atr_sessions})"


@dataclass(frozen=True)
class PortfolioStop:
    """Flatten everything when equity falls `max_drawdown` below its running peak.

    After the stop fires the book stays flat for `cooldown_sessions` sessions (0: the strategy may
    re-enter on the next session's signal); the running peak restarts from the equity at re-entry,
    otherwise the stop would fire again at once.

    max_drawdown       fraction in (0, 1): 0.15 flattens at a 15% drawdown
    cooldown_sessions  whole number >= 0

    >>> PortfolioStop(0.15).spec(), PortfolioStop(0.2, cooldown_sessions=10).spec()
    ('15%', '20%,cooldown:10')
    """

    max_drawdown: float
    cooldown_sessions: int = 5

    def __post_init__(self):
        drawdown = _real("portfolio stop", "max_drawdown", self.max_drawdown)
        if not 0 < drawdown < 1:
            raise ConfigError(
                f"portfolio stop max_drawdown must be a fraction between 0 and 1 (0.15 = 15%), "
                f"got {self.max_drawdown!r}"
            )
        object.__setattr__(self, "max_drawdown", drawdown)
        object.__setattr__(
            self,
            "cooldown_sessions",
            _whole("portfolio stop", "cooldown_sessions", self.cooldown_sessions, 0),
        )

    def spec(self) -> str:
        """The text that `rulespec.parse_portfolio_stop` turns back into this rule."""
        text = format_percent(self.max_drawdown)
        if self.cooldown_sessions != 5:
            text += f",cooldown:{self.cooldown_sessions}"
        return text

    def describe(self) -> str:
        return f"{format_percent(self.max_drawdown)} drawdown, {self.cooldown_sessions} sessions cooldown"


@dataclass(frozen=True)
class Sizing:
    """How big a position is, decided before entry.

    kind       fixed-fraction: the position's weight is `level` (a fraction of equity);
               vol-target: `level` is the position's target annualised volatility, and its weight
               is level / realised vol, the realised vol being the annualised standard deviation of
               the last `vol_lookback` daily returns known at the decision session's close.
               These are the weights of a position the playbook holds at 100%: the strategies
               multiply each playbook weight by this (a 60% QQQ tilt under fixed-fraction 50% holds
               30%), a vol target never lifts a weight above the playbook's own, and max_weight
               caps the result
    level      fixed-fraction: in (0, MAX_LEVERAGE]; vol-target: in (0, 1]
    max_weight cap on the weight of one instrument, in (0, MAX_LEVERAGE]; both kinds are capped,
               so ``fixed-fraction 50%`` with ``max_weight 25%`` holds 25%
    tranches   the target is reached (and left) in this many equal steps, one per signal session;
               1 = all at once. A shock exit (stop, portfolio stop) always goes at once.
    vol_lookback  sessions of returns in the realised vol; read only by vol-target

    >>> Sizing("fixed-fraction", 0.5, max_weight=0.25).target_weight()
    0.25
    >>> Sizing("vol-target", 0.10).target_weight(realised_vol=0.20)
    0.5
    """

    kind: SizingKind
    level: float
    max_weight: float = 1.0
    tranches: int = 1
    vol_lookback: int = 20

    def __post_init__(self):
        _kind("sizing", self.kind, SIZING_KINDS)
        level = _real(f"{self.kind} sizing", "level", self.level)
        ceiling = MAX_LEVERAGE if self.kind == "fixed-fraction" else 1.0
        if not 0 < level <= ceiling:
            what = "a weight" if self.kind == "fixed-fraction" else "an annualised volatility"
            raise ConfigError(
                f"{self.kind} sizing level is {what} and must be in (0, {format_percent(ceiling)}], "
                f"got {self.level!r}"
            )
        max_weight = _real("sizing", "max_weight", self.max_weight)
        if not 0 < max_weight <= MAX_LEVERAGE:
            raise ConfigError(
                f"sizing max_weight must be in (0, {format_percent(MAX_LEVERAGE)}] (0.25 = 25%), "
                f"got {self.max_weight!r}"
            )
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "max_weight", max_weight)
        object.__setattr__(self, "tranches", _whole("sizing", "tranches", self.tranches, 1))
        # Two returns are the fewest a standard deviation can be taken of.
        object.__setattr__(self, "vol_lookback", _whole("sizing", "vol_lookback", self.vol_lookback, 2))

    def target_weight(self, realised_vol: float | None = None) -> float:
        """The full position weight, before tranching.

        For vol-target `realised_vol` (annualised fraction) is required; NaN (not enough history
        yet) gives 0.0, no position, rather than a guess; zero vol gives max_weight.

        >>> Sizing("vol-target", 0.10, max_weight=0.8).target_weight(0.05)
        0.8
        >>> Sizing("vol-target", 0.10).target_weight(float("nan"))
        0.0
        """
        if self.kind == "fixed-fraction":
            return min(self.level, self.max_weight)
        if realised_vol is None:
            raise ValueError("vol-target sizing needs the realised volatility")
        if math.isnan(realised_vol):
            return 0.0
        if realised_vol <= 0:
            return self.max_weight
        return min(self.level / realised_vol, self.max_weight)

    def weight(self, playbook_weight: float, realised_vol: float = math.nan) -> float:
        """The weight the engine holds for a playbook weight: fixed-fraction multiplies it by
        `level`; vol-target by level / realised vol, never above 1 (no leverage from a quiet series;
        no position while the vol is not known yet, NaN, or zero); max_weight caps the result. The
        base strategy calls this: a replacement sizing object provides the same method.

        >>> Sizing("fixed-fraction", 0.5).weight(0.6), Sizing("vol-target", 0.10).weight(0.6, 0.20)
        (0.3, 0.3)
        """
        if self.kind == "vol-target":
            factor = min(self.level / realised_vol, 1.0) if realised_vol > 0 else 0.0
        else:
            factor = self.level
        return min(playbook_weight * factor, self.max_weight)

    def tranche_step(self, held: float, target: float) -> float:
        """The weight each tranche moves when a position goes from weight `held` to `target`: equal
        steps, `tranches` of them (the engine calls this when a new target is set).

        >>> round(Sizing("fixed-fraction", 1.0, tranches=3).tranche_step(0.0, 0.3), 12)
        0.1
        """
        return abs(target - held) / self.tranches

    def tranche_targets(self, target: float) -> tuple[float, ...]:
        """The weights held after each tranche on the way to `target`, ending exactly at it.

        >>> Sizing("fixed-fraction", 0.3, tranches=3).tranche_targets(0.3)
        (0.1, 0.2, 0.3)
        """
        # Decimal steps so that the last tranche lands on the target itself, not 0.30000000000000004.
        exact = Decimal(repr(float(target)))
        return tuple(float(exact * step / self.tranches) for step in range(1, self.tranches + 1))

    def spec(self) -> str:
        """The text that `rulespec.parse_size` turns back into kind, level and vol_lookback.

        max_weight and tranches have their own options (``--max-weight``, ``--tranches``).
        """
        text = f"{self.kind}:{format_percent(self.level)}"
        if self.kind == "vol-target" and self.vol_lookback != 20:
            text += f",lookback:{self.vol_lookback}"
        return text

    def describe(self) -> str:
        text = f"{self.kind} {format_percent(self.level)}"
        if self.kind == "vol-target":
            text += f" ({self.vol_lookback}-session vol)"
        text += f", max weight {format_percent(self.max_weight)}"
        if self.tranches > 1:
            text += f", {self.tranches} tranches"
        return text


@dataclass(frozen=True)
class Costs:
    """Every cost the playbook says to count. Defaults are a US broker's professional fixed plan
    (Interactive Brokers "IBKR Pro Fixed" published rates) trading liquid index ETFs and options:

    commission_per_share            $0.005 per share (IBKR Pro Fixed, US stocks and ETFs); the plan's
                                    cap of 1% of trade value is not modelled because it binds only
                                    below $0.50 a share, far under any instrument here
    min_commission                  $1.00 per order, stock or option (IBKR Pro Fixed minimum)
    slippage_bp                     2 bp against each stock/ETF fill: about a one-cent half-spread on
                                    SPY plus impact at the open
    option_commission_per_contract  $0.65 per contract (IBKR Pro Fixed, premium >= $0.10)
    option_spread_vol               the option's quoted bid-ask width in volatility at a 20% implied
                                    vol (0.005 = half a vol point), widening with the square of the
                                    option's vol; a fill pays half the width x vega (the rule and
                                    its sources: strategies.options.OptionCosts)
    option_min_tick                 $0.05: a quote is never narrower than one tick, CBOE's minimum
                                    increment below $3 for classes outside the penny program
    tax_rate                        on net realised gains, reported separately from pre-tax returns
                                    (0 = off; US short-term gains are taxed as income, 37% top rate)

    >>> Costs().stock_commission(100), Costs().stock_commission(1000)
    (1.0, 5.0)
    >>> round(Costs().option_half_spread(45.74, 228.65, 0.20), 4)   # see OptionCosts.half_spread
    0.5716
    """

    commission_per_share: float = 0.005
    min_commission: float = 1.0
    slippage_bp: float = 2.0
    option_commission_per_contract: float = 0.65
    option_spread_vol: float = SPREAD_VOL
    option_min_tick: float = 0.05
    tax_rate: float = 0.0

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = _real("costs", field.name, getattr(self, field.name))
            if value < 0:
                raise ConfigError(
                    f"costs {field.name} must not be negative, got {getattr(self, field.name)!r}"
                )
            object.__setattr__(self, field.name, value)
        if self.tax_rate >= 1:
            raise ConfigError(f"costs tax_rate must be below 1 (0.25 = 25%), got {self.tax_rate!r}")
        if self.slippage_bp >= 1000:
            raise ConfigError(
                f"costs slippage_bp is in basis points and must be below 1000 (2 = 0.02%), "
                f"got {self.slippage_bp!r}"
            )
        if self.option_spread_vol >= 1:
            raise ConfigError(
                f"costs option_spread_vol (the bid-ask width in volatility, 0.5% = half a vol point) "
                f"must be below 100%, got {self.option_spread_vol!r}"
            )

    @property
    def slippage_fraction(self) -> float:
        """slippage_bp as a fraction of price: a buy fills at price x (1 + this), a sell at (1 - this)."""
        return self.slippage_bp / 10_000

    def stock_commission(self, shares: float, price: float = 0.0) -> float:
        """Commission for one stock/ETF order of `shares` (either sign) at `price`; nothing for no
        order. The broker calls this for every stock fill (a replacement costs object may charge by
        value: the price is passed)."""
        if shares == 0:
            return 0.0
        return max(abs(shares) * self.commission_per_share, self.min_commission)

    def option_commission(self, contracts: float) -> float:
        """Commission for one option order of `contracts` (either sign), at least min_commission;
        nothing for no order (the rule is OptionCosts.commission, what the option book calls)."""
        return self.option_costs().commission(contracts)

    def option_costs(self) -> OptionCosts:
        """The option book's costs object: these costs' option fields (OptionCosts holds the rule)."""
        return OptionCosts(spread_vol=self.option_spread_vol, min_tick=self.option_min_tick,
                           commission_per_contract=self.option_commission_per_contract,
                           min_commission=self.min_commission)

    def option_half_spread(self, mid: float, vega: float, vol: float) -> float:
        """What a fill pays away from the mid, per unit of option price (OptionCosts.half_spread)."""
        return float(self.option_costs().half_spread(mid, vega, vol))

    def describe(self) -> str:
        text = (
            f"${format_number(self.commission_per_share)}/share (min ${self.min_commission:.2f}), "
            f"{format_number(self.slippage_bp)} bp slippage, "
            f"${format_number(self.option_commission_per_contract)}/contract, "
            f"option spread {format_number(self.option_spread_vol * 100)} vol pts at 20% vol "
            f"(min tick ${format_number(self.option_min_tick)})"
        )
        if self.tax_rate:
            text += f", tax {format_percent(self.tax_rate)} on realised gains"
        return text


def _from_mapping(cls, what: str, data):
    """Build a rule dataclass from a mapping of its fields, naming unknown or missing keys."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"risk config {what} must be a mapping of its fields, got {data!r}")
    names = [field.name for field in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            raise ConfigError(
                f"risk config {what} has unknown field {key!r}{did_you_mean(key, names)}; "
                f"accepted: {', '.join(names)}"
            )
    required = [
        field.name
        for field in dataclasses.fields(cls)
        if field.default is dataclasses.MISSING and field.name not in data
    ]
    if required:
        raise ConfigError(f"risk config {what} is missing {', '.join(required)}")
    return cls(**data)


@dataclass(frozen=True)
class RiskConfig:
    """All risk rules of one run: what the base strategy reads, what run.json records.

    stops           zero or more stop rules, at most one of each kind; the first to trigger exits
    take_profit     None = no take-profit
    portfolio_stop  None = no portfolio drawdown stop
    sizing          position sizing (default: the whole account in the position, no tranches)
    costs           commissions, slippage, option spread, tax

    >>> cfg = RiskConfig(stops=(StopRule("trailing", 0.05), StopRule("time", 10)),
    ...                  take_profit=TakeProfit("percent", 0.08))
    >>> RiskConfig.from_dict(cfg.to_dict()) == cfg
    True
    >>> cfg.describe()  # doctest: +ELLIPSIS
    'stops trailing 5% + time 10 sessions; take-profit 8%; no portfolio stop; size fixed-fraction 100%, ...'
    """

    stops: tuple[StopRule, ...] = ()
    take_profit: TakeProfit | None = None
    portfolio_stop: PortfolioStop | None = None
    sizing: Sizing = Sizing("fixed-fraction", 1.0)
    costs: Costs = Costs()

    def __post_init__(self):
        if isinstance(self.stops, StopRule) or not isinstance(self.stops, (tuple, list)):
            raise ConfigError(f"risk config stops must be a tuple of StopRule, got {self.stops!r}")
        stops = tuple(self.stops)
        seen = set()
        for stop in stops:
            if not isinstance(stop, StopRule):
                raise ConfigError(f"risk config stops must hold StopRule objects, got {stop!r}")
            # Two stops of one kind: the tighter one always wins, so the other is a mistake.
            if stop.kind in seen:
                raise ConfigError(
                    f"risk config has two {stop.kind!r} stops ({', '.join(s.spec() for s in stops)}); "
                    f"give at most one of each kind"
                )
            seen.add(stop.kind)
        object.__setattr__(self, "stops", stops)
        for name, cls, optional in (
            ("take_profit", TakeProfit, True),
            ("portfolio_stop", PortfolioStop, True),
            ("sizing", Sizing, False),
            ("costs", Costs, False),
        ):
            value = getattr(self, name)
            if not (isinstance(value, cls) or (optional and value is None)):
                raise ConfigError(f"risk config {name} must be a {cls.__name__}, got {value!r}")

    def to_dict(self) -> dict:
        """Plain JSON-ready data (lists, dicts, numbers, strings, None) for run.json and tuning."""
        return {
            "stops": [dataclasses.asdict(stop) for stop in self.stops],
            "take_profit": None if self.take_profit is None else dataclasses.asdict(self.take_profit),
            "portfolio_stop": None
            if self.portfolio_stop is None
            else dataclasses.asdict(self.portfolio_stop),
            "sizing": dataclasses.asdict(self.sizing),
            "costs": dataclasses.asdict(self.costs),
        }

    @classmethod
    def from_dict(cls, data) -> RiskConfig:
        """Inverse of `to_dict`; a missing section takes its default, an unknown key is an error."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"risk config must be a mapping, got {data!r}")
        sections = [field.name for field in dataclasses.fields(cls)]
        for key in data:
            if key not in sections:
                raise ConfigError(
                    f"risk config has unknown section {key!r}{did_you_mean(key, sections)}; "
                    f"accepted: {', '.join(sections)}"
                )
        stops = data.get("stops") or ()
        if isinstance(stops, (str, Mapping)) or not isinstance(stops, (list, tuple)):
            raise ConfigError(f"risk config stops must be a list of stop mappings, got {stops!r}")
        take_profit = data.get("take_profit")
        portfolio_stop = data.get("portfolio_stop")
        return cls(
            stops=tuple(_from_mapping(StopRule, "stop", stop) for stop in stops),
            take_profit=None
            if take_profit is None
            else _from_mapping(TakeProfit, "take_profit", take_profit),
            portfolio_stop=(
                None
                if portfolio_stop is None
                else _from_mapping(PortfolioStop, "portfolio_stop", portfolio_stop)
            ),
            sizing=_from_mapping(Sizing, "sizing", data["sizing"]) if "sizing" in data else cls().sizing,
            costs=_from_mapping(Costs, "costs", data["costs"]) if "costs" in data else cls().costs,
        )

    def to_settings(self) -> dict:
        """The same rules as command-line / config-file text, the input of
        `config.risk_config_from_settings`: a config file written from this repeats the run."""
        return {
            "stop": [stop.spec() for stop in self.stops] or "none",
            "take_profit": "none" if self.take_profit is None else self.take_profit.spec(),
            "portfolio_stop": "none" if self.portfolio_stop is None else self.portfolio_stop.spec(),
            "size": self.sizing.spec(),
            "max_weight": format_percent(self.sizing.max_weight),
            "tranches": self.sizing.tranches,
            "costs": dataclasses.asdict(self.costs),
        }

    def describe(self) -> str:
        """One line for a report header or a log."""
        stops = " + ".join(stop.describe() for stop in self.stops) if self.stops else None
        parts = [
            f"stops {stops}" if stops else "no stop",
            f"take-profit {self.take_profit.describe()}" if self.take_profit else "no take-profit",
            f"portfolio stop {self.portfolio_stop.describe()}"
            if self.portfolio_stop
            else "no portfolio stop",
            f"size {self.sizing.describe()}",
            f"costs {self.costs.describe()}",
        ]
        return "; ".join(parts)
