"""The csv source on the fixture files in tests/fixtures/data_csv_good and data_csv_bad."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import data
from data.csv_source import candidate_names
from data.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = FIXTURES / "data_csv_good"
BAD = FIXTURES / "data_csv_bad"


def file_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_good_file_values_equal_the_file():
    spy = data.load("SPY", source="csv", data_dir=GOOD)["SPY"]
    rows = file_rows(GOOD / "SPY.csv")
    assert [d.strftime("%Y-%m-%d") for d in spy.index] == [r["Date"] for r in rows]
    for ours, theirs in [
        ("open", "Open"),
        ("high", "High"),
        ("low", "Low"),
        ("close", "Close"),
        ("adj_close", "Adj Close"),
        ("volume", "Volume"),
    ]:
        np.testing.assert_array_equal(spy[ours].to_numpy(), [float(r[theirs]) for r in rows])
    assert (
        spy.attrs["source"] == "csv" and spy.attrs["close_only"] is False and spy.attrs["has_volume"] is True
    )
    assert "SPY.csv" in spy.attrs["proxy"]


def test_caret_free_file_name_serves_the_index():
    frames = data.load(["^VIX"], "2018-12-26", "2018-12-31", source="csv", data_dir=GOOD)
    vix = frames["^VIX"]
    assert vix.loc["2018-12-26", "close"] == 30.41
    assert vix.attrs["has_volume"] is False  # Yahoo reports volume 0 for an index


def test_caret_file_name_is_tried_first():
    assert candidate_names("^TNX") == ["^TNX.csv", "TNX.csv"]
    tnx = data.load("^TNX", source="csv", data_dir=GOOD)["^TNX"]
    assert tnx.index[0] == pd.Timestamp("1981-09-28")


def test_file_without_adj_close_and_loose_header():
    qqq = data.load("QQQ", source="csv", data_dir=GOOD)["QQQ"]
    np.testing.assert_array_equal(qqq["adj_close"], qqq["close"])
    assert qqq.loc["2018-12-31", "close"] == 154.259995
    assert "no Adj Close column: adj_close = close" in qqq.attrs["proxy"]


def test_missing_file_names_folder_and_names_tried():
    with pytest.raises(DataError) as err:
        data.load("^GSPC", source="csv", data_dir=GOOD)
    assert str(err.value) == f"csv source has no file for ^GSPC in {GOOD} (tried ^GSPC.csv, GSPC.csv)"


def test_missing_or_absent_folder():
    with pytest.raises(DataError, match="needs a data directory"):
        data.load("SPY", source="csv")
    with pytest.raises(DataError, match="does not exist"):
        data.load("SPY", source="csv", data_dir=GOOD / "nope")


@pytest.mark.parametrize(
    "symbol, message",
    [
        ("UNSORTED", "UNSORTED.csv UNSORTED on 2018-12-26 breaks rule 'dates sorted ascending'"),
        ("DUPDATE", "DUPDATE.csv DUPDATE on 2018-12-27 breaks rule 'dates unique'"),
        ("NEGPRICE", "NEGPRICE.csv NEGPRICE on 2018-12-27 breaks rule 'prices positive': close = -10.5"),
        ("HIGHLOW", "HIGHLOW.csv HIGHLOW on 2018-12-27 breaks rule 'low <= open, close <= high'"),
        ("CLOSEHIGH", "CLOSEHIGH.csv CLOSEHIGH on 2018-12-26 breaks rule 'low <= open, close <= high'"),
        (
            "NANGAP",
            "NANGAP.csv NANGAP on 2018-12-27 breaks rule 'no missing values': open, high, low, close, "
            "adj_close, volume missing; 2 row(s) with gaps between 2018-12-27 and 2018-12-31",
        ),
        ("NOCOL", "NOCOL.csv lacks the column(s) close; expected the header Date,Open,High,Low,Close"),
        ("BADDATE", "BADDATE.csv line 3: date '12/27/2018' is not a YYYY-MM-DD date"),
        ("BADNUMBER", "BADNUMBER.csv line 3 (2018-12-27): Close 'abc' is not a number"),
    ],
)
def test_malformed_files(symbol, message):
    with pytest.raises(DataError) as err:
        data.load(symbol, source="csv", data_dir=BAD)
    text = str(err.value)
    assert message in text
    assert text.startswith(f"csv file {BAD / symbol}.csv")
    assert "\n" not in text


def test_gap_outside_requested_range_is_fine():
    frame = data.load("NANGAP", "2018-12-28", "2018-12-28", source="csv", data_dir=BAD)["NANGAP"]
    assert list(frame["close"]) == [10.5]


def test_empty_and_unreadable_files(tmp_path):
    (tmp_path / "EMPTY.csv").write_text("")
    with pytest.raises(DataError, match="EMPTY.csv is empty"):
        data.load("EMPTY", source="csv", data_dir=tmp_path)
    (tmp_path / "WIDE.csv").write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n2018-12-26,1,2,1,1,1,1,9,9\n"
    )
    with pytest.raises(DataError, match="WIDE.csv line 2: 9 fields where the header has 7"):
        data.load("WIDE", source="csv", data_dir=tmp_path)


def test_short_row_is_an_error(tmp_path):
    (tmp_path / "SHORT.csv").write_text("Date,Open,High,Low,Close,Adj Close,Volume\n\n2018-12-26,1,2,1\n")
    with pytest.raises(DataError, match="SHORT.csv line 3: 4 fields where the header has 7"):
        data.load("SHORT", source="csv", data_dir=tmp_path)


def test_yfinance_to_csv_output_with_timezone_is_read(tmp_path):
    # yfinance frames written with .to_csv carry "2018-12-26 00:00:00-05:00": the date is the local day.
    shutil.copy(GOOD / "SPY.csv", tmp_path / "SPY.csv")
    text = (tmp_path / "SPY.csv").read_text().replace("2018-12-26,", "2018-12-26 00:00:00-05:00,")
    (tmp_path / "SPY.csv").write_text(text)
    spy = data.load("SPY", source="csv", data_dir=tmp_path)["SPY"]
    assert spy.loc["2018-12-26", "close"] == 246.179993
