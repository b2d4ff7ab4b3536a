"""The one exception a user can cause in `backtests/`: a run that cannot be made as asked."""


class RunError(ValueError):
    """A backtest, report or tuning study cannot run with the inputs given (empty window, unknown
    strategy, unreadable saved run). The message names the culprit; the CLI prints it on one line and
    exits with code 2."""
