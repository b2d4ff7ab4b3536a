"""The one exception a user can cause in `data/`: bad input, missing files, unreachable sources."""


class DataError(ValueError):
    """A problem with market data that the user can fix.

    The message is one sentence that names the source, symbol, date, file or rule at fault; the CLI
    prints it on one line and exits with code 2.
    """
