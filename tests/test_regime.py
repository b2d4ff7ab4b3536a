"""strategies.regime on synthetic frames: features, the rules model, the walk-forward logistic model.

No data/ or backtests/ imports: the inputs are built here, so these tests do not depend on the data
layer. Every expected number is computed independently (by hand or with plain numpy) in the test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from strategies.errors import ConfigError
from strategies.regime import (
    CALENDAR_COLUMNS,
    IMPLIED_OVER_REALIZED,
    PRIOR,
    REGIMES,
    RULES,
    RuleParams,
    classify_calibrated_rules,
    classify_logistic,
    classify_prior,
    classify_rules,
    compute_features,
    rule_evidence,
)

HORIZON = 5


def _ohlcv(close: np.ndarray, index: pd.DatetimeIndex, rng: np.random.Generator) -> pd.DataFrame:
    spread = np.abs(rng.normal(0.006, 0.002, len(close)))
    frame = pd.DataFrame(
        {
            "open": close * (1 + rng.normal(0, 0.002, len(close))),
            "high": close * (1 + spread),
            "low": close * (1 - spread),
            "close": close,
            "adj_close": close,
            "volume": rng.uniform(5e8, 1.5e9, len(close)),
        },
        index=index,
    )
    frame.index.name = "date"
    return frame


def synthetic_inputs(seed: int = 7, start: str = "2013-01-01", end: str = "2018-12-31") -> dict:
    """Random-walk SPY/QQQ/SMH, a VIX that starts in mid-2016, a daily 10y yield, calendar flags."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range(start, end, name="date")
    n = len(index)
    spy_ret = rng.normal(0.0003, 0.011, n)
    spy_close = 2000 * np.exp(np.cumsum(spy_ret))
    qqq_close = 4000 * np.exp(np.cumsum(1.2 * spy_ret + rng.normal(0.0001, 0.006, n)))
    smh_close = 60 * np.exp(np.cumsum(1.5 * spy_ret + rng.normal(0.0, 0.01, n)))
    vix = pd.Series(15 + 5 * np.abs(np.sin(np.arange(n) / 40)) + rng.normal(0, 1, n), index=index)
    vix = vix[index >= "2016-06-01"]
    long_yield = pd.Series(2.5 + np.cumsum(rng.normal(0, 0.03, n)), index=index, name="10y")
    long_yield.attrs = {"frequency": "daily", "description": "synthetic 10y"}
    weekday = index.day_of_week
    calendar = pd.DataFrame(
        {
            "sessions_to_triple_witching": (np.arange(n) % 63)[::-1].astype(float),
            "triple_witching_week": (np.arange(n) % 63) < 5,
            "holiday_week": weekday == 2,
            "late_december": (index.month == 12) & (index.day > 15),
        },
        index=index,
    )
    return {
        "spy": _ohlcv(spy_close, index, rng),
        "qqq": _ohlcv(qqq_close, index, rng),
        "smh": _ohlcv(smh_close, index, rng),
        "vix": vix,
        "long_yield": long_yield,
        "calendar": calendar,
    }


def forward_labels(spy: pd.DataFrame, horizon: int = HORIZON) -> pd.Series:
    """Realized regime from the forward return, computed here independently of backtests/."""
    close = spy["adj_close"]
    forward = close.shift(-horizon) / close - 1
    labels = np.where(forward > 0.01, "momentum", np.where(forward < -0.015, "selloff", "range"))
    return pd.Series(labels, index=spy.index, dtype=object).where(forward.notna())


def perturb_after(inputs: dict, t: pd.Timestamp, seed: int = 99) -> dict:
    """Every input series changed on every session after t (prices, volume, VIX, yield, calendar)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in ("spy", "qqq", "smh"):
        frame = inputs[name].copy()
        later = frame.index > t
        # a 15% gap down, then a different path: forward returns across t change sign
        shock = 0.85 * np.exp(np.cumsum(rng.normal(0, 0.03, later.sum())))
        for col in ("open", "high", "low", "close", "adj_close"):
            frame.loc[later, col] = frame.loc[later, col] * shock
        frame.loc[later, "volume"] = frame.loc[later, "volume"] * rng.uniform(0.2, 3, later.sum())
        out[name] = frame
    vix = inputs["vix"].copy()
    vix[vix.index > t] = vix[vix.index > t] + 20
    out["vix"] = vix
    long_yield = inputs["long_yield"].copy()
    long_yield[long_yield.index > t] = long_yield[long_yield.index > t] + 1.5
    out["long_yield"] = long_yield
    calendar = inputs["calendar"].copy()
    later = calendar.index > t
    for col in ("triple_witching_week", "holiday_week", "late_december"):
        calendar.loc[later, col] = ~calendar.loc[later, col]
    calendar.loc[later, "sessions_to_triple_witching"] = 99.0
    out["calendar"] = calendar
    return out


@pytest.fixture(scope="module")
def inputs():
    return synthetic_inputs()


@pytest.fixture(scope="module")
def features(inputs):
    return compute_features(**inputs)


# ---------------------------------------------------------------- features


def test_relative_strength_and_trend_match_a_hand_computation(inputs, features):
    spy, qqq = inputs["spy"]["adj_close"].to_numpy(), inputs["qqq"]["adj_close"].to_numpy()
    i = 300
    for n in (5, 20, 60):
        expected = (qqq[i] / qqq[i - n]) / (spy[i] / spy[i - n]) - 1
        assert features[f"qqq_rs_{n}s"].iloc[i] == pytest.approx(expected)
    assert features["spy_vs_ma50"].iloc[i] == pytest.approx(spy[i] / spy[i - 49 : i + 1].mean() - 1)
    assert features["spy_ret_5s"].iloc[i] == pytest.approx(spy[i] / spy[i - 5] - 1)
    # the 60-session relative strength needs 60 earlier sessions
    assert features["qqq_rs_60s"].iloc[:60].isna().all() and features["qqq_rs_60s"].iloc[60:].notna().all()


def test_implied_vol_is_vix_where_it_exists_and_labelled_realized_proxy_elsewhere(inputs, features):
    spy = inputs["spy"]["adj_close"].to_numpy()
    i = 200  # before the synthetic VIX starts
    log_ret = np.diff(np.log(spy[i - 20 : i + 1]))
    realized = log_ret.std(ddof=1) * math.sqrt(252)
    assert features["realized_vol_20s"].iloc[i] == pytest.approx(realized)
    assert features["implied_vol"].iloc[i] == pytest.approx(realized * 1.28)
    assert IMPLIED_OVER_REALIZED == 1.28
    assert features["vol_source"].iloc[i] == "realized x1.28"
    day = pd.Timestamp("2017-03-01")
    assert features.loc[day, "implied_vol"] == pytest.approx(inputs["vix"][day] / 100)
    assert features.loc[day, "vol_source"] == "VIX"
    assert "VIX 2016-06-01" in features.attrs["vol_source"]


def test_vol_change_is_taken_within_one_source_at_the_switch_to_vix(inputs, features):
    first_vix = inputs["vix"].index[0]
    i = features.index.get_loc(first_vix)
    # on the first VIX session the 5-session change is the proxy's own, not VIX minus proxy
    proxy = features["realized_vol_20s"] * IMPLIED_OVER_REALIZED
    assert features["implied_vol_chg_5s"].iloc[i] == pytest.approx(proxy.iloc[i] - proxy.iloc[i - 5])
    vix = inputs["vix"] / 100
    j = i + 5
    assert features["implied_vol_chg_5s"].iloc[j] == pytest.approx(vix.iloc[5] - vix.iloc[0])


def test_daily_yield_gives_1_5_20_session_changes_in_bp(inputs, features):
    y = inputs["long_yield"].to_numpy()
    i = 400
    assert features["yield_chg_1s_bp"].iloc[i] == pytest.approx((y[i] - y[i - 1]) * 100)
    assert features["yield_chg_5s_bp"].iloc[i] == pytest.approx((y[i] - y[i - 5]) * 100)
    assert features["yield_chg_20s_bp"].iloc[i] == pytest.approx((y[i] - y[i - 20]) * 100)
    assert features["yield_level_pct"].iloc[i] == pytest.approx(y[i])
    assert features["rate_source"].iloc[i] == "daily: synthetic 10y"


def test_monthly_yield_keeps_only_the_monthly_change_and_says_why(inputs):
    index = inputs["spy"].index
    # a monthly figure forward-filled from its release: one step on the 10th of each month
    releases = pd.Series(np.arange(len(index)) // 21 * 0.1 + 3.0, index=index)
    monthly = releases.groupby(index.to_period("M")).transform("first")
    monthly.attrs = {"frequency": "monthly", "description": "Moody's AAA"}
    f = compute_features(inputs["spy"], inputs["qqq"], long_yield=monthly)
    assert "yield_chg_21s_bp" in f and "yield_level_pct" in f
    for name in ("yield_chg_1s_bp", "yield_chg_5s_bp", "yield_chg_20s_bp"):
        assert name not in f
        assert "monthly" in f.attrs["missing"][name]
    i = 500
    assert f["yield_chg_21s_bp"].iloc[i] == pytest.approx((monthly.iloc[i] - monthly.iloc[i - 21]) * 100)
    assert f["rate_source"].iloc[i].startswith("monthly (release-lagged): Moody's AAA")
    # without attrs the frequency is inferred from how rarely the series changes
    monthly.attrs = {}
    assert "yield_chg_1s_bp" not in compute_features(inputs["spy"], inputs["qqq"], long_yield=monthly)


def test_missing_inputs_are_dropped_not_filled(inputs):
    spy = inputs["spy"].copy()
    spy.attrs = {"close_only": True, "has_volume": False}
    f = compute_features(spy, None)
    for name in ("qqq_rs_20s", "smh_rs_20s", "yield_level_pct", "hl_range_5s", "volume_ratio_20s",
                 "triple_witching_week"):
        assert name not in f
        assert name in f.attrs["missing"]
    assert (f["vol_source"] == "realized x1.28").all()
    assert (f["rate_source"] == "none").all()


def test_bad_calendar_column_or_gap_is_refused(inputs):
    cal = inputs["calendar"].rename(columns={"holiday_week": "holiday"})
    with pytest.raises(ConfigError, match="unknown calendar column 'holiday'"):
        compute_features(inputs["spy"], inputs["qqq"], calendar=cal)
    with pytest.raises(ConfigError, match="no value for session 2013-01-01"):
        compute_features(inputs["spy"], inputs["qqq"], calendar=inputs["calendar"].iloc[1:])
    assert set(CALENDAR_COLUMNS) == set(inputs["calendar"].columns)


# ---------------------------------------------------------------- rules model


def test_probabilities_sum_to_one_and_lie_in_unit_interval(inputs, features):
    labels = forward_labels(inputs["spy"])
    for out in (classify_rules(features), classify_logistic(features, labels, min_train_sessions=250)):
        probs = out[list(REGIMES)].to_numpy()
        assert np.allclose(probs.sum(axis=1), 1.0)
        assert (probs >= 0).all() and (probs <= 1).all()
        assert (out["label"] == np.asarray(REGIMES, dtype=object)[probs.argmax(axis=1)]).all()
        assert (out["code"] == probs.argmax(axis=1)).all()


def test_prior_alone_when_no_evidence_fires():
    # warm-up: every feature NaN, so no rule can fire
    index = pd.bdate_range("2018-01-01", periods=3, name="date")
    features = pd.DataFrame({"spy_vs_ma50": np.nan, "implied_vol": np.nan}, index=index)
    out = classify_rules(features)
    assert np.allclose(out[list(REGIMES)].to_numpy(), np.tile(PRIOR, (3, 1)), rtol=0, atol=1e-15)
    assert (out["label"] == "range").all() and (out["code"] == 1).all() and (out["evidence"] == "").all()


NEUTRAL = {
    "spy_ret_5s": 0.0,
    "spy_vs_ma20": -0.001,
    "spy_vs_ma50": 0.0,
    "qqq_rs_20s": 0.0,
    "qqq_vs_ma50": 0.0,
    "smh_rs_20s": 0.0,
    "yield_level_pct": 4.0,
    "yield_chg_1s_bp": 0.0,
    "yield_chg_20s_bp": 7.0,  # neither stable (<= 5 bp) nor rising (>= 10 bp)
    "implied_vol": 0.18,
    "implied_vol_chg_5s": 0.0,
    "hl_range_5s": 0.005,
    "volume_ratio_20s": 1.0,
    "triple_witching_week": False,
    "holiday_week": False,
    "late_december": False,
}

FIRES = {
    "tech_leads": {"qqq_rs_20s": 0.02, "qqq_vs_ma50": 0.01},
    "semis_lead": {"smh_rs_20s": 0.03},
    "uptrend": {"spy_vs_ma20": 0.01, "spy_vs_ma50": 0.01},
    "downtrend": {"spy_vs_ma50": -0.04},
    "rate_jump_day": {"yield_chg_1s_bp": 2.5},
    "rate_rise_month": {"yield_chg_20s_bp": 12.0},
    "rate_level": {"yield_level_pct": 4.30},
    "rates_stable": {"yield_chg_20s_bp": 1.0},
    "vol_high": {"implied_vol": 0.30},
    "vol_spike": {"implied_vol_chg_5s": 0.05},
    "wide_swings_flat": {"hl_range_5s": 0.02, "spy_ret_5s": 0.002},
    "thin_volume": {"volume_ratio_20s": 0.6},
    "expiry_week": {"triple_witching_week": True},
    "holiday_week": {"holiday_week": True},
    "year_end_liquidity": {"late_december": True},
    "santa_claus": {"late_december": True},
}


def test_every_rule_has_a_firing_case():
    assert set(FIRES) == set(RULES)


@pytest.mark.parametrize("rule", list(RULES))
def test_each_rule_moves_its_regime_up_by_its_weight(rule):
    regime, weight_field, _ = RULES[rule]
    # rate_level is off by default; late December feeds two rules, so switch the other one off
    params = RuleParams(rate_level_pct=4.25)
    if rule == "year_end_liquidity":
        params = RuleParams(rate_level_pct=4.25, w_santa_claus=0.0)
    if rule == "santa_claus":
        params = RuleParams(rate_level_pct=4.25, w_year_end_liquidity=0.0)
    rows = pd.DataFrame([NEUTRAL, {**NEUTRAL, **FIRES[rule]}], index=pd.bdate_range("2018-06-04", periods=2))
    fired = rule_evidence(rows, params)
    assert not fired.iloc[0].any()
    assert list(fired.columns[fired.iloc[1]]) == (
        ["year_end_liquidity", "santa_claus"] if rule in ("year_end_liquidity", "santa_claus") else [rule]
    )
    out = classify_rules(rows, params)
    before, after = out.iloc[0], out.iloc[1]
    assert np.allclose(before[list(REGIMES)].astype(float), PRIOR)
    # by hand: multiplying one regime's odds by e^w gives p = q e^w / (q e^w + 1 - q)
    q, w = PRIOR[REGIMES.index(regime)], getattr(params, weight_field)
    assert w > 0
    assert after[regime] == pytest.approx(q * math.exp(w) / (q * math.exp(w) + 1 - q), rel=1e-12)
    for other in REGIMES:
        if other != regime:
            assert after[other] < before[other]
    assert rule in after["evidence"].split()


def test_monthly_rate_rule_reads_the_21_session_change():
    index = pd.bdate_range("2018-06-04", periods=2)
    rows = pd.DataFrame({"yield_level_pct": [4.0, 4.0], "yield_chg_21s_bp": [7.0, 15.0]}, index=index)
    fired = rule_evidence(rows)
    assert fired["rate_rise_month"].tolist() == [False, True]
    assert not fired["rate_jump_day"].any()
    assert "rate_jump_day" in classify_rules(rows).attrs["rules_unavailable"]


def test_rule_params_are_validated():
    with pytest.raises(ConfigError, match="prior"):
        RuleParams(prior=(0.5, 0.5, 0.5))
    with pytest.raises(ConfigError, match="w_vol_high"):
        RuleParams(w_vol_high=-0.1)
    with pytest.raises(ConfigError, match="swing_net"):
        RuleParams(swing_net=0.0)


# ---------------------------------------------------------------- no look-ahead


CUTS = ["2015-06-17", "2016-12-30", "2017-01-02", "2018-03-15"]


@pytest.mark.parametrize("cut", CUTS)
def test_changing_data_after_t_leaves_every_output_up_to_t_unchanged(inputs, features, cut):
    t = pd.Timestamp(cut)
    changed = perturb_after(inputs, t)
    features_changed = compute_features(**changed)
    later = features.index > t
    # the perturbation is real: later features differ
    assert not features.loc[later, "spy_ret_5s"].equals(features_changed.loc[later, "spy_ret_5s"])
    pd.testing.assert_frame_equal(features.loc[:t], features_changed.loc[:t])
    pd.testing.assert_frame_equal(classify_rules(features).loc[:t], classify_rules(features_changed).loc[:t])

    labels, labels_changed = forward_labels(inputs["spy"]), forward_labels(changed["spy"])
    # the realized labels of the last sessions before t change too (their forward window crosses t)
    assert not labels.loc[:t].equals(labels_changed.loc[:t])
    for classify in (classify_logistic, classify_calibrated_rules):
        fitted = classify(features, labels, min_train_sessions=250)
        fitted_changed = classify(features_changed, labels_changed, min_train_sessions=250)
        pd.testing.assert_frame_equal(fitted.loc[:t], fitted_changed.loc[:t])
        assert fitted["fitted_through"].notna().any()


@pytest.mark.parametrize("classify", [classify_logistic, classify_calibrated_rules])
def test_a_walk_forward_year_learns_only_from_labels_known_before_it_starts(inputs, features, classify):
    labels = forward_labels(inputs["spy"])
    year_start = features.index.get_loc(pd.Timestamp("2017-01-02"))
    base = classify(features, labels, min_train_sessions=250)
    in_2017 = features.index.year == 2017
    # the label of session year_start - HORIZON is only known on the year's first session: unused
    flipped = labels.copy()
    flipped.iloc[year_start - HORIZON : year_start] = "selloff"
    out = classify(features, flipped, min_train_sessions=250)
    pd.testing.assert_frame_equal(base[in_2017], out[in_2017])
    assert base["fitted_through"][in_2017].iloc[0] == features.index[year_start - HORIZON - 1]
    # earlier labels were known at the close before the year: they are used
    flipped.iloc[year_start - HORIZON - 120 : year_start - HORIZON] = "selloff"
    out = classify(features, flipped, min_train_sessions=250)
    assert not np.allclose(base.loc[in_2017, "selloff"], out.loc[in_2017, "selloff"])
    # and labels of the year itself (known only during it) never change its forecasts
    flipped = labels.copy()
    flipped[in_2017] = "momentum"
    pd.testing.assert_frame_equal(base[in_2017], classify(features, flipped, min_train_sessions=250)[in_2017])


def test_logistic_uses_the_prior_until_it_has_enough_history(inputs, features):
    labels = forward_labels(inputs["spy"])
    out = classify_logistic(features, labels, min_train_sessions=250)
    first_year = out[out.index.year == 2013]
    assert first_year["fitted_through"].isna().all()
    assert np.allclose(first_year[list(REGIMES)].to_numpy(), np.tile(PRIOR, (len(first_year), 1)))
    later = out[out.index.year >= 2014]
    assert later["fitted_through"].notna().all()
    assert "smh_rs_20s" in out.attrs["features_used"]
    with pytest.raises(ConfigError, match="realized labels"):
        classify_logistic(features, labels.replace("range", "flat"))


def test_both_models_are_deterministic(inputs, features):
    labels = forward_labels(inputs["spy"])
    pd.testing.assert_frame_equal(classify_rules(features), classify_rules(features))
    pd.testing.assert_frame_equal(
        classify_logistic(features, labels, min_train_sessions=250),
        classify_logistic(features, labels, min_train_sessions=250),
    )


def test_calibrated_rules_learn_a_rule_that_history_backs(inputs, features):
    # a world where the range label follows the vol_high rule: the calibrated weight must find it
    params = RuleParams(vol_high=0.2)
    fired = rule_evidence(features, params)["vol_high"]
    assert 0.1 < fired.mean() < 0.9
    labels = forward_labels(inputs["spy"]).copy()
    labels[fired.to_numpy() & labels.notna().to_numpy()] = "range"
    out = classify_calibrated_rules(features, labels, params, min_train_sessions=250)
    weights = out.attrs["weights"]
    assert weights["vol_high"]["range"] > weights["vol_high"]["momentum"] + 1
    assert out.attrs["model"] == "rules" and "vol_high" in out.attrs["features_used"]
    fitted = out["fitted_through"].notna()
    assert out.loc[fitted & fired, "range"].min() > out.loc[fitted & ~fired, "range"].max() - 0.2
    assert out.loc[fitted & fired, "range"].mean() > 0.8
    assert (out["evidence"].str.split().apply(lambda names: "vol_high" in names) == fired).all()


def test_prior_model_is_the_constant_prior_and_says_range():
    index = pd.bdate_range("2018-01-01", periods=4, name="date")
    out = classify_prior(pd.DataFrame({"implied_vol": [0.1, 0.2, 0.3, 0.4]}, index=index))
    np.testing.assert_allclose(out[list(REGIMES)].to_numpy(), np.tile(PRIOR, (4, 1)), rtol=0, atol=0)
    assert (out["label"] == "range").all() and (out["code"] == 1).all()


def test_vol_normalised_returns_and_vol_premium_by_hand(inputs, features):
    spy = inputs["spy"]["adj_close"].to_numpy()
    i = 300
    log_ret = np.diff(np.log(spy[i - 20 : i + 1]))
    vol = log_ret.std(ddof=1) * math.sqrt(252)
    assert features["spy_ret_5s_z"].iloc[i] == pytest.approx((spy[i] / spy[i - 5] - 1)
                                                              / (vol * math.sqrt(5 / 252)))
    assert features["spy_ret_20s_z"].iloc[i] == pytest.approx((spy[i] / spy[i - 20] - 1)
                                                               / (vol * math.sqrt(20 / 252)))
    assert features["vol_premium"].iloc[i] == pytest.approx(1.28)  # before the synthetic VIX: the proxy
    day = pd.Timestamp("2017-03-01")
    assert features.loc[day, "vol_premium"] == pytest.approx(inputs["vix"][day] / 100
                                                             / features.loc[day, "realized_vol_20s"])


def test_a_column_constant_up_to_rounding_is_left_out_not_blown_up(inputs, features):
    # vol_premium is 1.28 to within 1e-16 before VIX starts; a year fitted on those years must not
    # divide by that spread (it once turned 2014's forecasts into 0s and 1s)
    labels = forward_labels(inputs["spy"])
    f = features.copy()
    f["vol_premium"] = (f["realized_vol_20s"] * 1.28) / f["realized_vol_20s"]
    f.loc[f.index >= "2016-01-01", "vol_premium"] = 1.6
    out = classify_logistic(f, labels, min_train_sessions=250, columns=("vol_premium", "qqq_rs_20s"))
    fitted_2016 = out[(out.index.year == 2016)]
    assert fitted_2016[list(REGIMES)].to_numpy().max() < 0.9
    assert "vol_premium" in classify_logistic(f, labels, min_train_sessions=250).attrs["features_used"]
