"""backtests.regime_eval and `cli.py regime`: realized regimes, the scorecard, the embedded data end to end.

The scorecard is checked against a hand computation on a five-session example; the embedded runs
check the no-look-ahead property end to end (cutting the data at t changes nothing up to t) and the
baselines against closed-form values.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from backtests.errors import RunError
from backtests.regime_eval import (
    RealizedParams,
    calendar_columns,
    evaluate,
    realized_regimes,
    regime_frame,
    regime_inputs,
    rule_diagnostics,
    scorecard,
    window_masks,
)
from cli import main
from data import load
from data.calendar import nyse_sessions
from strategies.regime import PRIOR, REGIMES, classify_logistic, classify_rules

# exchange_calendars 4.13 reads Series.values on tz-aware columns when it builds a calendar, which
# pandas 3.1 deprecates (warning raised at stacklevel 1, so it cannot be filtered by module).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Series.values returning an ndarray that drops timezone:pandas.errors.Pandas4Warning"
)

# ---------------------------------------------------------------- pure pieces


def test_realized_regime_from_forward_return_by_hand():
    idx = pd.bdate_range("2018-12-03", periods=7)
    spy = pd.DataFrame({"close": [100, 103, 102, 99, 100, 99.5, 100.2]}, index=idx, dtype=float)
    # horizon 2: +2.0%, -3.9%, -2.0%, +0.5%, +0.2%, then unknown
    labels = realized_regimes(spy, horizon=2)
    assert labels.iloc[:5].tolist() == ["momentum", "selloff", "selloff", "range", "range"]
    assert labels.iloc[5:].isna().all() and labels.name == "realized"
    # the thresholds are parameters: at +/- 2.5% the +2.0% and -2.0% moves become range
    wide = realized_regimes(spy, 2, RealizedParams(momentum_return=0.025, selloff_return=-0.025))
    assert wide.iloc[:5].tolist() == ["range", "selloff", "range", "range", "range"]
    # adj_close (dividends) is used when present
    spy["adj_close"] = spy["close"] * np.linspace(1.0, 1.06, 7)
    assert realized_regimes(spy, horizon=2).iloc[3] == "momentum"  # 99.5*1.05 / (99*1.03) = +2.5%
    with pytest.raises(RunError, match="selloff_return < 0 < momentum_return"):
        RealizedParams(momentum_return=-0.01)


def _tiny():
    idx = pd.bdate_range("2018-12-10", periods=5)
    probs = pd.DataFrame(
        [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3], [0.5, 0.25, 0.25]],
        index=idx, columns=list(REGIMES),
    )
    realized = pd.Series(["momentum", "selloff", "selloff", np.nan, "range"], index=idx, dtype=object)
    return probs, realized


def test_scorecard_matches_a_hand_computation():
    probs, realized = _tiny()
    mask = pd.Series([True, True, True, True, False], index=probs.index)
    card = scorecard(probs, realized, mask)
    # session 4 has no realized regime, session 5 is masked out: three sessions scored
    assert card["sessions"] == 3
    assert card["model"]["hit_rate"] == pytest.approx(2 / 3)
    # Brier per session: 0.4^2+0.3^2+0.1^2 = 0.26; 0.2^2+0.5^2+0.7^2 = 0.78; 0.1^2+0.2^2+0.3^2 = 0.14
    assert card["model"]["brier"] == pytest.approx((0.26 + 0.78 + 0.14) / 3)
    expected = pd.DataFrame([[1, 0, 0], [0, 0, 0], [0, 1, 1]], index=list(REGIMES), columns=list(REGIMES))
    np.testing.assert_array_equal(card["model"]["confusion"].to_numpy(), expected.to_numpy())
    assert list(card["model"]["confusion"].index) == list(REGIMES)
    # the prior always says range: no hit; Brier 0.65^2+0.45^2+0.2^2 = 0.665 (momentum realized),
    # 0.35^2+0.45^2+0.8^2 = 0.965 (selloff realized)
    assert card["prior"]["hit_rate"] == 0.0
    assert card["prior"]["brier"] == pytest.approx((0.665 + 2 * 0.965) / 3)
    np.testing.assert_array_equal(card["prior"]["confusion"].to_numpy()[:, 1], [1, 0, 2])
    # climatology: frequencies 1/3, 0, 2/3 -> Brier (8/9 + 2 * 2/9) / 3 = 4/9, argmax selloff hits 2 of 3
    assert card["frequencies"] == pytest.approx({"momentum": 1 / 3, "range": 0.0, "selloff": 2 / 3})
    assert card["climatology"]["brier"] == pytest.approx(4 / 9)
    assert card["climatology"]["hit_rate"] == pytest.approx(2 / 3)
    assert card["mean_probs"] == pytest.approx({"momentum": 0.3, "range": 1 / 3, "selloff": 1.1 / 3})
    assert card["brier_skill"] == pytest.approx(1 - (1.18 / 3) / (2.595 / 3))
    assert card["beats_prior"] is True
    assert (card["first"], card["last"]) == (probs.index[0], probs.index[2])
    # without the mask the fifth session counts: predicted momentum, realized range, Brier 0.875
    whole = scorecard(probs, realized)
    assert whole["sessions"] == 4 and whole["model"]["hit_rate"] == 0.5
    assert whole["model"]["brier"] == pytest.approx((1.18 + 0.875) / 4)


def test_scorecard_refuses_an_empty_selection():
    probs, realized = _tiny()
    with pytest.raises(RunError, match="no session"):
        scorecard(probs, realized, pd.Series(False, index=probs.index))


def test_rule_diagnostics_by_hand():
    idx = pd.bdate_range("2018-06-04", periods=4)
    features = pd.DataFrame({"implied_vol": [0.30, 0.30, 0.15, 0.15]}, index=idx)  # vol_high fires on 2
    realized = pd.Series(["range", "momentum", "range", "selloff"], index=idx, dtype=object)
    table = rule_diagnostics(features, realized)
    row = table.loc["vol_high"]
    assert row["points_to"] == "range" and row["fired"] == 2
    assert (row["then_momentum"], row["then_range"], row["then_selloff"]) == (0.5, 0.5, 0.0)
    assert row["lift"] == pytest.approx(0.5 / 0.5)  # range: half when fired, half overall
    assert table.loc["tech_leads", "fired"] == 0 and np.isnan(table.loc["tech_leads", "lift"])


def test_calendar_columns_december_2018():
    sessions = nyse_sessions("2018-11-01", "2019-01-31")
    cal = calendar_columns(sessions)
    day = pd.Timestamp
    assert cal.loc[day("2018-12-14"), "sessions_to_triple_witching"] == 5  # Friday 21 Dec is the witching
    assert cal.loc[day("2018-12-21"), "sessions_to_triple_witching"] == 0
    assert not cal.loc[day("2018-12-14"), "triple_witching_week"]
    assert cal.loc[day("2018-12-17") : day("2018-12-21"), "triple_witching_week"].all()
    assert cal.loc[day("2018-12-24") : day("2018-12-28"), "holiday_week"].all()  # Christmas
    assert cal.loc[day("2018-12-03") : day("2018-12-07"), "holiday_week"].all()  # 5 Dec national mourning
    assert not cal.loc[day("2018-12-10") : day("2018-12-14"), "holiday_week"].any()
    assert not cal.loc[day("2018-12-14"), "late_december"] and cal.loc[day("2018-12-17"), "late_december"]
    assert not cal.loc[day("2019-01-02"), "late_december"]
    # the next witching (15 March 2019) lies past the sessions given: still known from the calendar;
    # 19 February sessions (Presidents' Day off) and 11 in March up to the 15th
    assert cal.loc[day("2019-01-31"), "sessions_to_triple_witching"] == 30


# ---------------------------------------------------------------- embedded data


@pytest.fixture(scope="module")
def embedded_features():
    return regime_inputs()


def test_embedded_inputs_name_their_sources_and_gaps(embedded_features):
    f = embedded_features
    assert f.index[0] == pd.Timestamp("1990-01-02") and f.index[-1] == pd.Timestamp("2022-12-28")
    # VIX where the embedded VIX exists, the labelled realized-vol stand-in elsewhere
    assert f.loc["2013-12-31", "vol_source"] == "realized x1.28"
    assert f.loc["2014-01-03", "vol_source"] == "VIX"
    # the monthly AAA yield: no 1-session change is pretended, the 21-session change is there
    assert "yield_chg_1s_bp" not in f and "yield_chg_21s_bp" in f
    assert f["rate_source"].iloc[-1].startswith("monthly (release-lagged)")
    assert "SMH" in f.attrs["inputs"] and f.attrs["inputs"]["SMH"].startswith("missing")
    assert "smh_rs_20s" not in f


def test_start_end_slice_matches_the_full_history(embedded_features):
    part = regime_inputs(start="2016-03-01", end="2016-12-30")
    pd.testing.assert_frame_equal(part, embedded_features.loc["2016-03-01":"2016-12-30"])


@pytest.mark.parametrize("model", ["rules", "logistic"])
def test_cutting_the_data_at_t_changes_nothing_up_to_t(model):
    t = "2016-12-15"
    full = regime_frame(model=model)
    cut = regime_frame(model=model, end=t)
    assert cut.index[-1] == pd.Timestamp(t)
    pd.testing.assert_frame_equal(cut, full.loc[:t], check_freq=False)
    probs = full[list(REGIMES)].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0) and (probs >= 0).all() and (probs <= 1).all()


def test_models_are_cheap_on_full_history(embedded_features):
    realized = realized_regimes(load(["SPY"])["SPY"])
    started = time.perf_counter()
    classify_rules(embedded_features)
    rules_seconds = time.perf_counter() - started
    started = time.perf_counter()
    classify_logistic(embedded_features, realized)
    logistic_seconds = time.perf_counter() - started
    # measured ~0.03 s and ~0.6 s; the bounds leave room for a loaded 2-core machine
    assert rules_seconds < 1.0 and logistic_seconds < 10.0


def test_embedded_scorecard_baselines_are_what_the_frequencies_imply():
    card = evaluate(model="rules", window="all")
    f = np.array([card["frequencies"][r] for r in REGIMES])
    p = np.array(PRIOR)
    # a constant forecast p scores 1 - 2 f.p + |p|^2 on average; it always predicts its argmax
    assert card["prior"]["brier"] == pytest.approx(1 - 2 * f @ p + p @ p)
    assert card["climatology"]["brier"] == pytest.approx(1 - f @ f)
    assert card["prior"]["hit_rate"] == pytest.approx(card["frequencies"]["range"])
    assert card["model"]["confusion"].to_numpy().sum() == card["sessions"]
    # 1990-01-02 .. 2022-12-20: every session with five sessions after it
    assert card["sessions"] == 8313 - 5
    assert "rules" in card and card["rules"].loc["vol_high", "fired"] > 0


def test_logistic_scorecard_starts_at_its_first_fitted_year():
    card = evaluate(model="logistic", window="triple-witching")
    assert card["first"] >= pd.Timestamp("1992-01-01")  # about two years of labels after 1990-01-02
    mask = window_masks(regime_inputs().index)["triple-witching"]
    assert card["sessions"] <= int(mask.sum())
    assert "rules" not in card


# ---------------------------------------------------------------- cli


def test_cli_regime_date_prints_features_probabilities_and_label():
    result = CliRunner().invoke(main, ["regime", "--date", "2018-12-14"])
    assert result.exit_code == 0, result.output
    frame = regime_frame(start="2018-12-14", end="2018-12-14")
    expected = "  ".join(f"{r} {frame[r].iloc[0]:.3f}" for r in REGIMES)
    assert f"probabilities: {expected}" in result.output
    assert f"label: {frame['label'].iloc[0]}" in result.output
    assert "spy_vs_ma50" in result.output and "vol_source                   VIX" in result.output
    assert "realized (hindsight, next 5 sessions): selloff" in result.output


def test_cli_regime_date_that_is_not_a_session_is_one_line_exit_2():
    result = CliRunner().invoke(main, ["regime", "--date", "2018-12-15"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: 2018-12-15 is not a session in the embedded data; nearest sessions: 2018-12-14 and 2018-12-17"
    )


def test_cli_regime_evaluate_prints_the_scorecard():
    result = CliRunner().invoke(main, ["regime", "evaluate", "--window", "year-end", "--model", "rules"])
    assert result.exit_code == 0, result.output
    card = evaluate(model="rules", window="year-end")
    assert "window year-end" in result.output
    assert f"prior 35/45/20{card['prior']['hit_rate']:>30.3f}{card['prior']['brier']:>10.4f}" in result.output
    assert f"rules{card['model']['hit_rate']:>39.3f}{card['model']['brier']:>10.4f}" in result.output
    bad = CliRunner().invoke(main, ["regime", "evaluate", "--window", "christmas"])
    assert bad.exit_code == 2
