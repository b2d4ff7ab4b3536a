"""Judging the regime classifier: would it have called history right?

`regime_inputs` assembles the classifier's features from `data/` (prices, VIX, the long yield with
its publication lag, the exchange calendar); `regime_frame` runs a model on them; `realized_regimes`
says what each session's next `horizon` sessions actually were; `scorecard` compares the two
(confusion matrix, hit rate, multi-class Brier score) against the playbook's constant 35/45/20 prior
and against the realized frequencies themselves.

The realized regime of session t (RealizedParams, horizon H = 5 sessions, the playbook's 1-5 day
horizon): the forward return close(t+H) / close(t) - 1 is
- momentum when above +1.0%: the upper part of the column's expected S&P 500 1-5 day range
  (-0.5% to +1.5%) and beyond;
- selloff when below -1.5%: three times the column's worst expected move, clearly outside its range;
- range otherwise: small net moves.
On the embedded S&P 500 1999-2018 these give 33% / 47% / 20%, close to the column's 35/45/20 (the
thresholds were picked knowing that, so the prior is calibrated on average: a fair, hard baseline).
The label of t is known only at the close of t+H; the last H sessions of the data have none.
"""

from __future__ import annotations

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
    RuleParams,
    classify_logistic,
    classify_rules,
    compute_features,
    rule_evidence,
)

MODELS = ("rules", "logistic")
WINDOWS = ("all", "triple-witching", "year-end")
# History loaded before `start` so that the longest look-back (60 sessions) is filled at `start`.
WARMUP_DAYS = 120
# The calendar reaches past the data so that "sessions to the next triple witching" and the last
# week's holiday flag are known at the last session (the calendar is published in advance).
CALENDAR_MARGIN_DAYS = 130


@dataclass(frozen=True)
class RealizedParams:
    """What the next `horizon` sessions were: forward return thresholds, fractions."""

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


def _optional(symbol: str, start, end, source: str, data_dir, notes: dict) -> pd.DataFrame | None:
    """A series the classifier can do without: None, and the reason noted, when it cannot be had."""
    try:
        return load([symbol], start=start, end=end, source=source, data_dir=data_dir)[symbol]
    except DataError as exc:
        notes[symbol] = f"missing: {exc}"
        return None


def _load_features(source: str, start, end, data_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, SPY prices) from the data layer, loaded with warm-up history before `start`."""
    first = None if start is None else pd.Timestamp(start) - pd.Timedelta(days=WARMUP_DAYS)
    spy = load(["SPY"], start=first, end=end, source=source, data_dir=data_dir)["SPY"]
    if len(spy) == 0:
        raise RunError(f"no SPY sessions in the {source} data between {start} and {end}")
    notes: dict[str, str] = {"SPY": spy.attrs.get("proxy", "SPY")}
    others = {}
    for symbol in ("QQQ", "SMH", "^VIX"):
        frame = _optional(symbol, first, end, source, data_dir, notes)
        if frame is not None:
            notes[symbol] = frame.attrs.get("proxy", symbol)
        others[symbol] = frame
    try:
        long_yield = load_macro("long_yield", spy.index, source=source, data_dir=data_dir)
        notes["long_yield"] = long_yield.attrs.get("description", "long yield")
    except DataError as exc:
        long_yield, notes["long_yield"] = None, f"missing: {exc}"
    vix = None if others["^VIX"] is None else others["^VIX"]["close"]
    features = compute_features(spy, others["QQQ"], smh=others["SMH"], vix=vix, long_yield=long_yield,
                                calendar=calendar_columns(spy.index))
    features.attrs["inputs"] = notes
    features.attrs["source"] = source
    return features, spy


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
    features, _ = _load_features(source, start, end, data_dir)
    return _between(features, start, end)


def regime_frame(
    source: str = "embedded",
    model: str = "rules",
    start=None,
    end=None,
    data_dir=None,
    params: RuleParams | None = None,
    horizon: int = 5,
    realized_params: RealizedParams = RealizedParams(),
) -> pd.DataFrame:
    """Regime probabilities and label per session from `start` to `end`, by `model` (rules|logistic).

    The logistic model learns from all history before each year it predicts (and only from labels
    known by then), so it loads the whole history up to `end` whatever `start` is.
    """
    if model not in MODELS:
        raise RunError(f"regime model {model!r} is unknown; choose one of {', '.join(MODELS)}")
    if model == "rules":
        features, _ = _load_features(source, start, end, data_dir)
        out = classify_rules(features, params or RuleParams())
    else:
        features, spy = _load_features(source, None, end, data_dir)
        out = classify_logistic(features, realized_regimes(spy, horizon, realized_params), horizon=horizon)
    out.attrs.update(source=source, inputs=features.attrs.get("inputs", {}))
    return _between(out, start, end)


def _forecast_scores(probs: np.ndarray, onehot: np.ndarray, realized: np.ndarray) -> dict:
    predicted = np.asarray(REGIMES, dtype=object)[probs.argmax(axis=1)]
    confusion = pd.crosstab(
        pd.Categorical(realized, categories=REGIMES), pd.Categorical(predicted, categories=REGIMES),
        rownames=["realized"], colnames=["predicted"], dropna=False,
    )
    return {
        "hit_rate": float((predicted == realized).mean()),
        "brier": float(((probs - onehot) ** 2).sum(axis=1).mean()),
        "confusion": confusion.astype(np.int64),
    }


def scorecard(probs: pd.DataFrame, realized: pd.Series, mask: pd.Series | None = None) -> dict:
    """How the forecasts `probs` (columns momentum, range, selloff) did against `realized` labels.

    Scored on the sessions where both are known and `mask` (bool, same dates) is True. Brier score is
    the multi-class one: mean over sessions of sum over regimes of (p - 1{realized})^2, 0 for perfect
    foresight, 2 for certainty on a wrong regime. Returns sessions, first, last, model, prior (the
    constant 35/45/20), climatology (the realized frequencies of these very sessions as a constant
    forecast: a hindsight benchmark no forecaster could have had), frequencies, mean_probs,
    brier_skill (1 - brier / prior's brier: > 0 means better than the prior), beats_prior.

    >>> idx = pd.bdate_range("2018-12-10", periods=2)
    >>> p = pd.DataFrame({"momentum": [0.5, 0.2], "range": [0.3, 0.3], "selloff": [0.2, 0.5]}, index=idx)
    >>> card = scorecard(p, pd.Series(["momentum", "range"], index=idx))
    >>> card["model"]["hit_rate"], round(card["model"]["brier"], 4)    # (0.38 + 0.78) / 2
    (0.5, 0.58)
    """
    realized = realized.reindex(probs.index)
    keep = realized.notna() & probs[list(REGIMES)].notna().all(axis=1)
    if mask is not None:
        keep &= mask.reindex(probs.index, fill_value=False).astype(bool)
    if not keep.any():
        raise RunError("the scorecard has no session with both a forecast and a known realized regime")
    labels = realized[keep].to_numpy(dtype=object)
    bad = set(labels) - set(REGIMES)
    if bad:
        raise RunError(f"realized regimes must be among {REGIMES}, got {sorted(map(str, bad))}")
    onehot = (labels[:, None] == np.asarray(REGIMES, dtype=object)[None, :]).astype(float)
    p = probs.loc[keep, list(REGIMES)].to_numpy(dtype=float)
    frequencies = onehot.mean(axis=0)
    model = _forecast_scores(p, onehot, labels)
    prior = _forecast_scores(np.tile(PRIOR, (len(p), 1)), onehot, labels)
    climatology = _forecast_scores(np.tile(frequencies, (len(p), 1)), onehot, labels)
    index = probs.index[keep]
    return {
        "sessions": int(keep.sum()),
        "first": index[0],
        "last": index[-1],
        "model": model,
        "prior": prior,
        "climatology": climatology,
        "frequencies": dict(zip(REGIMES, frequencies.tolist())),
        "mean_probs": dict(zip(REGIMES, p.mean(axis=0).tolist())),
        "brier_skill": 1 - model["brier"] / prior["brier"],
        "beats_prior": model["brier"] < prior["brier"],
    }


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


def evaluate(
    source: str = "embedded",
    model: str = "rules",
    window: str = "all",
    data_dir=None,
    start=None,
    end=None,
    horizon: int = 5,
    params: RuleParams | None = None,
    realized_params: RealizedParams = RealizedParams(),
) -> dict:
    """The scorecard of `model` on `window` sessions, with the prior and climatology baselines.

    The logistic model is scored only on sessions it made a fitted forecast for (it returns the prior
    until it has about two years, 450 sessions, of labelled history); the baselines are scored on the
    same sessions.
    For the rules model the card also holds `rules`, rule_diagnostics on the same sessions.
    """
    if window not in WINDOWS:
        raise RunError(f"evaluation window {window!r} is unknown; choose one of {', '.join(WINDOWS)}")
    if model not in MODELS:
        raise RunError(f"regime model {model!r} is unknown; choose one of {', '.join(MODELS)}")
    params = params or RuleParams()
    features, spy = _load_features(source, None, end, data_dir)
    realized = realized_regimes(spy, horizon, realized_params)
    if model == "rules":
        probs = classify_rules(features, params)
    else:
        probs = classify_logistic(features, realized, horizon=horizon)
    probs = _between(probs, start, end)
    mask = window_masks(features.index)[window].reindex(probs.index, fill_value=False)
    if model == "logistic":
        mask &= probs["fitted_through"].notna()
    card = scorecard(probs, realized, mask)
    card.update(model_name=model, window=window, source=source, horizon=horizon,
                realized_params=realized_params, vol_source=features.attrs.get("vol_source"),
                rate_source=features.attrs.get("rate_source"), inputs=features.attrs.get("inputs", {}))
    if model == "rules":
        card["rules"] = rule_diagnostics(_between(features, start, end), realized, params, mask)
    return card


def session_report(date, source: str = "embedded", model: str = "rules", data_dir=None, horizon: int = 5,
                   realized_params: RealizedParams = RealizedParams()) -> dict:
    """Features, probabilities and label for one session, and (hindsight) what its next sessions were.

    A date that is not a session of the data is refused with the nearest sessions named.
    """
    day = pd.Timestamp(date).normalize()
    features, spy = _load_features(source, None, None, data_dir)
    index = features.index
    if day not in index:
        before, after = index[index < day], index[index > day]
        near = [f"{d:%Y-%m-%d}" for d in (before[-1:].tolist() + after[:1].tolist())]
        raise RunError(f"{day:%Y-%m-%d} is not a session in the {source} data; nearest sessions: "
                       f"{' and '.join(near)}")
    realized = realized_regimes(spy, horizon, realized_params)
    probs = classify_rules(features) if model == "rules" else classify_logistic(features, realized, horizon)
    close = spy["adj_close" if "adj_close" in spy else "close"]
    position = index.get_loc(day)
    known = position + horizon < len(index)
    forward = close.iloc[position + horizon] / close.iloc[position] - 1 if known else None
    return {
        "date": day,
        "model": model,
        "source": source,
        "features": features.loc[day],
        "probs": probs.loc[day, list(REGIMES)].astype(float).to_dict(),
        "label": probs.loc[day, "label"],
        "evidence": probs.loc[day, "evidence"] if "evidence" in probs else None,
        "fitted_through": probs.loc[day, "fitted_through"] if "fitted_through" in probs else None,
        "realized": realized.loc[day] if isinstance(realized.loc[day], str) else None,
        "forward_return": forward,
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
        lines.append(f"rules fired: {report['evidence'] or '(none: the prior 35/45/20)'}")
    if report["fitted_through"] is not None:
        fitted = report["fitted_through"]
        shown = "(not fitted: prior)" if pd.isna(fitted) else f"{fitted:%Y-%m-%d}"
        lines.append(f"fitted on labels through: {shown}")
    if report["realized"] is None:
        lines.append(f"realized (next {report['horizon']} sessions): not known yet")
    else:
        lines.append(f"realized (hindsight, next {report['horizon']} sessions): {report['realized']} "
                     f"({report['forward_return']:+.2%})")
    return "\n".join(lines)


def _confusion_text(confusion: pd.DataFrame) -> list[str]:
    head = "  realized \\ predicted " + "".join(f"{r:>10}" for r in REGIMES)
    rows = [f"  {r:<21} " + "".join(f"{int(confusion.loc[r, c]):>10}" for c in REGIMES) for r in REGIMES]
    return [head, *rows]


def format_scorecard(card: dict) -> str:
    """The evaluation card as the lines `cli.py regime evaluate` prints."""
    rp = card["realized_params"]
    lines = [
        f"regime scorecard: {card['model_name']} model, window {card['window']}, {card['source']} data, "
        f"{card['sessions']} sessions {card['first']:%Y-%m-%d}..{card['last']:%Y-%m-%d}",
        f"realized regime: forward {card['horizon']}-session return > {rp.momentum_return:+.1%} momentum, "
        f"< {rp.selloff_return:+.1%} selloff, else range",
        f"vol source: {card['vol_source']}; rate source: {card['rate_source']}",
        "realized frequencies: " + "  ".join(f"{r} {card['frequencies'][r]:.3f}" for r in REGIMES),
        "mean forecast:        " + "  ".join(f"{r} {card['mean_probs'][r]:.3f}" for r in REGIMES),
        f"{'forecast':<34}{'hit rate':>10}{'Brier':>10}",
    ]
    for name, key in ((f"{card['model_name']}", "model"), ("prior 35/45/20", "prior"),
                      ("realized frequencies (hindsight)", "climatology")):
        lines.append(f"{name:<34}{card[key]['hit_rate']:>10.3f}{card[key]['brier']:>10.4f}")
    verdict = "beats" if card["beats_prior"] else "does NOT beat"
    lines.append(f"Brier skill vs prior: {card['brier_skill']:+.4f} "
                 f"(the {card['model_name']} model {verdict} the prior)")
    lines.append(f"confusion matrix ({card['model_name']}):")
    lines.extend(_confusion_text(card["model"]["confusion"]))
    if "rules" in card:
        lines.append("rules: fired = sessions; then_* = realized shares when fired; "
                     "lift = own regime's share over its base rate")
        table = card["rules"].copy()
        lines.extend("  " + line for line in table.to_string(float_format=lambda v: f"{v:.3f}").splitlines())
    return "\n".join(lines)
