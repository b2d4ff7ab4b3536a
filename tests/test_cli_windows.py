"""`cli.py windows`: output rows against the library, csv shape, and user errors (exit code 2, one
error line, no traceback)."""

import io

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import main
from data.calendar import nyse_sessions
from data.windows import windows_of_kind

pytestmark = pytest.mark.filterwarnings(
    "ignore:Series.values returning an ndarray that drops timezone:pandas.errors.Pandas4Warning"
)


def run(*args):
    return CliRunner().invoke(main, ["windows", *args])


def test_table_lists_the_2018_triple_witching_windows():
    result = run("--kind", "triple-witching", "--start", "2018-01-01", "--end", "2018-12-31")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["event", "first", "last", "sessions"]
    assert [line.split() for line in lines[1:]] == [
        ["2018-03-16", "2018-03-09", "2018-03-23", "11"],
        ["2018-06-15", "2018-06-08", "2018-06-22", "11"],
        ["2018-09-21", "2018-09-14", "2018-09-28", "11"],
        ["2018-12-21", "2018-12-14", "2018-12-31", "11"],
    ]


def test_csv_matches_the_library_and_has_iso_event_dates():
    result = run(
        "--kind", "monthly-expiry", "--start", "2026-01-01", "--end", "2026-12-31",
        "--before", "2", "--after", "1", "--format", "csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "kind,event,first,last,sessions"
    frame = pd.read_csv(io.StringIO(result.output))
    assert frame["event"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert "2026-06-18" in set(frame["event"])  # Juneteenth 2026 moves June's expiry back
    expected = windows_of_kind("monthly-expiry", nyse_sessions("2025-12-01", "2027-01-31"), before=2, after=1)
    expected = [w for w in expected if w.event.year == 2026]
    assert frame["event"].tolist() == [w.event.strftime("%Y-%m-%d") for w in expected]
    assert frame["first"].tolist() == [w.first.strftime("%Y-%m-%d") for w in expected]
    assert frame["last"].tolist() == [w.last.strftime("%Y-%m-%d") for w in expected]
    assert (frame["sessions"] == 4).all()


def test_santa_claus_window_reaches_into_january():
    result = run("--kind", "santa-claus", "--start", "2018-01-01", "--end", "2018-12-31", "--format", "csv")
    assert result.output.splitlines()[1:] == ["santa-claus,2018-12-31,2018-12-24,2019-01-03,7"]


def test_year_end_ignores_before_and_after():
    plain = run("--kind", "year-end", "--start", "2018-01-01", "--end", "2018-12-31")
    spanned = run("--kind", "year-end", "--start", "2018-01-01", "--end", "2018-12-31", "--before", "9")
    assert plain.exit_code == spanned.exit_code == 0
    assert plain.output == spanned.output
    assert plain.output.splitlines()[1].split() == ["2018-12-31", "2018-12-17", "2018-12-31", "10"]


def test_no_windows_in_range_is_not_an_error():
    table = run("--kind", "year-end", "--start", "2019-01-01", "--end", "2019-06-30")
    assert table.exit_code == 0
    assert table.output.startswith("no year-end windows")
    csv = run("--kind", "year-end", "--start", "2019-01-01", "--end", "2019-06-30", "--format", "csv")
    assert csv.output == "kind,event,first,last,sessions\n"


YEAR = ["--start", "2018-01-01", "--end", "2018-12-31"]


@pytest.mark.parametrize(
    "args, culprit",
    [
        (["--kind", "christmas", *YEAR], "'christmas'"),
        (["--kind", "year-end", "--start", "2019-01-01", "--end", "2018-12-31"], "is after --end"),
        (["--kind", "year-end", "--start", "2018-13-45", "--end", "2018-12-31"], "'2018-13-45' is not"),
        (["--kind", "year-end", "--start", "2018-01-01", "--end", "soon"], "'soon' is not a date"),
        (["--kind", "triple-witching", *YEAR, "--before", "-1"], "-1"),
        (["--kind", "triple-witching", *YEAR, "--after", "x"], "'x'"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_code_2(args, culprit):
    result = run(*args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, (ValueError, TypeError, KeyError))
    errors = [line for line in result.output.splitlines() if "rror" in line]
    assert len(errors) == 1 and culprit in errors[0]
