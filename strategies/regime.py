"""Regime classifier: which of the playbook's three scenarios holds at each session, and how sure.

The playbook is conditional: momentum continues (35%), range with high volatility (45%), rate-shock
sell-off (20%), each with its own strategy. This module turns the column's signals into features
(`compute_features`), and the features into probabilities for the three regimes:

- `classify_rules`: the default, transparent model. It starts from the column's 35/45/20 prior in
  log space, adds a named evidence weight for each rule that fires, and takes the softmax. Every
  threshold and weight is a field of `RuleParams`; `RULES` says which regime each rule points to.
- `classify_calibrated_rules`: the same rules, with their evidence weights re-estimated walk-forward
  (a multinomial logistic regression on the rule flags, refit before each calendar year on sessions
  whose realized scenario was already known): the column's rules, weighted by what history said.
- `classify_logistic`: a multinomial logistic regression on the column's continuous signals
  (`LOGISTIC_FEATURES`: tech relative strength, long-rate change, implied vol and its change, the
  calendar), fitted walk-forward the same way, never on the future.
- `classify_prior`: the column's constant 35/45/20.

Both return a frame with columns momentum, range, selloff (summing to 1), label (str), code (the
label's index in `REGIMES`, for strategies that read it as a feed line) and the sources the
features came from. Everything at session t uses data up to t's close only.

Pure pandas / numpy / scikit-learn: the inputs (prices, VIX, yields, calendar columns) come in from
the caller (`backtests.regime_eval` assembles them from `data/`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from strategies.errors import ConfigError

REGIMES = ("momentum", "range", "selloff")
PRIOR = (0.35, 0.45, 0.20)

# Where VIX is missing, implied vol is estimated as realized vol times the long-run implied/realised
# ratio of S&P 500 options: 19.3% / 15.1% = 1.28 since 1990 (Bondarenko, Cboe RMC, March 2019).
IMPLIED_OVER_REALIZED = 1.28
REALIZED_VOL_SESSIONS = 20
SESSIONS_PER_YEAR = 252

CALENDAR_COLUMNS = ("sessions_to_triple_witching", "triple_witching_week", "holiday_week", "late_december")
_CALENDAR_FLAGS = ("triple_witching_week", "holiday_week", "late_december")

# The logistic model's inputs: the signals the column names, each scaled so that one unit means the
# same in 2008 and 2017 where it matters (returns in units of the realised vol at the close). A
# column absent from the features (no SMH offline, a monthly yield) is skipped.
LOGISTIC_FEATURES = (
    "qqq_rs_5s", "qqq_rs_20s", "qqq_rs_60s", "qqq_vs_ma50", "smh_rs_20s",  # tech relative strength
    "spy_ret_5s_z", "spy_ret_20s_z", "spy_vs_ma50",  # the index's own trend, in vol units
    "yield_chg_5s_bp", "yield_chg_20s_bp", "yield_chg_21s_bp",  # long-rate change
    "implied_vol", "implied_vol_chg_5s", "vol_premium", "realized_vol_20s",  # implied vol, its change
    "hl_range_5s", "volume_ratio_20s",  # swings and liquidity
    "sessions_to_triple_witching", "triple_witching_week", "holiday_week", "late_december",  # calendar
)


@dataclass(frozen=True)
class RuleParams:
    """Thresholds and evidence weights of the rules model, set from the column, not fitted.

    Returns and relative strengths are fractions, vols are annualised fractions (0.25 = VIX 25),
    yield moves are in basis points. A weight is added, in log units, to its regime's score when its
    rule fires (0.4 multiplies that regime's odds against each other regime by e^0.4 = 1.49); a weight
    of 0 switches the rule off. `RULES` maps each rule to its regime.
    """

    prior: tuple[float, float, float] = PRIOR  # momentum, range, selloff
    # tech momentum: "AI/cloud/semis lead"
    tech_lead_rs: float = 0.01  # QQQ beats SPY by 1% over 20 sessions (column's day: +1.31% vs +0.88%)
    semis_lead_rs: float = 0.02  # SMH beats SPY by 2% over 20 sessions
    downtrend_gap: float = 0.03  # SPY 3% or more below its 50-session average
    # long rates: "a ~+2 bp day is notable; 4.15% -> 4.25%+ pressures growth"
    rate_jump_day_bp: float = 2.0  # 1-session rise (daily yield series only)
    rate_rise_month_bp: float = 10.0  # the 4.15 -> 4.25 move, over ~20 sessions / since the last release
    rate_level_pct: float | None = None  # absolute level rule; off: 4.25% is 2025's level, not 1999-2018's
    rate_stable_bp: float = 5.0  # "10y yield stable": within +/- 5 bp over the same ~20 sessions
    # volatility and liquidity: scenario 2 is "range with HIGH volatility"; a sudden jump is the shock
    vol_high: float = 0.25  # implied vol at or above 25%
    vol_spike: float = 0.03  # implied vol up 3 vol points or more over 5 sessions
    swing_range: float = 0.015  # mean intraday high-low range over 5 sessions, fraction of close ...
    swing_net: float = 0.01  # ... while the 5-session net move is within +/- 1%
    thin_volume_ratio: float = 0.8  # volume at or below 80% of its 20-session average
    # evidence weights, log units
    w_tech_leads: float = 0.4
    w_semis_lead: float = 0.3
    w_uptrend: float = 0.3
    w_downtrend: float = 0.4
    w_rate_jump_day: float = 0.3
    w_rate_rise_month: float = 0.4
    w_rate_level: float = 0.2
    w_rates_stable: float = 0.3
    w_vol_high: float = 0.4
    w_vol_spike: float = 0.4
    w_wide_swings_flat: float = 0.4
    w_thin_volume: float = 0.2
    w_expiry_week: float = 0.3
    w_holiday_week: float = 0.2
    w_year_end_liquidity: float = 0.2
    w_santa_claus: float = 0.2

    def __post_init__(self):
        if len(self.prior) != 3 or min(self.prior) <= 0 or not math.isclose(sum(self.prior), 1.0):
            raise ConfigError(f"RuleParams.prior must be three positive probabilities summing to 1, "
                              f"got {self.prior}")
        for name, value in asdict(self).items():
            if name.startswith("w_") and not value >= 0:
                raise ConfigError(f"RuleParams.{name} must be >= 0 (a rule only pushes toward its own "
                                  f"regime; 0 switches it off), got {value}")
        for name in ("downtrend_gap", "rate_jump_day_bp", "rate_rise_month_bp", "rate_stable_bp", "vol_high",
                     "vol_spike", "swing_range", "swing_net", "thin_volume_ratio"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"RuleParams.{name} must be positive, got {getattr(self, name)}")
        if self.rate_level_pct is not None and not self.rate_level_pct > 0:
            raise ConfigError(f"RuleParams.rate_level_pct must be a positive percent or None, "
                              f"got {self.rate_level_pct}")


# rule -> (regime it points to, RuleParams weight field, what it says)
RULES = {
    "tech_leads": ("momentum", "w_tech_leads", "qqq_rs_20s >= tech_lead_rs and qqq_vs_ma50 > 0"),
    "semis_lead": ("momentum", "w_semis_lead", "smh_rs_20s >= semis_lead_rs"),
    "uptrend": ("momentum", "w_uptrend", "spy_vs_ma20 > 0 and spy_vs_ma50 > 0"),
    "downtrend": ("selloff", "w_downtrend", "spy_vs_ma50 <= -downtrend_gap"),
    "rate_jump_day": ("selloff", "w_rate_jump_day",
                      "yield_chg_1s_bp >= rate_jump_day_bp (daily yields only)"),
    "rate_rise_month": ("selloff", "w_rate_rise_month",
                        "yield_chg_20s_bp (daily) or yield_chg_21s_bp (monthly) >= rate_rise_month_bp"),
    "rate_level": ("selloff", "w_rate_level", "yield_level_pct >= rate_level_pct (when set)"),
    "rates_stable": ("momentum", "w_rates_stable", "|same ~20-session yield change| <= rate_stable_bp"),
    "vol_high": ("range", "w_vol_high", "implied_vol >= vol_high"),
    "vol_spike": ("selloff", "w_vol_spike", "implied_vol_chg_5s >= vol_spike"),
    "wide_swings_flat": ("range", "w_wide_swings_flat",
                         "hl_range_5s >= swing_range and |spy_ret_5s| <= swing_net"),
    "thin_volume": ("range", "w_thin_volume", "volume_ratio_20s <= thin_volume_ratio"),
    "expiry_week": ("range", "w_expiry_week", "triple_witching_week"),
    "holiday_week": ("range", "w_holiday_week", "holiday_week"),
    "year_end_liquidity": ("range", "w_year_end_liquidity", "late_december (thin year-end liquidity)"),
    "santa_claus": ("momentum", "w_santa_claus", "late_december (the column's +1.3% seasonal claim)"),
}


def compute_features(
    spy: pd.DataFrame,
    qqq: pd.DataFrame | None,
    smh: pd.DataFrame | None = None,
    vix: pd.Series | None = None,
    long_yield: pd.Series | None = None,
    calendar: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The classifier's inputs on SPY's sessions, each from data up to that session's close.

    spy, qqq, smh: OHLCV frames (`adj_close` used for returns when present, else `close`); qqq and smh
    may be None. vix: VIX close in points. long_yield: long yield in percent, on the sessions, each
    value the latest released; `attrs["frequency"]` "daily" or "monthly" says which changes mean
    something (inferred from how often it changes when absent). calendar: columns from
    CALENDAR_COLUMNS on the sessions, computed from the exchange calendar by the caller.

    Columns (units in the names; "Ns" = over N sessions): spy_ret_5s, spy_ret_20s, spy_vs_ma20,
    spy_vs_ma50, qqq_rs_5s/20s/60s (QQQ over SPY growth, minus 1), qqq_vs_ma20, qqq_vs_ma50, smh_*
    likewise; yield_level_pct with yield_chg_1s_bp, yield_chg_5s_bp, yield_chg_20s_bp for a daily
    series, or only yield_chg_21s_bp (about the change since the previous release) for a monthly one;
    realized_vol_20s, implied_vol (VIX / 100, else realized_vol_20s x 1.28), implied_vol_chg_5s,
    vol_premium (implied over realized; 1.28 wherever the proxy stands in), spy_ret_5s_z and
    spy_ret_20s_z (the return over the realized vol scaled to its sessions), hl_range_5s,
    volume_ratio_20s; the calendar columns; vol_source and rate_source (text per
    session). A feature with no real input is left out, never filled: attrs["missing"] says why.
    """
    _check_prices(spy, "spy")
    idx = spy.index
    out: dict[str, pd.Series] = {}
    missing: dict[str, str] = {}

    close = _close(spy)
    out["spy_ret_5s"] = close / close.shift(5) - 1
    out["spy_ret_20s"] = close / close.shift(20) - 1
    out["spy_vs_ma20"] = close / close.rolling(20).mean() - 1
    out["spy_vs_ma50"] = close / close.rolling(50).mean() - 1

    for name, frame in (("qqq", qqq), ("smh", smh)):
        names = [f"{name}_rs_5s", f"{name}_rs_20s", f"{name}_rs_60s", f"{name}_vs_ma20", f"{name}_vs_ma50"]
        if frame is None:
            missing.update({n: f"no {name.upper()} series given" for n in names})
            continue
        _check_prices(frame, name)
        # a session the other series lacks carries its last close (the past), at most 5 sessions
        other = _close(frame).reindex(idx).ffill(limit=5)
        for n in (5, 20, 60):
            out[f"{name}_rs_{n}s"] = (other / other.shift(n)) / (close / close.shift(n)) - 1
        out[f"{name}_vs_ma20"] = other / other.rolling(20).mean() - 1
        out[f"{name}_vs_ma50"] = other / other.rolling(50).mean() - 1

    rate_source = _rate_features(long_yield, idx, out, missing)
    vol_source = _vol_features(spy, close, vix, out)
    # the index's moves in units of the vol known at the close: a +1% week is a bigger event in 2017
    # than in 2008
    for n in (5, 20):
        scale = out["realized_vol_20s"] * math.sqrt(n / SESSIONS_PER_YEAR)
        out[f"spy_ret_{n}s_z"] = out[f"spy_ret_{n}s"] / scale
    out["vol_premium"] = out["implied_vol"] / out["realized_vol_20s"]

    # on a close-only segment of a spliced series (the embedded SPY outside 1999-2018) high = low
    # and volume = 0 mean "unknown", not "no range" or "no trading": NaN there. high > low marks a
    # printed bar (real_open would not do: it is also False on a stale open with a real range)
    printed = spy["high"] > spy["low"]
    if _has_range(spy):
        out["hl_range_5s"] = ((spy["high"] - spy["low"]) / spy["close"]).where(printed).rolling(5).mean()
    else:
        missing["hl_range_5s"] = "SPY series is close-only (no intraday high/low)"
    if _has_volume(spy):
        volume = spy["volume"].astype(float).where(printed)
        out["volume_ratio_20s"] = volume / volume.rolling(20).mean()
    else:
        missing["volume_ratio_20s"] = "SPY series has no volume"

    if calendar is None:
        missing.update({n: "no calendar columns given" for n in CALENDAR_COLUMNS})
    else:
        out.update(_calendar_features(calendar, idx))
        missing.update({n: "not in the calendar columns given"
                        for n in CALENDAR_COLUMNS if n not in calendar})

    features = pd.DataFrame(out, index=idx)
    features["vol_source"] = vol_source
    features["rate_source"] = rate_source
    features.index.name = "date"
    used = vol_source[vol_source == "VIX"].index
    features.attrs = {
        "vol_source": (f"VIX {used[0]:%Y-%m-%d}..{used[-1]:%Y-%m-%d}, realized vol x{IMPLIED_OVER_REALIZED} "
                       f"elsewhere" if len(used) else f"realized vol x{IMPLIED_OVER_REALIZED} (no VIX)"),
        "rate_source": rate_source.iloc[0] if len(rate_source) else "none",
        "missing": missing,
    }
    return features


def rule_evidence(features: pd.DataFrame, params: RuleParams = RuleParams()) -> pd.DataFrame:
    """Which rule fires at each session (bool frame, one column per rule in RULES order).

    A rule whose feature is absent or NaN (warm-up, missing series) does not fire.
    """
    p = params

    def col(name: str) -> pd.Series:
        if name in features:
            return features[name].astype(float)
        return pd.Series(np.nan, index=features.index)

    month_bp = col("yield_chg_20s_bp") if "yield_chg_20s_bp" in features else col("yield_chg_21s_bp")
    no_level = pd.Series(False, index=features.index)
    fired = {
        "tech_leads": (col("qqq_rs_20s") >= p.tech_lead_rs) & (col("qqq_vs_ma50") > 0),
        "semis_lead": col("smh_rs_20s") >= p.semis_lead_rs,
        "uptrend": (col("spy_vs_ma20") > 0) & (col("spy_vs_ma50") > 0),
        "downtrend": col("spy_vs_ma50") <= -p.downtrend_gap,
        "rate_jump_day": col("yield_chg_1s_bp") >= p.rate_jump_day_bp,
        "rate_rise_month": month_bp >= p.rate_rise_month_bp,
        "rate_level": no_level if p.rate_level_pct is None else col("yield_level_pct") >= p.rate_level_pct,
        "rates_stable": month_bp.abs() <= p.rate_stable_bp,
        "vol_high": col("implied_vol") >= p.vol_high,
        "vol_spike": col("implied_vol_chg_5s") >= p.vol_spike,
        "wide_swings_flat": (col("hl_range_5s") >= p.swing_range) & (col("spy_ret_5s").abs() <= p.swing_net),
        "thin_volume": col("volume_ratio_20s") <= p.thin_volume_ratio,
        "expiry_week": col("triple_witching_week") == 1,
        "holiday_week": col("holiday_week") == 1,
        "year_end_liquidity": col("late_december") == 1,
        "santa_claus": col("late_december") == 1,
    }
    return pd.DataFrame({name: fired[name].to_numpy(dtype=bool) for name in RULES}, index=features.index)


def classify_rules(features: pd.DataFrame, params: RuleParams = RuleParams()) -> pd.DataFrame:
    """Regime probabilities from the transparent rules: softmax(log prior + weights of rules fired).

    With no rule firing the prior comes back unchanged. Columns: momentum, range, selloff, label,
    code, evidence (the rules that fired, space-separated), vol_source, rate_source.
    """
    fired = rule_evidence(features, params)
    weights = np.zeros((len(RULES), len(REGIMES)))
    for i, (regime, weight_field, _) in enumerate(RULES.values()):
        weights[i, REGIMES.index(regime)] = getattr(params, weight_field)
    logits = np.log(np.asarray(params.prior)) + fired.to_numpy(dtype=float) @ weights
    names = np.array(list(RULES), dtype=object)
    evidence = [" ".join(names[row]) for row in fired.to_numpy()]
    out = _probability_frame(_softmax(logits), features)
    out["evidence"] = evidence
    out.attrs = {
        "model": "rules",
        "params": asdict(params),
        "rules_unavailable": _unavailable_rules(features, params),
        **{k: v for k, v in features.attrs.items() if k in ("vol_source", "rate_source", "missing")},
    }
    return out


def classify_logistic(
    features: pd.DataFrame,
    realized_labels: pd.Series,
    horizon: int = 5,
    min_train_sessions: int = 450,  # about two years of labelled sessions
    C: float = 0.1,  # scikit-learn's name: inverse L2 penalty
    prior: tuple[float, float, float] = PRIOR,
    columns: tuple[str, ...] = LOGISTIC_FEATURES,
) -> pd.DataFrame:
    """Regime probabilities from a multinomial logistic regression refitted before each calendar year.

    The inputs are `columns` (default LOGISTIC_FEATURES) that the features hold. The label of session
    t (its realized scenario) is only known `horizon` sessions later, so the model for year Y learns
    from sessions t with t + horizon < Y's first session: labels known at the close before Y starts.
    Features are standardised and NaNs imputed with training means only. Years with fewer than
    `min_train_sessions` labelled training sessions get the prior. Columns as `classify_rules`, with
    `fitted_through` (last training session, NaT where the prior stands in) instead of evidence.
    """
    labels = _checked_labels(realized_labels, features.index, horizon, min_train_sessions, C)
    numeric = [c for c in columns if c in features
               and (pd.api.types.is_numeric_dtype(features[c]) or pd.api.types.is_bool_dtype(features[c]))]
    probs, fitted_through, used = _walk_forward(features[numeric].astype(float), labels, horizon,
                                                min_train_sessions, C, prior)
    out = _probability_frame(probs, features)
    out["fitted_through"] = fitted_through
    out.attrs = {
        "model": "logistic",
        "params": {"horizon": horizon, "min_train_sessions": min_train_sessions, "C": C, "prior": prior},
        "features_used": [c for c in numeric if c in used],
        **{k: v for k, v in features.attrs.items() if k in ("vol_source", "rate_source", "missing")},
    }
    return out


def classify_calibrated_rules(
    features: pd.DataFrame,
    realized_labels: pd.Series,
    params: RuleParams = RuleParams(),
    horizon: int = 5,
    min_train_sessions: int = 450,
    C: float = 0.1,
    prior: tuple[float, float, float] = PRIOR,
) -> pd.DataFrame:
    """The column's rules with their weights re-estimated walk-forward: a multinomial logistic
    regression on the rule flags (`rule_evidence`), refitted before each calendar year on labels known
    by then, exactly as `classify_logistic`. A rule that never fired in the training years carries no
    weight. attrs["weights"] holds the last fit's weight per rule and regime (log units, against the
    regimes' mean), so the calibration reads like the hand-set table.
    """
    labels = _checked_labels(realized_labels, features.index, horizon, min_train_sessions, C)
    flags = rule_evidence(features, params).astype(float)
    probs, fitted_through, used = _walk_forward(flags, labels, horizon, min_train_sessions, C, prior)
    out = _probability_frame(probs, features)
    out["fitted_through"] = fitted_through
    out["evidence"] = [" ".join(np.asarray(flags.columns)[row]) for row in flags.to_numpy(dtype=bool)]
    out.attrs = {
        "model": "rules",
        "params": {"rules": asdict(params), "horizon": horizon, "min_train_sessions": min_train_sessions,
                   "C": C, "prior": prior},
        "features_used": [c for c in flags.columns if c in used],
        "weights": used.get("__weights__"),
        "rules_unavailable": _unavailable_rules(features, params),
        **{k: v for k, v in features.attrs.items() if k in ("vol_source", "rate_source", "missing")},
    }
    return out


def classify_prior(features: pd.DataFrame, prior: tuple[float, float, float] = PRIOR) -> pd.DataFrame:
    """The column's constant 35/45/20 on every session: the baseline every model must beat; its label
    is always range (the prior's most likely scenario), so a playbook on it runs the neutral book."""
    out = _probability_frame(np.tile(np.asarray(prior, dtype=float), (len(features), 1)), features)
    out.attrs = {"model": "prior", "params": {"prior": prior},
                 **{k: v for k, v in features.attrs.items() if k in ("vol_source", "rate_source", "missing")}}
    return out


def _checked_labels(realized_labels, index, horizon, min_train_sessions, C) -> pd.Series:
    if horizon < 1 or min_train_sessions < 1 or not C > 0:
        raise ConfigError(f"a walk-forward model needs horizon >= 1, min_train_sessions >= 1 and C > 0, got "
                          f"{horizon}, {min_train_sessions}, {C}")
    labels = realized_labels.reindex(index)
    bad = set(labels.dropna().unique()) - set(REGIMES)
    if bad:
        raise ConfigError(f"realized labels must be among {REGIMES}, got {sorted(map(str, bad))}")
    return labels


def _walk_forward(X: pd.DataFrame, labels: pd.Series, horizon: int, min_train_sessions: int, C: float,
                  prior) -> tuple[np.ndarray, pd.Series, dict]:
    """Probabilities from a logistic regression refitted before each calendar year of X's index on the
    rows whose label was known by the close before that year; the prior where too few were.
    Returns (probs, fitted_through, used) where `used` maps each column that entered a fit to True and
    "__weights__" to the last fit's coefficients (column -> regime -> log units)."""
    columns = list(X.columns)
    X_all = X.to_numpy(dtype=float)
    known = labels.notna().to_numpy()
    y_all = labels.to_numpy()

    # imported here: scikit-learn takes over a second to load, and only these models need it
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    probs = np.tile(np.asarray(prior, dtype=float), (len(X), 1))
    fitted_through = pd.Series(pd.NaT, index=X.index, dtype="datetime64[ns]")
    used: dict = {}
    years = X.index.year
    # one BLAS thread: the fits are small, and on a busy machine extra threads only fight for cores
    # (measured 0.5 s single-threaded vs 1-6 s with default threads on 2 loaded cores)
    with threadpool_limits(limits=1):
        for year in np.unique(years):
            test = np.flatnonzero(years == year)
            cutoff = test[0] - horizon  # training positions < cutoff: label known before the year opens
            train = np.flatnonzero(known[: max(cutoff, 0)])
            if len(train) < min_train_sessions or len(set(y_all[train])) < 2:
                continue
            X_train = X_all[train]
            # a column with no value in the training years (e.g. VIX before it existed) is left out;
            # otherwise NaNs take the training mean, and constant columns carry no information
            present = np.flatnonzero(~np.isnan(X_train).all(axis=0))
            mean = np.nanmean(X_train[:, present], axis=0)
            filled = np.where(np.isnan(X_train[:, present]), mean, X_train[:, present])
            std = filled.std(axis=0)
            # relative test: a column constant up to rounding (vol_premium is realized x 1.28 / realized
            # wherever VIX is missing) has a std of 1e-16, and dividing by it would blow the test rows up
            varies = std > 1e-9 * np.maximum(np.abs(mean), 1.0)
            cols, mean, std = present[varies], mean[varies], std[varies]
            if len(cols) == 0:
                continue
            model = LogisticRegression(C=C, max_iter=2000)
            model.fit((filled[:, varies] - mean) / std, y_all[train])
            X_test = X_all[test][:, cols]
            p = model.predict_proba((np.where(np.isnan(X_test), mean, X_test) - mean) / std)
            probs[test] = 0.0
            for j, cls in enumerate(model.classes_):
                probs[test, REGIMES.index(cls)] = p[:, j]
            fitted_through.iloc[test] = X.index[train[-1]]
            used.update({columns[i]: True for i in cols})
            coef = model.coef_ if len(model.classes_) > 2 else np.vstack([-model.coef_[0], model.coef_[0]])
            # per unit of the raw column (a flag: firing vs not), as the hand-set weights are given
            used["__weights__"] = {
                columns[i]: {str(cls): float(coef[j, k] / std[k]) for j, cls in enumerate(model.classes_)}
                for k, i in enumerate(cols)
            }
    return probs, fitted_through, used


def _probability_frame(probs: np.ndarray, features: pd.DataFrame) -> pd.DataFrame:
    """The common output: probabilities, label (first regime wins a tie), code, feature sources."""
    out = pd.DataFrame(probs, index=features.index, columns=list(REGIMES))
    code = probs.argmax(axis=1)
    out["label"] = pd.Series(np.asarray(REGIMES, dtype=object)[code], index=features.index, dtype=object)
    out["code"] = code.astype(np.int64)
    for name in ("vol_source", "rate_source"):
        out[name] = features[name] if name in features else "none"
    return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _unavailable_rules(features: pd.DataFrame, params: RuleParams) -> list[str]:
    """Rules that can never fire on these features because an input is absent."""
    needs = {
        "tech_leads": ["qqq_rs_20s"], "semis_lead": ["smh_rs_20s"], "rate_jump_day": ["yield_chg_1s_bp"],
        "rate_rise_month": ["yield_level_pct"], "rate_level": ["yield_level_pct"],
        "rates_stable": ["yield_level_pct"],
        "wide_swings_flat": ["hl_range_5s"], "thin_volume": ["volume_ratio_20s"],
        "expiry_week": ["triple_witching_week"], "holiday_week": ["holiday_week"],
        "year_end_liquidity": ["late_december"], "santa_claus": ["late_december"],
    }
    out = [rule for rule, cols in needs.items() if any(c not in features for c in cols)]
    if params.rate_level_pct is None and "rate_level" not in out:
        out.append("rate_level")
    return out


def _check_prices(frame: pd.DataFrame, name: str) -> None:
    if not isinstance(frame, pd.DataFrame) or "close" not in frame:
        raise ConfigError(f"regime features: {name} must be a price frame with a 'close' column")
    if not isinstance(frame.index, pd.DatetimeIndex) or not frame.index.is_monotonic_increasing \
            or not frame.index.is_unique:
        raise ConfigError(f"regime features: {name} needs a sorted, unique DatetimeIndex")


def _close(frame: pd.DataFrame) -> pd.Series:
    return frame["adj_close" if "adj_close" in frame else "close"].astype(float)


def _has_range(frame: pd.DataFrame) -> bool:
    if frame.attrs.get("close_only") or "high" not in frame or "low" not in frame:
        return False
    return bool((frame["high"] != frame["low"]).any())


def _has_volume(frame: pd.DataFrame) -> bool:
    if frame.attrs.get("has_volume") is False or "volume" not in frame:
        return False
    return bool((frame["volume"] > 0).any())


def _rate_features(long_yield, idx, out, missing) -> pd.Series:
    """Yield level and changes in bp; which changes exist depends on how often the series is published."""
    daily_names = ("yield_chg_1s_bp", "yield_chg_5s_bp", "yield_chg_20s_bp")
    if long_yield is None:
        missing.update({n: "no long-yield series given" for n in ("yield_level_pct", *daily_names)})
        return pd.Series("none", index=idx, dtype=object)
    # inside only: past a series' end (the embedded Moody's Aaa after 2019-02-06) the level stays NaN
    # and the rate rules do not fire, rather than reading a stale figure as "rates stable"
    level = long_yield.astype(float).reindex(idx).ffill(limit_area="inside")
    description = long_yield.attrs.get("description") or long_yield.name or "long yield"
    frequency = long_yield.attrs.get("frequency") or _infer_frequency(level)
    out["yield_level_pct"] = level
    if frequency == "daily":
        for n in (1, 5, 20):
            out[f"yield_chg_{n}s_bp"] = level.diff(n) * 100
        return pd.Series(f"daily: {description}", index=idx, dtype=object)
    # A monthly series moves once a month: a 1- or 5-session change is zero or one whole release, so
    # only the change over ~one month (the last release's change) carries meaning.
    out["yield_chg_21s_bp"] = level.diff(21) * 100
    missing.update({n: f"{frequency} long-yield series: only the 21-session change is meaningful"
                    for n in daily_names})
    return pd.Series(f"{frequency} (release-lagged): {description}", index=idx, dtype=object)


def _infer_frequency(level: pd.Series) -> str:
    """'daily' if the series changes on most sessions, else 'monthly' (a forward-filled release)."""
    changes = level.dropna().diff().ne(0).mean()
    return "daily" if changes > 0.5 else "monthly"


def _vol_features(spy, close, vix, out) -> pd.Series:
    """Realized vol, implied vol from VIX where it exists and realized x1.28 elsewhere, its 5-session change.

    The 5-session change is taken within one source, so the switch from proxy to VIX is not a spike.
    """
    log_ret = np.log(close).diff()
    realized = log_ret.rolling(REALIZED_VOL_SESSIONS).std() * math.sqrt(SESSIONS_PER_YEAR)
    proxy = realized * IMPLIED_OVER_REALIZED
    out["realized_vol_20s"] = realized
    if vix is None:
        implied_vix = pd.Series(np.nan, index=close.index)
    else:
        implied_vix = vix.astype(float).reindex(close.index) / 100
    has_vix = implied_vix.notna()
    out["implied_vol"] = implied_vix.where(has_vix, proxy)
    vix_change = implied_vix.diff(5)
    out["implied_vol_chg_5s"] = vix_change.where(vix_change.notna() & has_vix, proxy.diff(5))
    label = f"realized x{IMPLIED_OVER_REALIZED}"
    return pd.Series(np.where(has_vix, "VIX", label), index=close.index, dtype=object)


def _calendar_features(calendar: pd.DataFrame, idx: pd.DatetimeIndex) -> dict[str, pd.Series]:
    unknown = [c for c in calendar.columns if c not in CALENDAR_COLUMNS]
    if unknown:
        raise ConfigError(f"regime features: unknown calendar column {unknown[0]!r}; "
                          f"expected some of {CALENDAR_COLUMNS}")
    cal = calendar.reindex(idx)
    gaps = cal.index[cal.isna().any(axis=1)]
    if len(gaps):
        raise ConfigError(f"regime features: the calendar columns have no value for session "
                          f"{gaps[0]:%Y-%m-%d}")
    return {c: cal[c].astype(bool) if c in _CALENDAR_FLAGS else cal[c].astype(float) for c in cal.columns}
