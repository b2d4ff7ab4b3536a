"""How much of a tuning result may be luck: two measures over the trials of a study.

- Probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation (CSCV):
  Bailey, Borwein, López de Prado and Zhu, "The probability of backtest overfitting", Journal of
  Computational Finance 20(4), 2017. The windows (rows, in time order) are cut into S contiguous
  groups; for every way of taking S/2 groups as the in-sample half (C(S, S/2) splits; 924 for
  S = 12, our default), the trial with the best in-sample objective is found and its out-of-sample objective
  ranked among all trials: w = rank / (N + 1), logit = ln(w / (1 - w)). PBO is the share of splits
  whose logit is <= 0, i.e. where the in-sample winner finished at or below the out-of-sample median.
- Deflated Sharpe ratio (DSR): Bailey and López de Prado, "The deflated Sharpe ratio: correcting for
  selection bias, backtest overfitting and non-normality", Journal of Portfolio Management 40(5),
  2014. The probability that the chosen trial's true Sharpe ratio exceeds the Sharpe ratio the best
  of N unskilled trials would show by luck (expected maximum of N draws with the trials' observed
  variance of Sharpe ratios), allowing for the skewness and kurtosis of its returns.

Both read a matrix of per-window returns: one row per window in time order, one column per distinct
trial (a trial repeated with the same parameters counts once). Sharpe ratios here are per window,
not annualised, as the observations are windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy import stats

PBO_MEANING = ("PBO is the share of the ways to split the windows into two halves in which the rule "
               "that scored best on one half finished at or below the median of all rules on the other "
               "half: near 0 the in-sample ranking carries over, near 0.5 or above picking the in-sample "
               "best is no better than picking at random.")
DSR_MEANING = ("The deflated Sharpe ratio is the probability that the chosen rule's true per-window Sharpe "
               "ratio beats what the luckiest of that many rules with no skill would show, allowing for "
               "skewed and fat-tailed window returns; below 0.95 its Sharpe ratio is not significant.")
# The paper uses S = 16 (12,870 splits). S = 12 gives 924 splits: with a study's typical 28-80 windows
# the groups keep 2-7 windows each, estimates on test matrices differ from S = 16 by a few points
# (the splits are far from independent either way), and the cost falls from seconds to a fraction.
MAX_GROUPS = 12
EULER_GAMMA = 0.5772156649015329
_BATCH = 256  # splits scored at once: 256 x 40 windows x 100 trials of float64 is 8 MB
_ZERO_SPREAD = 1e-12


@dataclass(frozen=True)
class PBOResult:
    """pbo: share of splits with logit <= 0 (NaN when it cannot be computed, `reason` says why)."""

    pbo: float
    groups: int
    splits: int
    trials: int
    windows: int
    logits: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reason: str = ""


def cscv_groups(windows: int, max_groups: int = MAX_GROUPS) -> int:
    """The number of CSCV groups: even, at most max_groups, and at least two windows per group (so a
    half holds at least two windows per group and a Sharpe ratio exists); 0 when fewer than 4 windows.

    >>> cscv_groups(80), cscv_groups(22), cscv_groups(7), cscv_groups(3)
    (12, 10, 2, 0)
    """
    groups = min(max_groups, windows // 2)
    groups -= groups % 2
    return groups if groups >= 2 else 0


def relative_rank(values: np.ndarray, position: int) -> float:
    """Rank of values[position] among values, scaled into (0, 1): rank / (N + 1), rank 1 the lowest,
    tied values sharing their average rank, NaN below everything.

    >>> relative_rank(np.array([0.1, 0.3, 0.2]), 1), relative_rank(np.array([1.0, 1.0]), 0)
    (0.75, 0.5)
    """
    finite = np.where(np.isnan(values), -np.inf, values)
    return float(stats.rankdata(finite, method="average")[position] / (len(values) + 1))


def pbo_cscv(matrix, scorer, groups: int | None = None, max_groups: int = MAX_GROUPS) -> PBOResult:
    """PBO of choosing the best column of `matrix` (rows windows in time order, columns distinct
    trials) by `scorer`: a function of an array of window returns shaped (windows, ...) that reduces
    the first axis and returns one score per remaining cell (higher better; NaN worst). Splits are
    scored in batches, so the scorer sees (windows in the half, splits, trials) blocks.

    >>> rng = np.random.default_rng(2)
    >>> noise = rng.normal(0.0, 0.01, size=(40, 20))
    >>> mean = lambda block: block.mean(axis=0)
    >>> round(pbo_cscv(noise, mean, groups=8).pbo, 2)                  # no skill
    0.53
    >>> skilled = noise.copy(); skilled[:, 3] += 0.02                   # one rule better everywhere
    >>> pbo_cscv(skilled, mean, groups=8).pbo
    0.0
    """
    values = np.asarray(matrix, dtype=float)
    windows, trials = values.shape if values.ndim == 2 else (0, 0)
    if trials < 2:
        return PBOResult(math.nan, 0, 0, trials, windows, reason="needs two or more distinct trials")
    groups = groups if groups is not None else cscv_groups(windows, max_groups)
    if groups < 2 or groups % 2 or groups > windows:
        return PBOResult(math.nan, groups, 0, trials, windows,
                         reason=f"needs an even number of groups (2 or more) over {windows} windows")
    blocks = np.array_split(np.arange(windows), groups)
    halves: dict[tuple[int, int], tuple[list, list]] = {}
    for chosen in combinations(range(groups), groups // 2):
        inside = np.concatenate([blocks[g] for g in chosen])
        outside = np.concatenate([blocks[g] for g in range(groups) if g not in chosen])
        # array_split's groups differ by one window at most: batch the splits by half lengths
        batch = halves.setdefault((len(inside), len(outside)), ([], []))
        batch[0].append(inside)
        batch[1].append(outside)
    logits = []
    for insides, outsides in halves.values():
        inside_rows, outside_rows = np.array(insides), np.array(outsides)
        for start in range(0, len(inside_rows), _BATCH):
            # (windows of the half, splits, trials): the scorer reduces the first axis
            in_scores = scorer(values[inside_rows[start:start + _BATCH].T])
            out_scores = scorer(values[outside_rows[start:start + _BATCH].T])
            in_scores = np.where(np.isnan(in_scores), -np.inf, in_scores)
            out_scores = np.where(np.isnan(out_scores), -np.inf, out_scores)
            best = np.argmax(in_scores, axis=1)
            chosen = out_scores[np.arange(len(best)), best][:, None]
            # average rank (1 = lowest) of the in-sample winner among the out-of-sample scores
            rank = (out_scores < chosen).sum(axis=1) + ((out_scores == chosen).sum(axis=1) + 1) / 2
            relative = rank / (trials + 1)
            logits.append(np.log(relative / (1.0 - relative)))
    logits = np.concatenate(logits)
    return PBOResult(float(np.mean(logits <= 0.0)), groups, len(logits), trials, windows, logits)


def expected_max_sharpe(sharpe_variance: float, trials: int) -> float:
    """Expected largest Sharpe ratio among `trials` unskilled trials whose Sharpe ratios have variance
    `sharpe_variance` (the DSR paper's SR0; the false-strategy theorem): sqrt(V) * ((1 - gamma) *
    Z^-1(1 - 1/N) + gamma * Z^-1(1 - 1/(N e))), gamma being Euler-Mascheroni's constant.

    >>> round(expected_max_sharpe(0.5 / 250, 100), 4)      # the DSR paper's example, daily units
    0.1132
    """
    if trials < 2 or not sharpe_variance > 0:
        return 0.0
    return math.sqrt(sharpe_variance) * float(
        (1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / trials)
        + EULER_GAMMA * stats.norm.ppf(1.0 - 1.0 / (trials * math.e))
    )


def deflated_sharpe(sharpe: float, sharpe_variance: float, trials: int, observations: int, skew: float,
                    kurtosis: float) -> float:
    """DSR = Z[(SR - SR0) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2)], SR and SR0 per
    observation, kurtosis not in excess (3 for a normal distribution).

    >>> round(deflated_sharpe(2.5 / 250 ** 0.5, 0.5 / 250, 100, 1250, -3.0, 10.0), 4)   # paper: 0.9004
    0.9004
    """
    spread = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if observations < 2 or not spread > 0 or not math.isfinite(sharpe):
        return math.nan
    edge = (sharpe - expected_max_sharpe(sharpe_variance, trials)) * math.sqrt(observations - 1)
    return float(stats.norm.cdf(edge / math.sqrt(spread)))


def deflated_sharpe_of(matrix, chosen: int | None) -> dict:
    """The DSR of column `chosen` of a window-returns matrix (rows windows, columns distinct trials),
    N being the number of columns with a Sharpe ratio and V the variance of their Sharpe ratios.
    Returns {"dsr", "sharpe", "expected_max_sharpe", "trials", "windows", "skew", "kurtosis",
    "sharpe_variance", "reason"} (dsr NaN with a reason when it cannot be computed)."""
    values = np.asarray(matrix, dtype=float)
    windows = values.shape[0] if values.ndim == 2 else 0
    figures = {"dsr": math.nan, "sharpe": math.nan, "expected_max_sharpe": math.nan, "trials": 0,
               "windows": windows, "skew": math.nan, "kurtosis": math.nan, "sharpe_variance": math.nan,
               "reason": ""}
    if chosen is None or values.ndim != 2 or values.shape[1] == 0 or windows < 3:
        figures["reason"] = "needs a chosen trial and three or more windows"
        return figures
    spread = values.std(axis=0, ddof=1)
    usable = (spread > _ZERO_SPREAD) & ~np.isnan(values).any(axis=0)
    if not usable[chosen]:
        figures["reason"] = "the chosen trial's window returns do not vary"
        return figures
    sharpes = values[:, usable].mean(axis=0) / spread[usable]
    returns = values[:, chosen]
    sharpe = float(returns.mean() / spread[chosen])
    variance = float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0
    skew = float(stats.skew(returns))
    kurtosis = float(stats.kurtosis(returns, fisher=False))
    figures.update(
        dsr=deflated_sharpe(sharpe, variance, len(sharpes), windows, skew, kurtosis), sharpe=sharpe,
        expected_max_sharpe=expected_max_sharpe(variance, len(sharpes)), trials=int(len(sharpes)),
        skew=skew, kurtosis=kurtosis, sharpe_variance=variance,
    )
    return figures
