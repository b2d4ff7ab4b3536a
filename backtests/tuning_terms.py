"""The words of a tuning study that the command line offers before anything heavy is imported."""

OBJECTIVES = {
    "sharpe": "mean / sample standard deviation of the window returns (per window, not annualised)",
    "sortino": "mean / downside deviation of the window returns (target 0, over all windows; per window, "
               "not annualised)",
    "calmar": "geometric mean window return / deepest fall of the compounded window sequence",
    "hit-rate": "share of windows with a positive return",
    "mean-window-return": "arithmetic mean of the window returns",
}
SAMPLERS = ("grid", "tpe", "random")
DEFAULT_MIN_TRAIN_YEARS = 3
