"""Text forms of the risk rules, as typed on the command line or written in a config file.

One grammar serves ``cli.py backtest`` options, config files and tuning ranges (kinds and option
names are case-insensitive; spaces around the separators are ignored)::

    PERCENT        := NUMBER "%"            5%   -> 0.05
                    | NUMBER                0.05 -> 0.05  (a bare number is a fraction, so it must be
                                                           <= 1: "5" is refused with "did you mean 5%?")
    stop           := "fixed:" PERCENT                     fixed:3%
                    | "trailing:" PERCENT                  trailing:5%
                    | "atr:" NUMBER ["x"] [",sessions:" INT]   atr:3   atr:2.5x,sessions:20
                    | "time:" INT                          time:10   (sessions held)
                    | "none"
    take-profit    := PERCENT | "percent:" PERCENT | "atr:" NUMBER ["x"] [",sessions:" INT] | "none"
    portfolio-stop := PERCENT [",cooldown:" INT] | "none"        15%   15%,cooldown:10
    size           := ("fixed" | "fixed-fraction") ":" PERCENT   fixed:50%   fixed-fraction:0.5
                    | "vol-target:" PERCENT [",lookback:" INT]   vol-target:10%,lookback:60
    max-weight     := PERCENT                                    25%
    tranches       := INT                                        3
    range          := [KIND ":"] VALUE ".." VALUE ":" STEP       trailing:2%..10%:1%   4%..16%:2%

Several stops are several ``--stop`` options (or a list in a config file), one rule each; a comma
inside a stop introduces an option of that rule, never a second stop. ``sessions`` is the ATR
look-back, ``cooldown`` the sessions kept flat after a portfolio stop, ``lookback`` the sessions of
returns behind a volatility target. Max weight and tranches apply to either sizing kind, so they are
options of their own (``--max-weight``, ``--tranches``).

Every function raises `ConfigError` with one sentence naming the text at fault and the accepted
forms; the CLI wraps them as click parameter types. Numbers from a YAML/TOML file are accepted
wherever text is, and read by the same rules (``max_weight: 0.25`` is 25%, ``max_weight: 25`` is an
error).
"""

from __future__ import annotations

import dataclasses
import numbers
import re
from collections.abc import Mapping
from decimal import Decimal

from strategies.errors import ConfigError
from strategies.risk import (
    STOP_KINDS,
    Costs,
    PortfolioStop,
    Sizing,
    StopRule,
    TakeProfit,
    did_you_mean,
    format_number,
    format_percent,
)

PERCENT_FORMS = "5% or the fraction 0.05"
STOP_FORMS = "fixed:3%, trailing:5%, atr:3, atr:2.5x,sessions:20, time:10 (sessions), none"
TAKE_PROFIT_FORMS = "8%, percent:8%, atr:2, atr:2x,sessions:20, none"
PORTFOLIO_STOP_FORMS = "15%, 15%,cooldown:10, none"
SIZE_FORMS = "fixed:50%, fixed-fraction:0.5, vol-target:10%, vol-target:10%,lookback:60"
RANGE_FORMS = "trailing:2%..10%:1%, atr:2..4:0.5, time:5..20:5, 4%..16%:2% (take-profit)"
RANGE_RULES = ("stop", "take-profit", "portfolio-stop", "size")

# A tuning grid larger than this is a typo in the step (0.01% for 1%), not a plan.
MAX_RANGE_VALUES = 1000

_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_SIZE_KINDS = {"fixed": "fixed-fraction", "fixed-fraction": "fixed-fraction", "vol-target": "vol-target"}
_COST_FRACTIONS = ("option_spread_vol", "tax_rate")
# Every percent in these rules is a size (a distance, a weight, a rate), so a sign is a slip.
_NEGATIVE = "{token!r} is negative; percents here are sizes, written without a sign (e.g. {size})"


class _Grammar(ConfigError):
    """A text that does not follow the grammar: the message gets the accepted forms appended."""


def _text(value, what: str, forms: str) -> str:
    """The text of a rule; a number from a config file is written as its shortest decimal."""
    if isinstance(value, str):
        if not value.strip():
            raise ConfigError(f"{what} is empty; accepted forms: {forms}")
        return value.strip()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return format_number(value)
    raise ConfigError(f"{what} must be text such as {forms}, got {value!r}")


def _number(token: str) -> Decimal:
    token = token.strip()
    if not _NUMBER.fullmatch(token):
        if token.startswith("-"):
            raise _Grammar(f"{token!r} is negative; it must be zero or more")
        raise _Grammar(f"{token!r} is not a number" if token else "the number is missing")
    return Decimal(token)


def _percent(token: str, suggestion: str = "{}") -> Decimal:
    """A PERCENT token as an exact decimal fraction; `suggestion` places the corrected token in
    the "did you mean" hint (e.g. "trailing:{}")."""
    token = token.strip()
    if token.endswith("%"):
        number = token[:-1].strip()
        if not _NUMBER.fullmatch(number):
            if number.startswith("-"):
                raise _Grammar(_NEGATIVE.format(token=token, size=token.lstrip("-")))
            raise _Grammar(f"{token!r} is not a percent")
        return Decimal(number) / 100
    if not _NUMBER.fullmatch(token):
        if token.startswith("-"):
            raise _Grammar(_NEGATIVE.format(token=token, size=token.lstrip("-")))
        raise _Grammar(f"{token!r} is not a percent or a fraction" if token else "the percent is missing")
    value = Decimal(token)
    if value > 1:
        hint = suggestion.format(f"{token}%")
        raise _Grammar(
            f"a bare number is a fraction, so {token} would mean {format_percent(float(value))} "
            f"(did you mean {hint!r}?)"
        )
    return value


def _multiple(token: str, kind: str) -> Decimal:
    """An ATR multiple: a number with an optional "x"."""
    token = token.strip()
    if token.endswith("%"):
        other = "trailing" if kind == "stop" else "percent"
        raise _Grammar(
            f"an ATR {kind} is a multiple of the average true range, not a percent "
            f"(did you mean '{other}:{token}'?)"
        )
    if token.endswith("x"):
        token = token[:-1]
    return _number(token)


def _whole(token: str, what: str, sessions: bool = True) -> int:
    """A whole number of sessions (or tranches); "10d" is refused because sessions are not days."""
    token = token.strip()
    counted = re.fullmatch(r"([0-9]+)\s*[a-z]+", token)
    if counted and sessions:
        raise _Grammar(f"{what} counts trading sessions, not calendar days: write {counted.group(1)}")
    value = _number(token)
    if value != value.to_integral_value():
        raise _Grammar(f"{what} must be a whole number, got {token!r}")
    return int(value)


def _split(spec: str, options: tuple[str, ...], kinds: tuple[str, ...] = ()) -> tuple[str | None, str, dict]:
    """'kind:level,opt:value,...' -> (kind or None, level text, {opt: value text})."""
    head, *rest = (part.strip() for part in spec.lower().split(","))
    kind, level = (part.strip() for part in head.split(":", 1)) if ":" in head else (None, head)
    given: dict[str, str] = {}
    for part in rest:
        key, sep, value = (piece.strip() for piece in part.partition(":"))
        if key in kinds:
            raise _Grammar(
                f"{key!r} is a kind of its own, not an option; give each rule separately "
                f"(--stop trailing:5% --stop time:10, or a list in the config file)"
            )
        if key not in options:
            accepted = (
                f"accepted options are {', '.join(options)}" if options else "this rule takes no options"
            )
            raise _Grammar(f"unknown option {part!r}{did_you_mean(key, options)}: {accepted}")
        if not sep or not value:
            raise _Grammar(f"option {key!r} needs a value, e.g. {key}:20")
        if key in given:
            raise _Grammar(f"option {key!r} is given twice")
        given[key] = value
    return kind, level, given


def _fail(what: str, spec: str, exc: ConfigError, forms: str) -> ConfigError:
    tail = f"; accepted forms: {forms}" if isinstance(exc, _Grammar) else ""
    return ConfigError(f"{what} {spec!r}: {exc}{tail}")


def parse_percent(text, name: str = "value") -> float:
    """'5%' -> 0.05 and '0.05' -> 0.05; a bare number above 1 is refused (did you mean 5%?).

    >>> parse_percent("5%"), parse_percent("0.05"), parse_percent("14.3 %"), parse_percent(0.25)
    (0.05, 0.05, 0.143, 0.25)
    >>> parse_percent("5", "max weight")
    Traceback (most recent call last):
    ...
    strategies.errors.ConfigError: max weight '5': a bare number is a fraction, so 5 would mean 500% \
(did you mean '5%'?); accepted forms: 5% or the fraction 0.05
    """
    spec = _text(text, name, PERCENT_FORMS)
    try:
        return float(_percent(spec))
    except ConfigError as exc:
        raise _fail(name, spec, exc, PERCENT_FORMS) from None


def parse_stop(text) -> StopRule | None:
    """One stop rule; "none" -> None (so that the command line can cancel a config file's stop).

    >>> parse_stop("trailing:5%")
    StopRule(kind='trailing', level=0.05, atr_sessions=14)
    >>> parse_stop("ATR:2.5x, sessions:20")
    StopRule(kind='atr', level=2.5, atr_sessions=20)
    >>> parse_stop("time:10").level, parse_stop("none")
    (10.0, None)
    """
    spec = _text(text, "stop", STOP_FORMS)
    if spec.lower() == "none":
        return None
    try:
        kind, level, options = _split(spec, ("sessions",), STOP_KINDS)
        if kind is None:
            raise _Grammar(f"a stop needs a kind (did you mean 'trailing:{spec}' or 'fixed:{spec}'?)")
        if kind not in STOP_KINDS:
            raise _Grammar(f"unknown stop kind {kind!r}{did_you_mean(kind, STOP_KINDS)}")
        if options and kind != "atr":
            raise _Grammar(f"option 'sessions' (the ATR look-back) applies only to atr stops, not {kind}")
        if kind == "atr":
            value = float(_multiple(level, "stop"))
        elif kind == "time":
            value = float(_whole(level, "a time stop"))
        else:
            value = float(_percent(level, f"{kind}:{{}}"))
        sessions = _whole(options["sessions"], "the ATR look-back") if "sessions" in options else 14
        return StopRule(kind, value, atr_sessions=sessions)
    except ConfigError as exc:
        raise _fail("stop", spec, exc, STOP_FORMS) from None


def parse_stops(values) -> tuple[StopRule, ...]:
    """Several stops: None / "none" / one text / a list of texts -> a tuple, at most one per kind.

    >>> [s.spec() for s in parse_stops(["trailing:5%", "time:10"])]
    ['trailing:5%', 'time:10']
    >>> parse_stops("none"), parse_stops(None)
    ((), ())
    """
    if values is None:
        return ()
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        values = [values]
    texts = [_text(value, "stop", STOP_FORMS) for value in values]
    rules = [parse_stop(text) for text in texts]
    if None in rules and len(rules) > 1:
        raise ConfigError(
            f"stops {', '.join(repr(t) for t in texts)}: 'none' cannot be combined with other stops"
        )
    chosen = tuple(rule for rule in rules if rule is not None)
    for i, rule in enumerate(chosen):
        for other in chosen[:i]:
            if other.kind == rule.kind:
                raise ConfigError(
                    f"stops {other.spec()!r} and {rule.spec()!r} are both {rule.kind} stops; "
                    f"give at most one of each kind"
                )
    return chosen


def parse_take_profit(text) -> TakeProfit | None:
    """'8%' or 'percent:8%' (fraction of entry price), 'atr:2' (ATR multiple), or 'none'.

    >>> parse_take_profit("8%"), parse_take_profit("atr:2x").level
    (TakeProfit(kind='percent', level=0.08, atr_sessions=14), 2.0)
    """
    spec = _text(text, "take-profit", TAKE_PROFIT_FORMS)
    if spec.lower() == "none":
        return None
    try:
        kind, level, options = _split(spec, ("sessions",))
        kind = kind or "percent"
        if kind not in ("percent", "atr"):
            raise _Grammar(f"unknown take-profit kind {kind!r}{did_you_mean(kind, ('percent', 'atr'))}")
        if options and kind != "atr":
            raise _Grammar("option 'sessions' (the ATR look-back) applies only to atr take-profits")
        if kind == "atr":
            value = float(_multiple(level, "take-profit"))
        else:
            value = float(_percent(level, "percent:{}" if ":" in spec else "{}"))
        sessions = _whole(options["sessions"], "the ATR look-back") if "sessions" in options else 14
        return TakeProfit(kind, value, atr_sessions=sessions)
    except ConfigError as exc:
        raise _fail("take-profit", spec, exc, TAKE_PROFIT_FORMS) from None


def parse_portfolio_stop(text) -> PortfolioStop | None:
    """'15%' (drawdown from the equity peak), optionally ',cooldown:10' (sessions flat), or 'none'.

    >>> parse_portfolio_stop("15%,cooldown:10")
    PortfolioStop(max_drawdown=0.15, cooldown_sessions=10)
    """
    spec = _text(text, "portfolio stop", PORTFOLIO_STOP_FORMS)
    if spec.lower() == "none":
        return None
    try:
        kind, level, options = _split(spec, ("cooldown",))
        if kind is not None:
            raise _Grammar(f"a portfolio stop has no kind, only the drawdown (write {level!r})")
        cooldown = _whole(options["cooldown"], "the cooldown") if "cooldown" in options else 5
        return PortfolioStop(float(_percent(level)), cooldown_sessions=cooldown)
    except ConfigError as exc:
        raise _fail("portfolio stop", spec, exc, PORTFOLIO_STOP_FORMS) from None


def parse_size(text) -> Sizing:
    """'fixed:50%' / 'fixed-fraction:0.5' (weight) or 'vol-target:10%' (annualised vol target),
    optionally ',lookback:60'. Max weight and tranches come from `parse_max_weight`/`parse_tranches`.

    >>> parse_size("fixed:50%")
    Sizing(kind='fixed-fraction', level=0.5, max_weight=1.0, tranches=1, vol_lookback=20)
    >>> parse_size("vol-target:10%,lookback:60").vol_lookback
    60
    """
    spec = _text(text, "size", SIZE_FORMS)
    try:
        kind, level, options = _split(spec, ("lookback",))
        if kind is None:
            raise _Grammar(f"a size needs a kind (did you mean 'fixed:{spec}' or 'vol-target:{spec}'?)")
        if kind not in _SIZE_KINDS:
            raise _Grammar(f"unknown size kind {kind!r}{did_you_mean(kind, tuple(_SIZE_KINDS))}")
        kind = _SIZE_KINDS[kind]
        if options and kind != "vol-target":
            raise _Grammar(
                "option 'lookback' (sessions of returns behind the vol) applies only to vol-target"
            )
        lookback = _whole(options["lookback"], "the vol look-back") if "lookback" in options else 20
        value = float(_percent(level, f"{spec.split(':', 1)[0].strip()}:{{}}"))
        return Sizing(kind, value, vol_lookback=lookback)
    except ConfigError as exc:
        raise _fail("size", spec, exc, SIZE_FORMS) from None


def parse_max_weight(text) -> float:
    """The cap on one instrument's weight: '25%' or '0.25'; up to 400% (Reg T intraday leverage).

    >>> parse_max_weight("25%")
    0.25
    """
    spec = _text(text, "max weight", PERCENT_FORMS)
    try:
        weight = float(_percent(spec))
        Sizing("fixed-fraction", 1.0, max_weight=weight)
        return weight
    except ConfigError as exc:
        raise _fail("max weight", spec, exc, PERCENT_FORMS) from None


def parse_tranches(text) -> int:
    """Number of equal steps to scale in and out: a whole number >= 1.

    >>> parse_tranches("3"), parse_tranches(2)
    (3, 2)
    """
    spec = _text(text, "tranches", "3")
    try:
        tranches = _whole(spec, "tranches", sessions=False)
        Sizing("fixed-fraction", 1.0, tranches=tranches)
        return tranches
    except ConfigError as exc:
        raise _fail("tranches", spec, exc, "a whole number such as 3") from None


def parse_costs(mapping) -> Costs:
    """Costs from a mapping of `Costs` fields (hyphens or underscores); missing fields keep their
    defaults. Fraction fields (option_spread_vol, tax_rate) take PERCENT text; slippage_bp takes
    a number with an optional "bp"; money fields take plain numbers.

    >>> parse_costs({"tax-rate": "25%", "slippage_bp": "5bp"}).tax_rate
    0.25
    """
    if mapping is None:
        return Costs()
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"costs must be a mapping of cost fields, got {mapping!r}")
    names = [field.name for field in dataclasses.fields(Costs)]
    values: dict[str, float] = {}
    for raw_key, raw in mapping.items():
        key = str(raw_key).strip().lower().replace("-", "_")
        if key not in names:
            raise ConfigError(
                f"costs has unknown field {raw_key!r}{did_you_mean(key, names)}; accepted: {', '.join(names)}"
            )
        if key in values:
            raise ConfigError(f"costs field {key!r} is given twice")
        spec = _text(raw, f"costs {key}", "0.005, 2bp or 25%")
        try:
            if key in _COST_FRACTIONS:
                values[key] = float(_percent(spec))
            elif key == "slippage_bp":
                values[key] = float(_number(spec.lower().removesuffix("bp")))
            else:
                values[key] = float(_number(spec.lstrip("$")))
        except ConfigError as exc:
            forms = (
                PERCENT_FORMS
                if key in _COST_FRACTIONS
                else ("2 or 2bp" if key == "slippage_bp" else "a number such as 0.005")
            )
            raise _fail(f"costs {key}", spec, exc, forms) from None
    return Costs(**values)


def parse_range(text, rule: str = "stop") -> tuple[str, list[float]]:
    """A tuning grid 'KIND:START..STOP:STEP', inclusive, computed in exact decimals.

    rule is one of RANGE_RULES. The kind is required for stops and sizes, defaults to "percent"
    for take-profits, and is absent for the portfolio stop (returned as "drawdown"). STOP must lie
    on the grid. Every value is checked as a rule of its own.

    >>> parse_range("trailing:2%..10%:1%")
    ('trailing', [0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1])
    >>> parse_range("4%..16%:4%", rule="take-profit")
    ('percent', [0.04, 0.08, 0.12, 0.16])
    >>> parse_range("atr:2..3:0.5")
    ('atr', [2.0, 2.5, 3.0])
    """
    if rule not in RANGE_RULES:
        raise ConfigError(
            f"range rule {rule!r} is unknown{did_you_mean(rule, RANGE_RULES)}; "
            f"accepted: {', '.join(RANGE_RULES)}"
        )
    spec = _text(text, f"{rule} range", RANGE_FORMS)
    what = f"{rule} range"
    try:
        body = spec.lower()
        head = re.match(r"\s*([a-z][a-z-]*)\s*:", body)
        kind = head.group(1) if head else None
        if head:
            body = body[head.end() :]
        kind = _range_kind(rule, kind)
        if ".." not in body:
            raise _Grammar("a range is START..STOP:STEP")
        start_text, tail = body.split("..", 1)
        if ":" not in tail:
            raise _Grammar("the range has no step (write START..STOP:STEP)")
        stop_text, step_text = tail.rsplit(":", 1)
        start, stop, step = (_range_value(token, kind, rule) for token in (start_text, stop_text, step_text))
        if step <= 0:
            raise _Grammar("the step must be positive")
        if stop < start:
            raise _Grammar("START is above STOP")
        count = (stop - start) / step
        if count != count.to_integral_value():
            last = start + int(count) * step
            raise _Grammar(
                f"STOP is not on the grid: from {start_text.strip()} in steps of {step_text.strip()} "
                f"the last value is {_show(last, kind)}"
            )
        if count + 1 > MAX_RANGE_VALUES:
            raise _Grammar(f"the range has {int(count) + 1} values, more than {MAX_RANGE_VALUES}")
        values = [float(start + i * step) for i in range(int(count) + 1)]
        for value in values:
            _check_rule(rule, kind, value)
        return kind, values
    except ConfigError as exc:
        raise _fail(what, spec, exc, RANGE_FORMS) from None


def _range_kind(rule: str, kind: str | None) -> str:
    if rule == "stop":
        if kind is None:
            raise _Grammar("a stop range needs a kind, e.g. trailing:2%..10%:1%")
        if kind not in STOP_KINDS:
            raise _Grammar(f"unknown stop kind {kind!r}{did_you_mean(kind, STOP_KINDS)}")
        return kind
    if rule == "take-profit":
        kind = kind or "percent"
        if kind not in ("percent", "atr"):
            raise _Grammar(f"unknown take-profit kind {kind!r}{did_you_mean(kind, ('percent', 'atr'))}")
        return kind
    if rule == "portfolio-stop":
        if kind is not None:
            raise _Grammar("a portfolio-stop range has no kind, e.g. 10%..20%:5%")
        return "drawdown"
    if kind is None:
        raise _Grammar("a size range needs a kind, e.g. vol-target:5%..20%:5%")
    if kind not in _SIZE_KINDS:
        raise _Grammar(f"unknown size kind {kind!r}{did_you_mean(kind, tuple(_SIZE_KINDS))}")
    return _SIZE_KINDS[kind]


def _range_value(token: str, kind: str, rule: str) -> Decimal:
    if kind == "atr":
        return _multiple(token, rule)
    if kind == "time":
        return Decimal(_whole(token, "a time stop"))
    return _percent(token)


def _show(value: Decimal, kind: str) -> str:
    if kind in ("atr", "time"):
        return format_number(float(value))
    return format_percent(float(value))


def _check_rule(rule: str, kind: str, value: float) -> None:
    if rule == "stop":
        StopRule(kind, value)
    elif rule == "take-profit":
        TakeProfit(kind, value)
    elif rule == "portfolio-stop":
        PortfolioStop(value)
    else:
        Sizing(kind, value)
