"""Every validation rule, on small frames whose faults are placed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.errors import DataError
from data.frames import close_only_frame, price_frame, to_date
from data.validate import OHLC_RTOL, START_SLACK_SESSIONS, validate_frame

DAYS = pd.to_datetime(["2018-12-24", "2018-12-26", "2018-12-27", "2018-12-28", "2018-12-31"])


def frame(**changes) -> pd.DataFrame:
    """Five good sessions; changes = {column: {row: value}}."""
    table = pd.DataFrame(
        {
            "open": [10.0, 10.5, 11.0, 10.8, 11.2],
            "high": [10.9, 11.2, 11.4, 11.3, 11.6],
            "low": [9.8, 10.1, 10.6, 10.5, 11.0],
            "close": [10.4, 11.0, 10.9, 11.1, 11.5],
            "adj_close": [10.3, 10.9, 10.8, 11.0, 11.4],
            "volume": [1e6, 2e6, 3e6, 4e6, 5e6],
        },
        index=DAYS,
    )
    for column, rows in changes.items():
        for row, value in rows.items():
            table.iloc[row, table.columns.get_loc(column)] = value
    return price_frame(table, symbol="XLE", source="csv", proxy="test")


def check(f, start=None, end=None, rate=False):
    return validate_frame(f, "XLE", "csv file XLE.csv", to_date(start), to_date(end), rate=rate)


def test_good_frame_passes_and_is_cut_inclusive():
    out = check(frame(), "2018-12-26", "2018-12-28")
    assert list(out.index) == list(DAYS[1:4])
    assert out.attrs["symbol"] == "XLE"


def test_unsorted_dates():
    f = frame().iloc[[0, 2, 1, 3, 4]]
    with pytest.raises(DataError) as err:
        check(f)
    assert str(err.value) == (
        "csv file XLE.csv XLE on 2018-12-26 breaks rule 'dates sorted ascending': it follows 2018-12-27"
    )


def test_duplicate_dates():
    f = frame().iloc[[0, 1, 1, 2, 3, 4]]
    with pytest.raises(DataError, match="XLE on 2018-12-26 breaks rule 'dates unique'.*1 repeated"):
        check(f)


def test_sortedness_is_checked_outside_the_window_too():
    f = frame().iloc[[1, 0, 2, 3, 4]]
    with pytest.raises(DataError, match="dates sorted ascending"):
        check(f, "2018-12-27", "2018-12-31")


@pytest.mark.parametrize("value, shown", [(0.0, "0.0"), (-10.5, "-10.5"), (np.inf, "inf")])
def test_prices_positive(value, shown):
    with pytest.raises(DataError) as err:
        check(frame(close={2: value}))
    assert str(err.value) == (
        f"csv file XLE.csv XLE on 2018-12-27 breaks rule 'prices positive': close = {shown} "
        "is not a positive number (1 row(s))"
    )


def test_adj_close_positive_too():
    with pytest.raises(DataError, match="on 2018-12-31 breaks rule 'prices positive': adj_close = 0.0"):
        check(frame(adj_close={4: 0.0}))


def test_rate_allows_zero_and_negative_but_not_infinite():
    f = frame()
    prices = ["open", "high", "low", "close", "adj_close"]
    f[prices] = f[prices] - 10.5  # a yield around zero, negative on some sessions (moves under 3 points)
    assert (f["low"] < 0).any() and (f["close"] > 0).any()
    assert len(check(f, rate=True)) == 5
    with pytest.raises(DataError, match="prices positive"):
        check(f)
    with pytest.raises(DataError, match="'values finite'"):
        check(frame(high={1: np.inf}), rate=True)


@pytest.mark.parametrize(
    "changes, day",
    [
        ({"high": {1: 10.0}}, "2018-12-26"),  # high below low
        ({"close": {2: 11.5}}, "2018-12-27"),  # close above high
        ({"open": {3: 10.4}}, "2018-12-28"),  # open below low
        ({"close": {0: 9.7}}, "2018-12-24"),  # close below low
        ({"open": {4: 11.7}}, "2018-12-31"),  # open above high
    ],
)
def test_ohlc_order(changes, day):
    with pytest.raises(DataError, match=f"on {day} breaks rule 'low <= open, close <= high'"):
        check(frame(**changes))


def test_ohlc_tolerance_is_float_rounding_only():
    high = 11.4
    assert len(check(frame(close={2: high * (1 + OHLC_RTOL / 10)}))) == 5
    with pytest.raises(DataError, match="low <= open, close <= high"):
        check(frame(close={2: high * (1 + 1e-6)}))  # a real vendor error of ~1e-5 is reported


def test_gaps_reported_with_count_and_span():
    f = frame(close={1: np.nan}, volume={3: np.nan})
    with pytest.raises(DataError) as err:
        check(f)
    assert str(err.value) == (
        "csv file XLE.csv XLE on 2018-12-26 breaks rule 'no missing values': close missing; "
        "2 row(s) with gaps between 2018-12-26 and 2018-12-28 (gaps are not filled)"
    )


def test_gap_outside_the_window_is_not_an_error():
    assert len(check(frame(close={0: np.nan}), "2018-12-26")) == 4


def test_negative_volume():
    with pytest.raises(DataError, match="on 2018-12-28 breaks rule 'volume non-negative': volume = -1.0"):
        check(frame(volume={3: -1.0}))


def test_history_slack_in_weekdays():
    first = DAYS[0]  # Monday 2018-12-24
    ok_start = first - pd.offsets.BDay(START_SLACK_SESSIONS)
    assert check(frame(), ok_start).index[0] == first
    too_early = first - pd.offsets.BDay(START_SLACK_SESSIONS + 1)
    with pytest.raises(DataError) as err:
        check(frame(), too_early)
    assert str(err.value) == (
        f"csv file XLE.csv XLE on {too_early:%Y-%m-%d} breaks rule 'history covers start': the series starts "
        f"on 2018-12-24, {START_SLACK_SESSIONS + 1} weekdays after the start asked for"
    )


def test_no_rows_in_range():
    with pytest.raises(
        DataError, match="'rows in range': no rows from 2019-01-02 to the end; the series covers"
    ):
        check(frame(), "2019-01-02")
    with pytest.raises(DataError, match="no rows from 2018-12-25 to 2018-12-25"):
        check(frame(), "2018-12-25", "2018-12-25")
    with pytest.raises(DataError, match="the start is after the end 2018-12-24"):
        check(frame(), "2018-12-28", "2018-12-24")


def test_close_only_frame_passes():
    close = pd.Series([100.0, 101.0, 99.0], index=DAYS[:3])
    f = close_only_frame(close, symbol="XLP", source="embedded", proxy="basket")
    assert validate_frame(f, "XLP", "embedded").attrs["close_only"] is True


def test_empty_series():
    with pytest.raises(DataError, match="the series is empty"):
        check(frame().iloc[:0])


# --- real opens (data.frames.real_open_mask, the one rule every source goes through) ---------------


def _ohlc(opens, closes, highs=None, lows=None):
    idx = pd.bdate_range("2018-01-01", periods=len(closes))
    highs = highs or [max(o, c) + 1.0 for o, c in zip(opens, closes)]
    lows = lows or [min(o, c) - 1.0 for o, c in zip(opens, closes)]
    table = pd.DataFrame({"open": opens, "high": highs, "low": lows, "close": closes,
                          "adj_close": closes, "volume": 1.0}, index=idx)
    return price_frame(table, symbol="SPY", source="csv", proxy="test")


def test_stale_open_is_not_real():
    # the second open repeats the first close to the binary digit; the third is a real open that
    # happens to be near (not at) the previous close
    frame = _ohlc([100.0, 101.25, 102.01], [101.25, 102.0, 103.0])
    assert frame["real_open"].tolist() == [True, False, True]
    # a decimal text round trip (float printing) still compares equal
    frame = _ohlc([100.0, float(repr(101.25 * 1.0))], [101.25, 102.0])
    assert frame["real_open"].tolist() == [True, False]


def test_close_only_rows_and_series_have_no_real_open():
    # a spliced history: two close-only rows (O = H = L = C), then OHLC rows
    frame = _ohlc([10.0, 11.0, 11.5, 12.5], [10.0, 11.0, 12.0, 13.0],
                  highs=[10.0, 11.0, 12.5, 13.5], lows=[10.0, 11.0, 11.0, 12.0])
    assert frame["real_open"].tolist() == [False, False, True, True]
    series = pd.Series([1.0, 2.0], index=pd.bdate_range("2018-01-01", periods=2))
    assert not close_only_frame(series, symbol="XLE", source="embedded", proxy="b")["real_open"].any()
    # a source may only remove real opens, never add them
    table = _ohlc([100.0, 102.0], [101.0, 103.0])
    forced = price_frame(table, symbol="SPY", source="csv", proxy="t", real_open=[False, True])
    assert forced["real_open"].tolist() == [False, True]


def test_every_loaded_frame_carries_real_open_and_validation_insists():
    frame = _ohlc([100.0, 102.0], [101.0, 103.0])
    validate_frame(frame, "SPY", "csv file SPY.csv")
    with pytest.raises(DataError, match="real_open"):
        validate_frame(frame.drop(columns="real_open"), "SPY", "csv file SPY.csv")


def test_embedded_sp500_opens_are_stale_before_2006_and_nasdaq_is_clean():
    """The figures `data validate` prints, recomputed with pandas from arch's own files."""
    import data
    from data.embedded import arch_table
    from data.validate import stale_opens

    frames = data.load(["SPY", "QQQ", "XLE"], "1999-01-01", "2018-12-31")
    table = stale_opens(frames["SPY"])
    raw = arch_table("sp500")
    by_pandas = (raw["Open"] == raw["Close"].shift()).groupby(raw.index.year).mean()
    np.testing.assert_allclose(table["share"].to_numpy(), by_pandas.to_numpy(), atol=1e-12)
    assert (table.loc[1999:2005, "share"] > 0.94).all()
    assert 0.40 < table.loc[2006, "share"] < 0.45 and 0.25 < table.loc[2013, "share"] < 0.27
    assert (table.loc[2016:2018, "share"] == 0).all()
    assert (~frames["SPY"]["real_open"]).sum() == table["stale"].sum()
    assert stale_opens(frames["QQQ"])["share"].max() < 0.01
    assert not frames["XLE"]["real_open"].any()
