"""Risk-rule parameters: dataclass validation, text forms (rulespec) and round trips.

Expected numbers are written out by hand or computed independently (Decimal arithmetic, plain
multiplication), never by calling the function under test a second time.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies.errors import ConfigError
from strategies.risk import (
    MAX_LEVERAGE,
    Costs,
    PortfolioStop,
    RiskConfig,
    Sizing,
    StopRule,
    TakeProfit,
    did_you_mean,
    format_number,
    format_percent,
)
from strategies.rulespec import (
    MAX_RANGE_VALUES,
    parse_costs,
    parse_max_weight,
    parse_percent,
    parse_portfolio_stop,
    parse_range,
    parse_size,
    parse_stop,
    parse_stops,
    parse_take_profit,
    parse_tranches,
)


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        call(*args, **kwargs)
    return str(info.value)


# --- dataclass validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, level, fragment",
    [
        ("fixed", 0.0, "0.0"),
        ("fixed", 1.0, "1.0"),
        ("trailing", -0.05, "-0.05"),
        ("trailing", 5, "got 5"),  # 5 = 500% of price: a typo for 5%
        ("atr", 0, "got 0"),
        ("atr", -2, "-2"),
        ("time", 0, "got 0"),
        ("time", 2.5, "2.5"),
        ("time", -3, "-3"),
        ("trailing", float("nan"), "nan"),
        ("atr", float("inf"), "inf"),
        ("fixed", "5%", "'5%'"),
        ("time", True, "True"),
    ],
)
def test_stop_rule_rejects_bad_levels_naming_the_value(kind, level, fragment):
    message = error_of(StopRule, kind, level)
    assert fragment in message
    assert kind in message


def test_stop_rule_unknown_kind_gets_a_hint():
    message = error_of(StopRule, "trailng", 0.05)
    assert "'trailng'" in message and "did you mean 'trailing'" in message
    assert "fixed, trailing, atr, time" in message


def test_stop_rule_accepts_the_edges_and_normalises_numbers():
    assert StopRule("fixed", 0.0001).level == 0.0001
    assert StopRule("trailing", 0.9999).level == 0.9999
    assert StopRule("atr", 0.5).level == 0.5
    time_stop = StopRule("time", 10)
    assert time_stop.level == 10.0 and isinstance(time_stop.level, float)
    # JSON and YAML may hand over 20.0 for a look-back; it is a whole number all the same.
    atr = StopRule("atr", 3, atr_sessions=20.0)
    assert atr.atr_sessions == 20 and isinstance(atr.atr_sessions, int)
    assert "atr_sessions" in error_of(StopRule, "atr", 3, atr_sessions=0)


def test_rules_are_frozen_and_hashable():
    rule = StopRule("trailing", 0.05)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.level = 0.1
    assert len({StopRule("time", 10), StopRule("time", 10.0)}) == 1


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: TakeProfit("percent", 0), "got 0"),
        (lambda: TakeProfit("percent", -0.08), "-0.08"),
        (lambda: TakeProfit("atr", 0), "atr take-profit"),
        (lambda: TakeProfit("pct", 0.08), "did you mean 'percent'"),
        (lambda: TakeProfit("atr", 2, atr_sessions=0), "atr_sessions"),
        (lambda: PortfolioStop(0), "got 0"),
        (lambda: PortfolioStop(1.0), "got 1.0"),
        (lambda: PortfolioStop(15), "got 15"),
        (lambda: PortfolioStop(0.15, cooldown_sessions=-1), "cooldown_sessions"),
        (lambda: PortfolioStop(0.15, cooldown_sessions=1.5), "1.5"),
        (lambda: Sizing("fixed-fraction", 0), "got 0"),
        (lambda: Sizing("fixed-fraction", MAX_LEVERAGE + 0.01), "4.01"),
        (lambda: Sizing("vol-target", 1.5), "annualised volatility"),
        (lambda: Sizing("vol_target", 0.1), "did you mean 'vol-target'"),
        (lambda: Sizing("fixed-fraction", 0.5, max_weight=0), "max_weight"),
        (lambda: Sizing("fixed-fraction", 0.5, max_weight=5), "got 5"),
        (lambda: Sizing("fixed-fraction", 0.5, tranches=0), "tranches"),
        (lambda: Sizing("vol-target", 0.1, vol_lookback=1), "vol_lookback"),
    ],
)
def test_other_rules_reject_bad_values(call, fragment):
    with pytest.raises(ConfigError, match=None) as info:
        call()
    assert fragment in str(info.value)


def test_take_profit_and_portfolio_stop_accept_good_values():
    assert TakeProfit("percent", 1.5).level == 1.5  # +150% is a legitimate target for an option
    assert PortfolioStop(0.15, cooldown_sessions=0).cooldown_sessions == 0
    assert Sizing("fixed-fraction", MAX_LEVERAGE, max_weight=MAX_LEVERAGE).level == 4.0


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("commission_per_share", -0.001, "commission_per_share"),
        ("min_commission", -1, "min_commission"),
        ("slippage_bp", 1000, "slippage_bp"),
        ("slippage_bp", -1, "slippage_bp"),
        ("option_commission_per_contract", float("nan"), "option_commission_per_contract"),
        ("option_spread_vol", 1.0, "option_spread_vol"),
        ("option_min_tick", -0.01, "option_min_tick"),
        ("tax_rate", 1.0, "tax_rate"),
        ("tax_rate", "25%", "tax_rate"),
    ],
)
def test_costs_validation(field, value, fragment):
    message = error_of(Costs, **{field: value})
    assert fragment in message and repr(value) in message


def test_cost_defaults_are_the_stated_broker_rates():
    costs = Costs()
    assert (costs.commission_per_share, costs.min_commission) == (0.005, 1.0)
    assert (costs.option_commission_per_contract, costs.option_min_tick) == (0.65, 0.05)
    assert (costs.slippage_bp, costs.option_spread_vol, costs.tax_rate) == (2.0, 0.005, 0.0)
    zero = Costs(0, 0, 0, 0, 0, 0, 0)
    assert zero.stock_commission(100) == 0.0 and zero.option_half_spread(1.0, 50.0, 0.2) == 0.0


def test_cost_helpers_against_hand_computation():
    costs = Costs()
    # 150 shares x $0.005 = $0.75, under the $1 minimum; 1,000 shares = $5.00; no order, no fee.
    assert costs.stock_commission(150) == 1.0
    assert costs.stock_commission(-1000) == pytest.approx(5.0, rel=1e-12)
    assert costs.stock_commission(0) == 0.0
    # 1 contract $0.65 -> $1 minimum; 10 contracts $6.50.
    assert costs.option_commission(1) == 1.0
    assert costs.option_commission(-10) == pytest.approx(6.5, rel=1e-12)
    # The width is 0.5 vol points at 20% vol, x (vol / 20%)^2, times vega. A cheap option with vega 2:
    # 0.01 wide, under the $0.05 tick, so half of $0.05; vega 200 at 40% vol: 2 vol points = $4, half $2.
    assert costs.option_half_spread(0.50, 2.0, 0.2) == pytest.approx(0.025, rel=1e-12)
    assert costs.option_half_spread(30.0, 200.0, 0.4) == pytest.approx(2.0, rel=1e-12)
    assert costs.option_costs().half_spread(30.0, 200.0, 0.4) == costs.option_half_spread(30.0, 200.0, 0.4)
    assert Costs(slippage_bp=2).slippage_fraction == pytest.approx(0.0002, rel=1e-12)


def test_sizing_target_weight():
    assert Sizing("fixed-fraction", 0.5).target_weight() == 0.5
    assert Sizing("fixed-fraction", 0.5, max_weight=0.25).target_weight() == 0.25
    assert Sizing("fixed-fraction", 2.0, max_weight=3.0).target_weight() == 2.0
    # 10% target / 16% realised vol = 0.625 of equity, over the 0.6 cap; / 25% = 0.4, under it.
    vol = Sizing("vol-target", 0.10, max_weight=0.6)
    assert vol.target_weight(0.16) == 0.6
    assert vol.target_weight(0.25) == pytest.approx(0.4, rel=1e-12)
    assert vol.target_weight(0.0) == 0.6
    assert vol.target_weight(math.nan) == 0.0
    with pytest.raises(ValueError, match="realised volatility"):
        vol.target_weight()


def test_tranche_targets_end_exactly_on_the_target():
    assert Sizing("fixed-fraction", 0.3, tranches=3).tranche_targets(0.3) == (0.1, 0.2, 0.3)
    assert Sizing("fixed-fraction", 1.0).tranche_targets(0.7) == (0.7,)
    steps = Sizing("fixed-fraction", 1.0, tranches=7).tranche_targets(1.0)
    assert steps[-1] == 1.0 and len(steps) == 7
    assert all(b - a == pytest.approx(1 / 7, rel=1e-12) for a, b in zip(steps, steps[1:]))


# --- RiskConfig --------------------------------------------------------------------------------------

FULL = RiskConfig(
    stops=(StopRule("trailing", 0.05), StopRule("time", 10), StopRule("atr", 2.5, atr_sessions=20)),
    take_profit=TakeProfit("atr", 2.0, atr_sessions=10),
    portfolio_stop=PortfolioStop(0.15, cooldown_sessions=10),
    sizing=Sizing("vol-target", 0.1, max_weight=0.25, tranches=3, vol_lookback=60),
    costs=Costs(slippage_bp=5.0, tax_rate=0.25),
)


@pytest.mark.parametrize("config", [RiskConfig(), FULL], ids=["default", "full"])
def test_risk_config_round_trips_through_dict_and_json(config):
    data = config.to_dict()
    assert RiskConfig.from_dict(data) == config
    assert RiskConfig.from_dict(json.loads(json.dumps(data))) == config


def test_risk_config_to_dict_is_plain_data():
    data = FULL.to_dict()
    assert data["stops"][0] == {"kind": "trailing", "level": 0.05, "atr_sessions": 14}
    assert data["portfolio_stop"] == {"max_drawdown": 0.15, "cooldown_sessions": 10}
    assert data["sizing"]["kind"] == "vol-target" and data["costs"]["tax_rate"] == 0.25
    assert RiskConfig().to_dict()["take_profit"] is None


def test_from_dict_fills_defaults_and_names_bad_keys():
    partial = RiskConfig.from_dict({"stops": [{"kind": "fixed", "level": 0.03}]})
    assert partial == RiskConfig(stops=(StopRule("fixed", 0.03),))
    assert "did you mean 'stops'" in error_of(RiskConfig.from_dict, {"stop": []})
    assert "did you mean 'level'" in error_of(RiskConfig.from_dict, {"stops": [{"kind": "atr", "levl": 3}]})
    assert "missing level" in error_of(RiskConfig.from_dict, {"stops": [{"kind": "atr"}]})
    assert "mapping" in error_of(RiskConfig.from_dict, {"sizing": "fixed:50%"})
    assert "list of stop mappings" in error_of(RiskConfig.from_dict, {"stops": "trailing:5%"})
    assert "did you mean 'slippage_bp'" in error_of(RiskConfig.from_dict, {"costs": {"slippage": 3}})
    assert "'5%'" in error_of(RiskConfig.from_dict, {"take_profit": {"kind": "percent", "level": "5%"}})


def test_risk_config_rejects_two_stops_of_one_kind_and_wrong_types():
    message = error_of(RiskConfig, stops=(StopRule("trailing", 0.05), StopRule("trailing", 0.03)))
    assert "trailing:5%" in message and "trailing:3%" in message
    assert "StopRule" in error_of(RiskConfig, stops=("trailing:5%",))
    assert "tuple of StopRule" in error_of(RiskConfig, stops=StopRule("time", 5))
    assert "TakeProfit" in error_of(RiskConfig, take_profit=0.08)
    assert RiskConfig(stops=[StopRule("time", 5)]).stops == (StopRule("time", 5),)


def test_describe_is_one_line_with_every_rule():
    line = FULL.describe()
    assert "\n" not in line
    for part in (
        "trailing 5%",
        "time 10 sessions",
        "2.5x ATR(20)",
        "take-profit 2x ATR(10)",
        "15% drawdown, 10 sessions cooldown",
        "vol-target 10% (60-session vol), max weight 25%, 3 tranches",
        "5 bp slippage",
        "tax 25%",
    ):
        assert part in line
    assert (
        RiskConfig().describe().startswith("no stop; no take-profit; no portfolio stop; size fixed-fraction")
    )


# --- percent text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("5%", 0.05),
        ("0.05", 0.05),
        (" 5 % ", 0.05),
        ("14.3%", 0.143),  # not 0.14300000000000002
        ("0.5%", 0.005),
        (".5", 0.5),
        ("1", 1.0),
        ("100%", 1.0),
        ("150%", 1.5),
        ("0", 0.0),
        ("1e-3", 0.001),
        (0.25, 0.25),
        (1, 1.0),
    ],
)
def test_parse_percent_forms(text, expected):
    assert parse_percent(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("5", "did you mean '5%'?"),
        ("1.5", "did you mean '1.5%'?"),
        (25, "did you mean '25%'?"),
        ("-5%", "negative"),
        ("-0.05", "negative"),
        ("five", "'five' is not a percent"),
        ("5%%", "is not a percent"),
        ("%", "is not a percent"),
        ("", "is empty"),
        ("nan", "not a percent"),
        ("inf%", "not a percent"),
        (True, "must be text"),
        (None, "must be text"),
    ],
)
def test_parse_percent_errors_name_the_text(text, fragment):
    message = error_of(parse_percent, text, "max weight")
    assert fragment in message
    assert message.startswith("max weight")
    if isinstance(text, str) and text:
        assert repr(text.strip()) in message
        assert "accepted forms: 5% or the fraction 0.05" in message


@given(st.decimals(min_value=0, max_value=10_000, places=6, allow_nan=False, allow_infinity=False))
def test_parse_percent_is_exact_for_decimals(x):
    parsed = parse_percent(f"{x}%")
    assert parsed == float(x / 100)  # the float nearest the exact decimal fraction
    assert parsed == pytest.approx(float(x) / 100, rel=1e-15, abs=1e-300)


@given(st.decimals(min_value=0, max_value=1, places=8, allow_nan=False, allow_infinity=False))
def test_bare_fractions_read_as_written(x):
    assert parse_percent(str(x)) == float(x)


@given(st.floats(min_value=0, max_value=MAX_LEVERAGE, allow_nan=False, allow_infinity=False))
def test_format_percent_inverts_parse_percent(fraction):
    assert parse_percent(format_percent(fraction)) == fraction


def test_format_helpers():
    assert format_percent(0.05) == "5%" and format_percent(0.001) == "0.1%" and format_percent(2) == "200%"
    assert format_number(20.0) == "20" and format_number(0.65) == "0.65"
    assert did_you_mean("vol-targt", ["vol-target"]) == " (did you mean 'vol-target'?)"


# --- stops ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("fixed:3%", StopRule("fixed", 0.03)),
        ("trailing:5%", StopRule("trailing", 0.05)),
        ("trailing:0.05", StopRule("trailing", 0.05)),
        ("Trailing : 7.5 %", StopRule("trailing", 0.075)),
        ("atr:3", StopRule("atr", 3.0)),
        ("atr:2.5x", StopRule("atr", 2.5)),
        ("ATR:2.5X", StopRule("atr", 2.5)),
        ("atr:3x,sessions:20", StopRule("atr", 3.0, atr_sessions=20)),
        ("atr:3, sessions: 20", StopRule("atr", 3.0, atr_sessions=20)),
        ("time:10", StopRule("time", 10)),
        ("time:1", StopRule("time", 1)),
        ("none", None),
        (" NONE ", None),
    ],
)
def test_parse_stop_forms(text, expected):
    assert parse_stop(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("trailing:5", "did you mean 'trailing:5%'?"),
        ("fixed:3", "did you mean 'fixed:3%'?"),
        ("trail:5%", "unknown stop kind 'trail' (did you mean 'trailing'?)"),
        ("stop:5%", "unknown stop kind 'stop'"),
        ("5%", "a stop needs a kind (did you mean 'trailing:5%' or 'fixed:5%'?)"),
        ("atr:3%", "not a percent (did you mean 'trailing:3%'?)"),
        ("atr:0", "positive ATR multiple"),
        ("atr:three", "'three' is not a number"),
        ("time:10d", "not calendar days: write 10"),
        ("time:2.5", "whole number"),
        ("time:0", "whole number >= 1"),
        ("trailing:150%", "between 0 and 1"),
        ("trailing:0%", "between 0 and 1"),
        ("fixed:-3%", "negative"),
        ("fixed:", "the percent is missing"),
        ("trailing:5%,time:10", "give each rule separately"),
        ("trailing:5%,sessions:20", "applies only to atr stops"),
        ("atr:3,sesions:20", "unknown option 'sesions:20' (did you mean 'sessions'?)"),
        ("atr:3,sessions", "needs a value"),
        ("atr:3,sessions:20,sessions:10", "given twice"),
        ("atr:3,sessions:0", "atr_sessions"),
        ("", "is empty"),
    ],
)
def test_parse_stop_errors_name_the_text(text, fragment):
    message = error_of(parse_stop, text)
    assert fragment in message
    if text:
        assert f"stop {text!r}" in message


def test_grammar_errors_list_the_accepted_forms_and_value_errors_do_not():
    assert "accepted forms: fixed:3%, trailing:5%" in error_of(parse_stop, "trail:5%")
    assert "accepted forms" not in error_of(parse_stop, "trailing:150%")


def test_parse_stops():
    assert parse_stops(None) == () and parse_stops([]) == () and parse_stops("none") == ()
    assert parse_stops("trailing:5%") == (StopRule("trailing", 0.05),)
    assert parse_stops(("trailing:5%", "time:10")) == (StopRule("trailing", 0.05), StopRule("time", 10))
    assert "'none' cannot be combined" in error_of(parse_stops, ["none", "time:10"])
    message = error_of(parse_stops, ["trailing:5%", "time:10", "trailing:3%"])
    assert "'trailing:5%' and 'trailing:3%' are both trailing stops" in message


@given(
    st.one_of(
        st.builds(
            StopRule,
            st.sampled_from(["fixed", "trailing"]),
            st.floats(min_value=1e-6, max_value=0.999999, allow_nan=False),
        ),
        st.builds(
            StopRule,
            st.just("atr"),
            st.floats(min_value=0.01, max_value=50, allow_nan=False),
            st.integers(1, 250),
        ),
        st.builds(StopRule, st.just("time"), st.integers(1, 500)),
    )
)
def test_stop_spec_round_trips(rule):
    assert parse_stop(rule.spec()) == rule


# --- take-profit, portfolio stop, size --------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("8%", TakeProfit("percent", 0.08)),
        ("0.08", TakeProfit("percent", 0.08)),
        ("percent:8%", TakeProfit("percent", 0.08)),
        ("atr:2", TakeProfit("atr", 2.0)),
        ("atr:1.5x,sessions:10", TakeProfit("atr", 1.5, atr_sessions=10)),
        (0.08, TakeProfit("percent", 0.08)),
        ("none", None),
    ],
)
def test_parse_take_profit_forms(text, expected):
    assert parse_take_profit(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("8", "did you mean '8%'?"),
        ("percent:8", "did you mean 'percent:8%'?"),
        ("atr:2%", "did you mean 'percent:2%'?"),
        ("pct:8%", "unknown take-profit kind 'pct' (did you mean 'percent'?)"),
        ("8%,sessions:10", "applies only to atr take-profits"),
        ("0%", "must be positive"),
    ],
)
def test_parse_take_profit_errors(text, fragment):
    message = error_of(parse_take_profit, text)
    assert fragment in message and f"take-profit {text!r}" in message


@pytest.mark.parametrize(
    "text, expected",
    [
        ("15%", PortfolioStop(0.15)),
        ("0.15", PortfolioStop(0.15)),
        ("15%,cooldown:10", PortfolioStop(0.15, cooldown_sessions=10)),
        ("15%,cooldown:0", PortfolioStop(0.15, cooldown_sessions=0)),
        ("none", None),
    ],
)
def test_parse_portfolio_stop_forms(text, expected):
    assert parse_portfolio_stop(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("15", "did you mean '15%'?"),
        ("drawdown:15%", "has no kind, only the drawdown (write '15%')"),
        ("100%", "between 0 and 1"),
        ("15%,cooldown:-1", "negative"),
        ("15%,cooldwn:3", "did you mean 'cooldown'?"),
        ("15%,cooldown:5d", "not calendar days"),
    ],
)
def test_parse_portfolio_stop_errors(text, fragment):
    message = error_of(parse_portfolio_stop, text)
    assert fragment in message and f"portfolio stop {text!r}" in message


@pytest.mark.parametrize(
    "text, expected",
    [
        ("fixed:50%", Sizing("fixed-fraction", 0.5)),
        ("fixed-fraction:0.5", Sizing("fixed-fraction", 0.5)),
        ("fixed:150%", Sizing("fixed-fraction", 1.5)),
        ("vol-target:10%", Sizing("vol-target", 0.1)),
        ("vol-target:10%,lookback:60", Sizing("vol-target", 0.1, vol_lookback=60)),
    ],
)
def test_parse_size_forms(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("50%", "a size needs a kind (did you mean 'fixed:50%' or 'vol-target:50%'?)"),
        ("fixed:50", "did you mean 'fixed:50%'?"),
        ("fixd:50%", "did you mean 'fixed'?"),
        ("vol-target:150%", "annualised volatility"),
        ("fixed:500%", "weight"),
        ("fixed:50%,lookback:20", "applies only to vol-target"),
        ("vol-target:10%,lookback:1", "vol_lookback"),
        ("none", "a size needs a kind"),
    ],
)
def test_parse_size_errors(text, fragment):
    message = error_of(parse_size, text)
    assert fragment in message and f"size {text!r}" in message


def test_parse_max_weight_and_tranches():
    assert (
        parse_max_weight("25%") == 0.25 and parse_max_weight(0.25) == 0.25 and parse_max_weight("400%") == 4
    )
    assert "did you mean '25%'?" in error_of(parse_max_weight, "25")
    assert "max weight '500%'" in error_of(parse_max_weight, "500%")
    assert "max weight '0%'" in error_of(parse_max_weight, "0%")
    assert parse_tranches("3") == 3 and parse_tranches(2) == 2 and parse_tranches(4.0) == 4
    assert "tranches '0'" in error_of(parse_tranches, "0")
    assert "whole number" in error_of(parse_tranches, "2.5")
    assert "'3x' is not a number" in error_of(parse_tranches, "3x")
    assert "must be text" in error_of(parse_tranches, True)


@given(
    st.one_of(
        st.builds(TakeProfit, st.just("percent"), st.floats(1e-6, 10, allow_nan=False)),
        st.builds(TakeProfit, st.just("atr"), st.floats(0.01, 20, allow_nan=False), st.integers(1, 250)),
    ),
    st.builds(PortfolioStop, st.floats(1e-6, 0.999999, allow_nan=False), st.integers(0, 100)),
    st.one_of(
        st.builds(Sizing, st.just("fixed-fraction"), st.floats(1e-6, MAX_LEVERAGE, allow_nan=False)),
        st.builds(
            Sizing,
            st.just("vol-target"),
            st.floats(1e-6, 1.0, allow_nan=False),
            vol_lookback=st.integers(2, 500),
        ),
    ),
)
def test_other_specs_round_trip(take_profit, portfolio_stop, sizing):
    assert parse_take_profit(take_profit.spec()) == take_profit
    assert parse_portfolio_stop(portfolio_stop.spec()) == portfolio_stop
    assert parse_size(sizing.spec()) == sizing


# --- costs ------------------------------------------------------------------------------------------------


def test_parse_costs_forms():
    assert parse_costs(None) == Costs() and parse_costs({}) == Costs()
    costs = parse_costs(
        {
            "commission-per-share": "0.0035",
            "min_commission": 0.35,
            "slippage_bp": "5 bp",
            "option_commission_per_contract": "$0.5",
            "option_spread_vol": "1%",
            "tax_rate": 0.25,
        }
    )
    assert costs == Costs(
        commission_per_share=0.0035,
        min_commission=0.35,
        slippage_bp=5.0,
        option_commission_per_contract=0.5,
        option_spread_vol=0.01,
        tax_rate=0.25,
    )


@pytest.mark.parametrize(
    "mapping, fragment",
    [
        ({"slipage_bp": 3}, "unknown field 'slipage_bp' (did you mean 'slippage_bp'?)"),
        ({"tax_rate": 25}, "costs tax_rate '25': a bare number is a fraction"),
        ({"tax_rate": "100%"}, "tax_rate must be below 1"),
        ({"slippage_bp": "2%"}, "costs slippage_bp '2%'"),
        ({"slippage_bp": 1500}, "below 1000"),
        ({"commission_per_share": "-0.01"}, "negative"),
        ({"min_commission": "one"}, "'one' is not a number"),
        ({"tax-rate": 0.1, "tax_rate": 0.2}, "given twice"),
        (["tax_rate"], "must be a mapping"),
    ],
)
def test_parse_costs_errors(mapping, fragment):
    assert fragment in error_of(parse_costs, mapping)


# --- ranges -------------------------------------------------------------------------------------------------


def test_ranges_are_exact_decimals():
    kind, values = parse_range("trailing:2%..10%:1%")
    assert kind == "trailing"
    assert values == [0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10]
    assert 0.02 + 7 * 0.01 == 0.09000000000000001  # what a float grid would hold instead
    # The float loop a naive grid would use drifts: 0.1 + 0.1 + 0.1 is 0.30000000000000004.
    _, steps = parse_range("10%..50%:10%", rule="take-profit")
    assert steps == [0.1, 0.2, 0.3, 0.4, 0.5] and 0.1 + 0.1 + 0.1 != 0.3
    assert parse_range("4%..16%:2%", rule="take-profit") == (
        "percent",
        [0.04, 0.06, 0.08, 0.10, 0.12, 0.14, 0.16],
    )


@pytest.mark.parametrize(
    "text, rule, expected",
    [
        ("atr:2..4:0.5", "stop", ("atr", [2.0, 2.5, 3.0, 3.5, 4.0])),
        ("atr:1x..2x:0.25x", "take-profit", ("atr", [1.0, 1.25, 1.5, 1.75, 2.0])),
        ("time:5..20:5", "stop", ("time", [5.0, 10.0, 15.0, 20.0])),
        ("fixed:0.02..0.04:0.01", "stop", ("fixed", [0.02, 0.03, 0.04])),
        ("10%..20%:5%", "portfolio-stop", ("drawdown", [0.1, 0.15, 0.2])),
        ("fixed:25%..100%:25%", "size", ("fixed-fraction", [0.25, 0.5, 0.75, 1.0])),
        ("vol-target:5%..15%:5%", "size", ("vol-target", [0.05, 0.1, 0.15])),
        ("trailing:5%..5%:1%", "stop", ("trailing", [0.05])),
        ("Trailing : 2.5% .. 3.5% : 0.5%", "stop", ("trailing", [0.025, 0.03, 0.035])),
    ],
)
def test_parse_range_forms(text, rule, expected):
    assert parse_range(text, rule=rule) == expected


@given(st.integers(1, 400), st.integers(1, 100), st.integers(0, 40))
def test_range_values_equal_their_decimal_literals(start_bp, step_bp, count):
    """Grid k is start + k*step exactly: the float of the decimal literal, whatever the step."""
    start, step = Decimal(start_bp) / 100, Decimal(step_bp) / 100  # in percent
    stop = start + count * step
    _, values = parse_range(f"{start}%..{stop}%:{step}%", rule="take-profit")
    expected = [float((start + k * step) / 100) for k in range(count + 1)]
    assert values == expected
    assert values == [round(v, 10) for v in values]


def test_range_with_zero_is_refused_by_the_rule():
    assert "between 0 and 1" in error_of(parse_range, "trailing:0%..10%:1%")


@pytest.mark.parametrize(
    "text, rule, fragment",
    [
        (
            "trailing:2%..10%:3%",
            "stop",
            "STOP is not on the grid: from 2% in steps of 3% the last value is 8%",
        ),
        ("2%..10%:1%", "stop", "a stop range needs a kind"),
        ("trailing:2%..10%", "stop", "the range has no step"),
        ("trailing:2%-10%:1%", "stop", "a range is START..STOP:STEP"),
        ("trailing:10%..2%:1%", "stop", "START is above STOP"),
        ("trailing:2%..10%:0%", "stop", "the step must be positive"),
        ("trailing:2..10:1", "stop", "did you mean '2%'?"),
        ("trail:2%..10%:1%", "stop", "did you mean 'trailing'?"),
        ("atr:2%..4%:1%", "stop", "not a percent"),
        ("time:5..20:2.5", "stop", "whole number"),
        ("trailing:1%..99%:0.001%", "stop", f"more than {MAX_RANGE_VALUES}"),
        ("trailing:50%..150%:50%", "stop", "between 0 and 1"),
        ("drawdown:10%..20%:5%", "portfolio-stop", "has no kind"),
        ("10%..20%:5%", "size", "a size range needs a kind"),
        ("pct:2%..4%:1%", "take-profit", "did you mean 'percent'?"),
    ],
)
def test_parse_range_errors_name_the_text(text, rule, fragment):
    message = error_of(parse_range, text, rule=rule)
    assert fragment in message
    assert f"{rule} range {text.strip()!r}" in message


def test_parse_range_unknown_rule():
    assert "did you mean 'stop'" in error_of(parse_range, "trailing:2%..3%:1%", rule="stops")


# --- import direction -----------------------------------------------------------------------------------


def test_parameter_modules_import_nothing_from_outside_strategies():
    """strategies must not depend on click, backtrader, data or backtests: the lead wraps these."""
    code = (
        "import sys; import strategies.config, strategies.rulespec, strategies.risk; "
        "print(' '.join(sorted(m for m in ('click', 'backtrader', 'data', 'backtests', 'yfinance', "
        "'quantstats') if m in sys.modules)))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == ""
