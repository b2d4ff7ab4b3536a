"""European option prices, greeks and implied volatility (Black-Scholes-Merton), vectorised over numpy.

Units, everywhere in this module:
- `years`: time to expiry in years (a maturity of `d` calendar days is `d / 365`);
- `vol`, `rate`, `div`: annualised fractions (20% is 0.20), continuously compounded rate and dividend
  yield;
- `vega` is per 1.00 of volatility (divide by 100 for "per vol point"), `theta` is per year of calendar
  time (divide by 365 for "per day"), `rho` is per 1.00 of `rate`.

Every numeric argument broadcasts against the others like a numpy ufunc; when every argument is a
scalar the result is a Python float, otherwise an ndarray. NaN inputs give NaN outputs; impossible
inputs (a negative volatility, a non-positive spot) raise `ConfigError`.

Edge conventions (chosen so that nothing is NaN and numpy emits no warning):
- `years == 0`: the price is the intrinsic value `max(spot - strike, 0)` (call); delta is 1 in the
  money, 0 out of the money and 0.5 (put: -0.5) exactly at the money, the limit of the delta of an
  at-the-money option as expiry approaches, which also keeps call delta - put delta = 1; gamma, vega,
  theta and rho are 0.
- `vol == 0` with `years > 0`: the deterministic value `max(spot e^{-div years} - strike e^{-rate
  years}, 0)` and its derivatives; gamma is 0 (the option's payoff kink is a point mass, not a number).
- Very large volatility tends to the bounds (a call to `spot e^{-div years}`, a put to
  `strike e^{-rate years}`).

The time value is computed in the normalised form of Jaeckel ("Let's Be Rational", 2015),
`b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2)` with `x = ln(F/K)` and `s = vol sqrt(years)`,
and, far out of the money, through the scaled complementary error function `erfcx`, so that a deep
out-of-the-money price keeps its relative precision instead of being the difference of two nearly
equal numbers. That relative precision is what lets `implied_vol` recover the volatility from such
prices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf, erfcx, erfinv, ndtr, ndtri

from strategies.errors import ConfigError

__all__ = ["OptionCosts", "greeks", "implied_vol", "price"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
# Newton on the log of the normalised price converges quadratically: once a correction is below
# this (relative), the corrected point is within rounding of the root. A tighter bound would only
# chase the rounding noise of the price function.
_STEP_TOLERANCE = 1e-12
# Bisection alone would need about 60 halvings from any bracket to reach double precision; the
# safeguarded Newton takes 5-10 iterations on the test grid (16 at worst): this is only a hard cap.
_MAX_ITERATIONS = 100


def _kind_sign(kind):
    """+1.0 for a call, -1.0 for a put; anything else is a user error that names the value."""
    if isinstance(kind, str) and kind == "call":
        return 1.0
    if isinstance(kind, str) and kind == "put":
        return -1.0
    raise ConfigError(f"option kind must be 'call' or 'put', got {kind!r}")


def _check(name, values, *, strictly_positive):
    """Reject impossible values (NaN passes through: missing data is not a user error)."""
    bad = values <= 0 if strictly_positive else values < 0
    if np.any(bad):
        first = float(values[bad].flat[0])
        rule = "positive" if strictly_positive else "non-negative"
        raise ConfigError(f"option {name} must be {rule}, got {first!r}")
    if name != "vol" and np.any(np.isinf(values)):
        raise ConfigError(f"option {name} must be finite, got an infinite value")


def _inputs(spot, strike, years, vol, rate, div):
    """Broadcast the numeric arguments to float64 arrays of one shape and validate them."""
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (spot, strike, years, vol, rate, div)))
    spot, strike, years, vol, rate, div = (np.array(a) for a in arrays)
    _check("spot", spot, strictly_positive=True)
    _check("strike", strike, strictly_positive=True)
    _check("years", years, strictly_positive=False)
    _check("vol", vol, strictly_positive=False)
    for name, values in (("rate", rate), ("div", div)):
        if np.any(np.isinf(values)):
            raise ConfigError(f"option {name} must be finite, got an infinite value")
    return spot, strike, years, vol, rate, div


def _out(values):
    """A Python float for a 0-d result (scalars in), the array otherwise."""
    return float(values) if np.ndim(values) == 0 else values


def _otm_log_normalised(x, s):
    """ln b(x, s) and d ln b / ds for x <= 0 (an out-of-the-money call in normalised terms), s > 0.

    Below the inflection point (d1 <= 0) both terms of b are far in the normal tail: there
    b = exp(-(x^2/s^2 + s^2/4) / 2) (erfcx(-d1/sqrt2) - erfcx(-d2/sqrt2)) / 2, whose logarithm stays
    finite even where b itself underflows, and whose log-derivative is sqrt(2/pi) / (erfcx - erfcx).
    Above it the plain difference of normal CDFs has no harmful cancellation.
    """
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        ratio = x / s
        d1 = ratio + 0.5 * s
        d2 = ratio - 0.5 * s
    log_b = np.empty_like(s)
    dlog_b = np.empty_like(s)
    tail = d1 <= 0.0
    if np.any(tail):
        e1 = erfcx(-d1[tail] * _INV_SQRT_2)
        e2 = erfcx(-d2[tail] * _INV_SQRT_2)
        gap = e1 - e2
        # (x/s)^2 overflows to inf for a vanishing s: ln b is then -inf, b = 0, as it should be.
        with np.errstate(divide="ignore", over="ignore"):
            log_b[tail] = math.log(0.5) - 0.5 * (ratio[tail] ** 2 + 0.25 * s[tail] ** 2) + np.log(gap)
            dlog_b[tail] = _SQRT_2_OVER_PI / gap
    body = ~tail
    if np.any(body):
        xb, d1b, d2b = x[body], d1[body], d2[body]
        half = np.exp(0.5 * xb)
        b = np.where(xb == 0.0, erf(0.5 * s[body] * _INV_SQRT_2), half * ndtr(d1b) - ndtr(d2b) / half)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_b[body] = np.log(b)
            dlog_b[body] = half * _INV_SQRT_2PI * np.exp(-0.5 * d1b**2) / b
    return log_b, dlog_b


def _otm_normalised(x, s):
    """b(x, s) for x <= 0 and s >= 0 (s may be inf): 0 at s = 0, e^{x/2} as s -> inf."""
    b = np.zeros_like(s)
    finite = (s > 0.0) & np.isfinite(s)
    if np.any(finite):
        log_b, _ = _otm_log_normalised(x[finite], s[finite])
        b[finite] = np.exp(log_b)
    infinite = np.isinf(s)
    b[infinite] = np.exp(0.5 * x[infinite])
    return b


def _forward_terms(spot, strike, years, vol, rate, div):
    """Discounted spot and strike, total standard deviation and d1, d2 (with their limits at s = 0)."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        spot_disc = spot * np.exp(-div * years)
        strike_disc = strike * np.exp(-rate * years)
        # vol = inf at years = 0 is an expired option: no standard deviation left.
        std_dev = np.where(years > 0.0, vol * np.sqrt(years), 0.0)
        log_fwd_moneyness = np.log(spot_disc / strike_disc)
        positive = std_dev > 0.0
        safe_std = np.where(positive, std_dev, 1.0)
        limit = np.where(log_fwd_moneyness > 0, np.inf, np.where(log_fwd_moneyness < 0, -np.inf, 0.0))
        ratio = np.where(positive, log_fwd_moneyness / safe_std, limit)
        ratio = np.where(np.isnan(log_fwd_moneyness), np.nan, ratio)
        d1 = ratio + 0.5 * std_dev
        d2 = ratio - 0.5 * std_dev
    return spot_disc, strike_disc, std_dev, log_fwd_moneyness, d1, d2


def price(kind, spot, strike, years, vol, rate=0.0, div=0.0):
    """Black-Scholes-Merton price of a European call or put.

    Hull's Example 15.6 (S=42, K=40, r=10%, sigma=20%, T=0.5 years):
    >>> call = price("call", 42, 40, 0.5, 0.2, rate=0.1)
    >>> put = price("put", 42, 40, 0.5, 0.2, rate=0.1)
    >>> round(call, 2), round(put, 2)
    (4.76, 0.81)
    >>> price("put", 90.0, 100.0, 0.0, 0.3)            # expired: intrinsic value
    10.0
    """
    sign = _kind_sign(kind)
    spot, strike, years, vol, rate, div = _inputs(spot, strike, years, vol, rate, div)
    spot_disc, strike_disc, std_dev, x, _, _ = _forward_terms(spot, strike, years, vol, rate, div)
    with np.errstate(invalid="ignore"):
        scale = np.sqrt(spot_disc * strike_disc)
        intrinsic_fwd = np.maximum(sign * (spot_disc - strike_disc), 0.0)
        # The option's time value equals that of the out-of-the-money option on the same strike
        # (put-call parity), so every case reduces to b(-|x|, s).
        time_value = scale * _otm_normalised(-np.abs(x), std_dev)
        value = intrinsic_fwd + time_value
        expired = np.maximum(sign * (spot - strike), 0.0)
    value = np.where(years == 0.0, expired, value)
    value = np.where(np.isnan(x) | np.isnan(std_dev), np.nan, value)
    return _out(value)


def greeks(kind, spot, strike, years, vol, rate=0.0, div=0.0):
    """Delta, gamma, vega (per 1.00 vol), theta (per year) and rho (per 1.00 rate) of a European option.

    Hull's Greek-letter examples (S=49, K=50, r=5%, sigma=20%, T=20 weeks = 0.3846 years):
    >>> g = greeks("call", 49, 50, 0.3846, 0.2, rate=0.05)
    >>> round(g["delta"], 3), round(g["gamma"], 3), round(g["theta"], 2), round(g["vega"], 1)
    (0.522, 0.066, -4.31, 12.1)
    """
    sign = _kind_sign(kind)
    spot, strike, years, vol, rate, div = _inputs(spot, strike, years, vol, rate, div)
    spot_disc, strike_disc, std_dev, x, d1, d2 = _forward_terms(spot, strike, years, vol, rate, div)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        cdf1 = ndtr(sign * d1)
        cdf2 = ndtr(sign * d2)
        density = _INV_SQRT_2PI * np.exp(-0.5 * d1**2)
        carry = np.exp(-div * years)
        delta = sign * carry * cdf1
        positive = std_dev > 0.0
        gamma = np.where(positive, carry * density / (spot * np.where(positive, std_dev, 1.0)), 0.0)
        root_years = np.sqrt(years)
        vega = np.where(density > 0.0, spot_disc * density * root_years, 0.0)
        decay = np.where(
            (density > 0.0) & (years > 0.0),
            -spot_disc * density * vol / (2.0 * np.where(years > 0.0, root_years, 1.0)),
            0.0,
        )
        theta = decay - sign * rate * strike_disc * cdf2 + sign * div * spot_disc * cdf1
        rho = sign * strike_disc * years * cdf2
    expired = years == 0.0
    at_expiry_delta = np.where(spot > strike, 1.0, np.where(spot < strike, 0.0, 0.5))
    if sign < 0:
        at_expiry_delta = at_expiry_delta - 1.0
    # `+ 0.0` turns the -0.0 of a worthless put into 0.0.
    delta = np.where(expired, at_expiry_delta, delta) + 0.0
    rho = rho + 0.0
    missing = np.isnan(x) | np.isnan(std_dev)
    result = {}
    for name, values in (("delta", delta), ("gamma", gamma), ("vega", vega), ("theta", theta), ("rho", rho)):
        values = np.where(expired & (name != "delta"), 0.0, values)
        result[name] = _out(np.where(missing, np.nan, values))
    return result


def _initial_guess(log_beta, x):
    """Starting standard deviation for the Newton iteration on ln b(x, s) = log_beta, x <= 0.

    Below the inflection point s_c = sqrt(-2x) the price is dominated by exp(-x^2/(2s^2) - s^2/8),
    which gives s^2 = 4L - 2 sqrt(4L^2 - x^2) with L = -log_beta; above it the price approaches its
    bound like e^{x/2} - b ~ 2 cosh(x/2) N(-s/2). Both are exact at x = 0 or in their limit, and the
    bracketing in `_solve_normalised` makes a poor start cost iterations, never the answer.
    Also returns s_c and ln b(x, s_c) (-inf where s_c = 0, at the money).
    """
    s_c = np.sqrt(-2.0 * x)
    log_b_c = np.full_like(x, -np.inf)
    off_money = s_c > 0.0
    if np.any(off_money):
        log_b_c[off_money], _ = _otm_log_normalised(x[off_money], s_c[off_money])
    beta = np.exp(log_beta)
    with np.errstate(invalid="ignore", divide="ignore"):
        big_l = -log_beta
        low = np.sqrt(np.maximum(4.0 * big_l - 2.0 * np.sqrt(np.maximum(4.0 * big_l**2 - x**2, 0.0)), 0.0))
        gap = (np.exp(0.5 * x) - beta) / (2.0 * np.cosh(0.5 * x))
        high = -2.0 * ndtri(np.clip(gap, 1e-300, 0.5))
    guess = np.where(log_beta < log_b_c, low, high)
    # At the money the inverse is closed-form: b(0, s) = erf(s / (2 sqrt 2)).
    guess = np.where(x == 0.0, 2.0 * math.sqrt(2.0) * erfinv(np.minimum(beta, 1.0)), guess)
    bad = ~np.isfinite(guess) | (guess <= 0.0)
    return np.where(bad, np.where(off_money, s_c, 1.0), guess), s_c, log_b_c


def _solve_normalised(log_beta, x):
    """The s > 0 with ln b(x, s) = log_beta, for 1-d arrays with x <= 0 and log_beta < x/2.

    Working with the logarithm of the normalised price keeps a time value that underflows as a
    normalised number (a few 1e-320) solvable. Safeguarded Newton on ln b (ln b is close to linear in
    1/s^2 far out of the money, where b itself is too convex for Newton): every evaluation tightens a
    bracket [lo, hi] around the root, and a Newton step that would leave the bracket is replaced by
    bisection (doubling while no upper end is known), so the iteration converges for every admissible
    input.
    """
    s, s_c, log_b_c = _initial_guess(log_beta, x)
    lo = np.where((s_c > 0.0) & (log_b_c < log_beta), s_c, 0.0)
    hi = np.where((s_c > 0.0) & (log_b_c > log_beta), s_c, np.inf)
    s = np.where((s > lo) & (s < hi), s, np.where(np.isfinite(hi), 0.5 * (lo + hi), np.maximum(2.0 * lo, s)))
    active = np.arange(log_beta.size)
    for _ in range(_MAX_ITERATIONS):
        if active.size == 0:
            break
        sa = s[active]
        log_b, dlog_b = _otm_log_normalised(x[active], sa)
        miss = log_b - log_beta[active]
        lo[active] = np.where(miss < 0.0, sa, lo[active])
        hi[active] = np.where(miss > 0.0, sa, hi[active])
        la, ha = lo[active], hi[active]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            newton = sa - miss / dlog_b
        # A Newton correction below the tolerance is convergence, even when it lands on the bracket's
        # end (sa itself just became that end); only a larger step is checked against the bracket.
        converged = (miss == 0.0) | (np.abs(newton - sa) <= _STEP_TOLERANCE * sa)
        fallback = np.where(np.isfinite(ha), 0.5 * (la + ha), 2.0 * sa)
        inside = (newton > la) & (newton < ha)
        s[active] = np.where(converged | inside, np.where(miss == 0.0, sa, newton), fallback)
        done = converged | (ha - la <= 4e-16 * ha)
        active = active[~done]
    return s


def implied_vol(kind, price, spot, strike, years, rate=0.0, div=0.0):
    """The volatility at which `price(kind, spot, strike, years, vol, rate, div)` equals `price`.

    Prices outside the no-arbitrage bounds have no implied volatility and give NaN: below the
    discounted intrinsic value `max(±(spot e^{-div years} - strike e^{-rate years}), 0)`, at or above
    the upper bound (`spot e^{-div years}` for a call, `strike e^{-rate years}` for a put), or any price
    when `years == 0`. A price exactly at the lower bound gives 0.0. NaN in, NaN out.

    The solver works on the normalised out-of-the-money time value (see the module docstring) with
    a bracketed Newton iteration on its logarithm; it recovers the volatility to about 1e-13 relative
    wherever the price carries that information (vega not negligible against the price's own
    rounding).

    >>> round(implied_vol("call", price("call", 42, 40, 0.5, 0.2, rate=0.1), 42, 40, 0.5, rate=0.1), 12)
    0.2
    >>> implied_vol("call", 50.0, 42, 40, 0.5)        # above the spot: no volatility can explain it
    nan
    """
    sign = _kind_sign(kind)
    option_price = np.asarray(price, dtype=float)
    spot, strike, years, _, rate, div = _inputs(spot, strike, years, 0.0, rate, div)
    option_price, spot, strike, years, rate, div = (
        np.array(a) for a in np.broadcast_arrays(option_price, spot, strike, years, rate, div)
    )
    with np.errstate(invalid="ignore", over="ignore"):
        spot_disc = spot * np.exp(-div * years)
        strike_disc = strike * np.exp(-rate * years)
        scale = np.sqrt(spot_disc * strike_disc)
        intrinsic_fwd = np.maximum(sign * (spot_disc - strike_disc), 0.0)
        x = -np.abs(np.log(spot_disc / strike_disc))
        time_value = option_price - intrinsic_fwd
        # In logs, so that a time value below the smallest normal double still has a volatility.
        log_beta = np.log(np.where(time_value > 0, time_value, 1.0)) - np.log(scale)
        upper = spot_disc if sign > 0 else strike_disc
    vol = np.full(option_price.shape, np.nan)
    live = years > 0.0
    vol[live & (time_value == 0.0)] = 0.0
    # The bounds are checked on the price itself; the normalised test only guards against a price
    # within rounding of the upper bound, whose volatility is not a finite number.
    solve = live & (time_value > 0.0) & (option_price < upper) & (log_beta < 0.5 * x)
    if np.any(solve):
        vol[solve] = _solve_normalised(log_beta[solve], x[solve]) / np.sqrt(years[solve])
    return _out(vol)


# The quoted width of an index option, in volatility: SPREAD_VOL at REFERENCE_VOL, scaled by the square
# of the option's own implied vol over REFERENCE_VOL. Why volatility terms: Chaudhury ("Option Bid-Ask
# Spread and Liquidity", McGill, 2011) shows a spread scaled by the option price ranks cheap options
# as illiquid by construction and proposes quoting bid and ask as implied vols; George and Longstaff
# (JFQA 1993, S&P 100 index options) tie spreads to market-making costs, which rise with volatility.
# Muravyev and Pearson (RFS 2020) measure 2004-2015 quoted half-spreads on S&P 500 stocks' options at
# 8.6% of the price on average, wider in percent out of the money, and effective spreads of timed
# executions under 40% of quoted. None of these gives SPX index-option widths by year, and there are
# no option quotes offline, so the level's anchors are stated assumptions, not measurements:
# one-month at-the-money SPX quotes run about 0.1-0.2 vol points wide in calm markets (VIX 10-12,
# as in 2017) and a few vol points in a crisis
# (VIX 40-60, late 2008), when market makers widen for gap and inventory risk; 0.5 points at 20%
# gives 0.15 at 11% and 3.1 at 50%. In price terms an at-the-money option's width is then about
# 1.4% of its premium at 11% vol, 2.5% at 20% and 6% at 50%; out of the money the vega is small
# against the price, so the width is a larger fraction of a cheap option, and the tick floors it.
SPREAD_VOL = 0.005
REFERENCE_VOL = 0.20


@dataclass(frozen=True)
class OptionCosts:
    """What trading a listed index option costs beyond its mid price: the one place of the rule.

    - `spread_vol`: quoted bid-ask width in volatility (0.005 = half a vol point) at an implied vol
      of `reference_vol`; the width at implied vol v is spread_vol x (v / reference_vol)^2 vol, so it
      widens with the volatility regime (see SPREAD_VOL for the anchors). In price: width x vega.
    - `min_tick`: the smallest price increment (Cboe SPX: 0.05 below 3.00, 0.10 above); the quoted
      spread is never narrower than one tick.
    - `commission_per_contract`: broker commission per contract in account currency; 0.65 is a
      typical retail rate (e.g. Interactive Brokers' fixed US option rate); exchange fees not included.
    - `min_commission`: the least one order pays (IBKR Pro Fixed: $1.00; 0 = none). The option book
      charges `commission(contracts)` per order: a replacement costs object provides the same method
      and `half_spread`.
    """

    spread_vol: float = SPREAD_VOL
    min_tick: float = 0.05
    commission_per_contract: float = 0.65
    reference_vol: float = REFERENCE_VOL
    min_commission: float = 0.0

    def __post_init__(self):
        for name in ("spread_vol", "min_tick", "commission_per_contract", "reference_vol", "min_commission"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise ConfigError(f"OptionCosts.{name} must be a finite non-negative number, got {value!r}")
        if self.reference_vol <= 0:
            raise ConfigError(f"OptionCosts.reference_vol must be positive, got {self.reference_vol!r}")
        if self.spread_vol >= 1.0:
            raise ConfigError(f"OptionCosts.spread_vol is a volatility (0.005 = half a vol point) and must "
                              f"be below 1, got {self.spread_vol!r}")

    def commission(self, contracts: float) -> float:
        """Commission for one order of `contracts` (either sign): per contract, at least the minimum.

        >>> OptionCosts(min_commission=1.0).commission(1), OptionCosts(min_commission=1.0).commission(-10)
        (1.0, 6.5)
        """
        if contracts == 0:
            return 0.0
        return max(abs(contracts) * self.commission_per_contract, self.min_commission)

    def width_vol(self, vol):
        """The quoted width in volatility at implied vol `vol` (fractions).

        >>> round(OptionCosts().width_vol(0.40), 6)      # twice the reference vol: four times as wide
        0.02
        """
        return _out(self.spread_vol * (np.asarray(vol, dtype=float) / self.reference_vol) ** 2)

    def half_spread(self, mid, vega, vol):
        """Distance from mid to the bid or the ask: half of (vega x width_vol(vol)), at least half a
        tick, never more than the mid (a bid does not go below zero). `vega` is per 1.00 of vol.

        A 30-day at-the-money option on 2000 at 20% (mid 45.74, vega 228.65): width 0.5 vol points
        = 1.143, 2.5% of the premium; half of it is paid on a fill.
        >>> round(OptionCosts().half_spread(45.74, 228.65, 0.20), 4)
        0.5716
        >>> OptionCosts().half_spread(0.40, 1.0, 0.30)   # far out of the money: the tick
        0.025
        """
        if type(mid) is float and type(vega) is float and type(vol) is float \
                and mid >= 0.0 and vega >= 0.0 and vol >= 0.0:
            # one quote (the option book's fills): the same operations in plain floats, without
            # numpy's per-call overhead; NaN fails the comparisons and takes the vectorised path
            ratio = vol / self.reference_vol
            tick = 0.5 * self.min_tick
            half = 0.5 * vega * (self.spread_vol * ratio ** 2)  # C pow, as numpy float64 scalars have it
            half = half if half >= tick else tick
            ceiling = mid if mid >= tick else tick
            return half if half <= ceiling else ceiling
        mid, vega, vol = (np.asarray(a, dtype=float) for a in (mid, vega, vol))
        if np.any(mid < 0):
            raise ConfigError(f"option mid price must be non-negative, got {float(mid[mid < 0].flat[0])!r}")
        if np.any(vega < 0) or np.any(vol < 0):
            raise ConfigError("option vega and vol must be non-negative")
        half = np.maximum(0.5 * vega * self.width_vol(vol), 0.5 * self.min_tick)
        return _out(np.minimum(half, np.maximum(mid, 0.5 * self.min_tick)))


def quote(kind, spot, strike, years, vol, rate=0.0, div=0.0) -> dict:
    """Price, delta, gamma, vega and theta of ONE option, in plain floats.

    The option book prices a handful of contracts per session, one at a time, where numpy's
    per-call overhead dominates; this is the textbook closed form with `math`, some 30 times faster
    than `price` + `greeks` on scalars. Expired, zero-vol or non-finite cases go to the vectorised
    functions, and the tests hold both to the same values.
    """
    if not (years > 0.0 and vol > 0.0 and math.isfinite(vol) and math.isfinite(spot)
            and math.isfinite(strike) and spot > 0.0 and strike > 0.0):
        g = greeks(kind, spot, strike, years, vol, rate, div)
        return {"price": price(kind, spot, strike, years, vol, rate, div), "delta": g["delta"],
                "gamma": g["gamma"], "vega": g["vega"], "theta": g["theta"]}
    sign = _kind_sign(kind)
    root = math.sqrt(years)
    std_dev = vol * root
    spot_disc = spot * math.exp(-div * years)
    strike_disc = strike * math.exp(-rate * years)
    d1 = math.log(spot_disc / strike_disc) / std_dev + 0.5 * std_dev
    d2 = d1 - std_dev
    cdf1 = 0.5 * math.erfc(-sign * d1 / _SQRT2)
    cdf2 = 0.5 * math.erfc(-sign * d2 / _SQRT2)
    density = _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
    value = sign * (spot_disc * cdf1 - strike_disc * cdf2)
    theta = (-spot_disc * density * vol / (2.0 * root) - sign * rate * strike_disc * cdf2
             + sign * div * spot_disc * cdf1)
    return {
        "price": max(value, 0.0),
        "delta": sign * math.exp(-div * years) * cdf1,
        "gamma": math.exp(-div * years) * density / (spot * std_dev),
        "vega": spot_disc * density * root,
        "theta": theta,
    }
