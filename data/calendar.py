"""The NYSE trading calendar and the option-expiry days the playbook watches.

Everything here except `nyse_sessions` and `early_closes` is a pure function of a session index:
the index *is* the calendar, so a test can hand-build one and a backtest can pass the index of its
own data. The playbook cares about three calendar facts:

- the quarterly triple witching (third Friday of March, June, September and December), when index
  futures, index options and stock options expire together;
- the monthly option expiry (third Friday of every month);
- holiday-shortened weeks and early closes, when liquidity is thin.

An expiry whose third Friday is not a session moves to the previous session (Good Friday 2008,
Juneteenth 2026 and 2027), which is what the exchanges do:

>>> s = pd.DatetimeIndex(["2008-03-19", "2008-03-20", "2008-03-24"])
>>> third_friday(2008, 3)
Timestamp('2008-03-21 00:00:00')
>>> expiry_session(third_friday(2008, 3), s)
Timestamp('2008-03-20 00:00:00')
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from data.errors import DataError
from data.frames import to_date

# The playbook's history starts here; exchange_calendars builds 20 years back by default.
HISTORY_START = pd.Timestamp("1990-01-01")
# How far ahead the default calendar reaches: enough for any live window of the playbook.
YEARS_AHEAD = 2
QUARTER_END_MONTHS = (3, 6, 9, 12)


def _to_day(value, what: str) -> pd.Timestamp:
    """Parse a user date into a tz-naive midnight Timestamp, or say which date is bad (data.frames'
    one date parser: YYYY-MM-DD text, or a date; a time zone is refused here, not dropped)."""
    if getattr(value, "tzinfo", None) is not None:
        raise DataError(f"{what} {value!r} carries a time zone; dates here are tz-naive.")
    return to_date(value, what)


def default_end() -> pd.Timestamp:
    """Two years after today: the calendar must cover windows that have not happened yet."""
    return pd.Timestamp.today().normalize() + pd.DateOffset(years=YEARS_AHEAD)


@functools.lru_cache(maxsize=4)
def _xnys(first: pd.Timestamp, last: pd.Timestamp):
    """The exchange_calendars XNYS calendar over [first, last]; building it costs ~0.2 s, so it is
    built once per span and shared by `nyse_sessions` and `early_closes`."""
    # Imported here so that the pure functions of this module do not pay for the import.
    import exchange_calendars

    try:
        return exchange_calendars.get_calendar("XNYS", start=first, end=last)
    except (ValueError, exchange_calendars.errors.CalendarError) as exc:
        span = f"{first.date()} to {last.date()}"
        raise DataError(f"the NYSE calendar cannot be built from {span}: {exc}") from exc


def _calendar_for(start, end):
    """Parse and check a [start, end] request and return the cached calendar covering it.

    The calendar always spans at least a year before 1990 to two years ahead, starting on a 1
    January, so that the requests a run makes (a market from 1990, its calendar features from a
    month before) share one cached build instead of building one each (~0.25 s apiece); the
    sessions and early closes inside a span do not depend on where the build starts."""
    first = _to_day(start, "start")
    last = default_end() if end is None else _to_day(end, "end")
    if first > last:
        raise DataError(f"start {first.date()} is after end {last.date()}.")
    origin = min(first, HISTORY_START - pd.DateOffset(years=1))
    calendar = _xnys(pd.Timestamp(year=origin.year, month=1, day=1), max(last, default_end()))
    return calendar, first, last


def nyse_sessions(start="1990-01-01", end=None) -> pd.DatetimeIndex:
    """NYSE trading sessions from `start` to `end` inclusive (default end: two years after today).

    From exchange_calendars' XNYS, which knows the regular holidays and the unscheduled closures
    (2001-09-11 to 09-14, Hurricane Sandy 2012-10-29/30, national days of mourning). The index is
    tz-naive, normalized to midnight, named "date", without a frequency. Sessions more than a year
    or two ahead follow the holiday rules known today; an exchange can still add closures.
    """
    calendar, first, last = _calendar_for(start, end)
    sessions = calendar.sessions
    sessions = sessions[(sessions >= first) & (sessions <= last)]
    return pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions, name="date", freq=None)


def early_closes(start="1990-01-01", end=None) -> pd.DatetimeIndex:
    """Sessions from `start` to `end` on which the NYSE closes early (13:00): the day after
    Thanksgiving, Christmas Eve, the eve of Independence Day when it is a session, and the like.

    Liquidity is thinnest on these days, which is why `holiday_shortened_week` counts them.
    """
    calendar, first, last = _calendar_for(start, end)
    closes = pd.DatetimeIndex(calendar.early_closes)
    closes = closes.tz_localize(None) if closes.tz else closes
    closes = closes.normalize()
    return pd.DatetimeIndex(closes[(closes >= first) & (closes <= last)], name="date", freq=None)


def session_index(sessions) -> pd.DatetimeIndex:
    """`sessions` as a DatetimeIndex, checked: tz-naive, at midnight, sorted, unique, not empty.

    Every function here treats the index as the whole calendar, so a malformed one would give
    wrong windows silently; better to refuse it with the rule it breaks.
    """
    try:
        index = pd.DatetimeIndex(sessions)
    except (ValueError, TypeError) as exc:
        raise DataError(f"the session index cannot be read as dates: {exc}") from exc
    if len(index) == 0:
        raise DataError("the session index is empty.")
    if index.tz is not None:
        raise DataError(f"the session index is in time zone {index.tz}; sessions must be tz-naive.")
    if index.hasnans:
        raise DataError("the session index contains NaT.")
    if not (index == index.normalize()).all():
        bad = index[index != index.normalize()][0]
        raise DataError(f"session {bad} is not at midnight; sessions must be normalized dates.")
    if not index.is_monotonic_increasing or not index.is_unique:
        raise DataError("the session index must be sorted and without duplicate dates.")
    return index


def third_friday(year: int, month: int) -> pd.Timestamp:
    """The third Friday of `month` in `year`: the standard US option expiration day.

    >>> third_friday(2018, 12)
    Timestamp('2018-12-21 00:00:00')
    """
    if not 1 <= int(month) <= 12:
        raise DataError(f"month {month} is not between 1 and 12.")
    first = pd.Timestamp(year=int(year), month=int(month), day=1)
    # Friday is weekday 4; the first Friday falls on day 1..7, the third two weeks later.
    return first + pd.Timedelta(days=(4 - first.weekday()) % 7 + 14)


def expiry_session(day, sessions) -> pd.Timestamp:
    """Last session on or before `day`: an expiry on a holiday moves back.

    `day` must lie within the session index: past either end the index cannot tell whether `day`
    itself was a session, so the answer would be a guess.

    >>> s = pd.DatetimeIndex(["2008-03-19", "2008-03-20", "2008-03-24"])
    >>> expiry_session(pd.Timestamp("2008-03-21"), s)      # Good Friday 2008
    Timestamp('2008-03-20 00:00:00')
    >>> expiry_session(pd.Timestamp("2008-03-20"), s)
    Timestamp('2008-03-20 00:00:00')
    """
    index = session_index(sessions)
    day = _to_day(day, "expiry day")
    if day < index[0] or day > index[-1]:
        raise DataError(
            f"expiry day {day.date()} lies outside the sessions {index[0].date()} to {index[-1].date()}."
        )
    return index[index.searchsorted(day, side="right") - 1]


def _third_fridays(first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    """Third Fridays of every month from `first`'s month to `last`'s month, vectorised."""
    months = pd.period_range(first.to_period("M"), last.to_period("M"), freq="M")
    month_starts = months.to_timestamp()
    weekday = month_starts.day_of_week.to_numpy()
    return month_starts + pd.to_timedelta((4 - weekday) % 7 + 14, unit="D")


def _expiries(sessions, months: tuple[int, ...] | None) -> pd.DatetimeIndex:
    index = session_index(sessions)
    fridays = _third_fridays(index[0], index[-1])
    if months is not None:
        fridays = fridays[fridays.month.isin(months)]
    fridays = fridays[(fridays >= index[0]) & (fridays <= index[-1])]
    positions = index.searchsorted(fridays, side="right") - 1
    # On a sparse index two months could move back onto the same session; keep it once.
    return pd.DatetimeIndex(index[np.unique(positions)], name="date", freq=None)


def monthly_expiries(sessions) -> pd.DatetimeIndex:
    """The monthly option expiry session of every calendar month whose third Friday lies within
    the session index: the third Friday, or the session before it when that Friday is a holiday.

    >>> s = pd.bdate_range("2026-06-01", "2026-07-31").drop(pd.Timestamp("2026-06-19"))
    >>> monthly_expiries(s).strftime("%Y-%m-%d").tolist()      # Juneteenth 2026 is a Friday
    ['2026-06-18', '2026-07-17']
    """
    return _expiries(sessions, None)


def triple_witching_days(sessions) -> pd.DatetimeIndex:
    """The quarterly triple-witching sessions (March, June, September, December expiries) whose
    third Friday lies within the session index, moved back to the previous session on a holiday.

    >>> s = pd.bdate_range("2018-12-17", "2019-03-29").drop(pd.Timestamp("2018-12-25"))
    >>> triple_witching_days(s).strftime("%Y-%m-%d").tolist()
    ['2018-12-21', '2019-03-15']
    """
    return _expiries(sessions, QUARTER_END_MONTHS)


def sessions_to_next(events, sessions) -> pd.Series:
    """For each session, how many sessions until the next event (0 on the event day itself).

    The calendar is known in advance, so this is no look-ahead. Events outside the session index
    are ignored; an event inside its range that is not a session is an error (map it with
    `expiry_session` first). Sessions after the last event get NaN, since the distance to an event
    past the end of the index is unknown in its sessions. Float64, indexed by the sessions, named
    "sessions_to_next".

    >>> s = pd.bdate_range("2018-12-17", "2018-12-24")
    >>> sessions_to_next(pd.DatetimeIndex(["2018-12-19"]), s).tolist()
    [2.0, 1.0, 0.0, nan, nan, nan]
    """
    index = session_index(sessions)
    positions = _event_positions(events, index)
    following = np.searchsorted(positions, np.arange(len(index)), side="left")
    distance = np.full(len(index), np.nan)
    known = following < len(positions)
    distance[known] = positions[following[known]] - np.arange(len(index))[known]
    return pd.Series(distance, index=index, name="sessions_to_next")


def _event_positions(events, index: pd.DatetimeIndex) -> np.ndarray:
    """Sorted unique positions in `index` of the events inside its range; a non-session event
    inside the range is refused rather than silently moved."""
    try:
        days = pd.DatetimeIndex(events)
    except (ValueError, TypeError) as exc:
        raise DataError(f"the events cannot be read as dates: {exc}") from exc
    if days.tz is not None:
        raise DataError(f"the events are in time zone {days.tz}; events must be tz-naive.")
    days = days[(days >= index[0]) & (days <= index[-1])]
    missing = days[~days.isin(index)]
    if len(missing):
        raise DataError(
            f"event {missing[0]} is not a session; move it to a session first (expiry_session)."
        )
    return np.unique(index.get_indexer(days))


def holiday_shortened_week(sessions, early=None) -> pd.Series:
    """True on every session of a Monday-Friday week that has fewer sessions than weekdays or
    contains an early close: the thin-liquidity weeks the playbook warns about.

    The session index is the calendar, so a weekday missing from it counts as a holiday. The first
    and last weeks of the index are judged only on their weekdays inside the index, so an index that
    starts on a Wednesday does not make its first week look short. `early` is the set of
    early-close sessions; by default the NYSE's (`early_closes`) over the index's range.

    >>> s = pd.bdate_range("2018-11-19", "2018-11-30").drop(pd.Timestamp("2018-11-22"))
    >>> holiday_shortened_week(s, early=[]).astype(int).tolist()     # Thanksgiving week
    [1, 1, 1, 1, 0, 0, 0, 0, 0]
    """
    index = session_index(sessions)
    if early is None:
        early = early_closes(index[0], index[-1])
    early = pd.DatetimeIndex(early)
    days = index.to_numpy().astype("datetime64[D]")
    # numpy weeks start on Thursday 1970-01-01; shift so that a week starts on Monday.
    monday = days - ((days.astype("int64") + 3) % 7).astype("timedelta64[D]")
    weeks, week_of_session, count = np.unique(monday, return_inverse=True, return_counts=True)
    week_first = np.maximum(weeks, days[0])
    week_last = np.minimum(weeks + np.timedelta64(4, "D"), days[-1])
    weekdays = np.busday_count(week_first, week_last + np.timedelta64(1, "D"))
    short = count < weekdays
    has_early = np.zeros(len(weeks), dtype=bool)
    early_in_index = index.isin(early)
    has_early[np.unique(week_of_session[early_in_index])] = True
    flags = (short | has_early)[week_of_session]
    return pd.Series(flags, index=index, name="holiday_shortened_week")
