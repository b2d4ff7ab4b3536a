"""A volatility-surface proxy for pricing S&P 500 index options without option data.

Two pieces:
- `atm_vol_proxy`: the one-month at-the-money implied volatility for each session, from VIX where it
  exists, otherwise from a causal, bias-corrected forecast of the next month's realised volatility
  (`forecast_realized_vol`: RiskMetrics EWMA by default, or walk-forward GARCH(1,1), or trailing
  realised volatility) times the published implied/realised ratio;
- `smile_vol`: the volatility of any strike and tenor, from the at-the-money level and a
  parameterised skew (`SkewParams`): out-of-the-money puts dearer, out-of-the-money calls slightly
  cheaper, as S&P 500 options have traded since 1987.

Volatilities are annualised fractions (0.20 is 20%); tenors are in `years`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from strategies.errors import ConfigError

__all__ = ["EWMA_DECAY", "METHODS", "SOURCES", "VRP_RATIO", "SkewParams", "atm_from_vix", "atm_vol_proxy",
           "bias_correction", "forecast_realized_vol", "forward_realized_vol", "smile_vol", "vix_of_atm"]

# The premium of implied over realised volatility, as a ratio of long-run averages: Bondarenko (Cboe
# RMC, March 2019, "Historical Performance of Put-Writing Strategies"): S&P 500 option implied
# volatility (VIX-style) averaged 19.3% against 15.1% realised since 1990, 19.3 / 15.1 = 1.278. An
# unbiased forecast of the month's realised volatility times this ratio stands for the VIX level.
# Why a published ratio and not our own 2014-2018 VIX overlap: the overlap lies after every session
# the proxy prices (before 2014 offline), so fitting it there prices 2003 with 2014-2018 quotes; the
# published figure is a 29-year average, one number that no single year of ours moves much. It still
# spans our years (published in 2019): that is stated in docs/options.md, with the overlap's ratio
# and its effect on the twins beside it.
VRP_RATIO = 19.3 / 15.1
METHODS = ("ewma", "garch", "realized")
SOURCES = ("vix", "ewma", "garch", "realized", "warmup")
SESSIONS_PER_YEAR = 252
# VIX measures 30 calendar days, about 21 sessions: every forecast is of the volatility realised over
# the next 21 sessions, the month the option prices.
HORIZON_SESSIONS = 21
# Fewer daily returns than this make a volatility estimate mostly noise: the proxy stays NaN.
MIN_WARMUP_SESSIONS = 20
# A GARCH(1,1) with a constant mean has four parameters; below this many returns its fit is unstable.
MIN_GARCH_HISTORY = 100
# RiskMetrics (J.P. Morgan/Reuters, Technical Document, 4th ed., 1996): decay 0.94 for daily
# variance. A published constant, not fitted to our data, so nothing in it can look ahead.
EWMA_DECAY = 0.94
# The bias correction is a ratio of sums over past (forecast, realised) pairs; with fewer than a
# year of ended pairs it is one episode's ratio, and the day is labelled warm-up.
MIN_CORRECTION_PAIRS = 252


def _validate_close(close):
    if not isinstance(close, pd.Series):
        raise ConfigError(f"close must be a pandas Series of prices, got {type(close).__name__}")
    if not isinstance(close.index, pd.DatetimeIndex):
        raise ConfigError("close must be indexed by dates (a DatetimeIndex)")
    if not close.index.is_monotonic_increasing or close.index.has_duplicates:
        raise ConfigError("close's dates must be sorted and unique")
    values = close.to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        day = close.index[bad.argmax()]
        raise ConfigError(f"close must be positive and finite, got {values[bad.argmax()]!r} on {day.date()}")
    return values


def _validate_vix(vix, index):
    """VIX in index points, aligned to the sessions; a missing day takes the previous day's close once."""
    if not isinstance(vix, pd.Series) or not isinstance(vix.index, pd.DatetimeIndex):
        raise ConfigError("vix must be a pandas Series indexed by dates, or None")
    if vix.index.has_duplicates:
        day = vix.index[vix.index.duplicated()][0]
        raise ConfigError(f"vix has two values for {day.date()}")
    values = vix.astype(float)
    bad = values.notna() & ~(values >= 1.0) | np.isinf(values)
    if bad.any():
        day = values.index[bad.to_numpy().argmax()]
        raise ConfigError(
            f"vix must be in index points (e.g. 15.2 for 15.2%), got {values[day]!r} on {day.date()}"
        )
    # One stale session is a better estimate of today's implied volatility than a switch of model for
    # a day (which would jump the option marks); a longer gap hands over to the model, labelled.
    return values.reindex(index).ffill(limit=1).to_numpy()


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer of at least {minimum}, got {value!r}")


def _warmup_vol(returns):
    """Annualised root-mean-square of all returns so far; NaN before MIN_WARMUP_SESSIONS of them."""
    squares = np.where(np.isnan(returns), 0.0, returns**2)
    count = np.cumsum(~np.isnan(returns))
    with np.errstate(invalid="ignore", divide="ignore"):
        vol = np.sqrt(SESSIONS_PER_YEAR * np.cumsum(squares) / count)
    return np.where(count >= MIN_WARMUP_SESSIONS, vol, np.nan)


def _realized_vol(returns, sessions):
    """Annualised root-mean-square of the last `sessions` returns (zero mean: daily drift is noise)."""
    mean_square = pd.Series(returns**2).rolling(sessions, min_periods=sessions).mean().to_numpy()
    return np.sqrt(SESSIONS_PER_YEAR * np.maximum(mean_square, 0.0))


def _horizon_weights(persistence, omega, horizon):
    """(A, B) with mean_{h=1..H} E_t[sigma^2_{t+h}] = A + B sigma^2_{t+1} for a GARCH(1,1).

    E_t[sigma^2_{t+h}] = omega sum_{i<h-1} p^i + p^{h-1} sigma^2_{t+1}, p = alpha + beta; written as a
    sum rather than through the long-run variance so that p = 1 (an integrated fit) needs no care.
    """
    powers = persistence ** np.arange(horizon)
    level = omega * np.concatenate(([0.0], np.cumsum(powers[:-1])))
    return level.mean(), powers.mean()


def arch_model(*args, **kwargs):
    """arch's model constructor, imported on first use: arch takes a second to import, and only the
    GARCH proxy needs it."""
    from arch import arch_model as build

    return build(*args, **kwargs)


def _garch_vol(returns, min_history, refit_every):
    """Annualised one-month GARCH(1,1) volatility forecast for each session, walk-forward.

    `returns` are daily log returns (NaN first). The model is refitted on all returns up to a
    session when that session's return count reaches min_history + k * refit_every (anchored at the
    start, so the schedule never depends on later data); between refits the conditional variance is
    rolled forward one session at a time with the last fitted parameters and each new return, which
    is exactly arch's analytic forecast with those parameters on the returns to date. A refit whose
    optimiser does not converge keeps the previous parameters; before the first converged fit the
    value is NaN (the caller labels those days warm-up).
    """
    pct = 100.0 * returns[1:]  # percent returns keep the optimiser well scaled
    out = np.full(returns.shape, np.nan)
    params = None
    next_variance = np.nan
    for j in range(pct.size):
        count = j + 1
        if count >= min_history and (count - min_history) % refit_every == 0:
            model = arch_model(pct[:count], mean="Constant", vol="GARCH", p=1, q=1, rescale=False)
            fit = model.fit(disp="off", show_warning=False)
            if fit.convergence_flag == 0:
                mu, omega, alpha, beta = (float(v) for v in fit.params)
                params = (mu, omega, alpha, beta, *_horizon_weights(alpha + beta, omega, HORIZON_SESSIONS))
                # The next session's variance as arch forecasts it: its filter starts from a backcast
                # of residuals at the fitted mean (the fit's own filter starts from the sample mean's).
                next_variance = float(fit.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0])
                out[j + 1] = math.sqrt(SESSIONS_PER_YEAR * (params[4] + params[5] * next_variance)) / 100.0
                continue
        if params is None:
            continue
        mu, omega, alpha, beta, level, weight = params
        next_variance = omega + alpha * (pct[j] - mu) ** 2 + beta * next_variance
        out[j + 1] = math.sqrt(SESSIONS_PER_YEAR * (level + weight * next_variance)) / 100.0
    return out


def _ewma_vol(returns, decay):
    """Annualised RiskMetrics volatility at each session: v_t = decay v_{t-1} + (1 - decay) r_t^2,
    started at the first squared return; NaN before MIN_WARMUP_SESSIONS returns. The EWMA forecast
    of every future day's variance is today's v_t, so it is also the forecast of the month's."""
    squares = returns[1:] ** 2
    variance = pd.Series(squares).ewm(alpha=1.0 - decay, adjust=False).mean().to_numpy()
    out = np.full(returns.shape, np.nan)
    out[1:] = np.sqrt(SESSIONS_PER_YEAR * variance)
    out[: MIN_WARMUP_SESSIONS] = np.nan
    return out


def forward_realized_vol(returns, horizon=HORIZON_SESSIONS):
    """The volatility realised over the `horizon` sessions after each session: at t, the annualised
    root mean square of returns t+1 .. t+horizon (NaN where that window runs past the data). It is
    what an option priced at t's close lives through; only evaluations, and pairs whose window has
    ended (see `bias_correction`), may use it.

    >>> r = np.array([np.nan, 0.01, -0.01, 0.02, 0.0])
    >>> np.round(forward_realized_vol(r, 2) / np.sqrt(252), 6)
    array([0.01    , 0.015811, 0.014142,      nan,      nan])
    """
    returns = np.asarray(returns, dtype=float)
    squares = np.where(np.isnan(returns), np.nan, returns**2)
    out = np.full(returns.shape, np.nan)
    if returns.size > horizon:
        window = np.lib.stride_tricks.sliding_window_view(squares[1:], horizon)  # row t: t+1 .. t+horizon
        out[: window.shape[0]] = np.sqrt(SESSIONS_PER_YEAR * window.mean(axis=1))
    return out


def bias_correction(forecast, returns, horizon=HORIZON_SESSIONS, min_pairs=MIN_CORRECTION_PAIRS):
    """Multiplier that makes a volatility forecast unbiased, estimated at each session on its past.

    At session t: sum of realised / sum of forecasts over the pairs (forecast made at s, the
    volatility realised over s+1 .. s+horizon) whose realised window has ended by t's close, i.e.
    s + horizon <= t; an expanding window, so the multiplier at t uses returns up to t only. NaN
    with fewer than `min_pairs` such pairs. A ratio of sums (not a mean of ratios) so that the
    corrected forecast's average matches the realised average, the relation the implied/realised
    premium is published in.
    """
    forecast = np.asarray(forecast, dtype=float)
    realised = forward_realized_vol(returns, horizon)
    paired = np.isfinite(forecast) & np.isfinite(realised)
    forecast_sum = np.cumsum(np.where(paired, forecast, 0.0))
    realised_sum = np.cumsum(np.where(paired, realised, 0.0))
    count = np.cumsum(paired)
    out = np.full(forecast.shape, np.nan)
    last = np.arange(forecast.size) - horizon  # the latest pair ended by each session's close
    ok = last >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = realised_sum[last[ok]] / forecast_sum[last[ok]]
    out[ok] = np.where(count[last[ok]] >= min_pairs, ratio, np.nan)
    return out


def forecast_realized_vol(close, method="ewma", refit_every=63, min_history=250,
                          realized_sessions=HORIZON_SESSIONS):
    """Causal forecast of the volatility realised over the next HORIZON_SESSIONS sessions.

    Returns a DataFrame on close's index: `raw` (the model's forecast), `correction` (the
    walk-forward `bias_correction` of that model) and `forecast` = raw x correction (NaN until the
    correction exists). Methods:
    - "ewma": RiskMetrics, decay EWMA_DECAY (the default; see docs/options.md for the comparison);
    - "garch": GARCH(1,1) fitted walk-forward (refit every `refit_every` sessions on all returns to
      date, from `min_history` returns), its mean variance forecast over the horizon;
    - "realized": trailing realised volatility over `realized_sessions` returns.
    Every value at t uses closes up to t's.
    """
    values = _validate_close(close)
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    _check_int("refit_every", refit_every, 1)
    _check_int("min_history", min_history, MIN_GARCH_HISTORY)
    _check_int("realized_sessions", realized_sessions, 2)
    returns = np.concatenate(([np.nan], np.diff(np.log(values))))
    if method == "garch":
        raw = _garch_vol(returns, min_history, refit_every)
    elif method == "ewma":
        raw = _ewma_vol(returns, EWMA_DECAY)
    else:
        raw = _realized_vol(returns, realized_sessions)
    correction = bias_correction(raw, returns)
    return pd.DataFrame({"raw": raw, "correction": correction, "forecast": raw * correction},
                        index=close.index)


def atm_vol_proxy(
    close,
    vix=None,
    method="ewma",
    vrp_ratio=VRP_RATIO,
    refit_every=63,
    min_history=250,
    realized_sessions=HORIZON_SESSIONS,
    skew=None,
):
    """One-month at-the-money implied volatility proxy for each session of `close`.

    Every source first estimates the VIX level (the one-month variance-swap rate of the S&P 500
    smile), which is then turned into the at-the-money volatility of our smile (`atm_from_vix` with
    `skew`, SkewParams() by default): with the default skew the at-the-money vol is about 0.88-0.9
    of VIX.

    Returns a DataFrame on close's index with `atm_vol` (annualised fraction), `vix_level` (the VIX
    level, a fraction, it was backed out of), `forecast` (the bias-corrected realised-vol forecast,
    see `forecast_realized_vol`; NaN in warm-up) and `source`, one of SOURCES:
    - "vix": VIX / 100 (VIX is itself a one-month S&P 500 implied volatility: no premium added). A
      session without a VIX value takes the previous session's VIX once; a longer gap falls back to
      the model.
    - `method` ("ewma", "garch", "realized"): the bias-corrected forecast of the next 21 sessions'
      realised volatility times `vrp_ratio` (default VRP_RATIO, Bondarenko's 19.3 / 15.1).
    - "warmup": before the bias correction has MIN_CORRECTION_PAIRS ended pairs: the uncorrected
      forecast where the model has one, else the realised volatility of all returns so far, times
      `vrp_ratio`; NaN before 20 returns.

    The value for session t uses closes (and VIX) up to t only: the model's parameters are fitted on
    returns to t, its bias correction on forecasts whose realised month ended by t.

    >>> days = pd.bdate_range("2020-01-01", periods=320)
    >>> close = pd.Series(100 * np.exp(np.cumsum(np.tile([0.01, -0.01], 160))), index=days)
    >>> proxy = atm_vol_proxy(close, method="realized")
    >>> proxy["source"].value_counts().to_dict()
    {'warmup': 293, 'realized': 27}
    >>> round(float(proxy["vix_level"].iloc[-1]), 4)   # 1% daily moves: 15.87% realised x 1.278
    0.2029
    """
    if isinstance(vrp_ratio, bool) or not isinstance(vrp_ratio, (int, float)) or not (
        math.isfinite(vrp_ratio) and vrp_ratio > 0
    ):
        raise ConfigError(f"vrp_ratio must be a positive number, got {vrp_ratio!r}")
    model = forecast_realized_vol(close, method, refit_every, min_history, realized_sessions)
    returns = np.concatenate(([np.nan], np.diff(np.log(close.to_numpy(dtype=float)))))
    forecast = model["forecast"].to_numpy()
    raw = model["raw"].to_numpy()
    # Before the correction has a year of ended pairs the day is warm-up, labelled as such, never
    # silently called by the model's name.
    warmup = np.isnan(forecast)
    fallback = np.where(np.isnan(raw), _warmup_vol(returns), raw)
    level = np.where(warmup, fallback, forecast) * vrp_ratio
    source = np.where(warmup, "warmup", method).astype(object)

    if vix is not None:
        implied = _validate_vix(vix, close.index)
        have = ~np.isnan(implied)
        level = np.where(have, implied / 100.0, level)
        source[have] = "vix"
    return pd.DataFrame({"atm_vol": atm_from_vix(level, skew), "vix_level": level, "forecast": forecast,
                         "source": source}, index=close.index)


@dataclass(frozen=True)
class SkewParams:
    """Shape of the S&P 500 smile around the at-the-money volatility.

    With z = ln(strike / spot) * sqrt(reference_years / max(years, min_years)) (log-moneyness
    rescaled to a one-month tenor, so that short-dated smiles are steeper in strike, as the square
    root of time rule has it), the volatility is
        atm_vol + put_slope * (-z) + curvature * z^2     for z < 0 (strikes below spot)
        atm_vol - call_slope * z + curvature * z^2       for z >= 0
    and never below `floor`.

    Defaults are typical one-month S&P 500 figures, not a calibration to option data we do not have:
    - a 10% out-of-the-money one-month put trades about 6-8 vol points over at-the-money (a common
      market rule of thumb): here 0.60 * 0.105 + 1.0 * 0.011 = +7.4 points;
    - the one-month 25-delta risk reversal (put minus call) typically runs +2 to +6 vol points in
      normal markets (as commonly quoted for SPY/SPX): here about +3 points at a 15% ATM volatility;
    - out-of-the-money calls trade 1-3 points under at-the-money: here -1.2 points at 5% and -1.9 at
      10% out of the money, turning up beyond about 35% (the far call wing of a smile).
    The skew is in vol points, whatever the at-the-money level; in a crisis the real skew widens.
    """

    put_slope: float = 0.60  # vol per unit of one-month log-moneyness below spot
    call_slope: float = 0.30  # vol per unit of one-month log-moneyness above spot
    curvature: float = 1.0  # vol per unit of squared one-month log-moneyness
    floor: float = 0.05  # no strike's volatility below this (annualised fraction)
    reference_years: float = 1.0 / 12.0  # the tenor at which the slopes hold as given
    min_years: float = 1.0 / 52.0  # tenors shorter than a week steepen no further

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"SkewParams.{field.name} must be a finite number, got {value!r}")
        for name in ("put_slope", "call_slope", "curvature"):
            if getattr(self, name) < 0:
                raise ConfigError(f"SkewParams.{name} must be non-negative, got {getattr(self, name)!r}")
        for name in ("floor", "reference_years", "min_years"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"SkewParams.{name} must be positive, got {getattr(self, name)!r}")


def smile_vol_one(atm_vol: float, spot: float, strike: float, years: float, skew: SkewParams) -> float:
    """`smile_vol` for one strike, in plain floats: the option book's per-contract fast path.
    Inputs are assumed valid (the book builds them); the tests hold it equal to `smile_vol`."""
    if atm_vol != atm_vol:
        return float("nan")
    z = math.log(strike / spot) * math.sqrt(skew.reference_years / max(years, skew.min_years))
    tilt = -skew.put_slope * z if z < 0 else -skew.call_slope * z
    return max(atm_vol + tilt + skew.curvature * z * z, skew.floor)


def smile_vol(atm_vol, spot, strike, years, skew=None):
    """Implied volatility of `strike` for a tenor of `years`, given the at-the-money volatility.

    Vectorised: arguments broadcast like numpy ufuncs; scalars in give a float out. NaN atm_vol gives
    NaN. Moneyness is measured against the spot (how the index strategies pick their strikes).

    >>> round(smile_vol(0.15, 100.0, 90.0, 1 / 12), 4)      # 10% OTM one-month put: +7.4 vol points
    0.2243
    >>> round(smile_vol(0.15, 100.0, 105.0, 1 / 12), 4)     # 5% OTM one-month call: -1.2 vol points
    0.1377
    """
    skew = SkewParams() if skew is None else skew
    if not isinstance(skew, SkewParams):
        raise ConfigError(f"skew must be a SkewParams, got {type(skew).__name__}")
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (atm_vol, spot, strike, years)))
    atm_vol, spot, strike, years = (np.array(a) for a in arrays)
    for name, values, bad, rule in (
        ("atm_vol", atm_vol, atm_vol < 0, "non-negative"),
        ("spot", spot, spot <= 0, "positive"),
        ("strike", strike, strike <= 0, "positive"),
        ("years", years, years < 0, "non-negative"),
    ):
        bad = bad | np.isinf(values)
        if np.any(bad):
            first = float(values[bad].flat[0])
            raise ConfigError(f"smile_vol {name} must be finite and {rule}, got {first!r}")
    tenor_scale = np.sqrt(skew.reference_years / np.maximum(years, skew.min_years))
    z = np.log(strike / spot) * tenor_scale
    tilt = np.where(z < 0, -skew.put_slope * z, -skew.call_slope * z)
    vol = np.maximum(atm_vol + tilt + skew.curvature * z**2, skew.floor)
    vol = np.where(np.isnan(atm_vol), np.nan, vol)
    return float(vol) if vol.ndim == 0 else vol


# Cboe's VIX is a 30-day variance-swap rate: it integrates the whole smile, so with the S&P 500's
# put skew it sits above the at-the-money volatility. Both our sources measure that VIX level (VIX
# itself, and a model scaled by the implied/realised ratio of S&P 500 option indices' implied vol,
# whose long-run average is VIX's), so the at-the-money volatility is backed out of the smile.
VIX_DAYS = 30
# Cboe stops adding strikes after two zero bids; in a model every strike has a price, so the sum runs
# over strikes within this many at-the-money standard deviations of the forward (the listed range
# with bids, roughly), which also keeps the smile's quadratic far wings from dominating.
VIX_STRIKE_SPAN_SD = 4.0
_UNIT_GRID = np.linspace(-1.0, 1.0, 801)
_ATM_GRID = np.linspace(0.01, 2.5, 500)


def vix_of_atm(atm_vol, skew=None, days=VIX_DAYS):
    """The VIX (as a fraction) that Cboe's formula gives on our smile around `atm_vol`.

    VIX^2 = (2/T) * integral of Q(K)/K^2 dK over out-of-the-money puts below the forward and calls
    above it (zero rate, forward = spot = 1), over strikes within VIX_STRIKE_SPAN_SD at-the-money
    standard deviations. With a flat smile it is the volatility itself.

    >>> flat = SkewParams(put_slope=0.0, call_slope=0.0, curvature=0.0)
    >>> round(float(vix_of_atm(0.2, flat)), 3)
    0.2
    """
    from strategies.options import price  # options imports nothing from here; this keeps it so

    skew = SkewParams() if skew is None else skew
    years = days / 365.0
    atm = np.atleast_1d(np.asarray(atm_vol, dtype=float))[:, None]
    strikes = np.exp(_UNIT_GRID[None, :] * VIX_STRIKE_SPAN_SD * atm * math.sqrt(years))
    vols = smile_vol(atm, 1.0, strikes, years, skew)
    out_of_money = np.where(strikes < 1.0, price("put", 1.0, strikes, years, vols),
                            price("call", 1.0, strikes, years, vols))
    integrand = out_of_money / strikes**2
    variance = 2.0 / years * np.sum((integrand[:, 1:] + integrand[:, :-1]) / 2 * np.diff(strikes, axis=1),
                                    axis=1)
    result = np.sqrt(variance)
    return float(result[0]) if np.ndim(atm_vol) == 0 else result


def atm_from_vix(vix_level, skew=None):
    """The at-the-money volatility whose smile has this VIX level (fractions; NaN stays NaN).

    >>> round(float(atm_from_vix(vix_of_atm(0.18))), 6)
    0.18
    """
    table = _vix_table(SkewParams() if skew is None else skew)
    values = np.asarray(vix_level, dtype=float)
    atm = np.interp(values, table, _ATM_GRID)
    atm = np.where(np.isnan(values), np.nan, atm)
    return float(atm) if atm.ndim == 0 else atm


@functools.lru_cache(maxsize=16)
def _vix_table(skew):
    table = vix_of_atm(_ATM_GRID, skew)
    if not np.all(np.diff(table) > 0):
        raise ConfigError(f"the smile {skew} does not give a VIX that rises with at-the-money volatility")
    return table
