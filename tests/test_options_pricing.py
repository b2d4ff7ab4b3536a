"""Black-Scholes-Merton prices, greeks and implied volatility against independent values.

Independent references: Hull's worked examples (printed to 2-3 decimals), QuantLib's analytic
European engine (a separate C++ implementation, test-only dependency), put-call parity (an identity
the code does not use for calls and puts alike), numerical integration of the payoff against the
lognormal density (for the relative precision of deep out-of-the-money prices).
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from strategies.errors import ConfigError
from strategies.options import OptionCosts, greeks, implied_vol, price

GREEKS = ("delta", "gamma", "vega", "theta", "rho")


# --- Hull's worked examples ---------------------------------------------------------------------------
def test_hull_example_15_6_prices():
    # Hull, Options, Futures, and Other Derivatives, Example 15.6: c = 4.76, p = 0.81.
    assert abs(price("call", 42, 40, 0.5, 0.2, rate=0.1) - 4.76) < 0.005
    assert abs(price("put", 42, 40, 0.5, 0.2, rate=0.1) - 0.81) < 0.005


def test_hull_greek_letters_example():
    # Hull's running example of the Greek-letters chapter: 100,000 calls worth $240,000 (2.40 each),
    # delta 0.522, gamma 0.066, theta -4.31 per year, vega 12.1 per 1.00 of vol, rho 8.91.
    args = ("call", 49, 50, 0.3846, 0.2)
    g = greeks(*args, rate=0.05)
    assert abs(price(*args, rate=0.05) - 2.40) < 0.005
    assert abs(g["delta"] - 0.522) < 0.0005
    assert abs(g["gamma"] - 0.066) < 0.0005
    assert abs(g["theta"] - (-4.31)) < 0.005
    assert abs(g["vega"] - 12.1) < 0.05
    assert abs(g["rho"] - 8.91) < 0.005


# --- put-call parity ----------------------------------------------------------------------------------
positive_price = st.floats(1.0, 5000.0)
option_inputs = st.tuples(
    positive_price,
    st.floats(0.3, 3.0),  # strike / spot
    st.floats(0.0, 5.0),  # years
    st.floats(0.0, 4.0),  # vol
    st.floats(-0.05, 0.2),  # rate
    st.floats(-0.02, 0.1),  # div
)


@settings(max_examples=400, deadline=None)
@given(option_inputs)
def test_put_call_parity(inputs):
    spot, moneyness, years, vol, rate, div = inputs
    strike = spot * moneyness
    call = price("call", spot, strike, years, vol, rate, div)
    put = price("put", spot, strike, years, vol, rate, div)
    forward_value = spot * math.exp(-div * years) - strike * math.exp(-rate * years)
    assert call - put == pytest.approx(forward_value, rel=0, abs=1e-10 * max(spot, strike))
    assert call >= 0.0 and put >= 0.0
    gc = greeks("call", spot, strike, years, vol, rate, div)
    gp = greeks("put", spot, strike, years, vol, rate, div)
    if years > 0:
        # Derivatives of the parity relation; at expiry all but delta are 0 by convention.
        assert gc["delta"] - gp["delta"] == pytest.approx(math.exp(-div * years), abs=1e-12)
        # Theta grows like 1/sqrt(years): near expiry the carry terms drown in its rounding.
        assert gc["theta"] - gp["theta"] == pytest.approx(
            div * spot * math.exp(-div * years) - rate * strike * math.exp(-rate * years),
            abs=1e-9 * spot + 1e-14 * abs(gc["theta"]),
        )
        rho_gap = strike * years * math.exp(-rate * years)
        assert gc["rho"] - gp["rho"] == pytest.approx(rho_gap, abs=1e-9 * spot)
    else:
        assert gc["delta"] - gp["delta"] == 1.0
    assert gc["gamma"] == gp["gamma"] and gc["vega"] == gp["vega"]


# --- QuantLib ---------------------------------------------------------------------------------------
def _quantlib_values(kinds, spot, strike, days, vol, rate, div):
    """NPV and greeks from QuantLib's AnalyticEuropeanEngine with flat curves on Actual/365 Fixed."""
    ql = pytest.importorskip("QuantLib")
    today = ql.Date(15, 6, 2020)
    ql.Settings.instance().evaluationDate = today
    day_count, calendar = ql.Actual365Fixed(), ql.NullCalendar()
    spot_q, rate_q, div_q, vol_q = (ql.SimpleQuote(0.0) for _ in range(4))
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(spot_q),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(div_q), day_count)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(rate_q), day_count)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, calendar, ql.QuoteHandle(vol_q), day_count)
        ),
    )
    engine = ql.AnalyticEuropeanEngine(process)
    out = np.empty((len(kinds), 6))
    for i, kind in enumerate(kinds):
        spot_q.setValue(spot[i])
        rate_q.setValue(rate[i])
        div_q.setValue(div[i])
        vol_q.setValue(vol[i])
        option_type = ql.Option.Call if kind == "call" else ql.Option.Put
        option = ql.VanillaOption(
            ql.PlainVanillaPayoff(option_type, strike[i]), ql.EuropeanExercise(today + int(days[i]))
        )
        option.setPricingEngine(engine)
        # QuantLib's theta is per year and its vega and rho per 1.00, the units of strategies.options.
        out[i] = [option.NPV(), option.delta(), option.gamma(), option.vega(), option.theta(), option.rho()]
    return out


def test_matches_quantlib_analytic_european_engine():
    rng = np.random.default_rng(20240615)
    n = 4000
    spot = rng.uniform(20.0, 3000.0, n)
    strike = spot * np.exp(rng.uniform(math.log(0.5), math.log(2.0), n))
    days = rng.integers(1, 3 * 365 + 1, n)
    years = days / 365.0  # exactly QuantLib's Actual/365 Fixed year fraction
    vol = rng.uniform(0.03, 1.5, n)
    rate = rng.uniform(-0.01, 0.10, n)
    div = rng.uniform(0.0, 0.06, n)
    kinds = rng.choice(["call", "put"], n)
    reference = _quantlib_values(kinds, spot, strike, days, vol, rate, div)
    checked = 0
    for kind in ("call", "put"):
        sel = kinds == kind
        args = (spot[sel], strike[sel], years[sel], vol[sel], rate[sel], div[sel])
        g = greeks(kind, *args)
        ours = np.column_stack([price(kind, *args)] + [g[name] for name in GREEKS])
        # Measured in the natural unit of each figure (money per unit of spot, gamma times spot), the
        # two implementations agree to 1e-8 relative or 1e-12 absolute.
        unit = np.column_stack([1 / spot[sel], np.ones(sel.sum()), spot[sel]] + [1 / spot[sel]] * 3)
        for column, name in enumerate(("price",) + GREEKS):
            np.testing.assert_allclose(
                ours[:, column] * unit[:, column],
                reference[sel, column] * unit[:, column],
                rtol=1e-8,
                atol=1e-12,
                err_msg=f"{kind} {name}",
            )
        checked += sel.sum()
        # The implied volatility of QuantLib's price is the volatility QuantLib was given, wherever
        # the price pins the volatility down (vega not negligible against the price's rounding).
        informative = g["vega"] > 1e-3 * spot[sel]
        recovered = implied_vol(kind, reference[sel, 0], *args[:3], rate[sel], div[sel])
        np.testing.assert_allclose(recovered[informative], vol[sel][informative], rtol=1e-9)
        assert informative.sum() > 0.8 * sel.sum()
    assert checked == n


# --- precision far out of the money -----------------------------------------------------------------
@pytest.mark.parametrize(
    "kind, spot, strike, years, vol",
    [
        ("call", 100.0, 200.0, 0.25, 0.2),  # 7 standard deviations out of the money
        ("call", 100.0, 150.0, 1 / 12, 0.15),
        ("call", 100.0, 110.0, 1 / 365, 0.15),  # one day, 12 standard deviations: worth 2e-35
        ("put", 100.0, 50.0, 0.5, 0.2),
        ("put", 100.0, 97.0, 1 / 365, 0.1),
        ("put", 100.0, 90.0, 1 / 52, 0.12),
    ],
)
def test_deep_out_of_the_money_price_keeps_relative_precision(kind, spot, strike, years, vol):
    # Integrate the payoff against the lognormal density over the region where it pays: a sum of
    # positive terms, unlike the closed form's difference of two nearly equal tail probabilities
    # (which, written naively, is off by up to 6e-12 relative on these cases).
    rate, div = 0.03, 0.01
    drift = math.log(spot) + (rate - div - 0.5 * vol**2) * years
    sd = vol * math.sqrt(years)
    z_strike = (math.log(strike) - drift) / sd

    def payoff(z):
        terminal = math.exp(drift + sd * z)
        value = terminal - strike if kind == "call" else strike - terminal
        return value * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    limits = (z_strike, z_strike + 40.0) if kind == "call" else (z_strike - 40.0, z_strike)
    reference, _ = integrate.quad(payoff, *limits, epsabs=0.0, epsrel=1e-13, limit=200)
    reference *= math.exp(-rate * years)
    assert 0.0 < reference < 1e-3
    assert price(kind, spot, strike, years, vol, rate, div) == pytest.approx(reference, rel=1e-12)


# --- implied volatility -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["call", "put"])
def test_implied_vol_recovers_vol_across_the_grid(kind):
    rng = np.random.default_rng(7 if kind == "call" else 8)
    n = 50_000
    vol = np.exp(rng.uniform(math.log(0.01), math.log(3.0), n))
    moneyness = np.exp(rng.uniform(math.log(0.5), math.log(2.0), n))
    years = np.exp(rng.uniform(math.log(1 / 365), math.log(3.0), n))
    rate = rng.uniform(-0.01, 0.08, n)
    div = rng.uniform(0.0, 0.05, n)
    spot = 100.0
    args = (spot, spot * moneyness, years)
    prices = price(kind, *args, vol, rate, div)
    vega = greeks(kind, *args, vol, rate, div)["vega"]
    recovered = implied_vol(kind, prices, *args, rate, div)
    # "Vega not negligible": a 1e-10 relative change of vol moves the price by at least 1e-14 of
    # itself (about 50 units in the last place), and the price is a normal double, not one that
    # underflowed. Below that no solver can read the volatility from the price to 1e-10.
    with np.errstate(divide="ignore", invalid="ignore"):
        informative = (prices > 1e-290) & (vega * vol >= 1e-4 * prices)
    assert informative.sum() > 0.55 * n
    np.testing.assert_allclose(recovered[informative], vol[informative], rtol=1e-10)
    # Everywhere else the answer is still a volatility or NaN, never garbage from a failed solve.
    assert np.all(np.isnan(recovered) | (recovered >= 0))


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["call", "put"]),
    st.floats(0.2, 5.0),  # strike / spot
    st.floats(1e-6, 10.0),  # years
    st.floats(0.0, 1.0),  # where the price sits between its no-arbitrage bounds
    st.floats(-0.05, 0.2),
    st.floats(-0.02, 0.1),
)
def test_any_admissible_price_reprices_exactly(kind, moneyness, years, position, rate, div):
    spot, strike = 100.0, 100.0 * moneyness
    spot_disc, strike_disc = spot * math.exp(-div * years), strike * math.exp(-rate * years)
    sign = 1.0 if kind == "call" else -1.0
    lower = max(sign * (spot_disc - strike_disc), 0.0)
    upper = spot_disc if kind == "call" else strike_disc
    target = lower + position * (upper - lower)
    vol = implied_vol(kind, target, spot, strike, years, rate, div)
    if target >= upper:
        assert math.isnan(vol)
        return
    if upper - target <= 1e-14 * upper and math.isnan(vol):
        return  # within rounding of the upper bound: documented NaN, no finite volatility fits
    if target - lower <= 1e-14 * upper and math.isnan(vol):
        # at the lower bound as computed here with math.exp, which can sit one unit in the last place
        # under numpy's exp that implied_vol uses: a price below intrinsic, documented NaN
        return
    assert vol >= 0.0
    assert price(kind, spot, strike, years, vol, rate, div) == pytest.approx(target, rel=1e-12, abs=1e-12)


def test_implied_vol_bounds_give_nan_or_zero():
    spot, strike, years, rate, div = 100.0, 90.0, 0.5, 0.04, 0.01
    spot_disc = spot * math.exp(-div * years)
    strike_disc = strike * math.exp(-rate * years)
    lower = spot_disc - strike_disc
    for value, expected in [
        (lower - 1e-6, np.nan),  # below intrinsic: arbitrage
        (lower, 0.0),  # exactly intrinsic: no time value
        (spot_disc, np.nan),  # the upper bound needs an infinite volatility
        (spot_disc + 1.0, np.nan),
        (-1.0, np.nan),
        (np.nan, np.nan),
    ]:
        np.testing.assert_equal(implied_vol("call", value, spot, strike, years, rate, div), expected)
    assert implied_vol("put", 0.0, spot, strike, years, rate, div) == 0.0  # OTM put worth nothing
    assert math.isnan(implied_vol("put", strike_disc, spot, strike, years, rate, div))
    assert math.isnan(implied_vol("call", 12.0, spot, strike, 0.0))  # expired: any vol fits


def test_implied_vol_at_extreme_but_admissible_prices():
    # A tiny time value far out of the money and a price close to its upper bound both solve.
    for kind, strike, years, vol in [("call", 300.0, 0.1, 0.3), ("put", 100.0, 2.0, 2.5)]:
        value = price(kind, 100.0, strike, years, vol)
        assert implied_vol(kind, value, 100.0, strike, years) == pytest.approx(vol, rel=1e-10)


# --- edges ------------------------------------------------------------------------------------------
def test_expired_option_is_intrinsic_and_greeks_follow_the_stated_convention():
    spot = np.array([90.0, 100.0, 110.0])
    np.testing.assert_array_equal(price("call", spot, 100.0, 0.0, 0.3, 0.05, 0.02), [0.0, 0.0, 10.0])
    np.testing.assert_array_equal(price("put", spot, 100.0, 0.0, 0.3, 0.05, 0.02), [10.0, 0.0, 0.0])
    call, put = greeks("call", spot, 100.0, 0.0, 0.3, 0.05), greeks("put", spot, 100.0, 0.0, 0.3, 0.05)
    # At the money the delta is 0.5 / -0.5: the limit of an at-the-money delta as expiry nears.
    np.testing.assert_array_equal(call["delta"], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(put["delta"], [-1.0, -0.5, 0.0])
    for name in ("gamma", "vega", "theta", "rho"):
        np.testing.assert_array_equal(call[name], 0.0)
        np.testing.assert_array_equal(put[name], 0.0)


def test_zero_vol_is_the_discounted_forward_payoff():
    spot, strike, years, rate, div = np.array([80.0, 120.0]), 100.0, 2.0, 0.05, 0.01
    forward_value = spot * math.exp(-div * years) - strike * math.exp(-rate * years)
    args = (spot, strike, years, 0.0, rate, div)
    np.testing.assert_allclose(price("call", *args), np.maximum(forward_value, 0))
    np.testing.assert_allclose(price("put", *args), np.maximum(-forward_value, 0))
    g = greeks("call", *args)
    np.testing.assert_allclose(g["delta"], [0.0, math.exp(-div * years)])
    np.testing.assert_array_equal(g["gamma"], 0.0)
    np.testing.assert_array_equal(g["vega"], 0.0)
    carry_theta = div * 120.0 * math.exp(-div * years) - rate * 100.0 * math.exp(-rate * years)
    np.testing.assert_allclose(g["theta"], [0.0, carry_theta])


@pytest.mark.parametrize("vol", [1e-12, 1e-6, 10.0, 1e3, 1e9, np.inf])
def test_extreme_vol_and_moneyness_stay_finite(vol):
    spot = np.array([1e-3, 50.0, 100.0, 150.0, 1e5])
    for kind in ("call", "put"):
        value = price(kind, spot, 100.0, 1.0, vol, 0.05, 0.02)
        g = greeks(kind, spot, 100.0, 1.0, vol, 0.05, 0.02)
        assert np.all(np.isfinite(value)) and np.all(value >= 0)
        for name in GREEKS:
            assert np.all(np.isfinite(g[name])), name
    # Infinite volatility: a call is worth the dividend-discounted spot, a put the discounted strike.
    if vol >= 1e9:
        np.testing.assert_allclose(price("call", spot, 100.0, 1.0, vol, 0.05, 0.02), spot * math.exp(-0.02))
        np.testing.assert_allclose(price("put", spot, 100.0, 1.0, vol, 0.05, 0.02), 100.0 * math.exp(-0.05))


def test_missing_inputs_give_nan():
    assert math.isnan(price("call", np.nan, 100.0, 1.0, 0.2))
    assert np.isnan(price("put", [100.0, 100.0], 100.0, [np.nan, 1.0], 0.2)).tolist() == [True, False]
    assert all(math.isnan(v) for v in greeks("call", 100.0, 100.0, 1.0, np.nan).values())


def test_scalars_give_floats_and_arrays_broadcast():
    assert type(price("call", 100, 100, 1, 0.2)) is float
    assert all(type(v) is float for v in greeks("put", 100, 100, 1, 0.2).values())
    assert type(implied_vol("call", 10.0, 100, 100, 1)) is float
    strikes = np.array([[90.0], [100.0], [110.0]])
    years = np.array([0.1, 0.5, 1.0, 2.0])
    values = price("call", 100.0, strikes, years, 0.2)
    assert values.shape == (3, 4)
    assert values[1, 2] == price("call", 100.0, 100.0, 1.0, 0.2)
    assert greeks("put", 100.0, strikes, years, 0.2)["vega"].shape == (3, 4)
    vols = implied_vol("call", values, 100.0, strikes, years)
    np.testing.assert_allclose(vols, 0.2, rtol=1e-12)


def test_user_errors_name_the_culprit():
    with pytest.raises(ConfigError, match="'straddle'"):
        price("straddle", 100, 100, 1, 0.2)
    with pytest.raises(ConfigError, match="kind"):
        greeks(["call"], 100, 100, 1, 0.2)
    with pytest.raises(ConfigError, match="vol must be non-negative, got -0.2"):
        price("call", 100, 100, 1, [0.2, -0.2])
    with pytest.raises(ConfigError, match="spot must be positive"):
        greeks("put", 0.0, 100, 1, 0.2)
    with pytest.raises(ConfigError, match="years must be non-negative"):
        implied_vol("put", 1.0, 100, 100, -1)


# --- costs ------------------------------------------------------------------------------------------
def test_half_spread_by_hand_a_one_month_at_the_money_spx_option():
    # S = K = 2000, 30 days, 20% vol, no rate: vega = S phi(d1) sqrt(T), d1 = 0.5 x 0.2 x sqrt(30/365)
    years = 30 / 365
    d1 = 0.5 * 0.2 * math.sqrt(years)
    vega = 2000 * math.exp(-0.5 * d1**2) / math.sqrt(2 * math.pi) * math.sqrt(years)
    assert vega == pytest.approx(greeks("call", 2000, 2000, years, 0.2)["vega"], rel=1e-12)
    mid = price("call", 2000, 2000, years, 0.2)
    costs = OptionCosts()  # 0.5 vol points wide at 20% vol
    # width = 228.65 x 0.005 = 1.143 (2.5% of the 45.74 premium); a fill pays half of it
    assert costs.half_spread(mid, vega, 0.2) == pytest.approx(0.5 * vega * 0.005, rel=1e-12)
    assert 0.5 * vega * 0.005 == pytest.approx(0.5716, abs=1e-4)
    # the same option in a crisis (50% vol): the width in vol grows (0.5/0.2)^2 = 6.25 times, to 3.1
    # vol points; vega hardly moves at the money, so the width in price is about 6 times as wide
    crisis_vega = greeks("call", 2000, 2000, years, 0.5)["vega"]
    assert costs.width_vol(0.5) == pytest.approx(0.005 * 6.25, rel=1e-12)
    assert costs.half_spread(price("call", 2000, 2000, years, 0.5), crisis_vega, 0.5) == pytest.approx(
        0.5 * crisis_vega * 0.03125, rel=1e-12)
    # and in a calm market (11%): 0.15 vol points; at the money price / vega is about the vol, so the
    # width is about 0.0015 / 0.11 = 1.4% of the premium
    calm_mid = price("call", 2000, 2000, years, 0.11)
    calm_vega = greeks("call", 2000, 2000, years, 0.11)["vega"]
    assert 2 * costs.half_spread(calm_mid, calm_vega, 0.11) / calm_mid == pytest.approx(
        0.005 * (0.11 / 0.2) ** 2 / 0.11, rel=0.01)


def test_half_spread_in_percent_of_premium_widens_with_vol_and_out_of_the_money():
    costs = OptionCosts()
    years = 30 / 365

    def relative(strike, vol):
        mid = price("put", 100.0, strike, years, vol)
        vega = greeks("put", 100.0, strike, years, vol)["vega"]
        return 2 * costs.half_spread(mid * 20, vega * 20, vol) / (mid * 20)  # an index at 2000

    assert relative(100, 0.11) < relative(100, 0.20) < relative(100, 0.50)
    assert relative(100, 0.20) < relative(95, 0.20) < relative(90, 0.20)


def test_half_spread_never_under_half_a_tick_nor_over_the_mid():
    costs = OptionCosts()
    assert costs.half_spread(1.0, 0.5, 0.2) == 0.025  # 0.5 x 0.5 x 0.005 = 0.00125, under the tick
    assert costs.half_spread(0.0, 0.0, 0.2) == 0.025
    np.testing.assert_allclose(costs.half_spread(np.array([0.5, 40.0]), np.array([1.0, 200.0]), 0.2),
                               [0.025, 0.5])
    wide = OptionCosts(spread_vol=0.5, min_tick=0.10, commission_per_contract=1.0)
    assert wide.half_spread(2.0, 100.0, 0.2) == 2.0  # the bid would be below zero: capped at the mid
    assert OptionCosts(spread_vol=0.0, min_tick=0.0).half_spread(10.0, 50.0, 0.3) == 0.0


@pytest.mark.parametrize(
    "field, value",
    [
        ("spread_vol", -0.01),
        ("spread_vol", 1.0),
        ("reference_vol", 0.0),
        ("min_tick", float("nan")),
        ("commission_per_contract", -1),
    ],
)
def test_option_costs_reject_nonsense(field, value):
    with pytest.raises(ConfigError, match=field):
        OptionCosts(**{field: value})


def test_half_spread_rejects_negative_mid():
    with pytest.raises(ConfigError, match="mid"):
        OptionCosts().half_spread([1.0, -1.0], 1.0, 0.2)
