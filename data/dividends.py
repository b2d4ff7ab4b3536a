"""The S&P 500's dividend yield on every session, known at that session: what the stock leg earns
and what the option pricer uses.

Source: S&P Dow Jones Indices' published calendar-year total returns of the S&P 500 (dividends
reinvested), as tabulated in Damodaran's historical-returns file and the SPDJI factsheets
(SP500_TOTAL_RETURN below, percent). The price index's own calendar-year return PR comes from the
embedded S&P 500 index closes (skfolio's sp500_index, 1990-2022, the same index as arch's sp500
series the SPY proxy trades on), with the 1989 year-end close SP500_CLOSE_1989 as 1990's base.

Year Y's trailing dividend yield is the dividends paid over Y per unit of the index at Y's end:
(TR_Y - PR_Y) / (1 + PR_Y), since 1 + TR_Y = (P_end + D_Y) / P_start. It is published once Y's
total return is (early in Y + 1), so every session of year Y + 1 uses year Y's figure: a causal,
piecewise-constant series, no parameter fitted on the period it is used in. Two edges, stated where
the run reports its conventions: sessions of 1990 (no earlier figure in the table) use 1990's own
figure, and sessions after the last complete year (2021: the embedded closes end on 2022-12-28, so
2022's price return is not complete) use that last year's figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# S&P 500 calendar-year total returns, percent (S&P Dow Jones Indices; Damodaran's histretSP table).
SP500_TOTAL_RETURN = {
    1990: -3.10, 1991: 30.47, 1992: 7.62, 1993: 10.08, 1994: 1.32, 1995: 37.58, 1996: 22.96,
    1997: 33.36, 1998: 28.58, 1999: 21.04, 2000: -9.10, 2001: -11.89, 2002: -22.10, 2003: 28.68,
    2004: 10.88, 2005: 4.91, 2006: 15.79, 2007: 5.49, 2008: -37.00, 2009: 26.46, 2010: 15.06,
    2011: 2.11, 2012: 16.00, 2013: 32.39, 2014: 13.69, 2015: 1.38, 2016: 11.96, 2017: 21.83,
    2018: -4.38, 2019: 31.49, 2020: 18.40, 2021: 28.71, 2022: -18.11,
}
# The S&P 500's close on 1989-12-29, the last session of 1989 (S&P Dow Jones Indices).
SP500_CLOSE_1989 = 353.40

CONVENTION = ("long stock earns, short stock pays, the S&P 500's trailing dividend yield (the previous "
              "calendar year's dividends over its year-end level, from S&P's published total returns and "
              "the index's own price return), credited as cash on the previous close's value for the "
              "calendar days to each session; the option pricer uses the same yield on each session")


def year_end_closes() -> pd.Series:
    """The S&P 500's last close of each complete calendar year 1989-2021 (embedded closes)."""
    from data.embedded import load_embedded

    closes = load_embedded("^GSPC")["close"]
    last = closes.groupby(closes.index.year).last()
    complete = last.index[last.index < closes.index[-1].year]  # the final year may end early
    out = pd.concat([pd.Series({1989: SP500_CLOSE_1989}), last[complete]])
    out.index.name = "year"
    return out


def trailing_yields() -> pd.Series:
    """Year -> that year's trailing dividend yield (fraction), for every year with both figures.

    >>> y = trailing_yields()
    >>> round(float(y[2007]), 4), round(float(y[2017]), 4)
    (0.0189, 0.0202)
    """
    ends = year_end_closes()
    price = ends.pct_change().dropna()
    years = [y for y in price.index if y in SP500_TOTAL_RETURN]
    total = pd.Series({y: SP500_TOTAL_RETURN[y] / 100.0 for y in years})
    out = (total - price[years]) / (1.0 + price[years])
    out.index.name = "year"
    return out.rename("dividend_yield")


def session_yields(sessions: pd.DatetimeIndex, yields: pd.Series | None = None) -> np.ndarray:
    """The yield known on each session: the previous calendar year's figure (see the module's edges).

    >>> s = pd.DatetimeIndex(["2008-12-31", "2009-01-02"])
    >>> (session_yields(s) == trailing_yields()[[2007, 2008]].to_numpy()).all()
    np.True_
    """
    yields = trailing_yields() if yields is None else yields
    wanted = np.asarray(pd.DatetimeIndex(sessions).year) - 1
    first, last = int(yields.index.min()), int(yields.index.max())
    return yields.reindex(np.clip(wanted, first, last)).to_numpy(dtype="float64")
