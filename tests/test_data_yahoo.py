"""The yahoo source with an injected downloader: never the network.

`yf_download` rebuilds yfinance 1.7's `download()` output the way its multi.py does (per-ticker
`history()` frames, reindexed to a shared index, concatenated with keys, levels swapped to
(Price, Ticker) and sorted); one test drives yfinance's own download code with a fake Ticker.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import data
from data import cache as cache_module
from data import yahoo
from data.errors import DataError

DATES = ["2018-12-24", "2018-12-26", "2018-12-27", "2018-12-28", "2018-12-31"]
# SPY daily bars as Yahoo served them (unadjusted OHLC, Adj Close with dividends).
SPY_BARS = {
    "Open": [239.039993, 235.970001, 242.570007, 249.580002, 249.559998],
    "High": [240.839996, 246.179993, 248.289993, 251.399994, 250.190002],
    "Low": [234.270004, 233.759995, 238.960007, 246.449997, 247.470001],
    "Close": [234.339996, 246.179993, 248.070007, 247.750000, 249.919998],
    "Adj Close": [224.559555, 235.905365, 237.716461, 237.409790, 239.489288],
    "Volume": [147311600, 218485400, 186267300, 153100200, 144299400],
}


def history(bars=SPY_BARS, dates=DATES, auto_adjust=False, tz="America/New_York") -> pd.DataFrame:
    """What Ticker.history(actions=False) returns for a daily interval."""
    index = pd.DatetimeIndex(dates, name="Date").tz_localize(tz)
    frame = pd.DataFrame(
        {k: np.asarray(v, dtype="int64" if k == "Volume" else "float64") for k, v in bars.items()}
    )
    frame.index = index
    if auto_adjust:  # yfinance.utils.auto_adjust: scale OHLC by Adj Close / Close, drop Adj Close
        ratio = frame["Adj Close"] / frame["Close"]
        frame = pd.DataFrame(
            {
                "Open": frame["Open"] * ratio,
                "High": frame["High"] * ratio,
                "Low": frame["Low"] * ratio,
                "Close": frame["Adj Close"],
                "Volume": frame["Volume"],
            },
            index=index,
        )
    return frame


def yf_download(per_ticker: dict, ignore_tz=True, group_by="column", multi_level_index=True) -> pd.DataFrame:
    """yfinance.multi._download_impl's combining step."""
    frames = {t: f.copy() for t, f in per_ticker.items()}
    if ignore_tz:
        for f in frames.values():
            f.index = f.index.tz_localize(None)
    index = None
    for f in frames.values():
        index = f.index if index is None else index.union(f.index)
    frames = {t: f.reindex(index) for t, f in frames.items()}
    out = pd.concat(frames.values(), axis=1, sort=True, keys=frames.keys(), names=["Ticker", "Price"])
    if group_by == "column":
        out.columns = out.columns.swaplevel(0, 1)
        out = out.sort_index(level=0, axis=1)
    if not multi_level_index and len(frames) == 1:
        out = out.droplevel(0 if group_by == "ticker" else 1, axis=1).rename_axis(None, axis=1)
    return out


def failed_download() -> pd.DataFrame:
    """What yfinance.download returns when the one ticker failed: utils.empty_df() under the keys."""
    empty = pd.DataFrame(
        index=pd.DatetimeIndex([], name="Date"),
        data={c: np.nan for c in ["Open", "High", "Low", "Close", "Adj Close", "Volume"]},
    )
    return yf_download({"SPY": empty.tz_localize("America/New_York")})


class FakeDownload:
    """A downloader that records its calls and returns (or raises) what it is given."""

    def __init__(self, result):
        self.result = result
        self.calls = []

    def __call__(self, tickers, **kwargs):
        self.calls.append((tickers, kwargs))
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("PLAYBOOK_CACHE_DIR", str(folder))
    return folder


def test_adapter_unadjusted_multi_index():
    raw = yf_download({"SPY": history()})
    assert list(raw.columns.names) == ["Price", "Ticker"]
    frame = yahoo.from_yfinance(raw, "SPY")
    assert frame.index.tz is None and frame.index.name == "date"
    assert [d.strftime("%Y-%m-%d") for d in frame.index] == DATES
    np.testing.assert_array_equal(frame["close"], SPY_BARS["Close"])
    np.testing.assert_array_equal(frame["adj_close"], SPY_BARS["Adj Close"])
    np.testing.assert_array_equal(frame["volume"], np.asarray(SPY_BARS["Volume"], dtype=float))
    assert frame.attrs["close_only"] is False and frame.attrs["has_volume"] is True


def test_adapter_auto_adjusted_has_adj_close_equal_close():
    frame = yahoo.from_yfinance(yf_download({"SPY": history(auto_adjust=True)}), "SPY")
    np.testing.assert_array_equal(frame["adj_close"], SPY_BARS["Adj Close"])
    np.testing.assert_array_equal(frame["close"], SPY_BARS["Adj Close"])
    ratio = np.array(SPY_BARS["Adj Close"]) / np.array(SPY_BARS["Close"])
    np.testing.assert_allclose(frame["open"], np.array(SPY_BARS["Open"]) * ratio, rtol=1e-15)
    assert "auto-adjusted" in frame.attrs["proxy"]


def test_adapter_tz_aware_index_keeps_local_dates():
    raw = yf_download({"SPY": history(tz="America/New_York")}, ignore_tz=False)
    assert raw.index.tz is not None
    frame = yahoo.from_yfinance(raw, "SPY")
    assert [d.strftime("%Y-%m-%d") for d in frame.index] == DATES
    assert (frame.index == frame.index.normalize()).all() and frame.index.tz is None


def test_adapter_picks_its_ticker_and_drops_union_rows():
    qqq_bars = {k: (v[:3] if k != "Volume" else v[:3]) for k, v in SPY_BARS.items()}
    qqq = history(
        bars={k: [x / 2 for x in v] if k != "Volume" else v for k, v in qqq_bars.items()}, dates=DATES[:3]
    )
    raw = yf_download({"QQQ": qqq, "SPY": history()})
    assert raw.shape == (5, 12)
    spy = yahoo.from_yfinance(raw, "SPY")
    assert len(spy) == 5 and spy.loc["2018-12-31", "close"] == 249.919998
    only_qqq = yahoo.from_yfinance(raw, "QQQ")
    assert len(only_qqq) == 3  # the two rows yfinance's shared index added, all NaN, are dropped


def test_adapter_older_shapes():
    flat = yf_download({"SPY": history()}, multi_level_index=False)
    assert not isinstance(flat.columns, pd.MultiIndex)
    by_ticker = yf_download({"SPY": history()}, group_by="ticker")
    assert list(by_ticker.columns.names) == ["Ticker", "Price"]
    reference = yahoo.from_yfinance(yf_download({"SPY": history()}), "SPY")
    for raw in (flat, by_ticker):
        pd.testing.assert_frame_equal(yahoo.from_yfinance(raw, "SPY"), reference)


def test_adapter_keeps_partial_rows_for_validation(cache_dir):
    bars = {k: list(v) for k, v in SPY_BARS.items()}
    bars["Close"][2] = np.nan
    download = FakeDownload(yf_download({"SPY": history(bars=bars)}))
    with pytest.raises(DataError, match="SPY on 2018-12-27 breaks rule 'no missing values': close missing"):
        data.load("SPY", source="yahoo", download=download)


def test_adapter_on_yfinance_own_download_code(monkeypatch):
    yf_multi = pytest.importorskip("yfinance.multi")

    class FakeTicker:
        def __init__(self, ticker):
            self.ticker = ticker
            self._price_history = None

        def history(self, **kwargs):
            if self.ticker == "DOWN":
                raise ConnectionError(
                    "Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com"
                )
            return history(auto_adjust=kwargs["auto_adjust"])

    monkeypatch.setattr(yf_multi, "Ticker", FakeTicker)
    monkeypatch.setattr(yf_multi, "YfData", lambda session=None: None)
    monkeypatch.setattr(yf_multi, "new_session", lambda: object())
    reference = yahoo.from_yfinance(yf_download({"SPY": history()}), "SPY")
    for auto_adjust in (False, True):
        raw = yf_multi.download("SPY", auto_adjust=auto_adjust, progress=False, threads=False)
        frame = yahoo.from_yfinance(raw, "SPY")
        np.testing.assert_array_equal(frame["adj_close"], reference["adj_close"])
        pd.testing.assert_index_equal(frame.index, reference.index)
    raw = yf_multi.download("DOWN", progress=False, threads=False)
    assert raw.empty
    with pytest.raises(yahoo.DownloadFailed, match="no rows returned"):
        yahoo.from_yfinance(raw, "DOWN")


def test_download_arguments(cache_dir):
    download = FakeDownload(yf_download({"SPY": history()}))
    data.load("SPY", start="2018-12-24", end="2018-12-31", source="yahoo", download=download)
    ((ticker, kwargs),) = download.calls
    assert ticker == "SPY"
    assert kwargs["start"] == "2018-12-24" and kwargs["end"] == "2019-01-01"  # yfinance's end is exclusive
    assert kwargs["auto_adjust"] is False and kwargs["progress"] is False
    download.calls.clear()
    data.load("SPY", source="yahoo", download=download, refresh=True)
    ((_, kwargs),) = download.calls
    assert kwargs["period"] == "max" and "start" not in kwargs and "end" not in kwargs


def test_cache_is_written_and_reused(cache_dir):
    download = FakeDownload(yf_download({"SPY": history()}))
    first = data.load("SPY", "2018-12-24", "2018-12-31", source="yahoo", download=download)["SPY"]
    path = cache_dir / "SPY.csv"
    assert path.is_file() and len(download.calls) == 1
    assert (
        path.read_text()
        .splitlines()[0]
        .startswith("# playbook-backtest cache v1 symbol=SPY start=2018-12-24 end=2018-12-31 downloaded=")
    )
    again = data.load("SPY", "2018-12-26", "2018-12-28", source="yahoo", download=download)["SPY"]
    assert len(download.calls) == 1  # covered by the cache: no download
    pd.testing.assert_frame_equal(again, first.loc["2018-12-26":"2018-12-28"])
    assert list(os.listdir(cache_dir)) == ["SPY.csv"]


def test_cache_round_trip_is_exact(cache_dir):
    frame = yahoo.from_yfinance(yf_download({"SPY": history()}), "SPY")
    path = cache_module.cache_path(cache_dir, "SPY")
    meta = cache_module.CacheMeta("SPY", None, None, pd.Timestamp("2024-06-03T10:00:00"))
    cache_module.write_cache(path, frame, meta)
    back, meta_back = cache_module.read_cache(path, frame.attrs["proxy"])
    pd.testing.assert_frame_equal(back, frame)
    assert back.attrs == frame.attrs and meta_back == meta


def test_refresh_downloads_again(cache_dir):
    download = FakeDownload(yf_download({"SPY": history()}))
    data.load("SPY", source="yahoo", download=download)
    data.load("SPY", source="yahoo", download=download, refresh=True)
    assert len(download.calls) == 2


def test_uncovered_start_widens_the_download(cache_dir):
    download = FakeDownload(yf_download({"SPY": history()}))
    data.load("SPY", "2018-12-26", "2018-12-31", source="yahoo", download=download)
    data.load("SPY", "2018-12-24", "2018-12-28", source="yahoo", download=download)
    (_, kwargs) = download.calls[1]
    assert (kwargs["start"], kwargs["end"]) == ("2018-12-24", "2019-01-01")


@pytest.mark.parametrize("failure", [failed_download(), ConnectionError("Could not resolve host\nmore")])
def test_network_failure_uses_cache_with_one_line_warning(cache_dir, failure):
    good = FakeDownload(yf_download({"SPY": history()}))
    cached = data.load("SPY", "2018-12-24", "2018-12-31", source="yahoo", download=good)["SPY"]
    broken = FakeDownload(failure)
    with pytest.warns(UserWarning) as record:
        frames = data.load("SPY", "2018-12-24", "2018-12-31", source="yahoo", download=broken, refresh=True)
    pd.testing.assert_frame_equal(frames["SPY"], cached)
    (warning,) = record
    text = str(warning.message)
    assert text.startswith("yahoo download of SPY failed (")
    assert f"using the cache {cache_dir / 'SPY.csv'}" in text and "2018-12-24 to 2018-12-31" in text
    assert "\n" not in text


@pytest.mark.parametrize(
    "failure, reason",
    [(failed_download(), "no rows returned"), (ConnectionError("Could not resolve host"), "ConnectionError")],
)
def test_network_failure_without_cache_is_a_data_error(cache_dir, failure, reason):
    with pytest.raises(DataError) as err:
        data.load("SPY", source="yahoo", download=FakeDownload(failure))
    text = str(err.value)
    assert text.startswith(f"yahoo download of SPY failed ({reason}")
    assert f"there is no cache file {cache_dir / 'SPY.csv'}" in text and "\n" not in text
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def test_atomic_write_leaves_old_file_and_no_temp(cache_dir, monkeypatch):
    download = FakeDownload(yf_download({"SPY": history()}))
    data.load("SPY", source="yahoo", download=download)
    path = cache_dir / "SPY.csv"
    before = path.read_bytes()

    def explode(self, handle, **kwargs):
        handle.write("date,open\n2018-12-24,1")  # half a file, then the disk fills
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", explode)
    with pytest.raises(OSError, match="No space left"):
        data.load("SPY", source="yahoo", download=download, refresh=True)
    assert path.read_bytes() == before
    assert os.listdir(cache_dir) == ["SPY.csv"]


def test_atomic_write_on_first_download_leaves_nothing(cache_dir, monkeypatch):
    def explode(self, handle, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", explode)
    with pytest.raises(OSError):
        data.load("SPY", source="yahoo", download=FakeDownload(yf_download({"SPY": history()})))
    assert os.listdir(cache_dir) == []


def test_corrupt_cache_is_a_data_error(cache_dir):
    cache_dir.mkdir()
    (cache_dir / "SPY.csv").write_text("date,open\n2018-12-24,1\n")
    with pytest.raises(DataError, match="has no playbook-backtest header; delete it or use --refresh"):
        data.load("SPY", source="yahoo", download=FakeDownload(RuntimeError("unused")))


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("PLAYBOOK_CACHE_DIR", raising=False)
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda app: str(tmp_path / "user" / app))
    assert cache_module.resolve_cache_dir() == tmp_path / "user" / "playbook-backtest"
    monkeypatch.setenv("PLAYBOOK_CACHE_DIR", str(tmp_path / "env"))
    assert cache_module.resolve_cache_dir() == tmp_path / "env"
    assert cache_module.resolve_cache_dir(tmp_path / "flag") == tmp_path / "flag"


def test_cache_dir_never_inside_the_package():
    package = Path(data.__file__).parent
    with pytest.raises(DataError, match="inside the package folder"):
        cache_module.resolve_cache_dir(package / "cache")


def test_fetch_downloads_skips_and_fails_loudly(cache_dir):
    download = FakeDownload(yf_download({"SPY": history()}))
    result = yahoo.fetch("SPY", pd.Timestamp("2018-12-24"), pd.Timestamp("2018-12-31"), download=download)
    assert result.downloaded and result.rows == 5 and result.path == cache_dir / "SPY.csv"
    again = yahoo.fetch("SPY", pd.Timestamp("2018-12-24"), pd.Timestamp("2018-12-31"), download=download)
    assert not again.downloaded and len(download.calls) == 1
    before = result.path.read_bytes()
    with pytest.raises(
        DataError, match=r"yahoo download of SPY failed \(OSError: offline\); nothing written"
    ):
        yahoo.fetch("SPY", refresh=True, download=FakeDownload(OSError("offline")))
    assert result.path.read_bytes() == before  # fetch never falls back: the cache is left as it was


def test_cache_meta_coverage():
    meta = cache_module.CacheMeta(
        "SPY", pd.Timestamp("2010-01-04"), pd.Timestamp("2018-12-31"), pd.Timestamp("2024-01-01")
    )
    assert meta.covers(pd.Timestamp("2012-01-01"), pd.Timestamp("2018-12-31"))
    assert not meta.covers(pd.Timestamp("2009-01-01"), pd.Timestamp("2018-12-31"))
    assert not meta.covers(pd.Timestamp("2012-01-01"), pd.Timestamp("2019-01-02"))
    assert not meta.covers(pd.Timestamp("2012-01-01"), None)
    assert not meta.covers(None, pd.Timestamp("2012-01-01"))
