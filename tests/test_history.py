"""The embedded history 1990-2022: the seams of the spliced series, the stand-ins a run names, the
cash rate it refuses to invent, and the claims and windows on the whole history."""

from __future__ import annotations

import json

import arch.data.nasdaq
import arch.data.sp500
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import data
from backtests.errors import RunError
from backtests.market import MarketSpec, build_market, prepare_market
from backtests.regime_eval import evaluate
from backtests.stand_ins import default_span
from backtests.windows_eval import load_claims
from cli import main
from data import embedded
from data.macro import load_macro

SEAMS = (pd.Timestamp("1999-01-04"), pd.Timestamp("2019-01-02"))  # first session of each new segment


@pytest.fixture(scope="module")
def skfolio_index():
    datasets = pytest.importorskip("skfolio.datasets")
    return datasets.load_sp500_index()["SP500"]


@pytest.fixture(scope="module")
def skfolio_prices():
    datasets = pytest.importorskip("skfolio.datasets")
    return datasets.load_sp500_dataset()


def test_the_two_sp500_sources_agree_on_their_overlap(skfolio_index):
    arch_close = arch.data.sp500.load()["Close"]
    shared = arch_close.index.intersection(skfolio_index.index)
    assert len(shared) == len(arch_close) == 5031  # every arch session is in skfolio's file
    gap = (skfolio_index[shared] - arch_close[shared]).abs()
    # measured 2026-12-01: at most 0.000117 points (5.7e-8 relative): arch's float32 noise on the
    # same two-decimal prints; the stated tolerance is SEAM_CLOSE_ATOL
    assert gap.max() <= embedded.SEAM_CLOSE_ATOL
    assert (gap / arch_close[shared]).max() < 1e-7
    figures = embedded.seam_agreement()
    assert figures["sessions"] == 5031 and figures["max_abs"] == pytest.approx(gap.max(), abs=1e-12)


def test_spy_is_spliced_without_a_jump(skfolio_index):
    spy = data.load("SPY")["SPY"]
    assert (spy.index[0], spy.index[-1], len(spy)) == (pd.Timestamp("1990-01-02"), pd.Timestamp("2022-12-28"),
                                                        8313)
    np.testing.assert_array_equal(spy.index.to_numpy(), skfolio_index.index.as_unit("ns").to_numpy())
    # outside arch's years the closes are skfolio's as printed; inside, arch's
    outside = (spy.index < SEAMS[0]) | (spy.index >= SEAMS[1])
    np.testing.assert_array_equal(spy["close"][outside].to_numpy(), skfolio_index[outside].to_numpy())
    returns, theirs = spy["close"].pct_change(), skfolio_index.pct_change()
    for seam in SEAMS:
        assert returns[seam] == pytest.approx(theirs[seam], abs=1e-7)  # the close-only source's return
    assert [s["kind"] for s in spy.attrs["segments"]] == ["close-only", "ohlcv", "close-only"]
    # close-only segments have no real open; inside arch's years the stale opens (open = previous
    # close, 2,004 sessions, tests/test_data_validate.py) are not real either, the rest are
    inside = spy[~outside]
    stale = inside["open"].to_numpy()[1:] == inside["close"].to_numpy()[:-1]
    assert not spy["real_open"][outside].any()
    np.testing.assert_array_equal(inside["real_open"].to_numpy()[1:], ~stale)
    assert (~inside["real_open"]).sum() == 2004
    assert spy.attrs["close_only"] is False  # only parts of it are


def test_qqq_stand_in_is_the_tech_basket_chained_at_each_seam(skfolio_prices):
    qqq = data.load("QQQ")["QQQ"]["close"]
    nasdaq = arch.data.nasdaq.load()["Close"]
    np.testing.assert_array_equal(qqq.loc["1999-01-04":"2018-12-31"].to_numpy(), nasdaq.to_numpy())
    basket = skfolio_prices[["AAPL", "MSFT", "AMD"]].pct_change().mean(axis=1)
    ours = qqq.pct_change()
    outside = (qqq.index < SEAMS[0]) | (qqq.index >= SEAMS[1])
    outside[0] = False  # no return on the first session
    np.testing.assert_allclose(ours[outside].to_numpy(), basket[outside].to_numpy(), rtol=0, atol=1e-12)
    for seam in SEAMS:  # across each seam the return is the basket's, not a level jump
        assert ours[seam] == pytest.approx(basket[seam], abs=1e-12)
    assert qqq.loc["2018-12-31"] == nasdaq.loc["2018-12-31"]
    # a rough proxy, and the figures say how rough: measured 0.77 and 35% against 25% a year
    both = nasdaq.pct_change().index[1:]
    corr = np.corrcoef(nasdaq.pct_change()[both], basket[both])[0, 1]
    figures = embedded.seam_agreement()
    assert figures["qqq_stand_in_correlation"] == pytest.approx(corr, abs=1e-12)
    assert 0.7 < corr < 0.85 and figures["qqq_stand_in_volatility"] > figures["qqq_composite_volatility"]


def _perturbed_after(day, table):
    """A copy of a frame or series with every value after `day` scaled by 1.37."""
    out = table.astype(float)
    out[out.index > day] = out[out.index > day] * 1.37
    return out


@pytest.mark.parametrize("cut", ["1999-01-05", "2005-06-01", "2019-01-03", "2021-03-01"])
@pytest.mark.parametrize("symbol, chain", [("SPY", False), ("QQQ", True)])
def test_no_look_ahead_across_a_seam(cut, symbol, chain):
    """Prices after `cut` (past a seam) changed in both sources: nothing on or before `cut` changes."""
    cut = pd.Timestamp(cut)
    ohlcv = embedded.arch_table(embedded.SPLICED[symbol][0])
    stand_in = embedded._stand_in_close(symbol)
    base, base_open = embedded.splice(ohlcv, stand_in, chain)
    changed, changed_open = embedded.splice(_perturbed_after(cut, ohlcv), _perturbed_after(cut, stand_in),
                                            chain)
    upto = base.index <= cut
    pd.testing.assert_frame_equal(changed[upto], base[upto])
    np.testing.assert_array_equal(changed_open, base_open)
    assert not np.allclose(changed[~upto]["close"], base[~upto]["close"])


def test_the_first_ohlcv_close_scales_the_earlier_stand_in_and_changes_no_return_before_it():
    # the one place a later price reaches back: the level of the chained 1990-1998 basket (a
    # constant factor on the whole segment, so no return, ratio or signal before the seam moves)
    ohlcv = embedded.arch_table("nasdaq")
    stand_in = embedded.basket_index(embedded.skfolio_prices()[["AAPL", "MSFT", "AMD"]])
    base, _ = embedded.splice(ohlcv, stand_in, chain=True)
    nudged = ohlcv.copy()
    nudged.loc[SEAMS[0], ["Open", "High", "Low", "Close", "Adj Close"]] *= 1.01
    changed, _ = embedded.splice(nudged, stand_in, chain=True)
    before = base.index < SEAMS[0]
    np.testing.assert_allclose(changed["close"][before] / base["close"][before], 1.01, rtol=1e-12)
    np.testing.assert_allclose(changed["close"][before].pct_change().dropna(),
                               base["close"][before].pct_change().dropna(), rtol=0, atol=1e-15)


def test_market_signals_see_no_price_after_their_session_across_the_2019_seam():
    start, end, cut = pd.Timestamp("2017-01-03"), pd.Timestamp("2020-12-31"), pd.Timestamp("2019-06-03")
    frames = data.load(["SPY", "QQQ", "XLE"], start, end)
    sessions = frames["SPY"].index
    spec = MarketSpec(source="embedded", cash_rate=0.02)
    base = build_market(spec, frames, None, load_macro("tbill_rate", sessions))
    moved = {s: f.copy() for s, f in frames.items()}
    for frame in moved.values():
        prices = ["open", "high", "low", "close", "adj_close"]
        frame.loc[frame.index > cut, prices] *= np.linspace(0.7, 1.3, int((frame.index > cut).sum()))[:, None]
    changed = build_market(spec, moved, None, load_macro("tbill_rate", sessions))
    upto = sessions <= cut
    pd.testing.assert_frame_equal(changed.signals[upto], base.signals[upto])
    pd.testing.assert_frame_equal(changed.regime[upto], base.regime[upto])
    np.testing.assert_array_equal(changed.options.atm_vol[upto], base.options.atm_vol[upto])
    assert not np.allclose(changed.options.atm_vol[~upto], base.options.atm_vol[~upto], equal_nan=True)


def test_default_span_is_explicit():
    ohlcv_years = (pd.Timestamp("1999-01-04"), pd.Timestamp("2018-12-31"))
    assert default_span(MarketSpec()) == (ohlcv_years[0], pd.Timestamp("2018-11-30"))  # RF ends
    assert default_span(MarketSpec(cash_rate=0.02)) == ohlcv_years
    assert default_span(MarketSpec(span="all")) == (None, None)  # the benchmark: all of 1990-2022
    given = (pd.Timestamp("1995-01-03"), pd.Timestamp("2022-12-28"))
    assert default_span(MarketSpec(start=given[0], end=given[1])) == given
    assert default_span(MarketSpec(source="csv", data_dir="x")) == (None, None)


def test_a_playbook_past_the_last_published_rate_is_refused_in_one_line(tmp_path):
    result = CliRunner().invoke(main, ["backtest", "--strategy", "neutral", "--start", "2018-06-01",
                                       "--end", "2019-03-29", "--out", str(tmp_path / "x"), "--no-tearsheet"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "cash rate from 2018-12-03 to 2019-03-29" in result.output and "Fama-French RF" in result.output
    assert "--cash-rate" in result.output
    assert not (tmp_path / "x").exists()  # nothing half-written
    with pytest.raises(RunError, match="cash rate from 2018-12-03"):
        prepare_market(MarketSpec(end=pd.Timestamp("2018-12-31")))


def test_cash_rate_stands_in_and_is_named_in_run_json(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["backtest", "--strategy", "defensive", "--start", "2018-06-01",
                                       "--end", "2019-03-29", "--cash-rate", "0.024", "--out", str(out),
                                       "--no-tearsheet"])
    assert result.exit_code == 0, result.output
    assert "note: stand-in: tbill_rate 2018-12-03..2019-03-29 is --cash-rate 2.40%" in result.output
    settings = json.loads((out / "run.json").read_text())["settings"]
    named = {(s["series"], s["first"], s["last"]) for s in settings["stand_ins"]}
    assert {("tbill_rate", "2018-12-03", "2019-03-29"), ("BIL", "2018-12-03", "2019-03-29"),
            ("SPY", "2019-01-02", "2019-03-29"), ("QQQ", "2019-01-02", "2019-03-29"),
            ("^VIX", "2019-01-07", "2019-03-29")} <= named
    assert settings["market"]["cash_rate"] == 0.024
    assert [seg["kind"] for seg in settings["segments"]["SPY"]] == ["close-only", "ohlcv", "close-only"]
    assert any("no long yield after 2019-02-06" in note for note in settings["notes"])
    # the rate the cash earned past November 2018 is the one given, the published one before it
    market = prepare_market(MarketSpec(start=pd.Timestamp("2018-06-01"), end=pd.Timestamp("2019-03-29"),
                                       cash_rate=0.024))
    rate = pd.Series(market.options.rate, market.sessions)
    assert (rate["2018-12-03":] == 0.024).all()
    assert rate["2018-11-30"] == pytest.approx(0.18 * 12 / 100)


def test_benchmark_year_end_covers_1990_2022_offline_and_names_2022(tmp_path):
    result = CliRunner().invoke(main, ["compare", "--strategies", "benchmark", "--window", "year-end",
                                       "--out", str(tmp_path / "ye")])
    assert result.exit_code == 0, result.output
    windows = pd.read_csv(tmp_path / "ye" / "windows.csv", parse_dates=["event"])
    assert (windows["event"].dt.year.min(), windows["event"].dt.year.max(), len(windows)) == (1990, 2021, 32)
    assert "32 years 1990..2021" in result.output
    assert ("year-end 2022 left out: the data end on 2022-12-28, before the window's last session "
            "2022-12-30") in result.output
    assert "playbook claims, embedded data 1990-01-02 .. 2022-12-28" in result.output


def test_the_2020_and_2022_triple_witching_windows_are_evaluated(tmp_path):
    result = CliRunner().invoke(main, ["compare", "--strategies", "benchmark", "--window", "triple-witching",
                                       "--out", str(tmp_path / "tw")])
    assert result.exit_code == 0, result.output
    events = pd.read_csv(tmp_path / "tw" / "windows.csv", parse_dates=["event"])["event"]
    for day in ("2020-03-20", "2020-12-18", "2022-03-18", "2022-06-17", "2022-09-16", "2022-12-16"):
        assert pd.Timestamp(day) in set(events), day
    assert len(events) == 132 and events.iloc[0] == pd.Timestamp("1990-03-16")


@pytest.mark.parametrize("window", ["triple-witching", "year-end"])
def test_regime_scorecard_scores_2020_and_2022(window):
    """The scorecard runs on the whole 1990-2022 history: the walk-forward models start once they
    have about two years of labels, and the 2020 and 2022 windows are scored (every fifth session,
    non-overlapping, whose 5-session label is known by the data's end, 2022-12-28)."""
    (card,) = evaluate(models=("rules",), windows=(window,))["cards"]
    assert card["first"].year <= 1992
    assert card["last"] >= pd.Timestamp("2022-12-01")
    for year in (2020, 2022):
        (scored,) = evaluate(models=("rules",), windows=(window,), start=f"{year}-01-01",
                             end=f"{year}-12-31")["cards"]
        assert scored["sessions"] > 0 and scored["first"].year == scored["last"].year == year


def test_claims_default_to_the_whole_history_and_match_pandas(skfolio_index):
    claims = load_claims(MarketSpec(window="year-end"))
    close = skfolio_index
    expected = []
    for year in range(1990, 2022):
        before = close[:f"{year}-12-15"].iloc[-1]
        expected.append(close[f"{year}-12"].iloc[-1] / before - 1)
    d = claims.december.iloc[0]
    assert (claims.first, claims.last) == (pd.Timestamp("1990-01-02"), pd.Timestamp("2022-12-28"))
    assert d["windows"] == 32
    # arch's closes stand in 1999-2018: the same prints to 1e-7
    assert d["mean"] == pytest.approx(np.mean(expected), abs=1e-7)
    assert d["hit_rate"] == pytest.approx(np.mean(np.array(expected) > 0))


def test_close_only_segments_and_ended_series_are_unknown_to_the_classifier():
    from backtests.regime_eval import regime_inputs
    from strategies.regime import rule_evidence

    features = regime_inputs(start="2018-10-01", end="2019-06-28")
    after_seam = features.loc["2019-01-02":]
    # no high-low range and no volume on the close-only 2019 segment: unknown, so the range and
    # liquidity rules cannot fire on a zero that is not a print
    assert after_seam["hl_range_5s"].isna().all() and after_seam["volume_ratio_20s"].isna().all()
    fired = rule_evidence(features)
    assert not fired.loc["2019-01-02":, ["thin_volume", "wide_swings_flat"]].any().any()
    # Moody's Aaa ends with 2018-12, current through 2019-02-06: not carried on as "rates stable"
    assert features.loc[:"2019-02-06", "yield_level_pct"].notna().all()
    assert features.loc["2019-02-07":, "yield_level_pct"].isna().all()
    assert not fired.loc["2019-02-07":, ["rates_stable", "rate_rise_month"]].any().any()


def test_compare_runs_the_benchmark_alone_on_all_history_and_beside_a_playbook_on_the_playbook_span():
    from backtests.compare import shared_spec

    assert shared_spec(["benchmark"], {}).span == "all"
    together = shared_spec(["benchmark", "neutral"], {"cash_rate": 0.02})
    assert together.span == "playbook" and together.cash_rate == 0.02
    assert default_span(together) == (pd.Timestamp("1999-01-04"), pd.Timestamp("2018-12-31"))
