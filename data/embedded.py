"""The offline source: real daily history shipped inside installed packages (arch, skfolio).

The files are read straight from the installed packages' data folders with the same parsing their own
loaders use, because importing skfolio to call its loader costs over a second (it pulls in
scikit-learn). Each raw file is read once per process (functools.lru_cache); callers get copies.

What stands for which playbook symbol is in `data.universe.UNIVERSE`. The arithmetic proxies:
- a sector basket is equal-weight, rebalanced every session, from adjusted closes, 100 at its first
  session: level_t = 100 * prod_{s<=t} (1 + mean_i r_i,s), with r_i,s the daily return of member i;
- the T-bill index compounds Fama-French RF, the one-month T-bill return of month m (known when the
  bill is bought at the start of month m), spread geometrically over that month's sessions, 100 at
  its first session: each session of month m grows the index by (1 + RF_m)^(1 / sessions in m).

SPY and QQQ are spliced (`splice`): the OHLCV index arch ships for 1999-01-04 to 2018-12-31, and a
close-only stand-in before and after it, so that the history runs 1990-01-02 to 2022-12-28:
- SPY: skfolio's S&P 500 index close, used as printed. It is the same index as arch's: on their 5031
  shared sessions the two closes differ by at most 0.000117 points (tolerance SEAM_CLOSE_ATOL), so no level
  adjustment is made and the return across each seam is skfolio's own to within 1e-7.
- QQQ: an equal-weight basket of AAPL, MSFT and AMD (no Nasdaq index ships for those years), chained
  to the Composite at each seam: the segment after 2018-12-31 is scaled so that it starts from the
  Composite's 2018-12-31 close; the segment before 1999-01-04 is scaled so that its last close is the
  Composite's 1999-01-04 close divided by the basket's 1999-01-04 return. A constant factor on a whole
  segment changes none of its returns, so across each seam the return is the basket's, and a price
  after the seam's first session changes nothing before it (tests/test_history.py perturbs it).
On a close-only segment open = high = low = close, volume 0 and `real_open` is False (a decision at
close t cannot fill at an open there); `attrs["segments"]` lists each segment's source, kind, first
and last session. Every embedded frame carries `real_open` and `segments` (one segment when not
spliced).

One repair is applied, only here, and listed by `repairs()` and `cli.py data validate`: arch's VIX file
lists every weekday with "." on exchange holidays; those empty rows on days that are not trading days
(per skfolio's 1990-2022 S&P 500 dates) are dropped. An empty VIX row on a trading day would stay
and fail validation.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import DataError
from data.frames import close_only_frame, price_frame
from data.universe import UNIVERSE, canonical_symbol

SOURCE = "embedded"
# skfolio's sp500_index prints the S&P 500 close to the cent, arch's file carries float32 noise of the same
# prints (1028.060059 for 1028.06): on their 5031 shared sessions the closes differ by at most 0.000117
# points, 5.7e-8 relative (measured 2026-12-01): the same index.
SEAM_CLOSE_ATOL = 2e-4
REAL_OPEN = "real_open"
SPLICED = {
    "SPY": ("sp500", "arch sp500 (S&P 500 OHLCV)", "skfolio sp500_index (S&P 500 close)"),
    "QQQ": ("nasdaq", "arch nasdaq (NASDAQ Composite OHLCV)",
            "skfolio sp500_dataset: tech basket AAPL, MSFT, AMD, equal weight"),
}


@dataclass(frozen=True)
class Segment:
    """A stretch of a series from one source: kind "ohlcv" (real open, high, low, volume) or
    "close-only" (only a close: open = high = low = close, volume 0, no real open)."""

    source: str
    kind: str
    first: pd.Timestamp
    last: pd.Timestamp

    def as_dict(self) -> dict:
        return {"source": self.source, "kind": self.kind, "first": f"{self.first:%Y-%m-%d}",
                "last": f"{self.last:%Y-%m-%d}"}


@dataclass(frozen=True)
class Repair:
    """A documented change the embedded source makes to a shipped file before validation."""

    symbol: str
    rule: str
    rows: int
    detail: str


def _package_file(package: str, *parts: str) -> Path:
    """Path of a data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"embedded data needs the package {package}, which is not installed")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.is_file():
        raise DataError(f"embedded data file {path} is missing from the installed {package}")
    return path


@lru_cache(maxsize=16)
def _arch_file(folder: str, filename: str) -> pd.DataFrame:
    """An arch.data csv.gz as arch's own loader returns it: "Date" m/d/Y index, numeric columns,
    "." (FRED's empty value) as NaN."""
    frame = pd.read_csv(_package_file("arch", "data", folder, filename), na_values=["."])
    if "Date" in frame:
        if folder != "frenchdata":
            frame["Date"] = pd.to_datetime(frame["Date"], format="%m/%d/%Y")
        frame = frame.set_index("Date")
    return frame.apply(pd.to_numeric)


@lru_cache(maxsize=16)
def _skfolio_file(filename: str) -> pd.DataFrame:
    """A skfolio.datasets csv.gz as skfolio's loader returns it: ISO "Date" index."""
    frame = pd.read_csv(_package_file("skfolio", "datasets", "data", filename), index_col=0)
    frame.index = pd.to_datetime(frame.index, format="%Y-%m-%d")
    return frame


def arch_table(name: str) -> pd.DataFrame:
    """A copy of one arch.data table: sp500, nasdaq, vix, default, core_cpi, frenchdata."""
    filename = {"core_cpi": "core-cpi.csv.gz"}.get(name, f"{name}.csv.gz")
    return _arch_file(name, filename).copy()


def skfolio_prices() -> pd.DataFrame:
    """A copy of skfolio's 20 large caps, daily adjusted closes 1990-01-02 to 2022-12-28."""
    return _skfolio_file("sp500_dataset.csv.gz").copy()


def trading_days() -> pd.DatetimeIndex:
    """The S&P 500's trading days 1990-01-02 to 2022-12-28, from skfolio's index file."""
    return pd.DatetimeIndex(_skfolio_file("sp500_index.csv.gz").index)


def decode_yyyymm(index) -> pd.PeriodIndex:
    """Months from a yyyymm integer index, also when a loader parsed it as nanoseconds since 1970.

    arch.data.frenchdata.load() passes the integer column 192607 through pd.to_datetime, which reads
    it as 192607 ns after the epoch; the integer is recovered from the nanosecond count.

    >>> decode_yyyymm(pd.to_datetime([192607, 201811]))
    PeriodIndex(['1926-07', '2018-11'], dtype='period[M]')
    >>> decode_yyyymm(pd.Index([199001]))
    PeriodIndex(['1990-01'], dtype='period[M]')
    """
    if isinstance(index, pd.DatetimeIndex):
        codes = index.as_unit("ns").asi8
    else:
        codes = np.asarray(index, dtype="int64")
    years, months = np.divmod(codes, 100)
    if not ((years >= 1900) & (years <= 2200) & (months >= 1) & (months <= 12)).all():
        raise DataError(f"Fama-French dates are not yyyymm integers (first value {codes[0]})")
    return pd.PeriodIndex.from_fields(year=years, month=months, freq="M")


def french_rf() -> pd.Series:
    """Fama-French RF, the one-month T-bill return in percent per month, indexed by month."""
    table = arch_table("frenchdata")
    return pd.Series(table["RF"].to_numpy(dtype="float64"), index=decode_yyyymm(table.index), name="RF")


def monthly_series(name: str, column: str) -> pd.Series:
    """A monthly arch table column (default: AAA, BAA; core_cpi: CPILFESL) indexed by month."""
    table = arch_table(name)
    return pd.Series(table[column].to_numpy(dtype="float64"), index=table.index.to_period("M"), name=column)


def basket_index(prices: pd.DataFrame) -> pd.Series:
    """Equal-weight basket, rebalanced every session, 100 at the first date.

    >>> p = pd.DataFrame({"a": [10.0, 11.0, 11.0], "b": [20.0, 20.0, 18.0]},
    ...                  index=pd.to_datetime(["2018-01-02", "2018-01-03", "2018-01-04"]))
    >>> basket_index(p).round(6).tolist()      # +5% (= (10% + 0%) / 2), then -5%
    [100.0, 105.0, 99.75]
    """
    returns = prices.pct_change().iloc[1:].mean(axis=1)
    growth = np.concatenate([[100.0], 100.0 * np.cumprod(1.0 + returns.to_numpy())])
    return pd.Series(growth, index=prices.index)


def tbill_index(rf_percent: pd.Series, sessions: pd.DatetimeIndex) -> pd.Series:
    """Total-return index of one-month T-bills on `sessions`, 100 at the first session.

    Month m's return RF_m (percent, known at the start of m) accrues geometrically over the sessions
    of m, so the index grows by exactly 1 + RF_m from the last session of m-1 to the last of m.
    Sessions in months without an RF figure are dropped.

    >>> s = pd.to_datetime(["2018-01-30", "2018-01-31", "2018-02-01", "2018-02-02"])
    >>> rf = pd.Series([0.1, 0.2], index=pd.period_range("2018-01", periods=2, freq="M"))
    >>> tbill_index(rf, s).round(6).tolist()   # Jan: 1.001 over 2 sessions; Feb: 1.002 over 2
    [100.0, 100.049988, 100.149988, 100.250087]
    """
    months = sessions.to_period("M")
    keep = months.isin(rf_percent.index)
    sessions, months = sessions[keep], months[keep]
    per_month = pd.Series(1, index=months).groupby(level=0).transform("size").to_numpy()
    monthly_growth = 1.0 + rf_percent.reindex(months).to_numpy() / 100.0
    daily_growth = monthly_growth ** (1.0 / per_month)
    level = 100.0 * np.cumprod(daily_growth) / daily_growth[0]
    return pd.Series(level, index=sessions)


def splice(ohlcv: pd.DataFrame, stand_in: pd.Series, chain: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """The OHLCV table (arch columns Open..Volume) with the close-only `stand_in` before and after it.

    Returns (table with the COLUMNS, real_open flags). `stand_in` must hold the OHLCV table's first
    and last sessions (the seams). With `chain` each stand-in segment is scaled to meet the OHLCV
    close at its seam (see the module docstring); without it the stand-in is used as printed.

    >>> days = pd.to_datetime(["2018-12-28", "2018-12-31", "2019-01-02", "2019-01-03"])
    >>> arch = pd.DataFrame({"Open": [9.0, 10.0], "High": [10.5, 11.0], "Low": [8.5, 9.5],
    ...                      "Close": [10.0, 10.5], "Adj Close": [10.0, 10.5], "Volume": [5.0, 6.0]},
    ...                     index=days[:2])
    >>> basket = pd.Series([100.0, 110.0, 121.0, 108.9], index=days)
    >>> table, real_open = splice(arch, basket, chain=True)
    >>> table["close"].round(6).tolist(), real_open.tolist()   # +10% and -10% after the seam: the basket's
    ([10.0, 10.5, 11.55, 10.395], [True, True, False, False])
    """
    first, last = ohlcv.index[0], ohlcv.index[-1]
    missing = [f"{day:%Y-%m-%d}" for day in (first, last) if day not in stand_in.index]
    if missing:
        raise DataError(f"the close-only stand-in has no close on the seam session(s) {', '.join(missing)}")
    before = stand_in[stand_in.index < first]
    after = stand_in[stand_in.index > last]
    if chain:
        before = before * (float(ohlcv["Close"].loc[first]) / float(stand_in.loc[first]))
        after = after * (float(ohlcv["Close"].loc[last]) / float(stand_in.loc[last]))
    middle = pd.DataFrame({"open": ohlcv["Open"], "high": ohlcv["High"], "low": ohlcv["Low"],
                           "close": ohlcv["Close"], "adj_close": ohlcv["Adj Close"],
                           "volume": ohlcv["Volume"]}, index=ohlcv.index)
    table = pd.concat([_close_rows(before), middle, _close_rows(after)])
    real_open = np.concatenate([np.zeros(len(before), bool), np.ones(len(ohlcv), bool),
                                np.zeros(len(after), bool)])
    return table, real_open


def _close_rows(close: pd.Series) -> pd.DataFrame:
    values = close.to_numpy(dtype="float64")
    return pd.DataFrame({"open": values, "high": values, "low": values, "close": values,
                         "adj_close": values, "volume": np.zeros(len(values))}, index=close.index)


def _segments(index: pd.DatetimeIndex, real_open: np.ndarray, ohlcv_source: str,
              stand_in_source: str) -> list[Segment]:
    """Runs of equal `real_open` as segments (a spliced series: close-only, OHLCV, close-only)."""
    segments, start = [], 0
    for stop in range(1, len(index) + 1):
        if stop == len(index) or real_open[stop] != real_open[start]:
            kind, source = ("ohlcv", ohlcv_source) if real_open[start] else ("close-only", stand_in_source)
            segments.append(Segment(source, kind, index[start], index[stop - 1]))
            start = stop
    return segments


def _finish(frame: pd.DataFrame, real_open, segments: list[Segment]) -> pd.DataFrame:
    """Add the real_open column and the segments entry that every embedded frame carries.

    `real_open` (False on a close-only segment) can only turn rows False: a stale open inside an OHLCV
    segment stays False as data.frames' rule found it (price_frame set the column)."""
    found = frame[REAL_OPEN].to_numpy(bool) if REAL_OPEN in frame else np.ones(len(frame), bool)
    frame[REAL_OPEN] = found & np.asarray(real_open, dtype=bool)
    frame.attrs["segments"] = [segment.as_dict() for segment in segments]
    return frame


def _stand_in_close(symbol: str) -> pd.Series:
    """The close-only series a spliced symbol uses outside its OHLCV years."""
    members = UNIVERSE[symbol].members
    if members:
        return basket_index(skfolio_prices()[list(members)])
    return _skfolio_file("sp500_index.csv.gz")["SP500"]


def _spliced(symbol: str, proxy: str) -> pd.DataFrame:
    table_name, ohlcv_source, stand_in_source = SPLICED[symbol]
    ohlcv = arch_table(table_name)
    chain = bool(UNIVERSE[symbol].members)  # SPY's stand-in is the same index: used as printed
    table, real_open = splice(ohlcv, _stand_in_close(symbol), chain)
    frame = price_frame(table, symbol=symbol, source=SOURCE, proxy=proxy, close_only=False, has_volume=True)
    return _finish(frame, real_open, _segments(frame.index, real_open, ohlcv_source, stand_in_source))


def seam_agreement() -> dict:
    """How far skfolio's S&P 500 close is from arch's on their shared sessions, the return across
    each SPY seam against skfolio's own, and how QQQ's tech basket tracks the NASDAQ Composite (the
    figures docs/data.md quotes)."""
    arch_close = arch_table("sp500")["Close"]
    stand_in = _skfolio_file("sp500_index.csv.gz")["SP500"]
    shared = arch_close.index.intersection(stand_in.index)
    gap = (stand_in[shared] - arch_close[shared]).abs()
    spliced = _built("SPY")["close"]
    seams = {}
    for day in (arch_close.index[0], stand_in.index[stand_in.index > arch_close.index[-1]][0]):
        i = spliced.index.get_loc(day)
        ours = spliced.iloc[i] / spliced.iloc[i - 1] - 1.0
        theirs = stand_in.loc[day] / stand_in.iloc[stand_in.index.get_loc(day) - 1] - 1.0
        seams[f"{day:%Y-%m-%d}"] = (float(ours), float(theirs))
    # how closely QQQ's stand-in follows the Composite where both exist (daily returns, 1999-2018)
    composite = arch_table("nasdaq")["Close"].pct_change()
    basket = basket_index(skfolio_prices()[list(UNIVERSE["QQQ"].members)]).pct_change()
    both = composite.index[1:]
    yearly = np.sqrt(252.0)
    return {"sessions": len(shared), "max_abs": float(gap.max()),
            "max_rel": float((gap / arch_close[shared]).max()), "seams": seams,
            "qqq_stand_in_correlation": float(composite[both].corr(basket[both])),
            "qqq_stand_in_volatility": float(basket[both].std() * yearly),
            "qqq_composite_volatility": float(composite[both].std() * yearly)}


def _vix_rows() -> tuple[pd.Series, int]:
    """arch's VIX with empty rows on non-trading days dropped, and how many were dropped."""
    vix = arch_table("vix")["vix"]
    empty_holiday = vix.isna() & ~vix.index.isin(trading_days())
    return vix[~empty_holiday], int(empty_holiday.sum())


def repairs() -> list[Repair]:
    """Changes made to shipped files before validation (each one printed by `data validate`)."""
    _, dropped = _vix_rows()
    return [
        Repair(
            "^VIX",
            "no missing values",
            dropped,
            "empty rows ('.') on exchange holidays in arch's vix file dropped; "
            "an empty row on a trading day is kept and fails validation",
        )
    ]


def notes() -> list[str]:
    """Facts about the shipped files a user of the embedded source should know (kept, not repaired)."""
    nasdaq = arch_table("nasdaq")
    zero = nasdaq.index[nasdaq["Volume"] <= 0]
    out = []
    if len(zero):
        days = ", ".join(d.strftime("%Y-%m-%d") for d in zero)
        out.append(
            f"QQQ: volume is 0 on {len(zero)} session(s) ({days}) in arch's nasdaq file; kept as is, "
            "so a volume feature sees a zero there"
        )
    sp500 = arch_table("sp500")
    if (sp500["Adj Close"] == sp500["Close"]).all():
        out.append("SPY, QQQ: the proxies are price indexes; Adj Close equals Close (dividends not included)")
    return out


@lru_cache(maxsize=64)
def _built(symbol: str) -> pd.DataFrame:
    entry = UNIVERSE.get(symbol)
    if entry is None:
        known = ", ".join(sorted(UNIVERSE))
        raise DataError(f"embedded source has no symbol {symbol}; it knows {known}")
    if entry.kind == "none":
        raise DataError(f"embedded source has no daily series for {symbol}: {entry.embedded}")
    if entry.kind == "spliced":
        return _spliced(symbol, entry.embedded)
    if entry.kind == "arch-vix":
        close, _ = _vix_rows()
        source = "arch vix"
    elif entry.kind == "basket":
        close = basket_index(skfolio_prices()[list(entry.members)])
        source = f"skfolio sp500_dataset: basket {', '.join(entry.members)}"
    elif entry.kind == "tbill":
        close = tbill_index(french_rf(), trading_days())
        source = "arch frenchdata RF (compounded)"
    elif entry.kind == "stock":
        close = skfolio_prices()[symbol]
        source = f"skfolio sp500_dataset {symbol}"
    else:  # "index-close"
        close = _skfolio_file("sp500_index.csv.gz")["SP500"]
        source = "skfolio sp500_index"
    frame = close_only_frame(close, symbol=symbol, source=SOURCE, proxy=entry.embedded)
    segment = Segment(source, "close-only", frame.index[0], frame.index[-1])
    return _finish(frame, np.zeros(len(frame), bool), [segment])


def load_embedded(symbol: str) -> pd.DataFrame:
    """The full embedded history standing for `symbol` (a copy; not yet validated or cut to dates)."""
    built = _built(canonical_symbol(symbol))
    frame = built.copy()
    frame.attrs = {key: (list(value) if key == "segments" else value) for key, value in built.attrs.items()}
    return frame
