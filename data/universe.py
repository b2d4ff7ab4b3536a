"""The playbook's symbols, what each stands for in the playbook, and what stands in for it per source.

Offline (the `embedded` source) no package ships SMH, a daily 10-year yield or a daily 13-week bill
rate; those symbols raise a DataError saying so, and `data.macro.load_macro` offers the monthly
stand-ins. Nothing here is invented: every embedded proxy is a real published series, or an
arithmetic of real series (a basket, a compounded bill return) described in full.
"""

from __future__ import annotations

from dataclasses import dataclass

PLAYBOOK_SYMBOLS = ("SPY", "QQQ", "SMH", "XLE", "XLP", "XLF", "BIL", "SHY", "^VIX", "^TNX", "^IRX")

# Yield indexes: their values are rates, so zero or negative is a real value, not a bad price.
RATE_SYMBOLS = frozenset({"^TNX", "^IRX", "^FVX", "^TYX"})
# Volatility indexes: they move by ratios no price index does (data.validate.MOVE_BOUNDS).
VOLATILITY_SYMBOLS = frozenset({"^VIX", "^VXN", "^VIX3M", "^VIX9D", "^VVIX", "^VXD", "^RVX"})

# skfolio's 20 large caps (daily adjusted closes, 1990-2022), loadable one by one on the embedded
# source for single-name work (tech leaders AAPL, MSFT, AMD in the momentum scenario).
SKFOLIO_STOCKS = (
    "AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO",
    "LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM",
)  # fmt: skip


@dataclass(frozen=True)
class UniverseEntry:
    """One symbol: its part in the playbook and how the embedded source stands in for it.

    kind     how the embedded source builds it: "spliced" (an OHLCV series with a close-only
             stand-in before and after it, see data.embedded.splice), "arch-vix", "basket",
             "tbill", "stock", "index-close", or "none" (no daily series offline)
    members  basket constituents (skfolio tickers), for kind "basket" and for the close-only
             stand-in of kind "spliced" (empty: the stand-in is skfolio's S&P 500 index close)
    """

    symbol: str
    role: str
    kind: str
    embedded: str
    members: tuple[str, ...] = ()


UNIVERSE: dict[str, UniverseEntry] = {
    e.symbol: e
    for e in (
        UniverseEntry(
            "SPY",
            "S&P 500 ETF: benchmark, option underlying",
            "spliced",
            "S&P 500 price index (no dividends: adj_close = close): daily OHLCV 1999-2018 (arch sp500), "
            "close only 1990-1998 and 2019-2022 (skfolio sp500_index)",
        ),
        UniverseEntry(
            "QQQ",
            "Nasdaq-100 ETF: tech momentum",
            "spliced",
            "NASDAQ Composite index, daily OHLCV 1999-2018 (arch nasdaq; no dividends: adj_close = close); "
            "close only 1990-1998 and 2019-2022: tech basket AAPL, MSFT, AMD (skfolio adj. closes, "
            "equal weight, rebalanced daily), chained to the Composite's level at each seam",
            ("AAPL", "MSFT", "AMD"),
        ),
        UniverseEntry(
            "SMH",
            "semiconductor ETF: AI/semis momentum",
            "none",
            "no daily semiconductor series ships offline; use --source yahoo or csv",
        ),
        UniverseEntry(
            "XLE",
            "energy sector ETF: defensive rotation",
            "basket",
            "equal-weight basket of XOM, CVX (skfolio adj. closes), rebalanced daily, 100 at start",
            ("XOM", "CVX"),
        ),
        UniverseEntry(
            "XLP",
            "consumer staples ETF: defensive rotation",
            "basket",
            "equal-weight basket of KO, PEP, PG, WMT (skfolio adj. closes), rebalanced daily, 100 at start",
            ("KO", "PEP", "PG", "WMT"),
        ),
        UniverseEntry(
            "XLF",
            "financials ETF: defensive rotation",
            "basket",
            "equal-weight basket of JPM, BAC (skfolio adj. closes), rebalanced daily, 100 at start",
            ("JPM", "BAC"),
        ),
        UniverseEntry(
            "BIL",
            "1-3 month T-bill ETF: cash",
            "tbill",
            "T-bill total-return index from Fama-French monthly RF (arch frenchdata), 100 at start;"
            " ends with RF (2018-11): past it a run carries it at --cash-rate",
        ),
        UniverseEntry(
            "SHY",
            "1-3 year Treasury ETF: short T-bills",
            "tbill",
            "T-bill total-return index from Fama-French monthly RF (arch frenchdata), 100 at start;"
            " a 1-month bill, so no 1-3 year duration; ends with RF (2018-11)",
        ),
        UniverseEntry(
            "^VIX",
            "CBOE volatility index: vol regime, option IV",
            "arch-vix",
            "CBOE VIX daily close (arch vix); outside it a run uses the implied-vol proxy, named in run.json",
        ),
        UniverseEntry(
            "^TNX",
            "10-year Treasury yield: rate-shock trigger",
            "none",
            "no daily 10-year yield ships offline; monthly stand-in: load_macro('long_yield') (Moody's Aaa)",
        ),
        UniverseEntry(
            "^IRX",
            "13-week T-bill yield: cash rate",
            "none",
            "no daily bill yield ships offline; monthly stand-in: load_macro('tbill_rate') (Fama-French RF, "
            "through 2018-11), then --cash-rate",
        ),
        UniverseEntry(
            "^GSPC",
            "S&P 500 index, long history",
            "index-close",
            "S&P 500 index daily close 1990-2022 (skfolio sp500_index)",
        ),
    )
} | {
    ticker: UniverseEntry(
        ticker, "single large cap", "stock", f"{ticker} daily adjusted close (skfolio sp500_dataset)"
    )
    for ticker in SKFOLIO_STOCKS
}


def canonical_symbol(symbol: str) -> str:
    """Upper-case, stripped; an index written without its caret finds the caret form.

    >>> canonical_symbol(" vix "), canonical_symbol("spy"), canonical_symbol("^tnx")
    ('^VIX', 'SPY', '^TNX')
    """
    text = str(symbol).strip().upper()
    if not text.startswith("^") and "^" + text in UNIVERSE and text not in UNIVERSE:
        return "^" + text
    return text


def describe(symbol: str, source: str, data_dir=None) -> str:
    """What stands for `symbol` on `source`, in words, for frame.attrs["proxy"] and `data list`."""
    symbol = canonical_symbol(symbol)
    if source == "embedded":
        entry = UNIVERSE.get(symbol)
        return entry.embedded if entry else "not in the embedded universe"
    if source == "yahoo":
        return f"Yahoo Finance {symbol} daily (yfinance, unadjusted OHLC plus Adj Close)"
    return f"{symbol} from Yahoo-format CSV in {data_dir}"


def role(symbol: str) -> str:
    """The symbol's part in the playbook, or "" for a symbol outside it."""
    entry = UNIVERSE.get(canonical_symbol(symbol))
    return entry.role if entry else ""
