"""The one exception a user can cause in `strategies/`: a parameter that makes no sense."""


class ConfigError(ValueError):
    """A strategy, risk-rule or option parameter the user gave is invalid.

    The message names the parameter and the accepted values; the CLI prints it on one line and
    exits with code 2.
    """
