"""Event and fixed windows: hand-built cases, the playbook's 2018 windows on the NYSE calendar, and
properties (every window lies inside the sessions) over random indexes with hypothesis."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.calendar import nyse_sessions
from data.errors import DataError
from data.windows import (
    WINDOW_KINDS,
    Window,
    clipped_events,
    event_windows,
    nyse_windows,
    santa_claus_windows,
    window_ids,
    window_mask,
    windows_frame,
    windows_of_kind,
    year_end_windows,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:Series.values returning an ndarray that drops timezone:pandas.errors.Pandas4Warning"
)

# NYSE sessions of the second half of December 2018 (Christmas closed).
DECEMBER_2018 = pd.DatetimeIndex(
    ["2018-12-17", "2018-12-18", "2018-12-19", "2018-12-20", "2018-12-21",
     "2018-12-24", "2018-12-26", "2018-12-27", "2018-12-28", "2018-12-31"]
)  # fmt: skip


def ts(day):
    return pd.Timestamp(day)


def days(*dates):
    return pd.DatetimeIndex(list(dates))


# --- event windows ----------------------------------------------------------------------------


def test_event_windows_k2_h1_by_hand():
    events = days("2018-12-18", "2018-12-21", "2018-12-26", "2018-12-31")
    windows = event_windows(events, DECEMBER_2018, before=2, after=1, kind="test")
    assert windows == [
        Window("test", ts("2018-12-21"), ts("2018-12-19"), ts("2018-12-24"), 4),
        Window("test", ts("2018-12-26"), ts("2018-12-21"), ts("2018-12-27"), 4),
    ]
    # 2018-12-18 has one session before it, 2018-12-31 none after: both dropped, not clipped.
    dropped = clipped_events(events, DECEMBER_2018, before=2, after=1)
    assert list(dropped) == list(days("2018-12-18", "2018-12-31"))


def test_event_windows_zero_span_is_the_event_alone():
    windows = event_windows(days("2018-12-17", "2018-12-31"), DECEMBER_2018, before=0, after=0)
    assert [(w.first, w.last, w.sessions) for w in windows] == [
        (ts("2018-12-17"), ts("2018-12-17"), 1),
        (ts("2018-12-31"), ts("2018-12-31"), 1),
    ]


def test_events_outside_the_index_are_dropped_and_counted():
    events = days("2018-12-03", "2018-12-21", "2019-01-04")
    assert len(event_windows(events, DECEMBER_2018, 2, 2)) == 1
    assert len(clipped_events(events, DECEMBER_2018, 2, 2)) == 2


def test_an_event_that_is_not_a_session_is_refused():
    with pytest.raises(DataError, match="2018-12-25"):
        event_windows(days("2018-12-25"), DECEMBER_2018, 1, 1)


@pytest.mark.parametrize(
    "before, after, culprit", [(-1, 5, "before=-1"), (5, -2, "after=-2"), (1.5, 5, "before")]
)
def test_bad_spans_are_refused(before, after, culprit):
    with pytest.raises(DataError, match=culprit):
        event_windows(days("2018-12-21"), DECEMBER_2018, before, after)


def test_triple_witching_windows_2018_on_the_nyse():
    sessions = nyse_sessions("2018-01-01", "2019-01-31")
    windows = windows_of_kind("triple-witching", sessions)
    assert [w.event for w in windows] == list(days("2018-03-16", "2018-06-15", "2018-09-21", "2018-12-21"))
    december = windows[-1]
    # Five sessions either side of 2018-12-21, over the Christmas closure.
    assert (december.first, december.last, december.sessions) == (ts("2018-12-14"), ts("2018-12-31"), 11)
    assert all(w.kind == "triple-witching" for w in windows)


def test_monthly_expiry_windows_follow_before_and_after():
    sessions = nyse_sessions("2026-01-01", "2026-12-31")
    windows = windows_of_kind("monthly-expiry", sessions, before=2, after=1)
    assert len(windows) == 12
    june = windows[5]
    # Juneteenth 2026 moves the expiry to Thursday; the window straddles the holiday.
    assert (june.event, june.first, june.last, june.sessions) == (
        ts("2026-06-18"), ts("2026-06-16"), ts("2026-06-22"), 4
    )


# --- fixed windows ----------------------------------------------------------------------------


def test_year_end_2018():
    windows = year_end_windows(nyse_sessions("2018-01-01", "2019-01-31"))
    assert windows == [Window("year-end", ts("2018-12-31"), ts("2018-12-17"), ts("2018-12-31"), 10)]


def test_year_end_after_day_is_configurable():
    (window,) = year_end_windows(nyse_sessions("2018-01-01", "2019-01-31"), after_day=20)
    # 21, 24, 26, 27, 28, 31 (Christmas closed)
    assert (window.first, window.last, window.sessions) == (ts("2018-12-21"), ts("2018-12-31"), 6)
    with pytest.raises(DataError, match="after_day=31"):
        year_end_windows(DECEMBER_2018, after_day=31)


def test_year_end_kept_when_the_index_ends_on_the_last_session_and_dropped_before():
    assert len(year_end_windows(DECEMBER_2018)) == 1  # ends 2018-12-31, as the embedded data does
    assert year_end_windows(DECEMBER_2018[:-1]) == []  # ends 2018-12-28: was Monday 31 a session?
    # 2017 ends on Friday 2017-12-29: nothing is missing after it.
    (window,) = year_end_windows(nyse_sessions("2017-12-01", "2017-12-29"))
    # 18-22 and 26-29 (Christmas on Monday the 25th)
    assert (window.first, window.last, window.sessions) == (ts("2017-12-18"), ts("2017-12-29"), 9)


def test_year_end_dropped_when_the_index_starts_inside_it():
    assert year_end_windows(DECEMBER_2018[1:]) == []  # starts 2018-12-18: was the 17th a session?


def test_santa_claus_2018():
    windows = santa_claus_windows(nyse_sessions("2018-01-01", "2019-01-31"))
    assert windows == [Window("santa-claus", ts("2018-12-31"), ts("2018-12-24"), ts("2019-01-03"), 7)]
    sessions = nyse_sessions("2018-12-20", "2019-01-10")
    inside = sessions[window_mask(windows, sessions).to_numpy()]
    assert list(inside) == list(
        days("2018-12-24", "2018-12-26", "2018-12-27", "2018-12-28", "2018-12-31", "2019-01-02", "2019-01-03")
    )


def test_santa_claus_counts_are_configurable_and_incomplete_years_dropped():
    sessions = nyse_sessions("2018-12-01", "2019-01-31")
    (window,) = santa_claus_windows(sessions, december_sessions=3, january_sessions=1)
    assert (window.first, window.last, window.sessions) == (ts("2018-12-27"), ts("2019-01-02"), 4)
    assert santa_claus_windows(nyse_sessions("2018-12-01", "2019-01-02")) == []  # one January session
    assert santa_claus_windows(DECEMBER_2018) == []  # no January at all
    with pytest.raises(DataError, match="january_sessions=0"):
        santa_claus_windows(sessions, january_sessions=0)


def test_fixed_windows_ignore_before_and_after():
    sessions = nyse_sessions("2015-01-01", "2019-01-31")
    for kind in ("year-end", "santa-claus"):
        assert windows_of_kind(kind, sessions) == windows_of_kind(kind, sessions, before=0, after=20)
    assert len(windows_of_kind("year-end", sessions)) == 4  # 2015 .. 2018
    assert len(windows_of_kind("santa-claus", sessions)) == 4


def test_unknown_kind_is_refused():
    with pytest.raises(DataError, match="'christmas'"):
        windows_of_kind("christmas", DECEMBER_2018)


# --- masks and ids ----------------------------------------------------------------------------


def test_window_mask_and_ids_by_hand():
    windows = [
        Window("a", ts("2018-12-18"), ts("2018-12-17"), ts("2018-12-19"), 3),
        Window("b", ts("2018-12-20"), ts("2018-12-19"), ts("2018-12-21"), 3),  # overlaps "a" on the 19th
        Window("c", ts("2018-12-27"), ts("2018-12-27"), ts("2018-12-28"), 2),
    ]
    mask = window_mask(windows, DECEMBER_2018)
    ids = window_ids(windows, DECEMBER_2018)
    assert mask.tolist() == [True, True, True, True, True, False, False, True, True, False]
    assert ids.tolist() == [0, 0, 0, 1, 1, -1, -1, 2, 2, -1]  # the earlier window keeps the 19th
    assert mask.index.equals(DECEMBER_2018) and ids.index.equals(DECEMBER_2018)
    assert mask.dtype == bool and ids.dtype == np.int64


def test_no_windows_means_nothing_inside():
    assert not window_mask([], DECEMBER_2018).any()
    assert (window_ids([], DECEMBER_2018) == -1).all()


def test_windows_laid_over_an_index_with_gaps_and_another_resolution():
    windows = windows_of_kind("triple-witching", nyse_sessions("2018-01-01", "2018-12-31"))
    data_index = nyse_sessions("2018-12-01", "2018-12-31").drop(ts("2018-12-20")).as_unit("us")
    inside = data_index[window_mask(windows, data_index).to_numpy()]
    assert inside[0] == ts("2018-12-14") and inside[-1] == ts("2018-12-31")
    assert len(inside) == 10  # the 11-session window minus the missing 2018-12-20
    assert set(window_ids(windows, data_index)[inside]) == {3}


# --- properties -------------------------------------------------------------------------------

# Weekdays with the NYSE's 2017-2019 year-end holidays removed; built by hand rather than with
# nyse_sessions so that collecting this module does not build the exchange calendar.
BASE = pd.bdate_range("2017-11-01", "2019-02-28").drop(
    pd.DatetimeIndex(["2017-11-23", "2017-12-25", "2018-01-01", "2018-01-15", "2018-02-19", "2018-03-30",
                      "2018-05-28", "2018-07-04", "2018-09-03", "2018-11-22", "2018-12-05", "2018-12-25",
                      "2019-01-01", "2019-01-21", "2019-02-18"])
)  # fmt: skip


@st.composite
def index_and_events(draw):
    keep = draw(st.lists(st.booleans(), min_size=len(BASE), max_size=len(BASE)))
    sessions = BASE[np.array(keep)]
    if len(sessions) == 0:
        sessions = BASE[:1]
    picks = draw(st.lists(st.integers(0, len(sessions) - 1), max_size=12))
    return sessions, sessions[sorted(set(picks))]


@settings(max_examples=60, deadline=None)
@given(data=index_and_events(), before=st.integers(0, 15), after=st.integers(0, 15))
def test_event_windows_lie_inside_the_sessions(data, before, after):
    sessions, events = data
    windows = event_windows(events, sessions, before, after)
    dropped = clipped_events(events, sessions, before, after)
    assert len(windows) + len(dropped) == len(events)
    for window in windows:
        first, event, last = (sessions.get_loc(day) for day in (window.first, window.event, window.last))
        assert (event - first, last - event) == (before, after)
        assert window.sessions == before + after + 1 == last - first + 1
    for day in dropped:
        position = sessions.get_loc(day)
        assert position < before or position > len(sessions) - 1 - after
    mask = window_mask(windows, sessions)
    ids = window_ids(windows, sessions)
    assert ((ids >= 0) == mask).all()
    expected = np.zeros(len(sessions), dtype=bool)
    for window in windows:
        expected |= (sessions >= window.first) & (sessions <= window.last)
    np.testing.assert_array_equal(mask.to_numpy(), expected)


@settings(max_examples=40, deadline=None)
@given(data=index_and_events(), kind=st.sampled_from(WINDOW_KINDS), span=st.integers(0, 10))
def test_every_kind_lies_inside_the_sessions(data, kind, span):
    sessions, _ = data
    for window in windows_of_kind(kind, sessions, before=span, after=span):
        assert {window.first, window.event, window.last} <= set(sessions)
        assert window.first <= window.event <= window.last
        assert window.sessions == ((sessions >= window.first) & (sessions <= window.last)).sum()
        assert window.kind == kind


# --- the NYSE helper and the table -------------------------------------------------------------


def test_nyse_windows_select_by_event_and_reach_past_the_range():
    windows = nyse_windows("triple-witching", "2018-12-01", "2018-12-31", before=5, after=10)
    assert [(w.event, w.first, w.last, w.sessions) for w in windows] == [
        (ts("2018-12-21"), ts("2018-12-14"), ts("2019-01-08"), 16)
    ]
    assert nyse_windows("santa-claus", "2018-12-31", "2018-12-31") == santa_claus_windows(
        nyse_sessions("2018-01-01", "2019-01-31")
    )
    with pytest.raises(DataError, match="after end"):
        nyse_windows("year-end", "2019-01-01", "2018-01-01")


def test_windows_frame_columns_and_values():
    frame = windows_frame(year_end_windows(DECEMBER_2018))
    assert list(frame.columns) == ["kind", "event", "first", "last", "sessions"]
    assert frame.iloc[0].tolist() == ["year-end", ts("2018-12-31"), ts("2018-12-17"), ts("2018-12-31"), 10]
    assert windows_frame([]).empty
