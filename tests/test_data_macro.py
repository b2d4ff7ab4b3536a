"""load_macro: release rules, values from arch's own files, and no look-ahead."""

from __future__ import annotations

from pathlib import Path

import arch.data.core_cpi
import arch.data.default
import arch.data.frenchdata
import numpy as np
import pandas as pd
import pytest

from data import macro
from data.errors import DataError

GOOD = Path(__file__).parent / "fixtures" / "data_csv_good"
SESSIONS = pd.bdate_range("2014-01-01", "2018-12-31", name="date")


def test_core_cpi_waits_for_the_15th_of_next_month():
    cpi = arch.data.core_cpi.load()["CPILFESL"]
    days = pd.to_datetime(["2018-11-14", "2018-11-15", "2018-12-14", "2018-12-17"])
    series = macro.load_macro("core_cpi", days)
    # 2018-11-14: October's figure is not out yet, September's is; 2018-12-17 is the first session
    # on or after December 15 (a Saturday), when November's figure is out.
    expected = [cpi["2018-09-01"], cpi["2018-10-01"], cpi["2018-10-01"], cpi["2018-11-01"]]
    np.testing.assert_array_equal(series.to_numpy(), expected)
    assert series.attrs["frequency"] == "monthly" and "day 15 of month m+1" in series.attrs["release_lag"]


def test_long_yield_embedded_is_aaa_from_the_7th():
    aaa = arch.data.default.load()["AAA"]
    days = pd.to_datetime(["2018-11-06", "2018-11-07", "2018-12-31"])
    series = macro.load_macro("long_yield", days)
    np.testing.assert_array_equal(
        series.to_numpy(), [aaa["2018-09-01"], aaa["2018-10-01"], aaa["2018-11-01"]]
    )
    assert "Aaa" in series.attrs["description"] and "^TNX" in series.attrs["description"]


def test_tbill_rate_embedded_is_rf_of_the_current_month_annualised():
    raw = arch.data.frenchdata.load()
    rf = {divmod(int(stamp.value), 100): value for stamp, value in zip(raw.index, raw["RF"])}
    days = pd.to_datetime(["2018-10-31", "2018-11-01", "2018-11-30"])
    series = macro.load_macro("tbill_rate", days)
    np.testing.assert_allclose(
        series.to_numpy(), [rf[(2018, 10)] * 12 / 100, rf[(2018, 11)] * 12 / 100, rf[(2018, 11)] * 12 / 100]
    )
    assert series.attrs["release_lag"].startswith("month m known from its first session")


def test_nan_before_first_release_and_shape():
    days = pd.to_datetime(["1919-01-31", "1919-02-07", "1919-02-10"])
    series = macro.load_macro("long_yield", days)
    assert np.isnan(series.iloc[0])  # January 1919 (first month) is released 1919-02-07
    assert series.iloc[1] == 5.35
    assert (
        series.index.equals(pd.DatetimeIndex(days).as_unit("ns").rename("date"))
        and series.name == "long_yield"
    )
    assert set(series.attrs) == {"name", "description", "frequency", "release_lag", "current_through"}


@pytest.mark.parametrize("name, through", [("tbill_rate", "2018-11-30"), ("long_yield", "2019-02-06"),
                                           ("core_cpi", "2019-01-14")])
def test_a_monthly_series_ends_when_its_next_figure_is_due_and_missing(name, through):
    # RF of 2018-11 is the file's last (the December bill return is not in it); Moody's 2018-12 is
    # released 2019-01-07 and its successor would be on 2019-02-07; CPI 2018-11 on 2018-12-15, its
    # successor on 2019-01-15. Past that day the last figure is not carried on.
    last = pd.Timestamp(through)
    days = pd.DatetimeIndex([last, last + pd.Timedelta(days=1), pd.Timestamp("2022-12-28")])
    series = macro.load_macro(name, days)
    assert np.isfinite(series.iloc[0]) and series.iloc[1:].isna().all()
    assert series.attrs["current_through"] == through


@pytest.mark.parametrize(
    "name, loader, column",
    [
        ("core_cpi", "monthly_series", "CPILFESL"),
        ("long_yield", "monthly_series", "AAA"),
        ("tbill_rate", "french_rf", "RF"),
    ],
)
@pytest.mark.parametrize("cut", ["2015-03-13", "2016-12-30", "2018-06-15"])
def test_no_look_ahead(monkeypatch, name, loader, column, cut):
    """Perturbing every monthly figure released after session t leaves the series up to t unchanged,
    while perturbing the figure in force at t changes it (so the test can fail)."""
    cut = pd.Timestamp(cut)
    original = getattr(macro, loader)
    baseline = macro.load_macro(name, SESSIONS)
    rule = {
        "core_cpi": (macro.CPI_RELEASE_DAY, 1),
        "long_yield": (macro.AAA_RELEASE_DAY, 1),
        "tbill_rate": (1, 0),
    }
    day, months_later = rule[name]

    def perturbed(after_cut: bool):
        def load(*args):
            series = original(*args).copy()
            released = macro.release_dates(series.index, day, months_later)
            hit = released > cut if after_cut else released == released[released <= cut].max()
            series[hit] = series[hit] * 3.0 + 7.0
            return series

        return load

    monkeypatch.setattr(macro, loader, perturbed(after_cut=True))
    future_changed = macro.load_macro(name, SESSIONS)
    upto = SESSIONS <= cut
    np.testing.assert_array_equal(future_changed[upto].to_numpy(), baseline[upto].to_numpy())
    assert not np.array_equal(future_changed[~upto].to_numpy(), baseline[~upto].to_numpy())

    monkeypatch.setattr(macro, loader, perturbed(after_cut=False))
    present_changed = macro.load_macro(name, SESSIONS)
    assert present_changed[cut] != baseline[cut]


def test_as_of_uses_only_dates_up_to_each_session():
    known = pd.bdate_range("2018-01-01", periods=30)
    values = np.arange(30.0)
    sessions = pd.bdate_range("2017-12-28", periods=40)
    base = macro.as_of(values, known, sessions)
    for t in (5, 17, 29):
        changed = values.copy()
        changed[t + 1 :] += 100.0
        out = macro.as_of(changed, known, sessions)
        upto = sessions <= known[t]
        np.testing.assert_array_equal(out[upto], base[upto])


def test_long_yield_from_csv_undoes_x10_quotes():
    days = pd.to_datetime(["1981-09-25", "1981-09-28", "2018-12-26", "2018-12-28", "2019-01-02"])
    series = macro.load_macro("long_yield", days, source="csv", data_dir=GOOD)
    assert np.isnan(series.iloc[0])
    np.testing.assert_allclose(series.to_numpy()[1:], [15.84, 15.9, 2.736, 2.69])
    assert series.attrs["frequency"] == "daily"


def test_tbill_rate_from_csv_keeps_negative_yields():
    days = pd.to_datetime(["2015-09-24", "2018-12-31"])
    series = macro.load_macro("tbill_rate", days, source="csv", data_dir=GOOD)
    np.testing.assert_allclose(series.to_numpy(), [-0.003 / 100, 2.353 / 100])


def test_yield_percent_rule():
    np.testing.assert_array_equal(macro.yield_percent([20.0, 20.5, 4.15, 0.0]), [20.0, 2.05, 4.15, 0.0])


def test_bad_arguments():
    with pytest.raises(DataError, match="unknown macro series 'ten_year'"):
        macro.load_macro("ten_year", SESSIONS)
    with pytest.raises(DataError, match="sorted ascending"):
        macro.load_macro("core_cpi", SESSIONS[::-1])
    with pytest.raises(DataError, match="unknown data source"):
        macro.load_macro("core_cpi", SESSIONS, source="fred")
