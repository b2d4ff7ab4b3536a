"""The NYSE calendar and the expiry days, each checked against an independent computation or a
hand list taken from the published exchange calendars."""

import datetime

import numpy as np
import pandas as pd
import pytest

from data.calendar import (
    early_closes,
    expiry_session,
    holiday_shortened_week,
    monthly_expiries,
    nyse_sessions,
    session_index,
    sessions_to_next,
    third_friday,
    triple_witching_days,
)
from data.errors import DataError

# exchange_calendars 4.13 reads Series.values on tz-aware columns when it builds a calendar, which
# pandas 3.1 deprecates (warning raised at stacklevel 1, so it cannot be filtered by module).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Series.values returning an ndarray that drops timezone:pandas.errors.Pandas4Warning"
)

# NYSE full-day closures in 2018 (nyse.com holiday list, plus the national day of mourning for
# President George H. W. Bush on 2018-12-05).
HOLIDAYS_2018 = pd.DatetimeIndex(
    [
        "2018-01-01", "2018-01-15", "2018-02-19", "2018-03-30", "2018-05-28",
        "2018-07-04", "2018-09-03", "2018-11-22", "2018-12-05", "2018-12-25",
    ]
)  # fmt: skip


def days(*dates):
    return pd.DatetimeIndex(list(dates))


# --- nyse_sessions ----------------------------------------------------------------------------


def test_nyse_sessions_span_1990_to_two_years_ahead():
    sessions = nyse_sessions()
    assert sessions[0] == pd.Timestamp("1990-01-02")  # 1990-01-01 is New Year's Day
    two_years = pd.Timestamp.today().normalize() + pd.DateOffset(years=2)
    # The last session is at most a long weekend before the date two years out.
    assert two_years - pd.Timedelta(days=4) <= sessions[-1] <= two_years
    assert sessions.name == "date"
    assert sessions.tz is None
    assert sessions.freq is None
    assert (sessions == sessions.normalize()).all()
    assert sessions.is_monotonic_increasing and sessions.is_unique


def test_nyse_sessions_exclude_unscheduled_closures():
    sessions = nyse_sessions()
    closed = days("2001-09-11", "2001-09-12", "2001-09-13", "2001-09-14", "2012-10-29", "2012-10-30")
    assert not closed.isin(sessions).any()
    # The days around them were ordinary sessions.
    assert days("2001-09-10", "2001-09-17", "2012-10-26", "2012-10-31").isin(sessions).all()


def test_nyse_sessions_2018_are_weekdays_without_holidays():
    expected = pd.bdate_range("2018-01-01", "2018-12-31").difference(HOLIDAYS_2018)
    sessions = nyse_sessions("2018-01-01", "2018-12-31")
    assert sessions.equals(expected)
    assert len(sessions) == 251


def test_nyse_sessions_slices_inclusive_and_accepts_timestamps():
    sessions = nyse_sessions(pd.Timestamp("2018-12-24"), "2018-12-31")
    assert list(sessions) == list(days("2018-12-24", "2018-12-26", "2018-12-27", "2018-12-28", "2018-12-31"))


@pytest.mark.parametrize(
    "start, end, culprit",
    [("2019-01-01", "2018-01-01", "after end"), ("2018-13-45", None, "2018-13-45"), ("soon", None, "soon")],
)
def test_nyse_sessions_bad_input_is_a_data_error(start, end, culprit):
    with pytest.raises(DataError, match=culprit):
        nyse_sessions(start, end)


def test_early_closes_2018():
    # Independence Day eve, the day after Thanksgiving, Christmas Eve.
    assert early_closes("2018-01-01", "2018-12-31").equals(days("2018-07-03", "2018-11-23", "2018-12-24"))
    assert early_closes("2018-01-01", "2018-12-31").name == "date"


# --- third Fridays and expiries ---------------------------------------------------------------


def test_third_friday_matches_brute_force_for_every_month_1990_2030():
    for year in range(1990, 2031):
        for month in range(1, 13):
            fridays = [
                day
                for day in range(1, 32)
                if _valid(year, month, day) and datetime.date(year, month, day).weekday() == 4
            ]
            assert third_friday(year, month) == pd.Timestamp(year, month, fridays[2])


def _valid(year, month, day):
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def test_third_friday_rejects_a_bad_month():
    with pytest.raises(DataError, match="month 13"):
        third_friday(2018, 13)


def test_expiry_session_moves_back_over_holidays_only():
    sessions = nyse_sessions("2008-01-01", "2008-12-31")
    assert expiry_session(pd.Timestamp("2008-03-21"), sessions) == pd.Timestamp("2008-03-20")  # Good Friday
    assert expiry_session(pd.Timestamp("2008-03-19"), sessions) == pd.Timestamp("2008-03-19")
    assert expiry_session("2008-03-23", sessions) == pd.Timestamp("2008-03-20")  # a Sunday


def test_expiry_session_outside_the_index_is_refused():
    sessions = days("2008-03-19", "2008-03-20")
    # 2008-03-21 lies past the index: the index cannot say it was a holiday.
    with pytest.raises(DataError, match="2008-03-21 lies outside"):
        expiry_session(pd.Timestamp("2008-03-21"), sessions)
    with pytest.raises(DataError, match="outside"):
        expiry_session(pd.Timestamp("2008-03-18"), sessions)


@pytest.mark.parametrize(
    "third, expected",
    [
        ("2008-03-21", "2008-03-20"),  # Good Friday 2008
        ("2026-06-19", "2026-06-18"),  # Juneteenth 2026
        ("2027-06-18", "2027-06-17"),  # Juneteenth observed on Friday 2027-06-18 (the 19th is a Saturday)
        ("2018-12-21", "2018-12-21"),  # an ordinary one
    ],
)
def test_triple_witching_on_the_nyse(third, expected):
    third = pd.Timestamp(third)
    assert third_friday(third.year, third.month) == third
    witching = triple_witching_days(nyse_sessions(f"{third.year}-01-01", f"{third.year}-12-31"))
    quarter = witching[witching.month == third.month]
    assert list(quarter) == [pd.Timestamp(expected)]


def test_triple_witching_is_four_a_year_on_quarter_months():
    witching = triple_witching_days(nyse_sessions("1990-01-01", "2027-12-31"))
    assert len(witching) == 4 * 38
    assert set(witching.month) == {3, 6, 9, 12}
    assert witching.isin(monthly_expiries(nyse_sessions("1990-01-01", "2027-12-31"))).all()
    assert witching.name == "date"


def test_monthly_expiries_2008_by_hand():
    expected = days(
        "2008-01-18", "2008-02-15", "2008-03-20", "2008-04-18", "2008-05-16", "2008-06-20",
        "2008-07-18", "2008-08-15", "2008-09-19", "2008-10-17", "2008-11-21", "2008-12-19",
    )  # fmt: skip
    assert monthly_expiries(nyse_sessions("2008-01-01", "2008-12-31")).equals(expected)


def test_monthly_expiries_2026_by_hand():
    expected = days(
        "2026-01-16", "2026-02-20", "2026-03-20", "2026-04-17", "2026-05-15", "2026-06-18",
        "2026-07-17", "2026-08-21", "2026-09-18", "2026-10-16", "2026-11-20", "2026-12-18",
    )  # fmt: skip
    assert monthly_expiries(nyse_sessions("2026-01-01", "2026-12-31")).equals(expected)


def test_monthly_expiries_only_for_third_fridays_inside_the_index():
    # 2018-01-19 is January's third Friday (kept: first session); 2018-03-16 lies past the end.
    sessions = pd.bdate_range("2018-01-19", "2018-03-15")
    assert list(monthly_expiries(sessions)) == list(days("2018-01-19", "2018-02-16"))
    assert len(triple_witching_days(sessions)) == 0


def test_expiries_work_on_an_index_of_another_resolution():
    sessions = nyse_sessions("2008-01-01", "2008-12-31").as_unit("s")
    assert pd.Timestamp("2008-03-20") in triple_witching_days(sessions)


# --- session index checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "sessions, culprit",
    [
        (pd.DatetimeIndex([]), "empty"),
        (days("2018-01-03", "2018-01-02"), "sorted"),
        (days("2018-01-02", "2018-01-02"), "duplicate"),
        (pd.DatetimeIndex(["2018-01-02 09:30"]), "midnight"),
        (pd.DatetimeIndex(["2018-01-02"]).tz_localize("America/New_York"), "tz-naive"),
    ],
)
def test_malformed_session_index_is_refused(sessions, culprit):
    with pytest.raises(DataError, match=culprit):
        session_index(sessions)


# --- sessions_to_next -------------------------------------------------------------------------


def test_sessions_to_next_matches_a_loop():
    sessions = nyse_sessions("2017-11-01", "2019-02-28")
    events = triple_witching_days(sessions)
    result = sessions_to_next(events, sessions)
    expected = []
    for position, day in enumerate(sessions):
        later = [sessions.get_loc(event) for event in events if event >= day]
        expected.append(later[0] - position if later else np.nan)
    np.testing.assert_array_equal(result.to_numpy(), np.array(expected, dtype=float))
    assert result.index.equals(sessions)
    assert result.loc["2018-12-21"] == 0
    assert result.loc["2018-12-20"] == 1
    assert result.loc["2018-12-14"] == 5


def test_sessions_to_next_ignores_events_outside_and_refuses_non_sessions():
    sessions = pd.bdate_range("2018-12-17", "2018-12-21")
    result = sessions_to_next(days("2018-12-01", "2018-12-19", "2019-03-15"), sessions)
    assert result.tolist()[:3] == [2.0, 1.0, 0.0]
    assert np.isnan(result.iloc[3:]).all()
    with pytest.raises(DataError, match="2018-12-22"):
        sessions_to_next(days("2018-12-22"), pd.bdate_range("2018-12-17", "2018-12-28"))


def test_sessions_to_next_past_is_unchanged_when_the_future_changes():
    # The calendar is known ahead, yet a truncated index must agree on every session it keeps
    # that has an event ahead of it within the truncated index.
    full = nyse_sessions("2018-01-01", "2018-12-31")
    events = monthly_expiries(full)
    truncated = full[full <= "2018-09-30"]
    short = sessions_to_next(events, truncated)
    long = sessions_to_next(events, full).loc[truncated]
    known = short.notna()
    np.testing.assert_array_equal(short[known].to_numpy(), long[known].to_numpy())


# --- holiday-shortened weeks ------------------------------------------------------------------


def test_holiday_shortened_week_2018_against_a_loop():
    sessions = nyse_sessions("2018-01-01", "2018-12-31")
    closes = early_closes("2018-01-01", "2018-12-31")
    result = holiday_shortened_week(sessions)
    expected = []
    for day in sessions:
        monday = day - pd.Timedelta(days=day.weekday())
        week = pd.bdate_range(max(monday, sessions[0]), min(monday + pd.Timedelta(days=4), sessions[-1]))
        in_week = sessions[(sessions >= week[0]) & (sessions <= week[-1])]
        expected.append(len(in_week) < len(week) or in_week.isin(closes).any())
    assert result.tolist() == expected
    assert result.dtype == bool and result.name == "holiday_shortened_week"


def test_holiday_shortened_week_2018_by_hand():
    result = holiday_shortened_week(nyse_sessions("2018-01-01", "2018-12-31"))
    # Thanksgiving week (Thursday closed, Friday early close), the Bush mourning day, Christmas.
    assert result.loc["2018-11-19":"2018-11-23"].all()
    assert result.loc["2018-12-03":"2018-12-07"].all()
    assert result.loc["2018-12-24":"2018-12-28"].all()
    # An ordinary week (Columbus Day is not an NYSE holiday), and the last, one-session week of the
    # index, which is judged only on its weekdays inside the index.
    assert not result.loc["2018-10-08":"2018-10-12"].any()
    assert not result.loc["2018-12-31"]


def test_an_early_close_alone_shortens_its_week():
    sessions = pd.bdate_range("2018-10-01", "2018-10-12")
    result = holiday_shortened_week(sessions, early=days("2018-10-10"))
    assert result.tolist() == [False] * 5 + [True] * 5


def test_holiday_shortened_week_does_not_flag_a_partial_first_week():
    sessions = pd.bdate_range("2018-10-03", "2018-10-12")  # starts on a Wednesday
    assert not holiday_shortened_week(sessions, early=[]).any()
