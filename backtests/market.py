"""Everything a run needs from outside, prepared once: aligned bars, signal lines, option inputs.

A tuning study or a comparison prepares one `Market` and runs many strategies or trials on it, so
data loading, the regime classifier, the volatility proxy and the calendar are never recomputed per
run. Every column on session t is computed from data up to t's close (see each function).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import data
from backtests.errors import RunError
from backtests.optionbook import DAYS_PER_YEAR, OptionMarket
from backtests.regime_eval import DEFAULT_MODEL, MODELS, REFERENCE_MODELS, calendar_columns, market_regime
from backtests.stand_ins import default_span, require_cash_rate, stand_in_notes
from backtests.symbols import OPTIONAL
from data.calendar import monthly_expiries, nyse_sessions
from data.dividends import session_yields
from data.errors import DataError
from data.frames import REAL_OPEN, real_open_mask, to_date
from data.hashing import data_hash
from data.macro import load_macro
from data.windows import WINDOW_KINDS, Window, window_mask, windows_of_kind
from strategies.regime import PRIOR, REGIMES, compute_features
from strategies.roles import ROLE_OF, file_symbol, parse_universe
from strategies.signals import average_true_range, momentum_signal, realized_vol
from strategies.volsurface import VRP_RATIO, SkewParams, atm_vol_proxy

# every symbol a playbook may trade, in the order feeds are added; SPY is the option underlying
TRADED = ("SPY", "QQQ", "SMH", "XLE", "XLP", "XLF", "BIL")
WINDOW_CHOICES = ("full",) + WINDOW_KINDS
SPANS = ("playbook", "all")

FILL_RULE = ("an order decided at the close of session t fills at the next real price after t: the open "
             "of t+1 where that open is a real print, else t+1's close (a stale open, or a close-only "
             "series); a session without a real open has no intraday range, so market, limit and stop "
             "orders are checked against its close only; option orders fill, and expiring options "
             "settle, at the same price (an expiry session without a real open settles at its close); "
             "the benchmark alone is bought at the first close, being the index itself")
# Adjusted-close dividends below this, per session, are the vendor's rounding, not a distribution.
_ADJ_NOISE = 1e-6


@dataclass(frozen=True)
class MarketSpec:
    """What to prepare: the data source and span, the evaluation window, the indicator look-backs."""

    source: str = "embedded"
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    data_dir: str | None = None
    cache_dir: str | None = None
    window: str = "full"
    before: int = 5
    after: int = 5
    atr_sessions: int = 14  # the `atr` column's look-back
    atr_windows: tuple[int, ...] = ()  # further look-backs, as `atr_<n>` columns (each ATR rule its own)
    vol_sessions: int = 20
    vol_method: str = "ewma"  # the realised-vol forecast where there is no VIX (strategies.volsurface)
    vrp_ratio: float = VRP_RATIO  # implied / realised volatility applied to that forecast
    # None: the S&P 500's trailing dividend yield known on each session (data.dividends), earned by
    # long SPY and used by the option pricer alike; a number: that constant yield, for what-ifs
    div_yield: float | None = None
    skew: SkewParams = field(default_factory=SkewParams)
    regime_model: str = DEFAULT_MODEL  # the classifier the playbook trades on (backtests.regime_eval)
    # annual fraction standing in for the T-bill rate where no figure is published (--cash-rate)
    cash_rate: float | None = None
    # "playbook": unset dates default to where every playbook input exists (default_span);
    # "all": to the whole history (the benchmark holds no cash and no options)
    span: str = "playbook"
    # (role, symbol) pairs: the user's files standing in for the playbook's roles (data.roles; --map
    # ROLE=SYMBOL, a config file's universe: block); a role not named keeps its default symbol
    universe: tuple = ()

    def __post_init__(self):
        for name in ("start", "end"):  # data's one date parser: YYYY-MM-DD text or a date
            object.__setattr__(self, name, to_date(getattr(self, name), name))
        pairs = self.universe.items() if isinstance(self.universe, dict) else self.universe
        universe = parse_universe(dict(pairs), "universe")  # checked roles, distinct symbols
        object.__setattr__(self, "universe", tuple(sorted(universe.items())))
        if self.window not in WINDOW_CHOICES:
            raise RunError(f"unknown window {self.window!r}; choose from {', '.join(WINDOW_CHOICES)}")
        if self.regime_model not in MODELS + REFERENCE_MODELS:
            raise RunError(f"unknown regime model {self.regime_model!r}; choose from "
                           f"{', '.join(MODELS + REFERENCE_MODELS)}")
        if self.span not in SPANS:
            raise RunError(f"unknown span {self.span!r}; choose from {', '.join(SPANS)}")
        if self.cash_rate is not None and not -0.05 <= self.cash_rate <= 0.25:
            raise RunError(f"--cash-rate {self.cash_rate!r} is an annual fraction (0.02 for 2%); "
                           "give one between -0.05 and 0.25")


@dataclass
class Market:
    spec: MarketSpec
    sessions: pd.DatetimeIndex
    bars: dict[str, pd.DataFrame]  # per traded symbol: OHLCV + atr + rvol, on `sessions`
    signals: pd.DataFrame  # SIGNAL_LINES on `sessions`
    regime: pd.DataFrame  # classifier output on `sessions`
    windows: list[Window]
    options: OptionMarket
    expiries: pd.DatetimeIndex
    data_hash: str
    notes: list[str]
    proxies: dict[str, str]
    segments: dict[str, list] = field(default_factory=dict)  # per symbol, frame.attrs["segments"]
    rate_published: np.ndarray | None = None  # per session: a T-bill figure exists (None: no series)
    # per playbook symbol the source could not give: the DataError (backtests.symbols refuses a run
    # that needs one, naming them all)
    missing: dict[str, DataError] = field(default_factory=dict)

    @property
    def stepped(self) -> bool:
        """True when only window sessions are kept (window_market): the option market then marks
        the first session after each gap."""
        return self.options.block_start is not None


def prepare_market(spec: MarketSpec = MarketSpec()) -> Market:
    """Load, validate and align the data, and compute every signal and option input once.

    The span (`default_span` fills unset dates) is validated on SPY; then every series is loaded
    with its whole history up to the end, so that the indicators, the classifier and the volatility
    proxy are warm on the first session of the run (a later `--start` does not restart them, and
    VIX, which starts in 2014 in the embedded data, is used from 2014 whatever the start). The
    market is then cut at the start.
    """
    start, end = default_span(spec)
    notes: list[str] = []
    options = dict(source=spec.source, data_dir=spec.data_dir, cache_dir=spec.cache_dir)
    universe = dict(spec.universe)
    index = file_symbol("SPY", universe)
    data.load([index], start, end, **options)  # the span asked for is one the index can cover
    frames, missing = {}, {}
    for symbol in TRADED + ("^VIX",):
        source_symbol = file_symbol(symbol, universe)
        try:
            frame = data.load([source_symbol], None, end, **options)[source_symbol]
        except DataError as exc:
            if symbol == "SPY" or source_symbol != symbol:
                raise  # the index, and a file the user mapped to a role, are loaded or refused
            missing[symbol] = exc
            if symbol in OPTIONAL:  # documented as optional (backtests.symbols, docs/playbooks.md)
                notes.append(f"{symbol} is optional and unavailable ({OPTIONAL[symbol]}): {exc}")
            else:  # a run whose strategy needs it is refused (backtests.symbols.check_market)
                notes.append(f"{symbol} unavailable, playbooks that need it are refused: {exc}")
            continue
        if source_symbol != symbol:
            frame.attrs["proxy"] = (f"{source_symbol} in the {ROLE_OF[symbol]} role of {symbol} (mapped): "
                                    f"{frame.attrs.get('proxy', source_symbol)}")
        frames[symbol] = frame
    sessions = pd.DatetimeIndex(frames["SPY"].index, name="date")
    macro = {}
    for name in ("long_yield", "tbill_rate"):
        mapped = universe.get("rates") if name == "long_yield" else None
        try:
            macro[name] = load_macro(name, sessions, **options, symbol=mapped)
        except DataError as exc:
            if mapped is not None:
                raise  # a file the user mapped is never dropped for a note
            notes.append(f"no {name} series: {exc}")
    long_yield = macro.get("long_yield")
    if long_yield is not None and long_yield.notna().any() and long_yield.iloc[-1:].isna().all():
        through = long_yield.attrs.get("current_through", f"{long_yield.last_valid_index():%Y-%m-%d}")
        notes.append(f"no long yield after {through} (the series ends): the rate-shock rules do not fire "
                     "from then on")
    market = build_market(spec, frames, long_yield, macro.get("tbill_rate"), notes)
    market.missing = missing
    market = market if start is None else _since(market, pd.Timestamp(start))
    if spec.span == "playbook":
        require_cash_rate(market, "a playbook run")
    market.notes.extend(stand_in_notes(market))
    return market


def _since(market: Market, start: pd.Timestamp) -> Market:
    """The market from `start` on; a window counts only if its entry decision (the close before its
    first session) falls on or after `start`."""
    keep = np.asarray(market.sessions >= start)
    if keep.sum() < 60:
        raise RunError(f"only {int(keep.sum())} sessions of SPY from {start:%Y-%m-%d}; "
                       "a run needs 60 or more")
    first = market.sessions[keep][0]
    windows = [w for w in market.windows if w.first > first]
    if market.windows and not windows:
        raise RunError(f"no complete {market.spec.window} window from {start:%Y-%m-%d} to "
                       f"{market.sessions[-1]:%Y-%m-%d}")
    return _subset(market, keep, windows)


def _subset(market: Market, keep: np.ndarray, windows, block_start: np.ndarray | None = None) -> Market:
    """The market on the sessions where `keep` is True (every array cut the same way)."""
    options = market.options.cut(keep, block_start=block_start)
    return Market(market.spec, market.sessions[keep], {s: f[keep] for s, f in market.bars.items()},
                  market.signals[keep], market.regime[keep], windows, options, market.expiries,
                  market.data_hash, market.notes, market.proxies, market.segments,
                  None if market.rate_published is None else market.rate_published[keep], market.missing)


def build_market(spec: MarketSpec, frames: dict[str, pd.DataFrame], long_yield: pd.Series | None = None,
                 tbill_rate: pd.Series | None = None, notes: list[str] | None = None) -> Market:
    """A Market from frames already loaded (prepare_market's second half; tests pass hand-built
    frames here). `frames` needs "SPY"; the other traded symbols and "^VIX" are optional."""
    notes = list(notes or [])
    spy = frames["SPY"]
    sessions = pd.DatetimeIndex(spy.index, name="date")
    if len(sessions) < 60:
        raise RunError(f"only {len(sessions)} sessions of SPY between the dates asked; "
                       "a run needs 60 or more")
    spy_yield = (session_yields(sessions) if spec.div_yield is None
                 else np.full(len(sessions), float(spec.div_yield)))
    bars = {}
    for symbol in TRADED:
        if symbol not in frames:
            continue
        frame = frames[symbol].reindex(sessions)
        missing = frame["close"].isna()
        inner = missing[frame["close"].first_valid_index():frame["close"].last_valid_index()]
        if inner.any():
            raise DataError(
                f"{spec.source}: {symbol} has no bar on {inner[inner].index[0]:%Y-%m-%d}, a session "
                f"of SPY ({int(inner.sum())} such sessions); the series must share SPY's sessions"
            )
        frame[REAL_OPEN] = _real_open(frames[symbol]).reindex(sessions, fill_value=False).to_numpy(bool)
        frame["atr"] = average_true_range(frame, spec.atr_sessions)
        for n in spec.atr_windows:
            if n != spec.atr_sessions:
                frame[f"atr_{n}"] = average_true_range(frame, n)
        frame["rvol"] = realized_vol(frame["close"], spec.vol_sessions)
        # A series that starts after or ends before SPY (the embedded T-bill index ends with its last
        # published month) is untradable outside its span; its price is carried flat there only so
        # that a zero position values to zero. `last_bar` flags the last two real bars: the strategy
        # exits at the close before the last one, so the sale fills at that last bar (its open, or
        # its close where the open is not real, as for the close-only T-bill index).
        tradable = frame["close"].notna()
        frame["tradable"] = tradable.astype(float)
        frame["last_bar"] = (tradable & ~tradable.shift(-2, fill_value=True)).astype(float)
        frame[["open", "high", "low", "close", "adj_close"]] = frame[
            ["open", "high", "low", "close", "adj_close"]].ffill().bfill()
        frame["volume"] = frame["volume"].fillna(0.0)
        frame["carry"] = _carry(symbol, frame, spy_yield)
        bars[symbol] = _fill_prices(frame)
    vix = frames["^VIX"]["close"] if "^VIX" in frames else None

    calendar_sessions = nyse_sessions(min(sessions[0], pd.Timestamp("1990-01-01")))
    expiries = monthly_expiries(calendar_sessions)
    calendar = calendar_columns(sessions)
    regime = _regime(spec.regime_model, frames, vix, long_yield, calendar)
    windows = [] if spec.window == "full" else windows_of_kind(spec.window, sessions, spec.before, spec.after)
    if spec.window != "full" and not windows:
        raise RunError(f"no complete {spec.window} window between {sessions[0]:%Y-%m-%d} and "
                       f"{sessions[-1]:%Y-%m-%d}")
    # `in_window` at the close of t says whether session t+1 lies in a window: a windows-only run
    # holds positions from a window's first open to the open after its last session (the exchange
    # calendar is known in advance, so this looks ahead at dates, never at prices)
    if windows:
        in_window = window_mask(windows, sessions).shift(-1, fill_value=False).astype(float)
    else:
        in_window = pd.Series(1.0, sessions)
    thin = calendar["holiday_week"].to_numpy(bool) | calendar["late_december"].to_numpy(bool)
    tech = bars.get("QQQ")
    signals = pd.DataFrame({
        "regime": regime["code"].astype(float),
        "p_momentum": regime["momentum"], "p_range": regime["range"], "p_selloff": regime["selloff"],
        "momentum_signal": momentum_signal(tech["close"], spy["close"]) if tech is not None else 0.0,
        "in_window": in_window.to_numpy(),
        "thin_liquidity": thin.astype(float),
        "session_number": np.arange(len(sessions), dtype=float),
    }, index=sessions)

    vol = atm_vol_proxy(spy["close"], vix, method=spec.vol_method, vrp_ratio=spec.vrp_ratio, skew=spec.skew)
    signals["iv"] = vol["atm_vol"]
    signals["iv_avg"] = vol["atm_vol"].rolling(20, min_periods=20).mean()
    rate = tbill_rate.reindex(sessions) if tbill_rate is not None else pd.Series(np.nan, sessions)
    # an all-missing rate (no series at all: hand-built frames, a yahoo run without ^IRX) keeps the
    # note below; a series that ends inside the run is a gap a run holding cash must not cross
    rate_published = rate.notna().to_numpy() if rate.notna().any() else None
    if spec.cash_rate is not None:
        rate = rate.fillna(spec.cash_rate)  # the published rate wherever it exists, the constant after
    elif rate.isna().all():
        notes.append("no T-bill rate series: cash earns nothing and options are priced at a 0% rate")
    options = OptionMarket(
        dates=sessions, open=bars["SPY"]["open"].to_numpy(float), close=spy["close"].to_numpy(float),
        atm_vol=vol["atm_vol"].to_numpy(float), rate=rate.fillna(0.0).to_numpy(float),
        expiries=expiries, div_yield=spy_yield, skew=spec.skew,
        vol_source=vol["source"].to_numpy(), real_open=bars["SPY"][REAL_OPEN].to_numpy(bool),
    )
    used = {s: f for s, f in frames.items()}
    return Market(spec, sessions, bars, signals, regime, windows, options, expiries,
                  data_hash(used), notes, {s: f.attrs.get("proxy", s) for s, f in frames.items()},
                  {s: list(f.attrs.get("segments", [])) for s, f in frames.items()}, rate_published)


def _real_open(frame: pd.DataFrame) -> pd.Series:
    """The frame's REAL_OPEN column; a hand-built frame without it gets data.frames' one rule."""
    if REAL_OPEN in frame:
        return frame[REAL_OPEN].astype(bool)
    mask = real_open_mask(frame["open"], frame["high"], frame["low"], frame["close"],
                          bool(frame.attrs.get("close_only")))
    return pd.Series(mask, index=frame.index)


def _fill_prices(frame: pd.DataFrame) -> pd.DataFrame:
    """The bars the broker fills against (FILL_RULE): where the open is not a real print, open, high
    and low are the session's close, so a market order fills at that close and a limit or stop order
    fills at it only if the close reaches its price. The true range stays in `atr` (computed before)."""
    out = frame.copy()
    fake = ~out[REAL_OPEN].to_numpy(bool)
    for column in ("open", "high", "low"):
        out.loc[fake, column] = out.loc[fake, "close"]
    return out


def _carry(symbol: str, frame: pd.DataFrame, spy_yield: np.ndarray) -> np.ndarray:
    """Dividends per unit held at the previous close, as a fraction of that close, paid on each
    session (short positions pay it).

    SPY (the S&P 500 price index, or the SPY ETF's price) earns the yield the option pricer uses,
    known at the previous close, for the calendar days in between. Every other symbol earns what its
    own adjusted close says beyond its close: nothing for the embedded series (the sector baskets and
    the T-bill index are total-return levels already; the NASDAQ Composite proxy is a price index
    with no dividend figures offline, so QQQ earns none), an ETF's distributions from Yahoo or CSV.
    """
    out = np.zeros(len(frame))
    if symbol == "SPY":
        days = np.diff(frame.index.values).astype("timedelta64[D]").astype(float)
        out[1:] = spy_yield[:-1] * days / DAYS_PER_YEAR
        return out
    close, adj = frame["close"].to_numpy(float), frame["adj_close"].to_numpy(float)
    extra = (adj[1:] / adj[:-1]) / (close[1:] / close[:-1]) - 1.0
    out[1:] = np.where(np.abs(extra) > _ADJ_NOISE, extra, 0.0)
    return out


def window_market(market: Market) -> Market:
    """The same market stepped only through its windows: for each window the session before its
    first, the window, and the session after its last (see backtests.windows_eval).

    A windows-only run is flat outside windows, so skipping the sessions in between changes no
    trade and no window's return, and the run is many times faster (this is what makes a tuning
    study affordable). Every signal was computed on the full history before the cut; sessions are
    counted on the full history too (`session_number`), so cooldowns and time stops mean the same
    in both. Cash earns nothing across the gaps: the run is judged on its windows.
    """
    if not market.windows:
        raise RunError("this market has no windows to step through; use --window")
    sessions = market.sessions
    keep = np.zeros(len(sessions), dtype=bool)
    for w in market.windows:
        start = max(sessions.searchsorted(w.first) - 1, 0)
        stop = min(sessions.searchsorted(w.last, side="right") + 1, len(sessions))
        keep[start:stop] = True
    return _subset(market, keep, market.windows, block_start=(keep & ~np.roll(keep, 1))[keep])


def _regime(model, frames, vix, long_yield, calendar) -> pd.DataFrame:
    """`model`'s probabilities and label on each session (known at its close; a walk-forward model
    fitted each year on labels known before it); the prior where they are not yet defined."""
    features = compute_features(frames["SPY"], frames.get("QQQ"), smh=frames.get("SMH"), vix=vix,
                                long_yield=long_yield, calendar=calendar)
    probs = market_regime(model, frames["SPY"], frames.get("QQQ"), features, long_yield)
    missing = probs[list(REGIMES)].isna().any(axis=1)
    if missing.any():
        prior = dict(zip(REGIMES, PRIOR))
        for regime_name in REGIMES:
            probs.loc[missing, regime_name] = prior[regime_name]
        probs.loc[missing, "label"] = REGIMES[int(np.argmax(PRIOR))]
    probs["code"] = [REGIMES.index(label) for label in probs["label"]]
    return probs
