"""Market data for playbook-backtest: one interface over three sources, validated before use.

`load(symbols, start, end, source)` returns one canonical frame per symbol (see data.frames):
daily, index "date", columns open/high/low/close/adj_close/volume, attrs naming the source and
the proxy that stands for the symbol. Sources: "embedded" (real history shipped by installed
packages, no network; the default), "yahoo" (yfinance with an on-disk cache), "csv" (a directory of
Yahoo-format files). Every frame passes data.validate before it is returned. `load_macro` gives the
rate and inflation series on a session index, each value only from its release date.
"""

from data.errors import DataError
from data.frames import COLUMNS, SOURCES
from data.hashing import data_hash
from data.loading import load
from data.macro import load_macro
from data.universe import PLAYBOOK_SYMBOLS

__all__ = ["COLUMNS", "PLAYBOOK_SYMBOLS", "SOURCES", "DataError", "data_hash", "load", "load_macro"]
