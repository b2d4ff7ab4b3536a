"""Judging the regime classifier: would it have called history right, and better than the prior?

`regime_inputs` assembles the classifier's features from `data/` (prices, VIX, the long yield with
its publication lag, the exchange calendar); `scenario_labels` says which of the playbook's three
scenarios each session's next `horizon` sessions turned out to be; `model_probs` runs a model
(MODELS: the walk-forward calibrated rules, the walk-forward logistic regression, the constant
prior); `evaluate` scores every model on every window kind against the constant 35/45/20 prior and
against the label frequencies known at the time, on non-overlapping horizons, with year-block
bootstrap confidence intervals and a reliability table, and names the model the playbook trades on.

The scenario label of session t (ScenarioParams; H = 5 sessions, the column's 1-5 day horizon), with
the forward total return r = close(t+H) / close(t) - 1 measured in units of the volatility known at
t's close, s = 20-session realized vol x sqrt(H / 252):
- selloff: r <= -1.0 s (a one-sigma fall over the horizon), and where a daily long-yield series
  exists the yield did not fall over the same sessions (the column's scenario is a rate-shock
  sell-off; a fall with falling yields is a flight to quality and counts as range);
- momentum: r >= +0.5 s and QQQ returned at least as much as SPY over the same sessions (a rally led
  by tech; without a QQQ series the tech condition is dropped, and the definition says so);
- range: otherwise (small net moves, or a broad rally that tech did not lead).
The thresholds are round numbers in sigma units fixed from the column's wording, not fitted: a rally
only has to continue (half a sigma), a shock has to be large (one sigma). The label of t is known
only at the close of t+H; the last H sessions of the data have none.

`realized_regimes` keeps the column's raw-return reading (above +1.0% momentum, below -1.5% sell-off)
for the window evaluation's check of the column's quoted 1-5 day ranges.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtests.errors import RunError
from data import load
from data.calendar import holiday_shortened_week, nyse_sessions, sessions_to_next, triple_witching_days
from data.errors import DataError
from data.macro import load_macro
from data.windows import window_mask, windows_of_kind
from strategies.regime import (
    PRIOR,
    REGIMES,
    RULES,
    SESSIONS_PER_YEAR,
    RuleParams,
    classify_calibrated_rules,
    classify_logistic,
    classify_prior,
    classify_rules,
    compute_features,
    rule_evidence,
)
from strategies.roles import file_symbol

# What the playbook can trade on, best by evidence first in the help; "rules" is the column's rules
# with walk-forward calibrated weights. REFERENCE_MODELS are scored for comparison only.
MODELS = ("rules", "logistic", "prior")
REFERENCE_MODELS = ("rules-as-written",)
WALK_FORWARD = ("rules", "logistic")
WINDOWS = ("all", "triple-witching", "year-end")
# The playbook's default model: what `choose_model` picks on the embedded data by the rule fixed in
# its docstring (tests/test_regime_eval.py checks the two agree). `regime evaluate` prints the evidence.
DEFAULT_MODEL = "rules"
# History loaded before `start` so that the longest look-back (60 sessions) is filled at `start`.
WARMUP_DAYS = 120
# The calendar reaches past the data so that "sessions to the next triple witching" and the last
# week's holiday flag are known at the last session (the calendar is published in advance).
CALENDAR_MARGIN_DAYS = 130
BOOTSTRAP_DRAWS = 2000
CI_LEVEL = 0.90
# The expanding-frequency baseline starts from the prior, worth this many labelled sessions, so that
# its first forecasts are not 0/1 from a handful of labels.
FREQUENCY_PSEUDO_SESSIONS = 50
RELIABILITY_BINS = 10
LOG_LOSS_FLOOR = 1e-12


@dataclass(frozen=True)
class ScenarioParams:
    """What the next `horizon` sessions were, in units of the vol known at the close (see module doc).

    momentum_sigma / selloff_sigma: the forward return's thresholds in horizon sigmas (positive
    numbers); tech_must_lead: a momentum label also needs QQQ >= SPY over the horizon (when a QQQ
    series is given); selloff_rate_rise_bp: with a daily long-yield series, a selloff also needs the
    yield to change by at least this over the horizon (None: no rate condition).
    """

    horizon: int = 5
    momentum_sigma: float = 0.5
    selloff_sigma: float = 1.0
    tech_must_lead: bool = True
    selloff_rate_rise_bp: float | None = 0.0

    def __post_init__(self):
        if self.horizon < 1:
            raise RunError(f"scenario label horizon must be 1 session or more, got {self.horizon}")
        if not (self.momentum_sigma > 0 and self.selloff_sigma > 0):
            raise RunError(f"ScenarioParams needs positive momentum_sigma and selloff_sigma, got "
                           f"{self.momentum_sigma} and {self.selloff_sigma}")


@dataclass(frozen=True)
class RealizedParams:
    """The column's raw-return reading of the next sessions (realized_regimes): thresholds, fractions."""

    momentum_return: float = 0.01  # above +1.0% over the horizon
    selloff_return: float = -0.015  # below -1.5% over the horizon

    def __post_init__(self):
        if not self.selloff_return < 0 < self.momentum_return:
            raise RunError(f"RealizedParams needs selloff_return < 0 < momentum_return, got "
                           f"{self.selloff_return} and {self.momentum_return}")


def realized_regimes(
    spy: pd.DataFrame, horizon: int = 5, params: RealizedParams = RealizedParams()
) -> pd.Series:
    """The regime each session turned out to be, from its forward `horizon`-session return.

    object Series named "realized" on spy's index; NaN on the last `horizon` sessions (not yet known).

    >>> spy = pd.DataFrame({"close": [100.0, 101.5, 99.0, 97.0, 97.5]},
    ...                    index=pd.bdate_range("2018-12-10", periods=5))
    >>> realized_regimes(spy, horizon=1).tolist()
    ['momentum', 'selloff', 'selloff', 'range', nan]
    """
    if horizon < 1:
        raise RunError(f"realized regime horizon must be 1 session or more, got {horizon}")
    close = spy["adj_close" if "adj_close" in spy else "close"].astype(float)
    forward = close.shift(-horizon) / close - 1
    labels = np.where(forward > params.momentum_return, "momentum",
                      np.where(forward < params.selloff_return, "selloff", "range"))
    return pd.Series(labels, index=spy.index, dtype=object, name="realized").where(forward.notna())


def scenario_labels(
    spy: pd.DataFrame,
    vol: pd.Series,
    tech: pd.DataFrame | None = None,
    long_yield: pd.Series | None = None,
    params: ScenarioParams = ScenarioParams(),
) -> pd.Series:
    """The scenario each session's next `params.horizon` sessions turned out to be (module doc).

    spy, tech: price frames (adj_close when present); vol: the annualised vol known at each close
    (the features' realized_vol_20s); long_yield: percent, with attrs["frequency"] ("daily" enables
    the rate condition). object Series named "scenario"; NaN where the forward return, the vol at the
    close or a needed forward series is not known (the last `horizon` sessions, the vol warm-up).

    >>> idx = pd.bdate_range("2018-12-10", periods=4)
    >>> spy = pd.DataFrame({"close": [100.0, 102.0, 99.0, 99.5]}, index=idx)
    >>> vol = pd.Series(0.01 * math.sqrt(252), index=idx)       # 1-session sigma = 1%
    >>> scenario_labels(spy, vol, params=ScenarioParams(horizon=1)).tolist()   # +2.0, -2.9, +0.5 sigma
    ['momentum', 'selloff', 'momentum', nan]
    """
    h = params.horizon
    close = _close(spy)
    index = close.index
    forward = close.shift(-h) / close - 1
    sigma = vol.reindex(index).astype(float) * math.sqrt(h / SESSIONS_PER_YEAR)
    z = forward / sigma
    known = z.notna()
    down = z <= -params.selloff_sigma
    up = z >= params.momentum_sigma
    if tech is not None and params.tech_must_lead:
        other = _close(tech).reindex(index).ffill(limit=5)
        tech_forward = other.shift(-h) / other - 1
        up &= tech_forward >= forward
        known &= tech_forward.notna()
    if long_yield is not None and params.selloff_rate_rise_bp is not None and _is_daily(long_yield):
        level = long_yield.astype(float).reindex(index).ffill()
        rise_bp = (level.shift(-h) - level) * 100
        down &= rise_bp >= params.selloff_rate_rise_bp
        known &= rise_bp.notna()
    labels = np.where(down, "selloff", np.where(up, "momentum", "range"))
    return pd.Series(labels, index=index, dtype=object, name="scenario").where(known)


def label_definition(params: ScenarioParams, has_tech: bool, has_daily_yield: bool) -> list[str]:
    """The scenario label in words, as `regime evaluate` prints it (what is and is not applied)."""
    h = params.horizon
    tech = ("and QQQ returned at least SPY's return over the same sessions"
            if has_tech and params.tech_must_lead
            else "(no QQQ series: the tech-leadership condition is not applied)")
    if params.selloff_rate_rise_bp is None:
        rates = "(rate condition switched off)"
    elif has_daily_yield:
        rates = (f"and the long yield changed by {params.selloff_rate_rise_bp:+.0f} bp or more over "
                 "those sessions")
    else:
        rates = "(no daily long-yield series: the rate-rise condition is not applied)"
    return [
        f"scenario label of session t, from the next {h} sessions' total return r of SPY, in units of the "
        f"vol known at t's close, s = 20-session realized vol x sqrt({h}/{SESSIONS_PER_YEAR}):",
        f"  selloff   r <= -{params.selloff_sigma:.2f} s {rates}",
        f"  momentum  r >= +{params.momentum_sigma:.2f} s {tech}",
        "  range     otherwise (small net move, or a rally that tech did not lead)",
        "  thresholds: round numbers in sigma units taken from the column's wording (a rally continues, a "
        "shock is large), not fitted to label frequencies or scores",
    ]


def expanding_frequencies(labels: pd.Series, horizon: int, prior=PRIOR,
                          pseudo_sessions: int = FREQUENCY_PSEUDO_SESSIONS) -> pd.DataFrame:
    """The label frequencies known at each close: shares of the labels of sessions s <= t - horizon
    (their horizon ended by t), starting from the prior counted as `pseudo_sessions` sessions.

    >>> idx = pd.bdate_range("2018-12-10", periods=4)
    >>> f = expanding_frequencies(pd.Series(["selloff"] * 4, index=idx), 1, pseudo_sessions=1)
    >>> f["selloff"].round(3).tolist()         # prior 0.2; then (0.2 + 1) / 2; (0.2 + 2) / 3; ...
    [0.2, 0.6, 0.733, 0.8]
    """
    onehot = np.column_stack([(labels == r).to_numpy() for r in REGIMES]).astype(float)
    counts = np.cumsum(onehot, axis=0)
    known = np.zeros_like(counts)
    if horizon < len(counts):
        known[horizon:] = counts[: len(counts) - horizon]
    freq = (known + pseudo_sessions * np.asarray(prior, dtype=float)) / (known.sum(axis=1, keepdims=True)
                                                                         + pseudo_sessions)
    return pd.DataFrame(freq, index=labels.index, columns=list(REGIMES))


def calendar_columns(sessions: pd.DatetimeIndex) -> pd.DataFrame:
    """The calendar features on the data's sessions, from the NYSE calendar (known in advance).

    sessions_to_triple_witching (0 on the day), triple_witching_week (the Monday-Friday week holding
    a triple witching), holiday_week (a short week or one with an early close), late_december (the
    playbook's last two weeks of December: sessions after December 15, as data.windows' "year-end").
    """
    first = sessions[0] - pd.Timedelta(days=30)
    last = sessions[-1] + pd.Timedelta(days=CALENDAR_MARGIN_DAYS)
    # the union keeps a data session the calendar lacks (an odd csv row) without hiding a holiday
    calendar = nyse_sessions(first, last).union(sessions)
    calendar.name = "date"
    witching = triple_witching_days(calendar)
    week = calendar - pd.to_timedelta(calendar.day_of_week, unit="D")
    witching_week = witching - pd.to_timedelta(witching.day_of_week, unit="D")
    frame = pd.DataFrame(
        {
            "sessions_to_triple_witching": sessions_to_next(witching, calendar).to_numpy(),
            "triple_witching_week": week.isin(witching_week),
            "holiday_week": holiday_shortened_week(calendar).to_numpy(),
            "late_december": window_mask(windows_of_kind("year-end", calendar), calendar).to_numpy(),
        },
        index=calendar,
    )
    return frame.reindex(sessions)


def _optional(symbol: str, start, end, source: str, data_dir, notes: dict,
              universe=None) -> pd.DataFrame | None:
    """A series the classifier can do without: None, and the reason noted, when it cannot be had."""
    try:
        return _slot(symbol, start, end, source, data_dir, universe)
    except DataError as exc:
        if file_symbol(symbol, universe) != symbol:
            raise  # a file the user mapped to a role is loaded or refused, never dropped for a note
        notes[symbol] = f"missing: {exc}"
        return None


def _slot(symbol: str, start, end, source: str, data_dir, universe) -> pd.DataFrame:
    """The frame filling the playbook's `symbol`: the file mapped to its role (--map), else its own."""
    mapped = file_symbol(symbol, universe)
    return load([mapped], start=start, end=end, source=source, data_dir=data_dir)[mapped]


def _load_inputs(source: str, start, end, data_dir, universe=None) -> dict:
    """features, spy, qqq and long_yield from the data layer, loaded with warm-up before `start`;
    `universe` ({role: symbol}, strategies.roles) maps the user's files to the roles."""
    universe = dict(universe or {})
    first = None if start is None else pd.Timestamp(start) - pd.Timedelta(days=WARMUP_DAYS)
    spy = _slot("SPY", first, end, source, data_dir, universe)
    if len(spy) == 0:
        raise RunError(f"no SPY sessions in the {source} data between {start} and {end}")
    notes: dict[str, str] = {"SPY": spy.attrs.get("proxy", "SPY")}
    others = {}
    for symbol in ("QQQ", "SMH", "^VIX"):
        frame = _optional(symbol, first, end, source, data_dir, notes, universe)
        if frame is not None:
            notes[symbol] = frame.attrs.get("proxy", symbol)
        others[symbol] = frame
    try:
        long_yield = load_macro("long_yield", spy.index, source=source, data_dir=data_dir,
                                symbol=universe.get("rates"))
        notes["long_yield"] = long_yield.attrs.get("description", "long yield")
    except DataError as exc:
        long_yield, notes["long_yield"] = None, f"missing: {exc}"
    vix = None if others["^VIX"] is None else others["^VIX"]["close"]
    features = compute_features(spy, others["QQQ"], smh=others["SMH"], vix=vix, long_yield=long_yield,
                                calendar=calendar_columns(spy.index))
    features.attrs["inputs"] = notes
    features.attrs["source"] = source
    return {"features": features, "spy": spy, "qqq": others["QQQ"], "long_yield": long_yield}


def _between(frame, start, end):
    out = frame.loc[pd.Timestamp(start) if start is not None else None:
                    pd.Timestamp(end) if end is not None else None]
    out.attrs = dict(frame.attrs)
    return out


def regime_inputs(source: str = "embedded", start=None, end=None, data_dir=None) -> pd.DataFrame:
    """The classifier's features on the sessions from `start` to `end` (see compute_features).

    attrs: vol_source, rate_source, missing (feature -> why absent), inputs (symbol -> proxy or why
    missing), source.
    """
    return _between(_load_inputs(source, start, end, data_dir)["features"], start, end)


def model_probs(model: str, features: pd.DataFrame, labels: pd.Series, horizon: int = 5,
                params: RuleParams | None = None) -> pd.DataFrame:
    """`model`'s probabilities on every session of `features` (MODELS or REFERENCE_MODELS). The
    walk-forward models learn, for each year, only from `labels` whose horizon ended before it."""
    params = params or RuleParams()
    if model == "rules":
        return classify_calibrated_rules(features, labels, params, horizon=horizon)
    if model == "logistic":
        return classify_logistic(features, labels, horizon=horizon)
    if model == "prior":
        return classify_prior(features)
    if model == "rules-as-written":
        return classify_rules(features, params)
    raise RunError(f"regime model {model!r} is unknown; choose one of {', '.join(MODELS)}")


def market_regime(model: str, spy: pd.DataFrame, tech: pd.DataFrame | None, features: pd.DataFrame,
                  long_yield: pd.Series | None = None,
                  label_params: ScenarioParams = ScenarioParams()) -> pd.DataFrame:
    """The probabilities a backtest trades on: `model` on the features, its walk-forward fits trained
    on the scenario labels of the same frames (each year only on labels known before it opens)."""
    labels = scenario_labels(spy, features["realized_vol_20s"], tech, long_yield, label_params)
    return model_probs(model, features, labels, label_params.horizon)


def regime_frame(
    source: str = "embedded",
    model: str = "rules",
    start=None,
    end=None,
    data_dir=None,
    params: RuleParams | None = None,
    label_params: ScenarioParams = ScenarioParams(),
) -> pd.DataFrame:
    """Regime probabilities and label per session from `start` to `end`, by `model`.

    Whatever `start` is, the whole history up to `end` is loaded: the walk-forward models learn from
    everything before each year they predict (and only from labels known by then).
    """
    _check_model(model)
    inputs = _load_inputs(source, None, end, data_dir)
    labels = _labels(inputs, label_params)
    out = model_probs(model, inputs["features"], labels, label_params.horizon, params)
    out.attrs.update(source=source, inputs=inputs["features"].attrs.get("inputs", {}))
    return _between(out, start, end)


def _labels(inputs: dict, label_params: ScenarioParams) -> pd.Series:
    return scenario_labels(inputs["spy"], inputs["features"]["realized_vol_20s"], inputs["qqq"],
                           inputs["long_yield"], label_params)


def _check_model(model: str) -> None:
    if model not in MODELS + REFERENCE_MODELS:
        raise RunError(f"regime model {model!r} is unknown; choose one of {', '.join(MODELS)}")


def _is_daily(series: pd.Series) -> bool:
    frequency = series.attrs.get("frequency")
    if frequency is not None:
        return frequency == "daily"
    return bool(series.dropna().diff().ne(0).mean() > 0.5)


def _close(frame: pd.DataFrame) -> pd.Series:
    return frame["adj_close" if "adj_close" in frame else "close"].astype(float)


# ---------------------------------------------------------------- scoring


def _onehot(labels: np.ndarray) -> np.ndarray:
    return (labels[:, None] == np.asarray(REGIMES, dtype=object)[None, :]).astype(float)


def session_scores(probs: np.ndarray, onehot: np.ndarray) -> dict[str, np.ndarray]:
    """Per session: multi-class Brier (sum over regimes of (p - 1{realized})^2; 0 perfect, 2 certain
    and wrong), log loss (-ln p of the realized regime, p floored at 1e-12) and hit (argmax right,
    first regime wins a tie).

    >>> s = session_scores(np.array([[0.5, 0.3, 0.2]]), np.array([[1.0, 0.0, 0.0]]))
    >>> round(float(s["brier"][0]), 4), round(float(s["log_loss"][0]), 4), bool(s["hit"][0])
    (0.38, 0.6931, True)
    """
    brier = ((probs - onehot) ** 2).sum(axis=1)
    log_loss = -np.log(np.maximum((probs * onehot).sum(axis=1), LOG_LOSS_FLOOR))
    hit = probs.argmax(axis=1) == onehot.argmax(axis=1)
    return {"brier": brier, "log_loss": log_loss, "hit": hit}


def year_block_ci(years: np.ndarray, loss: np.ndarray, reference: np.ndarray, seed: int = 0,
                  draws: int = BOOTSTRAP_DRAWS, level: float = CI_LEVEL) -> list[float]:
    """Bootstrap interval of the skill 1 - sum(loss) / sum(reference), resampling whole calendar years
    with replacement (sessions of one year share a market, so they are not independent draws)."""
    _, which = np.unique(years, return_inverse=True)
    by_year = np.bincount(which, weights=loss), np.bincount(which, weights=reference)
    picks = np.random.default_rng(seed).integers(0, len(by_year[0]), size=(draws, len(by_year[0])))
    skills = 1 - by_year[0][picks].sum(axis=1) / by_year[1][picks].sum(axis=1)
    tail = (1 - level) / 2
    return [float(np.quantile(skills, tail)), float(np.quantile(skills, 1 - tail))]


def score(probs: pd.DataFrame, labels: pd.Series, frequencies: pd.DataFrame, mask: pd.Series,
          seed: int = 0) -> dict:
    """The card of one forecast on the sessions where `mask` is True and the label is known.

    brier, log_loss, hit_rate of the forecast, of the constant prior (`*_prior`) and of the label
    frequencies known at the time (`*_freq`, see expanding_frequencies); skill = 1 - brier /
    brier_prior and skill_freq = 1 - brier / brier_freq, each with a 90% year-block bootstrap
    interval; label_shares (realized) and mean_forecast.
    """
    keep = mask.reindex(probs.index, fill_value=False).astype(bool) & labels.reindex(probs.index).notna()
    keep &= probs[list(REGIMES)].notna().all(axis=1)
    if not keep.any():
        raise RunError("the scorecard has no session with both a forecast and a known scenario label")
    y = _onehot(labels.reindex(probs.index)[keep].to_numpy(dtype=object))
    p = probs.loc[keep, list(REGIMES)].to_numpy(dtype=float)
    own = session_scores(p, y)
    prior = session_scores(np.tile(PRIOR, (len(p), 1)), y)
    freq = session_scores(frequencies.reindex(probs.index).loc[keep, list(REGIMES)].to_numpy(float), y)
    years = probs.index[keep].year.to_numpy()
    index = probs.index[keep]
    return {
        "sessions": int(keep.sum()),
        "first": index[0],
        "last": index[-1],
        "years": int(len(np.unique(years))),
        "brier": float(own["brier"].mean()),
        "brier_prior": float(prior["brier"].mean()),
        "brier_freq": float(freq["brier"].mean()),
        "skill": float(1 - own["brier"].sum() / prior["brier"].sum()),
        "skill_ci": year_block_ci(years, own["brier"], prior["brier"], seed),
        "skill_freq": float(1 - own["brier"].sum() / freq["brier"].sum()),
        "skill_freq_ci": year_block_ci(years, own["brier"], freq["brier"], seed),
        "log_loss": float(own["log_loss"].mean()),
        "log_loss_prior": float(prior["log_loss"].mean()),
        "log_loss_freq": float(freq["log_loss"].mean()),
        "hit_rate": float(own["hit"].mean()),
        "hit_rate_prior": float(prior["hit"].mean()),
        "label_shares": dict(zip(REGIMES, y.mean(axis=0).tolist())),
        "mean_forecast": dict(zip(REGIMES, p.mean(axis=0).tolist())),
    }


def reliability_table(probs: pd.DataFrame, labels: pd.Series, mask: pd.Series,
                      bins: int = RELIABILITY_BINS) -> pd.DataFrame:
    """Calibration: for each regime and forecast bin [k/bins, (k+1)/bins), the sessions whose forecast
    of that regime fell in the bin, their mean forecast and how often the regime was realized. A
    calibrated forecast has observed close to mean_forecast in every well-filled bin."""
    keep = mask.reindex(probs.index, fill_value=False).astype(bool) & labels.reindex(probs.index).notna()
    y = _onehot(labels.reindex(probs.index)[keep].to_numpy(dtype=object))
    p = probs.loc[keep, list(REGIMES)].to_numpy(dtype=float)
    rows = []
    for j, regime in enumerate(REGIMES):
        which = np.minimum((p[:, j] * bins).astype(int), bins - 1)
        for k in np.unique(which):
            inside = which == k
            rows.append({"regime": regime, "bin": f"{k / bins:.1f}-{(k + 1) / bins:.1f}",
                         "sessions": int(inside.sum()), "mean_forecast": float(p[inside, j].mean()),
                         "observed": float(y[inside, j].mean())})
    return pd.DataFrame(rows, columns=["regime", "bin", "sessions", "mean_forecast", "observed"])


def window_masks(sessions: pd.DatetimeIndex) -> dict[str, pd.Series]:
    """Session masks for each evaluation window of WINDOWS (data.windows, default 5 sessions around
    each triple witching; the sessions after December 15 for year-end).

    The windows are laid on the NYSE calendar around the data, so a window the data end inside (the
    embedded data stop on 2022-12-28, two sessions before the 2022 year-end window's last) still has
    its sessions scored: each session is judged on its own, the window need not be whole."""
    calendar = nyse_sessions(sessions[0] - pd.Timedelta(days=30),
                             sessions[-1] + pd.Timedelta(days=CALENDAR_MARGIN_DAYS)).union(sessions)

    def mask(kind: str) -> pd.Series:
        return window_mask(windows_of_kind(kind, calendar), calendar).reindex(sessions, fill_value=False)

    return {"all": pd.Series(True, index=sessions), "triple-witching": mask("triple-witching"),
            "year-end": mask("year-end")}


def non_overlapping(sessions: pd.DatetimeIndex, horizon: int) -> pd.Series:
    """Every `horizon`-th session of the data from its first: their forward horizons do not overlap,
    so no realized move is counted twice (the grid is the same whatever span or window is scored)."""
    return pd.Series(np.arange(len(sessions)) % horizon == 0, index=sessions)


def choose_model(selection: dict[str, dict]) -> tuple[str, str]:
    """The rule that names the playbook's model, fixed before any score was seen: among the models
    other than the prior, the one with the best Brier skill against the prior on the selection years
    (the first half of the scored years, all sessions); the prior if none has positive skill there.
    Returns (model, the reason in words)."""
    candidates = {m: c for m, c in selection.items() if m in MODELS and m != "prior"}
    best = max(candidates, key=lambda m: candidates[m]["skill"])
    card = candidates[best]
    scores = ", ".join(f"{m} {c['skill']:+.4f}" for m, c in candidates.items())
    period = f"{card['first']:%Y-%m-%d}..{card['last']:%Y-%m-%d}, {card['sessions']} sessions"
    if card["skill"] <= 0:
        return "prior", (f"no model beats the prior on the selection years ({period}; skill {scores}): "
                         f"the playbook falls back to the prior's most likely scenario, range (neutral)")
    return best, f"best Brier skill on the selection years ({period}): {scores}"


def evaluate(
    source: str = "embedded",
    data_dir=None,
    start=None,
    end=None,
    models: tuple[str, ...] = MODELS + REFERENCE_MODELS,
    windows: tuple[str, ...] = WINDOWS,
    params: RuleParams | None = None,
    label_params: ScenarioParams = ScenarioParams(),
    seed: int = 0,
    universe: dict | None = None,
) -> dict:
    """Every model's card on every window kind, the default model's evidence and the reliability tables.
    `universe` ({role: symbol}) maps the user's files to the playbook's roles (--map).

    Scored sessions: every `horizon`-th session (non_overlapping) from `start` to `end` whose label is
    known and on which both walk-forward models have a fitted forecast (each starts once it has about
    two years of labels); every model and baseline is scored on the same sessions. The model choice
    (choose_model) always uses the whole history's selection years, whatever `start` and `end` are.
    """
    for window in windows:
        if window not in WINDOWS:
            raise RunError(f"evaluation window {window!r} is unknown; choose one of {', '.join(WINDOWS)}")
    for model in models:
        _check_model(model)
    inputs = _load_inputs(source, None, None, data_dir, universe)
    features, horizon = inputs["features"], label_params.horizon
    labels = _labels(inputs, label_params)
    probs = {m: model_probs(m, features, labels, horizon, params) for m in MODELS + REFERENCE_MODELS}
    frequencies = expanding_frequencies(labels, horizon)
    sessions = features.index
    scorable = non_overlapping(sessions, horizon) & labels.notna()
    for m in WALK_FORWARD:
        scorable &= probs[m]["fitted_through"].notna()
    span = pd.Series(False, index=sessions)
    span.loc[_between(span, start, end).index] = True
    masks = window_masks(sessions)
    cards = [{"model": m, "window": w,
              **score(probs[m], labels, frequencies, scorable & span & masks[w], seed)}
             for m in models for w in windows]

    years = np.unique(sessions[scorable].year)
    selection_years = years[: len(years) // 2]
    in_selection = pd.Series(np.isin(sessions.year, selection_years), index=sessions)
    selection = {m: score(probs[m], labels, frequencies, scorable & in_selection, seed) for m in MODELS}
    holdout = {m: score(probs[m], labels, frequencies, scorable & ~in_selection, seed) for m in MODELS}
    chosen, reason = choose_model(selection)
    for card in cards:
        card["default"] = card["model"] == chosen
    reliability = pd.concat(
        [reliability_table(probs[m], labels, scorable & span & masks[w]).assign(model=m, window=w)
         for m in models for w in windows],
        ignore_index=True)[["model", "window", "regime", "bin", "sessions", "mean_forecast", "observed"]]
    daily_yield = inputs["long_yield"] is not None and _is_daily(inputs["long_yield"])
    # what "range" means against the vol at the close, beside the column's raw-return reading
    scored = scorable & span
    range_by_vol = None
    if scored.sum() >= 50:  # quintiles of fewer sessions say nothing
        quintile = pd.qcut(features.loc[scored, "realized_vol_20s"], 5, labels=False)
        raw = realized_regimes(inputs["spy"], horizon)[scored]
        range_by_vol = {
            "scenario": labels[scored].eq("range").groupby(quintile).mean().tolist(),
            "raw_return": raw.eq("range").groupby(quintile).mean().tolist(),
        }
    return {
        "source": source,
        "horizon": horizon,
        "cards": cards,
        "selection": selection,
        "holdout": holdout,
        "chosen": chosen,
        "reason": reason,
        "reliability": reliability,
        "definition": label_definition(label_params, inputs["qqq"] is not None, daily_yield),
        "label_params": label_params,
        "vol_source": features.attrs.get("vol_source"),
        "rate_source": features.attrs.get("rate_source"),
        "inputs": features.attrs.get("inputs", {}),
        "weights": probs["rules"].attrs.get("weights"),
        "range_by_vol": range_by_vol,
    }


def rule_diagnostics(features: pd.DataFrame, realized: pd.Series, params: RuleParams | None = None,
                     mask: pd.Series | None = None) -> pd.DataFrame:
    """For each rule: the regime it points to, how often it fired, and what was realized when it did.

    `lift` is the realized share of the rule's own regime when it fired over that share on all the
    scored sessions: above 1 means history agrees with the rule's direction.
    """
    params = params or RuleParams()
    realized = realized.reindex(features.index)
    keep = realized.notna()
    if mask is not None:
        keep &= mask.reindex(features.index, fill_value=False).astype(bool)
    fired = rule_evidence(features, params)[keep]
    labels = realized[keep]
    base = labels.value_counts(normalize=True)
    rows = []
    for rule, (regime, weight_field, _) in RULES.items():
        hit = labels[fired[rule]]
        shares = hit.value_counts(normalize=True) if len(hit) else pd.Series(dtype=float)
        row = {"rule": rule, "points_to": regime, "weight": getattr(params, weight_field), "fired": len(hit)}
        row.update({f"then_{r}": float(shares.get(r, 0.0)) if len(hit) else np.nan for r in REGIMES})
        row["lift"] = row[f"then_{regime}"] / base.get(regime, np.nan) if len(hit) else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("rule")


def session_report(date, source: str = "embedded", model: str = "rules", data_dir=None,
                   label_params: ScenarioParams = ScenarioParams(), universe: dict | None = None) -> dict:
    """Features, probabilities and label for one session, and (hindsight) what its next sessions were.

    A date that is not a session of the data is refused with the nearest sessions named.
    """
    _check_model(model)
    day = pd.Timestamp(date).normalize()
    inputs = _load_inputs(source, None, None, data_dir, universe)
    features, spy = inputs["features"], inputs["spy"]
    index = features.index
    if day not in index:
        before, after = index[index < day], index[index > day]
        near = [f"{d:%Y-%m-%d}" for d in (before[-1:].tolist() + after[:1].tolist())]
        raise RunError(f"{day:%Y-%m-%d} is not a session in the {source} data; nearest sessions: "
                       f"{' and '.join(near)}")
    labels = _labels(inputs, label_params)
    horizon = label_params.horizon
    probs = model_probs(model, features, labels, horizon)
    close = _close(spy)
    position = index.get_loc(day)
    known = position + horizon < len(index)
    forward = close.iloc[position + horizon] / close.iloc[position] - 1 if known else None
    sigma = features["realized_vol_20s"].iloc[position] * math.sqrt(horizon / SESSIONS_PER_YEAR)
    return {
        "date": day,
        "model": model,
        "source": source,
        "features": features.loc[day],
        "probs": probs.loc[day, list(REGIMES)].astype(float).to_dict(),
        "label": probs.loc[day, "label"],
        "evidence": probs.loc[day, "evidence"] if "evidence" in probs else None,
        "fitted_through": probs.loc[day, "fitted_through"] if "fitted_through" in probs else None,
        "realized": labels.loc[day] if isinstance(labels.loc[day], str) else None,
        "forward_return": forward,
        "forward_sigmas": None if forward is None else forward / sigma,
        "horizon": horizon,
        "missing": features.attrs.get("missing", {}),
        "inputs": features.attrs.get("inputs", {}),
    }


def format_session(report: dict) -> str:
    """The session report as the lines `cli.py regime --date D` prints."""
    lines = [f"regime on {report['date']:%Y-%m-%d} ({report['model']} model, {report['source']} data)",
             "features:"]
    for name, value in report["features"].items():
        shown = value if isinstance(value, str) else ("n/a" if pd.isna(value) else f"{float(value):.4g}")
        lines.append(f"  {name:<28} {shown}")
    absent = sorted(report["missing"])
    if absent:
        lines.append(f"  not available: {', '.join(absent)}")
    lines.append("probabilities: " + "  ".join(f"{r} {report['probs'][r]:.3f}" for r in REGIMES))
    lines.append(f"label: {report['label']}")
    if report["evidence"] is not None:
        lines.append(f"rules fired: {report['evidence'] or '(none)'}")
    if report["fitted_through"] is not None:
        fitted = report["fitted_through"]
        shown = "(not fitted: prior)" if pd.isna(fitted) else f"{fitted:%Y-%m-%d}"
        lines.append(f"fitted on labels through: {shown}")
    if report["realized"] is None:
        lines.append(f"realized (next {report['horizon']} sessions): not known yet")
    else:
        lines.append(f"realized (hindsight, next {report['horizon']} sessions): {report['realized']} "
                     f"({report['forward_return']:+.2%}, {report['forward_sigmas']:+.2f} sigma)")
    return "\n".join(lines)


def _ci(pair) -> str:
    return f"[{pair[0]:+.3f}, {pair[1]:+.3f}]"


def format_scorecard(report: dict, details: str | None = None) -> str:
    """The evaluation as the lines `cli.py regime evaluate` prints: the label definition, the
    realized shares beside the column's prior, one row per model and window, the default model and
    why, and the reliability table (of `details`, or of every model scored)."""
    cards = report["cards"]
    first, last = min(c["first"] for c in cards), max(c["last"] for c in cards)
    all_cards = [c for c in cards if c["window"] == "all"] or cards
    shares = all_cards[0]["label_shares"]
    lines = [
        f"regime scorecard: {report['source']} data, {first:%Y-%m-%d}..{last:%Y-%m-%d}, every "
        f"{report['horizon']}th session (non-overlapping {report['horizon']}-session horizons), from the "
        f"first year both walk-forward models are fitted",
        *report["definition"],
        f"vol source (features): {report['vol_source']}; rate source: {report['rate_source']}",
        f"realized scenario shares ({all_cards[0]['window']}) vs the column's prior: "
        + "  ".join(f"{r} {shares[r]:.3f} ({p:.2f})" for r, p in zip(REGIMES, PRIOR)),
        "Brier skill = 1 - Brier / Brier of the reference (> 0: better); reference 'prior' = constant "
        "35/45/20, 'freq.' = label frequencies known at the time (expanding window); 90% intervals "
        f"from a year-block bootstrap ({BOOTSTRAP_DRAWS} draws)",
        f"{'model':<17}{'window':<16}{'sessions':>8}{'Brier':>8}{'prior':>8}{'skill':>8}  {'90% CI':<17}"
        f"{'vs freq.':>8}  {'90% CI':<17}{'logloss':>8}{'prior':>7}{'hit':>7}{'prior':>7}",
    ]
    for c in cards:
        mark = " *" if c["default"] else ""
        lines.append(
            f"{c['model'] + mark:<17}{c['window']:<16}{c['sessions']:>8}{c['brier']:>8.4f}"
            f"{c['brier_prior']:>8.4f}{c['skill']:>+8.4f}  {_ci(c['skill_ci']):<17}"
            f"{c['skill_freq']:>+8.4f}  {_ci(c['skill_freq_ci']):<17}"
            f"{c['log_loss']:>8.4f}{c['log_loss_prior']:>7.4f}{c['hit_rate']:>7.3f}{c['hit_rate_prior']:>7.3f}")
    lines.append("realized shares per window: " + "; ".join(
        f"{c['window']} " + "/".join(f"{c['label_shares'][r]:.2f}" for r in REGIMES)
        for c in cards if c["model"] == cards[0]["model"]) + " (momentum/range/selloff)")
    by_vol = report["range_by_vol"]
    if by_vol is not None:
        lines.append("range share by quintile of the vol at the close (low -> high): scenario label "
                     + " ".join(f"{v:.2f}" for v in by_vol["scenario"]) + "; raw 5-session return "
                     "(+1.0%/-1.5%) " + " ".join(f"{v:.2f}" for v in by_vol["raw_return"]))
    lines.append(f"default model for the playbook (*): {report['chosen']} - {report['reason']}")
    hold = report["holdout"]
    lines.append("held-out years (not used for the choice): " + ", ".join(
        f"{m} {c['skill']:+.4f} {_ci(c['skill_ci'])}" for m, c in hold.items() if m != "prior")
        + f" ({hold['prior']['first']:%Y-%m-%d}..{hold['prior']['last']:%Y-%m-%d}, "
          f"{hold['prior']['sessions']} sessions)")
    table = _reliability_window(report["reliability"])
    if details is not None:
        table = table[table["model"] == details]
    lines.append(f"reliability (window {table['window'].iloc[0]}): forecast bin: sessions, mean forecast/"
                 "observed share")
    for (model, regime), part in table.groupby(["model", "regime"], sort=False):
        cells = "  ".join(f"{r.bin}: {r.sessions} {r.mean_forecast:.2f}/{r.observed:.2f}"
                          for r in part.itertuples())
        lines.append(f"  {model:<17}{regime:<9} {cells}")
    if details == "rules" and report.get("weights"):
        lines.append("rules model, calibrated weights of the last fit (log units, per regime):")
        for rule, weights in report["weights"].items():
            lines.append(f"  {rule:<20}" + "  ".join(f"{r} {weights.get(r, 0.0):+.2f}" for r in REGIMES))
    return "\n".join(lines)


def _reliability_window(table: pd.DataFrame) -> pd.DataFrame:
    """The reliability rows of window "all" when it was scored, else of the one window scored."""
    window = "all" if (table["window"] == "all").any() else table["window"].iloc[0]
    return table[table["window"] == window]


def scorecard_json(report: dict) -> str:
    """The cards as a JSON array, one object per model and window (ISO dates), each with its
    reliability rows (regime, bin, sessions, mean_forecast, observed)."""
    rows = []
    table = report["reliability"]
    for card in report["cards"]:
        row = {k: v for k, v in card.items()}
        row["first"], row["last"] = f"{card['first']:%Y-%m-%d}", f"{card['last']:%Y-%m-%d}"
        mine = table[(table["model"] == card["model"]) & (table["window"] == card["window"])]
        row["reliability"] = mine.drop(columns=["model", "window"]).to_dict(orient="records")
        rows.append(row)
    return json.dumps(rows, indent=2)


def plot_reliability(report: dict, path) -> None:
    """The reliability diagram: per regime, observed share against mean forecast for each model
    (marker area by sessions), the diagonal for perfect calibration; written as PNG to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from backtests.files import write_atomically

    table = _reliability_window(report["reliability"])
    fig, axes = plt.subplots(1, len(REGIMES), figsize=(12, 4), sharey=True)
    for ax, regime in zip(axes, REGIMES):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        for model, part in table[table["regime"] == regime].groupby("model", sort=False):
            line, = ax.plot(part["mean_forecast"], part["observed"], lw=1, label=model)
            # marker area by sessions: a bin of 3 sessions says little, and should look it
            ax.scatter(part["mean_forecast"], part["observed"], s=4 + part["sessions"] / 4,
                       color=line.get_color(), alpha=0.7)
        ax.set_title(regime)
        ax.set_xlabel("mean forecast")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("observed share")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"regime reliability, window {table['window'].iloc[0]}, {report['source']} data, "
                 f"non-overlapping {report['horizon']}-session horizons")
    fig.tight_layout()
    try:
        write_atomically(path, lambda temp: fig.savefig(temp, format="png", dpi=100))
    finally:
        plt.close(fig)
