"""Event windows: the stretches of sessions over which the playbook is judged.

The playbook's horizon is 1-5 sessions around a calendar event, so a backtest is evaluated not only
over full history but over windows around each event. Every function is a pure function of a
session index (the index is the calendar; see `data.calendar`).

Two families of window:

- **Event windows** (kinds "triple-witching", "monthly-expiry", or any events you pass to
  `event_windows`). The window of event day E spans from the `before`-th session before E to the
  `after`-th session after E, E included, so it always has before + after + 1 sessions. A window
  that would reach past either end of the session index is **dropped**, not clipped, so that every
  window of a run has the same length; `clipped_events` lists the events so dropped.
- **Fixed windows** (kinds "year-end" and "santa-claus"), defined by the calendar alone; `before`
  and `after` do not apply to them. Their `event` is the last session of December.
  "year-end" is the playbook's "last two weeks of December": the sessions after December 15
  through the last session of the year. "santa-claus" is the last 5 sessions of December plus the
  first 2 of January. A fixed window is dropped when the index does not cover it: a weekday of the
  window that lies beyond an end of the index may or may not have been a session.

Event windows of K=2 sessions before and H=1 after on a hand-built index:

>>> s = pd.bdate_range("2018-12-17", "2018-12-31").drop(pd.Timestamp("2018-12-25"))
>>> [(w.first.day, w.event.day, w.last.day, w.sessions)
...  for w in event_windows(pd.DatetimeIndex(["2018-12-21"]), s, before=2, after=1)]
[(19, 21, 24, 4)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.calendar import (
    _event_positions,
    _to_day,
    monthly_expiries,
    nyse_sessions,
    session_index,
    triple_witching_days,
)
from data.errors import DataError

WINDOW_KINDS = ("triple-witching", "year-end", "santa-claus", "monthly-expiry")
# The playbook's horizon is 1-5 sessions; a window covers that horizon on each side of the event.
DEFAULT_BEFORE = 5
DEFAULT_AFTER = 5
YEAR_END_AFTER_DAY = 15
SANTA_DECEMBER_SESSIONS = 5
SANTA_JANUARY_SESSIONS = 2


@dataclass(frozen=True)
class Window:
    """One evaluation window: sessions `first` to `last` inclusive (`sessions` of them in the
    index it was built on) around the event session `event`. `kind` is one of WINDOW_KINDS or the
    label given to `event_windows`."""

    kind: str
    event: pd.Timestamp
    first: pd.Timestamp
    last: pd.Timestamp
    sessions: int

    def __post_init__(self):
        if not self.first <= self.event <= self.last:
            raise ValueError(f"window event {self.event} lies outside {self.first} .. {self.last}")
        if self.sessions < 1:
            raise ValueError(f"a window holds at least one session, got {self.sessions}")


def _check_span(before: int, after: int) -> tuple[int, int]:
    for name, value in (("before", before), ("after", after)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DataError(f"{name}={value!r} must be a whole number of sessions.")
        if value < 0:
            raise DataError(f"{name}={value} sessions is negative; use 0 or more.")
    return int(before), int(after)


def _span_positions(events, index: pd.DatetimeIndex, before: int, after: int):
    """Positions of the events in `index`, and which of their windows fit inside it."""
    positions = _event_positions(events, index)
    fits = (positions - before >= 0) & (positions + after <= len(index) - 1)
    return positions, fits


def event_windows(events, sessions, before=DEFAULT_BEFORE, after=DEFAULT_AFTER, kind="event") -> list[Window]:
    """One window per event: from the `before`-th session before the event to the `after`-th
    session after it, event included (before + after + 1 sessions).

    Events must be sessions of the index (an event inside the index's range that is not a session
    is an error; move it with `data.calendar.expiry_session`). A window that would reach past an
    end of the index is dropped; `clipped_events` returns those events, events outside the index
    included.
    """
    index = session_index(sessions)
    before, after = _check_span(before, after)
    positions, fits = _span_positions(events, index, before, after)
    return [
        Window(kind, index[p], index[p - before], index[p + after], before + after + 1)
        for p in positions[fits]
    ]


def clipped_events(events, sessions, before=DEFAULT_BEFORE, after=DEFAULT_AFTER) -> pd.DatetimeIndex:
    """The events whose window `event_windows` drops because it would reach past an end of the
    session index (events outside the index altogether included). Its length is the dropped count.

    >>> s = pd.bdate_range("2018-12-17", "2018-12-21")
    >>> events = pd.DatetimeIndex(["2018-12-17", "2018-12-19", "2019-01-04"])
    >>> clipped_events(events, s, before=1, after=1).strftime("%Y-%m-%d").tolist()
    ['2018-12-17', '2019-01-04']
    """
    index = session_index(sessions)
    before, after = _check_span(before, after)
    days = pd.DatetimeIndex(events)
    outside = days[(days < index[0]) | (days > index[-1])]
    positions, fits = _span_positions(days, index, before, after)
    dropped = index[positions[~fits]].append(outside)
    return pd.DatetimeIndex(dropped.sort_values().unique(), name="date", freq=None)


def _last_weekday_on_or_before(day: pd.Timestamp) -> pd.Timestamp:
    return day - pd.Timedelta(days=max(day.weekday() - 4, 0))


def _first_weekday_on_or_after(day: pd.Timestamp) -> pd.Timestamp:
    return day + pd.Timedelta(days=(7 - day.weekday()) % 7 if day.weekday() > 4 else 0)


def _years(index: pd.DatetimeIndex) -> range:
    return range(index[0].year, index[-1].year + 1)


def year_end_windows(sessions, after_day=YEAR_END_AFTER_DAY) -> list[Window]:
    """The "last two weeks of December" of every year the index covers: the sessions after
    December `after_day` through the last session of December, event = that last session.

    A year is dropped when the index starts after the first weekday of the window or ends before
    December's last weekday (the index cannot say whether those days were sessions).

    >>> s = pd.bdate_range("2018-12-03", "2019-01-04").drop(pd.Timestamp("2018-12-25"))
    >>> w = year_end_windows(s)[0]
    >>> w.first.date(), w.last.date(), w.sessions
    (datetime.date(2018, 12, 17), datetime.date(2018, 12, 31), 10)
    """
    index = session_index(sessions)
    whole = isinstance(after_day, (int, np.integer)) and not isinstance(after_day, bool)
    if not whole or not 0 <= after_day <= 30:
        raise DataError(f"after_day={after_day!r} must be a day of December from 0 to 30.")
    windows = []
    for year in _years(index):
        start = pd.Timestamp(year=year, month=12, day=int(after_day) + 1)
        end = pd.Timestamp(year=year, month=12, day=31)
        if index[0] > _first_weekday_on_or_after(start) or index[-1] < _last_weekday_on_or_before(end):
            continue
        inside = index[(index >= start) & (index <= end)]
        if len(inside):
            windows.append(Window("year-end", inside[-1], inside[0], inside[-1], len(inside)))
    return windows


def santa_claus_windows(
    sessions, december_sessions=SANTA_DECEMBER_SESSIONS, january_sessions=SANTA_JANUARY_SESSIONS
) -> list[Window]:
    """The "Santa Claus rally" window of every year the index covers: the last `december_sessions`
    sessions of December plus the first `january_sessions` sessions of the next January, event =
    the last session of December.

    A year is dropped when the index holds fewer than the required sessions in that December or
    the following January (an index holding the next January covers the end of December).

    >>> s = pd.bdate_range("2018-12-17", "2019-01-08").drop(pd.Timestamp("2018-12-25")).drop(
    ...     pd.Timestamp("2019-01-01"))
    >>> w = santa_claus_windows(s)[0]
    >>> w.first.date(), w.event.date(), w.last.date(), w.sessions
    (datetime.date(2018, 12, 24), datetime.date(2018, 12, 31), datetime.date(2019, 1, 3), 7)
    """
    index = session_index(sessions)
    for name, value in (("december_sessions", december_sessions), ("january_sessions", january_sessions)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise DataError(f"{name}={value!r} must be a whole number of sessions, 1 or more.")
    windows = []
    for year in _years(index):
        december = index[
            (index >= pd.Timestamp(year=year, month=12, day=1))
            & (index <= pd.Timestamp(year=year, month=12, day=31))
        ]
        january = index[
            (index >= pd.Timestamp(year=year + 1, month=1, day=1))
            & (index <= pd.Timestamp(year=year + 1, month=1, day=31))
        ]
        if len(december) < december_sessions or len(january) < january_sessions:
            continue
        first, event, last = december[-december_sessions], december[-1], january[january_sessions - 1]
        windows.append(Window("santa-claus", event, first, last, december_sessions + january_sessions))
    return windows


def windows_of_kind(kind, sessions, before=DEFAULT_BEFORE, after=DEFAULT_AFTER) -> list[Window]:
    """The windows of `kind` (one of WINDOW_KINDS) on the session index.

    `before` and `after` (sessions) shape the event windows of "triple-witching" and
    "monthly-expiry"; "year-end" and "santa-claus" are fixed windows and ignore them.
    """
    if kind not in WINDOW_KINDS:
        raise DataError(f"window kind {kind!r} is unknown; choose one of {', '.join(WINDOW_KINDS)}.")
    before, after = _check_span(before, after)
    if kind == "triple-witching":
        return event_windows(triple_witching_days(sessions), sessions, before, after, kind=kind)
    if kind == "monthly-expiry":
        return event_windows(monthly_expiries(sessions), sessions, before, after, kind=kind)
    if kind == "year-end":
        return year_end_windows(sessions)
    return santa_claus_windows(sessions)


def _bounds(windows, index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Positions [start, stop) in `index` of the sessions inside each window, by date, so that
    windows built on one index can be laid over another (say, a data index with gaps)."""
    firsts = pd.DatetimeIndex([w.first for w in windows])
    lasts = pd.DatetimeIndex([w.last for w in windows])
    return index.searchsorted(firsts, side="left"), index.searchsorted(lasts, side="right")


def window_mask(windows, sessions) -> pd.Series:
    """Boolean Series on the sessions: True on every session inside any window (first to last
    inclusive, by date), named "in_window"."""
    index = session_index(sessions)
    flags = np.zeros(len(index), dtype=bool)
    if windows:
        starts, stops = _bounds(windows, index)
        # +1 where a window opens, -1 where it closes; a positive running sum means inside one.
        change = np.zeros(len(index) + 1, dtype=np.int64)
        np.add.at(change, starts, 1)
        np.add.at(change, stops, -1)
        flags = np.cumsum(change[:-1]) > 0
    return pd.Series(flags, index=index, name="in_window")


def window_ids(windows, sessions) -> pd.Series:
    """Int Series on the sessions: the position in `windows` of the window each session belongs
    to, -1 outside every window, named "window_id"; group by it to evaluate window by window.

    Where windows overlap (long before/after on monthly expiries), a session goes to the earliest
    window in the list, so every session is counted once.
    """
    index = session_index(sessions)
    ids = np.full(len(index), -1, dtype=np.int64)
    if windows:
        starts, stops = _bounds(windows, index)
        # Painted last to first so that the earliest window wins on an overlap.
        for number in range(len(windows) - 1, -1, -1):
            ids[starts[number] : stops[number]] = number
    return pd.Series(ids, index=index, name="window_id")


def nyse_windows(kind, start, end, before=DEFAULT_BEFORE, after=DEFAULT_AFTER) -> list[Window]:
    """The windows of `kind` on the NYSE calendar whose event falls between `start` and `end`.

    Unlike the pure functions above, this one builds its own session index: NYSE sessions reaching
    far enough past `start` and `end` that every window of an event in range is whole, so no window
    is dropped for want of sessions. A window may therefore start before `start` or end after `end`.
    """
    first, last = _to_day(start, "start"), _to_day(end, "end")
    if first > last:
        raise DataError(f"start {first.date()} is after end {last.date()}.")
    before, after = _check_span(before, after)
    # A span of n sessions fits in 2n calendar days even around the longest closures (9/11: four
    # sessions); the extra 45 days hold the January half of a Santa Claus window.
    margin = pd.Timedelta(days=2 * max(before, after) + 45)
    sessions = nyse_sessions(first - margin, last + margin)
    return [w for w in windows_of_kind(kind, sessions, before, after) if first <= w.event <= last]


def windows_frame(windows) -> pd.DataFrame:
    """The windows as a table: one row per window, columns kind, event, first, last, sessions."""
    frame = pd.DataFrame(
        {
            "kind": [w.kind for w in windows],
            "event": pd.DatetimeIndex([w.event for w in windows]),
            "first": pd.DatetimeIndex([w.first for w in windows]),
            "last": pd.DatetimeIndex([w.last for w in windows]),
            "sessions": np.array([w.sessions for w in windows], dtype=np.int64),
        }
    )
    return frame
