"""The embedded source against the packages' own loaders and hand arithmetic on their files."""

from __future__ import annotations

import hashlib
import time

import arch.data.frenchdata
import arch.data.nasdaq
import arch.data.sp500
import arch.data.vix
import numpy as np
import pandas as pd
import pytest

import data
from data import embedded
from data.errors import DataError
from data.frames import COLUMNS, real_open_mask
from data.hashing import data_hash

UNIVERSE_LOADABLE = ["SPY", "QQQ", "XLE", "XLP", "XLF", "BIL", "SHY", "^VIX"]


@pytest.fixture(scope="module")
def skfolio_prices():
    skfolio_datasets = pytest.importorskip("skfolio.datasets")
    return skfolio_datasets.load_sp500_dataset()


def test_every_loadable_symbol_has_the_canonical_shape():
    frames = data.load(UNIVERSE_LOADABLE)
    assert list(frames) == UNIVERSE_LOADABLE
    for symbol, frame in frames.items():
        assert list(frame.columns) == [*COLUMNS, "real_open"]
        assert (frame[COLUMNS].dtypes == "float64").all() and frame["real_open"].dtype == bool
        assert frame.index.name == "date"
        assert frame.index.tz is None
        assert frame.index.is_monotonic_increasing and frame.index.is_unique
        assert (frame.index == frame.index.normalize()).all()
        assert set(frame.attrs) == {"symbol", "source", "proxy", "close_only", "has_volume", "segments"}
        assert frame.attrs["symbol"] == symbol and frame.attrs["source"] == "embedded"
        if frame.attrs["close_only"]:
            for column in ("open", "high", "low", "adj_close"):
                np.testing.assert_array_equal(frame[column], frame["close"])
            assert not frame["real_open"].any()
        if not frame.attrs["has_volume"]:
            assert (frame["volume"] == 0.0).all()
        segments = frame.attrs["segments"]
        rule = pd.Series(real_open_mask(frame["open"], frame["high"], frame["low"], frame["close"],
                                        frame.attrs["close_only"]), frame.index)
        assert segments[0]["first"] == f"{frame.index[0]:%Y-%m-%d}"
        assert segments[-1]["last"] == f"{frame.index[-1]:%Y-%m-%d}"
        for segment in segments:
            rows = frame.loc[segment["first"]:segment["last"]]
            # an OHLCV segment's opens are real but where data.frames' rule finds them stale
            np.testing.assert_array_equal(rows["real_open"].to_numpy(), rule.loc[rows.index].to_numpy())
            if segment["kind"] == "close-only":
                assert not rows["real_open"].any() and (rows["volume"] == 0.0).all()
                for column in ("open", "high", "low", "adj_close"):
                    np.testing.assert_array_equal(rows[column], rows["close"])


@pytest.mark.parametrize("symbol, module", [("SPY", arch.data.sp500), ("QQQ", arch.data.nasdaq)])
def test_index_proxies_equal_arch_loader_on_their_ohlcv_years(symbol, module):
    expected = module.load()
    frame = data.load(symbol, "1999-01-04", "2018-12-31")[symbol]
    np.testing.assert_array_equal(
        frame.index.to_numpy(), pd.DatetimeIndex(expected.index).as_unit("ns").to_numpy()
    )
    for ours, theirs in zip(COLUMNS, ["Open", "High", "Low", "Close", "Adj Close", "Volume"]):
        np.testing.assert_array_equal(frame[ours].to_numpy(), expected[theirs].to_numpy(dtype="float64"))
    assert frame.attrs["close_only"] is False and frame.attrs["has_volume"] is True
    # real opens are the vendor's opens except the stale ones (open = previous close)
    stale = expected["Open"].to_numpy()[1:] == expected["Close"].to_numpy()[:-1]
    np.testing.assert_array_equal(frame["real_open"].to_numpy()[1:], ~stale)


def test_sp500_known_closes_from_the_file():
    # Literal values from arch/data/sp500/sp500.csv.gz rows "10/10/2008,..." and "12/26/2018,...".
    spy = data.load("SPY", "2008-10-01", "2018-12-31")["SPY"]
    assert spy.loc["2008-10-10", "close"] == pytest.approx(899.219971, abs=1e-6)
    assert spy.loc["2018-12-26", "close"] == pytest.approx(2467.699951, abs=1e-6)
    assert spy.loc["2018-12-26", "open"] == pytest.approx(2363.120117, abs=1e-6)
    assert spy.index[0] == pd.Timestamp("2008-10-01")


def test_vix_equals_arch_loader_without_its_holiday_rows():
    raw = arch.data.vix.load()
    vix = data.load("^VIX")["^VIX"]
    kept = raw["vix"].dropna()
    np.testing.assert_array_equal(vix["close"].to_numpy(), kept.to_numpy())
    np.testing.assert_array_equal(vix.index.to_numpy(), pd.DatetimeIndex(kept.index).as_unit("ns").to_numpy())
    # Every dropped row is a day the S&P 500 did not trade (arch's own sp500 dates, plus 2019-01-01).
    dropped = raw.index[raw["vix"].isna()]
    sp500_days = set(arch.data.sp500.load().index)
    assert len(dropped) == 46
    assert not any(day in sp500_days for day in dropped)
    assert all(day.year < 2019 or day == pd.Timestamp("2019-01-01") for day in dropped)
    (repair,) = embedded.repairs()
    assert (repair.symbol, repair.rows) == ("^VIX", 46)


def test_sector_basket_first_steps_by_hand():
    # First rows of skfolio's sp500_dataset.csv.gz: XOM 4.068, 4.027, 3.987; CVX 4.991, 4.910, ...
    xle = data.load("XLE", end="1990-01-04")["XLE"]
    day2 = 100 * (1 + ((4.027 / 4.068 - 1) + (4.910 / 4.991 - 1)) / 2)
    assert xle["close"].iloc[0] == 100.0
    assert xle["close"].iloc[1] == pytest.approx(day2, rel=1e-12)


def test_sector_baskets_against_a_plain_loop(skfolio_prices):
    members = {"XLE": ["XOM", "CVX"], "XLP": ["KO", "PEP", "PG", "WMT"], "XLF": ["JPM", "BAC"]}
    frames = data.load(list(members), end="1991-12-31")
    for symbol, names in members.items():
        prices = skfolio_prices.loc[:"1991-12-31", names].to_numpy()
        level, expected = 100.0, [100.0]
        for row in range(1, len(prices)):
            level *= 1 + sum(prices[row, k] / prices[row - 1, k] - 1 for k in range(len(names))) / len(names)
            expected.append(level)
        np.testing.assert_allclose(frames[symbol]["close"].to_numpy(), expected, rtol=1e-12)


def test_large_cap_is_skfolio_column(skfolio_prices):
    aapl = data.load("AAPL")["AAPL"]
    np.testing.assert_array_equal(aapl["close"].to_numpy(), skfolio_prices["AAPL"].to_numpy())


def test_tbill_index_compounds_each_month_to_its_rf():
    raw = arch.data.frenchdata.load()
    # Decode arch's yyyymm-as-nanoseconds index independently of data.embedded.decode_yyyymm.
    rf = {divmod(int(stamp.value), 100): value for stamp, value in zip(raw.index, raw["RF"])}
    bil = data.load("BIL")["BIL"]["close"]
    month_end = bil.groupby([bil.index.year, bil.index.month]).last()
    keys = list(month_end.index)
    ratios = month_end.to_numpy()[1:] / month_end.to_numpy()[:-1]
    expected = np.array([1 + rf[key] / 100 for key in keys[1:]])
    np.testing.assert_allclose(ratios, expected, rtol=1e-12)
    assert keys[0] == (1990, 1) and keys[-1] == (2018, 11)  # RF ends 2018-11
    assert bil.iloc[0] == 100.0
    np.testing.assert_array_equal(data.load("SHY")["SHY"]["close"], bil)


def test_decode_yyyymm_on_arch_loader_output():
    months = embedded.decode_yyyymm(arch.data.frenchdata.load().index)
    assert (str(months[0]), str(months[-1]), len(months)) == ("1926-07", "2018-11", 1109)


def test_decode_yyyymm_rejects_non_month_codes():
    with pytest.raises(DataError, match="yyyymm"):
        embedded.decode_yyyymm(pd.Index([20181301]))


@pytest.mark.parametrize("symbol, text", [("SMH", "semiconductor"), ("^TNX", "10-year"), ("^IRX", "bill")])
def test_no_offline_series_is_a_plain_error(symbol, text):
    with pytest.raises(
        DataError, match=f"no daily series for \\{symbol}" if symbol[0] == "^" else symbol
    ) as err:
        data.load(symbol)
    assert text in str(err.value)


def test_unknown_symbol_lists_what_exists():
    with pytest.raises(DataError, match="no symbol NVDA; it knows .*SPY"):
        data.load("NVDA")


def test_symbol_spelling_is_forgiven_and_keys_are_as_asked():
    frames = data.load(["spy", "vix"], "2018-12-24", "2018-12-31")
    assert list(frames) == ["spy", "vix"]
    assert frames["vix"].attrs["symbol"] == "^VIX"
    assert frames["vix"].loc["2018-12-24", "close"] == pytest.approx(36.07)


def test_dates_cut_inclusive_and_history_checked():
    spy = data.load("SPY", "2018-12-24", "2018-12-28")["SPY"]
    assert [d.strftime("%m-%d") for d in spy.index] == ["12-24", "12-26", "12-27", "12-28"]
    assert data.load("SPY", "1990-01-01")["SPY"].index[0] == pd.Timestamp("1990-01-02")  # holiday start
    with pytest.raises(
        DataError, match="embedded SPY on 1989-12-01 breaks rule 'history covers start'.*1990-01-02"
    ):
        data.load("SPY", "1989-12-01")
    with pytest.raises(DataError, match="no rows"):
        data.load("SPY", "2023-02-01", "2023-03-01")


def test_returned_frames_are_copies():
    first = data.load("SPY")["SPY"]
    first.loc[:, "close"] = -1.0
    first.attrs["proxy"] = "changed"
    again = data.load("SPY")["SPY"]
    assert (again["close"] > 0).all() and again.attrs["proxy"] != "changed"


def test_unknown_source_and_bad_dates():
    with pytest.raises(DataError, match="unknown data source 'bloomberg'"):
        data.load("SPY", source="bloomberg")
    with pytest.raises(DataError, match="start 'last tuesday' is not a date"):
        data.load("SPY", start="last tuesday")


def test_seven_symbol_load_is_fast_from_cold():
    for cached in (embedded._arch_file, embedded._skfolio_file, embedded._built):
        cached.cache_clear()
    began = time.perf_counter()
    data.load(["SPY", "QQQ", "XLE", "XLP", "XLF", "BIL", "^VIX"])
    assert time.perf_counter() - began < 2.0


def test_notes_report_nasdaq_zero_volume_days():
    (zero_volume,) = [n for n in embedded.notes() if "volume is 0" in n]
    assert "2015-05-12" in zero_volume and "2018-01-09" in zero_volume
    raw = arch.data.nasdaq.load()
    assert list(raw.index[raw["Volume"] == 0].strftime("%Y-%m-%d")) == ["2015-05-12", "2018-01-09"]


def test_data_hash_is_content_only():
    frames = data.load(["SPY", "XLE"], "2018-01-02", "2018-03-30")
    reference = data_hash(frames)
    assert data_hash({"XLE": frames["XLE"], "SPY": frames["SPY"]}) == reference  # key order
    microseconds = {k: f.set_axis(f.index.as_unit("us")) for k, f in frames.items()}
    assert data_hash(microseconds) == reference  # index resolution
    nudged = {k: f.copy() for k, f in frames.items()}
    nudged["SPY"].iloc[10, 3] = np.nextafter(nudged["SPY"].iloc[10, 3], np.inf)
    assert data_hash(nudged) != reference
    assert data_hash({"SPX": frames["SPY"], "XLE": frames["XLE"]}) != reference
    shifted = {k: f.copy() for k, f in frames.items()}
    shifted["XLE"].index = shifted["XLE"].index + pd.Timedelta(days=1)
    assert data_hash(shifted) != reference


def test_data_hash_golden():
    # The byte layout is the contract behind run.json hashes: rebuilt here by hand from the docs.
    index = pd.to_datetime(["2018-01-02", "2018-01-03"])
    frame = pd.DataFrame({"close": [1.0, np.nan], "volume": [-0.0, 2.0]}, index=index)
    nanoseconds = np.array([1514851200, 1514937600], dtype="<i8") * 10**9
    layout = (
        b"symbol:X\ncolumns:close,volume\n"
        + b"index:"
        + nanoseconds.tobytes()
        + b"\nclose:"
        + np.array([1.0, np.nan], dtype="<f8").tobytes()
        + b"\nvolume:"
        + np.array([0.0, 2.0], dtype="<f8").tobytes()
        + b"\n"
    )
    assert data_hash({"X": frame}) == hashlib.sha256(layout).hexdigest()
    other_nan = frame.copy()
    other_nan.iloc[1, 0] = -np.nan  # another NaN bit pattern, same content
    assert data_hash({"X": other_nan}) == data_hash({"X": frame})
