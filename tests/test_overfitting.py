"""backtests.overfitting: PBO by CSCV and the deflated Sharpe ratio, each against an independent
computation (a plain-Python CSCV, the DSR paper's own worked example, a Monte Carlo maximum)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from backtests.overfitting import (
    cscv_groups,
    deflated_sharpe,
    deflated_sharpe_of,
    expected_max_sharpe,
    pbo_cscv,
    relative_rank,
)
from backtests.tuning import score


def mean_scorer(block):
    return block.mean(axis=0)


def brute_force_pbo(matrix, groups, objective):
    """CSCV written out with loops and plain lists, sharing nothing with the module but `score`."""
    windows, trials = matrix.shape
    # numpy's array_split: the first (windows % groups) groups get one window more
    size, extra = divmod(windows, groups)
    blocks, start = [], 0
    for g in range(groups):
        stop = start + size + (1 if g < extra else 0)
        blocks.append(list(range(start, stop)))
        start = stop
    assert start == windows
    below = 0
    total = 0
    for chosen in itertools.combinations(range(groups), groups // 2):
        inside = sorted(i for g in chosen for i in blocks[g])
        outside = sorted(i for g in range(groups) if g not in chosen for i in blocks[g])
        in_scores = [score(objective, matrix[inside, n]) for n in range(trials)]
        out_scores = [score(objective, matrix[outside, n]) for n in range(trials)]
        in_scores = [-math.inf if math.isnan(v) else v for v in in_scores]
        out_scores = [-math.inf if math.isnan(v) else v for v in out_scores]
        best = max(range(trials), key=lambda n: (in_scores[n], -n))  # first of the ties
        value = out_scores[best]
        rank = sum(v < value for v in out_scores) + (sum(v == value for v in out_scores) + 1) / 2
        omega = rank / (trials + 1)
        below += math.log(omega / (1 - omega)) <= 0
        total += 1
    return below / total, total


@pytest.mark.parametrize("objective", ["mean-window-return", "sharpe", "calmar", "hit-rate", "sortino"])
def test_pbo_matches_a_plain_python_cscv(objective):
    rng = np.random.default_rng(7)
    matrix = rng.normal(0.001, 0.02, size=(23, 7))  # 23 windows: groups of unequal size
    matrix[:, 2] = matrix[:, 1]  # a tie
    matrix[5, 4] = np.nan  # a trial with a missing window never wins
    expected, splits = brute_force_pbo(matrix, 6, objective)
    result = pbo_cscv(matrix, lambda block: score(objective, block), groups=6)
    assert result.splits == splits == math.comb(6, 3)
    assert result.pbo == pytest.approx(expected, abs=1e-12)
    assert (result.trials, result.windows, result.groups) == (7, 23, 6)


def test_pbo_of_perfectly_reversing_rules_is_one_and_of_a_dominant_rule_zero():
    # A earns 1..4% in windows 1..4, B the reverse: whoever wins one half loses the other (worked by
    # hand: four splits crown the other half's loser, two tie exactly at the median, logit 0)
    reversing = np.array([[0.01, 0.04], [0.02, 0.03], [0.03, 0.02], [0.04, 0.01]])
    result = pbo_cscv(reversing, mean_scorer, groups=4)
    assert result.pbo == 1.0 and result.splits == 6
    assert sorted(result.logits.tolist()) == pytest.approx([math.log(0.5)] * 4 + [0.0] * 2, abs=1e-12)
    dominant = np.array([[0.01, 0.02], [0.03, 0.04], [-0.02, -0.01], [0.00, 0.01]])
    assert pbo_cscv(dominant, mean_scorer, groups=4).pbo == 0.0


def test_pbo_of_rules_without_skill_averages_a_half():
    values = [pbo_cscv(np.random.default_rng(seed).normal(0, 0.01, size=(40, 12)), mean_scorer,
                       groups=8).pbo for seed in range(40)]
    assert 0.4 < np.mean(values) < 0.6


def test_pbo_needs_two_trials_and_enough_windows():
    assert math.isnan(pbo_cscv(np.zeros((10, 1)), mean_scorer).pbo)
    assert "two or more" in pbo_cscv(np.zeros((10, 1)), mean_scorer).reason
    assert math.isnan(pbo_cscv(np.zeros((3, 4)), mean_scorer).pbo)
    assert [cscv_groups(n) for n in (3, 4, 5, 9, 24, 25, 200)] == [0, 2, 2, 4, 12, 12, 12]


def test_relative_rank_matches_scipy_ranks():
    values = np.array([0.3, np.nan, 0.1, 0.3, -0.2])
    for position in range(len(values)):
        filled = np.where(np.isnan(values), -1e9, values)
        expected = stats.rankdata(filled)[position] / (len(values) + 1)
        assert relative_rank(values, position) == pytest.approx(expected)


def test_deflated_sharpe_reproduces_the_papers_example():
    # Bailey & López de Prado (2014), section 5: SR 2.5 annualised over 5 years of daily returns,
    # skew -3, kurtosis 10, 100 trials with annualised Sharpe variance 0.5 -> DSR 0.9004
    assert deflated_sharpe(2.5 / math.sqrt(250), 0.5 / 250, 100, 1250, -3.0, 10.0) == pytest.approx(0.9004,
                                                                                                      abs=1e-4)


def test_expected_max_sharpe_against_a_monte_carlo_maximum():
    rng = np.random.default_rng(3)
    for trials in (10, 100):
        draws = rng.normal(0.0, math.sqrt(0.04), size=(20_000, trials)).max(axis=1)
        # the formula is an approximation of E[max]; within 3% of the simulated mean
        assert expected_max_sharpe(0.04, trials) == pytest.approx(draws.mean(), rel=0.03)
    assert expected_max_sharpe(0.04, 1) == 0.0


def test_deflated_sharpe_of_one_trial_is_the_probabilistic_sharpe_ratio():
    rng = np.random.default_rng(11)
    returns = rng.normal(0.004, 0.02, size=(60, 1))
    r = returns[:, 0]
    sharpe = r.mean() / r.std(ddof=1)
    g3 = np.mean((r - r.mean()) ** 3) / np.mean((r - r.mean()) ** 2) ** 1.5
    g4 = np.mean((r - r.mean()) ** 4) / np.mean((r - r.mean()) ** 2) ** 2
    psr = stats.norm.cdf(sharpe * math.sqrt(59) / math.sqrt(1 - g3 * sharpe + (g4 - 1) / 4 * sharpe**2))
    figures = deflated_sharpe_of(returns, 0)
    assert figures["dsr"] == pytest.approx(psr, rel=1e-12)
    assert figures["trials"] == 1 and figures["expected_max_sharpe"] == 0.0


def test_more_trials_deflate_more():
    rng = np.random.default_rng(5)
    matrix = rng.normal(0.0, 0.02, size=(40, 50))
    matrix[:, 0] += 0.01
    few, many = deflated_sharpe_of(matrix[:, :5], 0), deflated_sharpe_of(matrix, 0)
    assert few["sharpe"] == many["sharpe"]
    assert many["expected_max_sharpe"] > few["expected_max_sharpe"]
    assert many["dsr"] < few["dsr"]


def test_deflated_sharpe_says_why_it_cannot_be_computed():
    flat = np.zeros((10, 3))
    assert math.isnan(deflated_sharpe_of(flat, 0)["dsr"])
    assert "do not vary" in deflated_sharpe_of(flat, 0)["reason"]
    assert "chosen trial" in deflated_sharpe_of(flat, None)["reason"]
