"""Where a run's inputs exist, and what stands in where they do not: the default span of a run,
the stand-ins a market uses (named in the notes and in run.json), and the refusal of a run that
would hold cash past the last published T-bill rate (never a silent zero rate).

Kept apart from backtests.market, which builds the market; this module only reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

import data
from backtests.errors import RunError
from data.macro import load_macro

if TYPE_CHECKING:
    from backtests.market import Market, MarketSpec

CASH_RATE_SERIES = "tbill_rate"


def default_span(spec: MarketSpec) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The run's first and last session where the spec leaves them unset (the explicit choice).

    On the embedded source a playbook run (span "playbook") defaults to SPY's OHLCV years, where
    the open is a print (1999-01-04 to 2018-12-31), ended where the published cash rate ends
    (Fama-French RF, through 2018-11-30) unless `cash_rate` stands in for it: every playbook input
    exists there without a close-only SPY. The benchmark (span "all") and every other source use
    the whole history. A date the user gives is kept as given.
    """
    if spec.source != "embedded" or spec.span == "all":
        return spec.start, spec.end
    segments = data.load(["SPY"], source="embedded")["SPY"].attrs.get("segments", [])
    ohlcv = [s for s in segments if s["kind"] == "ohlcv"]
    start = spec.start if spec.start is not None or not ohlcv else pd.Timestamp(ohlcv[0]["first"])
    if spec.end is not None or not ohlcv:
        return start, spec.end
    end = pd.Timestamp(ohlcv[-1]["last"])
    if spec.cash_rate is None:
        probe = pd.DatetimeIndex([end])
        through = load_macro(CASH_RATE_SERIES, probe, source="embedded").attrs["current_through"]
        end = min(end, pd.Timestamp(through))
    return start, end


def _runs(flags: np.ndarray, sessions: pd.DatetimeIndex) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(first, last) session of each run of True in `flags`.

    >>> days = pd.bdate_range("2018-12-24", periods=5)
    >>> [(a.day, b.day) for a, b in _runs(np.array([1, 1, 0, 1, 0], bool), days)]
    [(24, 25), (27, 27)]
    """
    edges = np.diff(np.concatenate([[0], flags.astype(int), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(sessions[a], sessions[b - 1]) for a, b in zip(starts, stops)]


def _stand_in(series: str, what: str, first: pd.Timestamp, last: pd.Timestamp) -> dict:
    return {"series": series, "stand_in": what, "first": f"{first:%Y-%m-%d}", "last": f"{last:%Y-%m-%d}"}


def stand_ins(market: Market) -> list[dict]:
    """Every stand-in the market's sessions use, for run.json and the notes: the close-only
    segments of a spliced series (SPY, QQQ), the implied-vol proxy where VIX is missing, --cash-rate
    for the T-bill rate and the T-bill sleeve where neither is published. Clipped to the sessions."""
    sessions = market.sessions
    first, last = sessions[0], sessions[-1]
    out = []
    for symbol, segments in market.segments.items():
        if len(segments) < 2:
            continue  # not spliced: the proxy is the series (data list names it)
        for segment in segments:
            a, b = max(pd.Timestamp(segment["first"]), first), min(pd.Timestamp(segment["last"]), last)
            if segment["kind"] == "close-only" and a <= b:
                out.append(_stand_in(symbol, f"{segment['source']}, close only", a, b))
    vol_source = market.options.vol_source
    if vol_source is not None:
        labels = np.asarray([str(v) for v in vol_source])
        for a, b in _runs(np.char.lower(labels) != "vix", sessions):
            kinds = ", ".join(sorted(set(labels[(sessions >= a) & (sessions <= b)])))
            out.append(_stand_in("^VIX", f"implied-vol proxy ({kinds}), vol method {market.spec.vol_method}",
                                 a, b))
    rate = market.spec.cash_rate
    if rate is None:
        return out
    bills = market.segments.get("BIL", [])
    if bills and pd.Timestamp(bills[-1]["last"]) < last:
        # the T-bill index ends with RF; past it the sleeve is untradable (build_market) and its weight
        # stays in cash, which earns the same --cash-rate a carried index would
        after = sessions[sessions > pd.Timestamp(bills[-1]["last"])]
        what = f"cash at --cash-rate {rate:.2%} (the T-bill index ends)"
        out.append(_stand_in("BIL", what, after[0], last))
    published = market.rate_published
    unpublished = np.ones(len(sessions), bool) if published is None else ~published
    out.extend(_stand_in(CASH_RATE_SERIES, f"--cash-rate {rate:.2%}", a, b)
               for a, b in _runs(unpublished, sessions))
    return out


def stand_in_notes(market: Market) -> list[str]:
    """One note line per stand-in (see stand_ins)."""
    return [f"stand-in: {s['series']} {s['first']}..{s['last']} is {s['stand_in']}"
            for s in stand_ins(market)]


def require_cash_rate(market: Market, strategy: str) -> None:
    """Refuse a run that holds cash or options on sessions without a T-bill rate: one line naming
    the missing series and the dates, never a silent zero rate."""
    published = market.rate_published
    if market.spec.cash_rate is not None or published is None or published.all():
        return
    missing = market.sessions[~published]
    known = market.sessions[published]
    series = "Fama-French RF" if market.spec.source == "embedded" else "^IRX"
    through = f"is published through {known[-1]:%Y-%m-%d}" if len(known) else "has no figure"
    raise RunError(
        f"{strategy} needs a cash rate from {missing[0]:%Y-%m-%d} to {missing[-1]:%Y-%m-%d}: the T-bill "
        f"rate ({series}) {through}; give --cash-rate (an annual fraction, e.g. 0.02) to stand in for it, "
        f"or an --end before {missing[0]:%Y-%m-%d}")
