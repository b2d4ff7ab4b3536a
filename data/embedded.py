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


def _ohlcv_frame(table: pd.DataFrame, symbol: str, proxy: str) -> pd.DataFrame:
    data = pd.DataFrame(
        {
            "open": table["Open"],
            "high": table["High"],
            "low": table["Low"],
            "close": table["Close"],
            "adj_close": table["Adj Close"],
            "volume": table["Volume"],
        },
        index=table.index,
    )
    return price_frame(data, symbol=symbol, source=SOURCE, proxy=proxy, close_only=False, has_volume=True)


@lru_cache(maxsize=64)
def _built(symbol: str) -> pd.DataFrame:
    entry = UNIVERSE.get(symbol)
    if entry is None:
        known = ", ".join(sorted(UNIVERSE))
        raise DataError(f"embedded source has no symbol {symbol}; it knows {known}")
    if entry.kind == "none":
        raise DataError(f"embedded source has no daily series for {symbol}: {entry.embedded}")
    if entry.kind == "arch-ohlcv":
        table = arch_table({"SPY": "sp500", "QQQ": "nasdaq"}[symbol])
        return _ohlcv_frame(table, symbol, entry.embedded)
    if entry.kind == "arch-vix":
        close, _ = _vix_rows()
        return close_only_frame(close, symbol=symbol, source=SOURCE, proxy=entry.embedded)
    if entry.kind == "basket":
        close = basket_index(skfolio_prices()[list(entry.members)])
    elif entry.kind == "tbill":
        close = tbill_index(french_rf(), trading_days())
    elif entry.kind == "stock":
        close = skfolio_prices()[symbol]
    else:  # "index-close"
        close = _skfolio_file("sp500_index.csv.gz")["SP500"]
    return close_only_frame(close, symbol=symbol, source=SOURCE, proxy=entry.embedded)


def load_embedded(symbol: str) -> pd.DataFrame:
    """The full embedded history standing for `symbol` (a copy; not yet validated or cut to dates)."""
    built = _built(canonical_symbol(symbol))
    frame = built.copy()
    frame.attrs = dict(built.attrs)
    return frame
