"""A fingerprint of the market data a run used, for run.json: same data, same hash, on any machine."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import pandas as pd


def _canonical_floats(values) -> bytes:
    """Little-endian float64 bytes with every NaN spelled the same and -0.0 written as 0.0."""
    array = np.asarray(values, dtype="float64") + 0.0
    array = np.where(np.isnan(array), np.nan, array)
    return array.astype("<f8").tobytes()


def data_hash(frames: Mapping[str, pd.DataFrame | pd.Series]) -> str:
    """sha256 hex of the frames' contents: keys, column names, dates and values, in key order.

    Independent of dict order, index resolution (us or ns) and `attrs`; any changed value, date,
    column or symbol changes it.

    >>> f = pd.DataFrame({"close": [1.0, 2.0]}, index=pd.to_datetime(["2018-01-02", "2018-01-03"]))
    >>> data_hash({"SPY": f}) == data_hash({"SPY": f.copy()})
    True
    >>> data_hash({"SPY": f}) == data_hash({"SPY": f * 1.0000001})
    False
    """
    digest = hashlib.sha256()
    for key in sorted(frames, key=str):
        frame = frames[key]
        if isinstance(frame, pd.Series):
            frame = frame.to_frame(name=str(frame.name))
        digest.update(f"symbol:{key}\n".encode())
        digest.update(("columns:" + ",".join(map(str, frame.columns)) + "\n").encode())
        index = pd.DatetimeIndex(frame.index).as_unit("ns")
        if index.tz is not None:
            index = index.tz_convert("UTC").tz_localize(None)
        digest.update(b"index:" + index.asi8.astype("<i8").tobytes())
        for column in frame.columns:
            digest.update(f"\n{column}:".encode() + _canonical_floats(frame[column].to_numpy()))
        digest.update(b"\n")
    return digest.hexdigest()
