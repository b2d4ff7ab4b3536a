"""The cash rate tests pass when their span reaches December 2018.

The embedded T-bill rate (Fama-French RF) ends with November 2018, so a playbook run past 2018-11-30
needs --cash-rate. Tests whose figures were computed with November's rate carried into December pass
that same rate as the named stand-in, so their figures stay what they were.
"""

NOVEMBER_2018_CASH_RATE = 0.18 * 12.0 / 100.0  # RF 2018-11 = 0.18% a month, annualised as data.macro does
CASH_RATE_ARGS = ["--cash-rate", repr(NOVEMBER_2018_CASH_RATE)]
